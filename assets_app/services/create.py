"""Creating assets: from uploads, a server folder, or a described source (web, git)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.db import transaction

from config.errors import (
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from operations_app.models import Operation, OperationType
from operations_app.services import operation_create

from ..ingestion.parsing import SUPPORTED_TYPES, content_type_for
from ..ingestion.switch import index_settings_adopt
from ..models import (
    Asset,
    Membership,
    Role,
    SourceType,
    UploadedFile,
)
from ..sources import SourceError
from ..sources.checks import source_parameters_check
from ..sources.folder import check_glob, resolve_allowed_folder
from .access import (
    _actor_name,
    _require,
    validate_chunking,
)


@dataclass
class UploadInput:
    """One uploaded file: name, declared size in bytes, readable stream."""

    name: str
    size: int
    stream: BinaryIO


def _validate_uploads(files: list[UploadInput]) -> list[tuple[UploadInput, str]]:
    if not files:
        raise ValidationFailed(
            "Choose at least one file.", errors={"files": ["No file given."]}
        )
    limit = settings.RAGDESK_MAX_UPLOAD_BYTES
    checked, names = [], set()
    for f in files:
        if f.size > limit:
            raise PayloadTooLarge(
                f"{f.name} is {f.size / 1_048_576:.1f} MB; the limit is "
                f"{limit // 1_048_576} MB per file.",
                errors={"files": [f"{f.name}: over {limit // 1_048_576} MB."]},
            )
        if f.size == 0:
            raise ValidationFailed(
                f"{f.name} is empty.",
                errors={"files": [f"{f.name}: the file is empty."]},
            )
        content_type = content_type_for(f.name)
        if content_type is None:
            accepted = ", ".join(e for exts in SUPPORTED_TYPES.values() for e in exts)
            raise UnsupportedMediaType(
                f"{f.name} has an unsupported type; accepted: {accepted}.",
                errors={
                    "files": [f"{f.name}: unsupported type (accepted: {accepted})."]
                },
            )
        if f.name in names:
            raise ValidationFailed(
                f"{f.name} is given twice.",
                errors={"files": [f"{f.name}: given twice."]},
            )
        names.add(f.name)
        checked.append((f, content_type))
    return checked


def _read_upload(f: UploadInput) -> bytes:
    """The file's bytes, re-checked: the declared size may not be what the stream holds
    (reads at most one byte over the limit). Raising rolls the asset back."""
    limit = settings.RAGDESK_MAX_UPLOAD_BYTES
    data = f.stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            f"{f.name} is over the limit of {limit // 1_048_576} MB per file.",
            errors={"files": [f"{f.name}: over {limit // 1_048_576} MB."]},
        )
    if not data:
        raise ValidationFailed(
            f"{f.name} is empty.", errors={"files": [f"{f.name}: the file is empty."]}
        )
    return data


def _new_asset(actor: Membership, **fields) -> Asset:
    asset = Asset(tenant=actor.tenant, created_by=_actor_name(actor), **fields)
    index_settings_adopt(asset)  # nothing is built yet: the index has no other settings
    validate_chunking(
        provider=asset.embedding_provider,
        model=asset.embedding_model,
        chunk_size=asset.chunk_size,
        chunk_overlap=asset.chunk_overlap,
    )
    asset.save()
    return asset


def asset_create_from_uploads(
    *, actor: Membership, display_name: str, files: list[UploadInput], **embedding
) -> tuple[Asset, Operation]:
    """Create an ``upload`` asset from files (.txt .md .html .pdf .docx .csv, ≤ 50 MB each) and
    start its INGEST operation. Raises PermissionDenied (below EDITOR), PayloadTooLarge
    (413), UnsupportedMediaType (415), ValidationFailed (empty, duplicate, bad chunking)."""
    _require(actor, Role.EDITOR, "create assets")
    checked = _validate_uploads(files)
    display_name = (display_name or "").strip() or checked[0][0].name
    with transaction.atomic():
        asset = _new_asset(
            actor,
            display_name=display_name[:200],
            source_type=SourceType.UPLOAD,
            **embedding,
        )
        for f, content_type in checked:
            data = _read_upload(f)
            UploadedFile.objects.create(
                asset=asset,
                file_name=f.name,
                content_type=content_type,
                size=len(data),
                data=data,
            )
        op = operation_create(
            asset=asset, type=OperationType.INGEST, created_by=_actor_name(actor)
        )
    return asset, op


def asset_create_from_folder(
    *, actor: Membership, display_name: str, path: str, glob: str = "**/*", **embedding
) -> tuple[Asset, Operation]:
    """Create a ``folder`` asset reading the server's disk below the configured roots
    (ADMIN only, since it reads the server's files) and start its INGEST operation.
    ``glob`` is a pathlib pattern relative to the folder (default ``**/*``). Raises
    PermissionDenied or ValidationFailed (``errors["path"]`` or ``errors["glob"]``)."""
    _require(actor, Role.ADMIN, "create folder assets (they read the server's disk)")
    try:
        folder = resolve_allowed_folder(path)
    except SourceError as exc:
        raise ValidationFailed(str(exc), errors={"path": [str(exc)]}) from exc
    glob = (glob or "").strip() or "**/*"
    if glob.startswith("/") or ".." in glob.split("/"):
        raise ValidationFailed(
            "The glob must stay inside the folder.",
            errors={"glob": ["Use a relative pattern such as **/*.md."]},
        )
    try:
        # Tried now, so that a pattern pathlib rejects (``**a``, ``.``) is an error on
        # this field rather than a FAILED operation later.
        check_glob(glob)
    except SourceError as exc:
        raise ValidationFailed(str(exc), errors={"glob": [str(exc)]}) from exc
    display_name = (display_name or "").strip() or folder.name
    with transaction.atomic():
        asset = _new_asset(
            actor,
            display_name=display_name[:200],
            source_type=SourceType.FOLDER,
            source_parameters={"path": str(folder), "glob": glob},
            **embedding,
        )
        op = operation_create(
            asset=asset, type=OperationType.INGEST, created_by=_actor_name(actor)
        )
    return asset, op


def asset_create_from_source(
    *,
    actor: Membership,
    display_name: str,
    source_type: str,
    parameters: dict,
    **embedding,
) -> tuple[Asset, Operation]:
    """Create a ``web`` or ``git`` asset (EDITOR) and start its INGEST operation.
    ``parameters`` are the descriptor's (types already checked); their values are
    checked by ``sources.checks.source_parameters_check``. Raises PermissionDenied or
    ValidationFailed."""
    _require(actor, Role.EDITOR, "create assets")
    parameters = source_parameters_check(
        source_type=source_type, parameters=parameters,
        may_read_server=actor.allows(Role.ADMIN),
    )  # fmt: skip
    display_name = (display_name or "").strip() or parameters["url"]
    with transaction.atomic():
        asset = _new_asset(
            actor,
            display_name=display_name[:200],
            source_type=source_type,
            source_parameters=parameters,
            **embedding,
        )
        op = operation_create(
            asset=asset, type=OperationType.INGEST, created_by=_actor_name(actor)
        )
    return asset, op
