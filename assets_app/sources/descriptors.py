"""What each source type takes and can do: the table behind ``GET …/assets:sourceTypes``
(API.md), the check of ``config.parameters`` on create, and the masking of secret
parameters on read.

Adding a source type (web, git, …) means a row here next to its module in this
package. The capabilities say which auto-update strategies (issue 5) an asset of the
type may have; the Asset's ``supports*`` fields are read from this table and
``assets_app.autoupdate.checks`` refuses the others:

- upload: none. Its files live in ragdesk and change only by a new upload, so
  neither a poll nor a webhook could find anything new.
- folder: poll (files on the server change under it; nothing outside can tell).
- web: poll (sites do not call webhooks of their readers).
- git: poll, and a webhook: a forge (GitHub) calls it on each push, naming the
  changed files."""

from __future__ import annotations

from dataclasses import dataclass

from assets_app.models import SourceType

SECRET_MASK = "********"  # API.md "Asset": secrets are write-only


@dataclass(frozen=True)
class ParameterDescriptor:
    name: str
    type: str  # a JSON type: "string", "integer", "boolean", "array" (of strings)
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
            auto_update=True,
            poll_schedule=True,
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
        SourceTypeDescriptor(
            key=SourceType.WEB,
            display_name=SourceType.WEB.label,
            auto_update=True,
            poll_schedule=True,
            parameters=(
                ParameterDescriptor(
                    name="url",
                    type="string",
                    required=True,
                    help="The start page (http or https), or the sitemap.xml in "
                    "SITEMAP mode. Only public addresses are reached.",
                ),
                ParameterDescriptor(
                    name="mode",
                    type="string",
                    default="PAGE",
                    options=("PAGE", "CRAWL", "SITEMAP"),
                    help="PAGE: this page only; CRAWL: follow links on the same host; "
                    "SITEMAP: the pages the sitemap lists. robots.txt is obeyed.",
                ),
                ParameterDescriptor(
                    name="maxDepth",
                    type="integer",
                    default=2,
                    help="CRAWL: how many links away from the start page (0–10).",
                ),
                ParameterDescriptor(
                    name="maxPages",
                    type="integer",
                    default=100,
                    help="The most pages read (1–1000).",
                ),
                ParameterDescriptor(
                    name="include",
                    type="array",
                    default=(),
                    help="Only URLs whose path matches one of these patterns, one per "
                    "line (e.g. /docs/*; * also matches /). Empty: all.",
                ),
                ParameterDescriptor(
                    name="exclude",
                    type="array",
                    default=(),
                    help="Skip URLs whose path matches one of these patterns.",
                ),
            ),
        ),
        SourceTypeDescriptor(
            key=SourceType.GIT,
            display_name=SourceType.GIT.label,
            auto_update=True,
            poll_schedule=True,
            webhook_registration=True,
            parameters=(
                ParameterDescriptor(
                    name="url",
                    type="string",
                    required=True,
                    help="https:// or ssh:// (user@host:path) URL of the repository; "
                    "a repository on the server (path or file://) for tenant admins, "
                    "below RAGDESK_FOLDER_ROOTS.",
                ),
                ParameterDescriptor(
                    name="branch",
                    type="string",
                    default="",
                    help="Empty: the repository's default branch.",
                ),
                ParameterDescriptor(
                    name="include",
                    type="array",
                    default=(),
                    help="Files to read, gitignore-style patterns, one per line "
                    "(e.g. *.md, docs/**). Empty: every file of a supported type.",
                ),
                ParameterDescriptor(
                    name="exclude",
                    type="array",
                    default=(),
                    help="Files to skip, gitignore-style patterns.",
                ),
                ParameterDescriptor(
                    name="token",
                    type="string",
                    secret=True,
                    help="An access token for a private https repository "
                    "(write-only: read back as ********).",
                ),
            ),
        ),
    )
}

_JSON_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list}


def source_type_get(key: str) -> SourceTypeDescriptor | None:
    return SOURCE_TYPES.get(key)


def parameters_check(descriptor: SourceTypeDescriptor, parameters: dict) -> dict:
    """``{name: [message]}`` for unknown, missing or mistyped parameters, and strings
    holding a NUL character ({} when they fit the descriptor). Whether a value is
    acceptable (a folder inside the roots) is the creating service's check."""
    known = {p.name: p for p in descriptor.parameters}
    errors = {
        name: [f"Unknown parameter of source type {str(descriptor.key)!r}."]
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
            errors[p.name] = [f"Must be a{'n' if p.type[0] in 'ai' else ''} {p.type}."]
        elif expected is list and not all(isinstance(v, str) for v in value):
            errors[p.name] = ["Must be an array of strings."]
        elif p.options is not None and value not in p.options:
            errors[p.name] = [f"One of {', '.join(p.options)}."]
        elif p.type in ("string", "array") and nul_errors({p.name: value}):
            errors[p.name] = [NUL_MESSAGE]
    return errors


# Django's own wording (ProhibitNullCharactersValidator), as the dashboard shows it.
NUL_MESSAGE = "Null characters are not allowed."


def nul_errors(parameters: dict) -> dict[str, list[str]]:
    """``{name: [message]}`` for each string (or array of strings) parameter holding a
    NUL character, which PostgreSQL's text and jsonb cannot store ({} when none)."""
    errors = {}
    for name, value in parameters.items():
        values = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, str) and "\x00" in v for v in values):
            errors[name] = [NUL_MESSAGE]
    return errors


def parameters_public(source_type: str, parameters: dict) -> dict:
    """The parameters as they may be read back: secret ones masked."""
    descriptor = SOURCE_TYPES.get(source_type)
    secret = (
        {p.name for p in descriptor.parameters if p.secret} if descriptor else set()
    )
    return {k: (SECRET_MASK if k in secret else v) for k, v in parameters.items()}
