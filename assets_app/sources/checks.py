"""The values of web and git source parameters, checked for the services that create
an asset or change its source (their types are checked against the descriptor by the
API and the forms)."""

from __future__ import annotations

from assets_app.models import Asset, SourceType
from config.errors import PermissionDenied, ValidationFailed

from . import ParameterError, ParameterForbidden
from . import git as git_source
from . import web as web_source
from .descriptors import SOURCE_TYPES, nul_errors


def source_parameters_check(
    *, source_type: str, parameters: dict, may_read_server: bool
) -> dict:
    """The web or git ``parameters`` completed with defaults, after checking their
    values: a URL must be well-formed and reach a public address (SSRF guard,
    docs/sources.md); a repository on the server needs ``may_read_server`` (tenant
    admins); no string may hold a NUL character. Raises ValidationFailed, or
    PermissionDenied (a repository on the server, below admin), with
    ``errors[<parameter name>]``."""
    if errors := nul_errors(parameters):
        raise ValidationFailed(
            "The source parameters are invalid; see errors for each one.", errors=errors
        )
    try:
        if source_type == SourceType.WEB:
            return web_source.check_parameters(parameters)
        if source_type == SourceType.GIT:
            return git_source.check_parameters(
                parameters, may_read_server=may_read_server
            )
    except ParameterForbidden as exc:  # the role, not the value: 403 (API.md)
        raise PermissionDenied(str(exc), errors={exc.name: [str(exc)]}) from exc
    except ParameterError as exc:
        raise ValidationFailed(str(exc), errors={exc.name: [str(exc)]}) from exc
    raise ValidationFailed(
        f"Source type {source_type!r} is not created from parameters.",
        errors={"sourceType": ["Use upload or folder."]},
    )


def source_parameters_changed(
    *, asset: Asset, parameters: dict, may_read_server: bool
) -> dict | None:
    """The asset's new source parameters, checked, or None when they equal the stored
    ones. Secrets left out keep their stored values. Raises ValidationFailed."""
    descriptor = SOURCE_TYPES[asset.source_type]
    kept = {
        p.name: asset.source_parameters[p.name]
        for p in descriptor.parameters
        if p.secret and p.name in asset.source_parameters
    }
    checked = source_parameters_check(
        source_type=asset.source_type,
        parameters={**kept, **parameters},
        may_read_server=may_read_server,
    )
    return None if checked == asset.source_parameters else checked
