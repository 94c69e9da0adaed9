"""What each source type takes and can do: the table behind ``GET …/assets:sourceTypes``
(API.md), the check of ``config.parameters`` on create, and the masking of secret
parameters on read.

Adding a source type (web, git, …) means a row here next to its module in this
package. The capabilities are all false until auto-update (webhooks, poll schedules)
exists; the Asset's ``supports*`` fields are read from this table."""

from __future__ import annotations

from dataclasses import dataclass

from assets_app.models import SourceType

SECRET_MASK = "********"  # API.md "Asset": secrets are write-only


@dataclass(frozen=True)
class ParameterDescriptor:
    name: str
    type: str  # a JSON type: "string", "integer", "boolean"
    required: bool = False
    secret: bool = False
    default: object = None
    options: tuple[str, ...] | None = None  # allowed values, when enumerated
    help: str = ""


@dataclass(frozen=True)
class SourceTypeDescriptor:
    key: str  # Asset.source_type and config.sourceType
    display_name: str
    parameters: tuple[ParameterDescriptor, ...] = ()
    auto_update: bool = False
    webhook_registration: bool = False
    poll_schedule: bool = False
    # How an asset of this type is created over the API: a JSON body on POST /assets,
    # or a multipart upload on POST /assets:file.
    created_by_upload: bool = False


SOURCE_TYPES: dict[str, SourceTypeDescriptor] = {
    d.key: d
    for d in (
        SourceTypeDescriptor(
            key=SourceType.UPLOAD,
            display_name=SourceType.UPLOAD.label,
            created_by_upload=True,
        ),
        SourceTypeDescriptor(
            key=SourceType.FOLDER,
            display_name=SourceType.FOLDER.label,
            parameters=(
                ParameterDescriptor(
                    name="path",
                    type="string",
                    required=True,
                    help="Absolute folder on the server, below the allowed roots "
                    "(RAGDESK_FOLDER_ROOTS). Tenant admins only.",
                ),
                ParameterDescriptor(
                    name="glob",
                    type="string",
                    default="**/*",
                    help="Files to read, relative to the folder (e.g. **/*.md); "
                    "files of unsupported types are skipped.",
                ),
            ),
        ),
    )
}

_JSON_TYPES = {"string": str, "integer": int, "boolean": bool}


def source_type_get(key: str) -> SourceTypeDescriptor | None:
    return SOURCE_TYPES.get(key)


def parameters_check(descriptor: SourceTypeDescriptor, parameters: dict) -> dict:
    """``{name: [message]}`` for unknown, missing or mistyped parameters ({} when
    they fit the descriptor). Whether a value is acceptable (a folder inside the
    roots) is the creating service's check."""
    known = {p.name: p for p in descriptor.parameters}
    errors = {
        name: [f"Unknown parameter of source type {descriptor.key!r}."]
        for name in parameters
        if name not in known
    }
    for p in descriptor.parameters:
        value = parameters.get(p.name)
        if value is None:
            if p.required:
                errors[p.name] = ["This parameter is required."]
            continue
        expected = _JSON_TYPES[p.type]
        if not isinstance(value, expected) or (
            expected is int and isinstance(value, bool)
        ):
            errors[p.name] = [f"Must be a {p.type}."]
        elif p.options is not None and value not in p.options:
            errors[p.name] = [f"One of {', '.join(p.options)}."]
    return errors


def parameters_public(source_type: str, parameters: dict) -> dict:
    """The parameters as they may be read back: secret ones masked."""
    descriptor = SOURCE_TYPES.get(source_type)
    secret = (
        {p.name for p in descriptor.parameters if p.secret} if descriptor else set()
    )
    return {k: (SECRET_MASK if k in secret else v) for k, v in parameters.items()}
