"""The ``config`` of a create body and the ``sourceConfig`` of a PATCH: which request
creates which source type, the descriptor check of the parameters, and the wire names
(``config.parameters.<name>``) of the errors on them."""

from __future__ import annotations

from contextlib import contextmanager

from config.errors import ApplicationError, ValidationFailed

from .. import services
from ..models import Asset, SourceType
from ..sources.descriptors import SOURCE_TYPES, parameters_check


def _create_folder(actor, name: str, parameters: dict, chunking: dict):
    return services.asset_create_from_folder(
        actor=actor,
        display_name=name,
        path=parameters["path"],
        glob=parameters.get("glob") or "**/*",
        **chunking,
    )


@contextmanager
def _parameter_errors(prefix: str, source_type: str):
    """Re-key a service's errors on source parameters as ``<prefix>.<name>``."""
    try:
        yield
    except ApplicationError as exc:  # ValidationFailed, PermissionDenied
        descriptor = SOURCE_TYPES.get(source_type)
        names = {p.name for p in descriptor.parameters} if descriptor else set()
        exc.errors = {
            (f"{prefix}.{k}" if k in names else k): v for k, v in exc.errors.items()
        }
        raise


def _create_from_source(source_type: str):
    def create(actor, name: str, parameters: dict, chunking: dict):
        with _parameter_errors("config.parameters", source_type):
            return services.asset_create_from_source(
                actor=actor, display_name=name, source_type=source_type,
                parameters=parameters, **chunking,
            )  # fmt: skip

    return create


def _patched_parameters(asset: Asset, config: dict | None) -> dict | None:
    """The new parameters of a PATCH's ``sourceConfig`` (types checked), or None."""
    if config is None:
        return None
    if asset.source_type not in EDITABLE_SOURCES:
        raise ValidationFailed(
            f"Changing the source of {asset.source_type} assets is not supported yet.",
            errors={"sourceConfig": [
                "Changing the source of upload and folder assets is not supported "
                "yet; create a new asset."]},
        )  # fmt: skip
    if config.get("sourceType", asset.source_type) != asset.source_type:
        raise ValidationFailed(
            "The source type of an asset cannot change; create a new asset.",
            errors={"sourceConfig.sourceType": [f"Must be {asset.source_type!r}."]},
        )
    parameters = config["parameters"]
    if errors := parameters_check(SOURCE_TYPES[asset.source_type], parameters):
        raise ValidationFailed(
            "The source parameters are invalid; see errors for each one.",
            errors={f"sourceConfig.parameters.{k}": v for k, v in errors.items()},
        )
    return parameters


EDITABLE_SOURCES = (SourceType.WEB, SourceType.GIT)  # PATCH sourceConfig
# Source types created from a JSON body; upload is created with POST assets:file.
JSON_CREATORS = {
    SourceType.FOLDER: _create_folder,
    SourceType.WEB: _create_from_source(SourceType.WEB),
    SourceType.GIT: _create_from_source(SourceType.GIT),
}


def _source_config(config: dict | None, *, upload: bool) -> tuple[str, dict]:
    """``(sourceType, parameters)`` of a create body's ``config``, checked against the
    source-type table and the endpoint (JSON for JSON_CREATORS, else assets:file)."""
    if config is None:  # only assets:file may leave it out
        return SourceType.UPLOAD, {}
    source_type, parameters = config["sourceType"], config["parameters"]
    if upload and source_type != SourceType.UPLOAD:
        raise ValidationFailed(
            "assets:file creates upload assets; create other types with POST …/assets.",
            errors={"config.sourceType": ["Must be 'upload' here."]},
        )
    if not upload and source_type not in JSON_CREATORS:
        raise ValidationFailed(
            f"Assets of source type {source_type!r} are created with a multipart "
            "POST to assets:file.",
            errors={"config.sourceType": ["Use POST …/assets:file."]},
        )
    if errors := parameters_check(SOURCE_TYPES[source_type], parameters):
        raise ValidationFailed(
            "The source parameters are invalid; see errors for each one.",
            errors={f"config.parameters.{k}": v for k, v in errors.items()},
        )
    return source_type, parameters
