"""Every write of tenants, assets, uploads and documents. Operation status and counters
are not written here: that is ``operations_app.services``.

Each service takes the acting ``Membership`` (``actor``), checks its role (VIEWER reads,
EDITOR creates/patches/refreshes, ADMIN deletes and creates folder assets, API.md
"Roles"), validates, writes in one transaction and returns what it made."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import Count

from config.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
    ValidationFailed,
)
from operations_app.failures import operation_note_chunks_removed
from operations_app.models import Operation, OperationStatus, OperationType
from operations_app.services import operation_create, operations_fail_for_deleted_asset

from .embedding import provider_available
from .ingestion.parsing import SUPPORTED_TYPES, content_type_for
from .ingestion.switch import index_settings_adopt
from .models import (
    Asset,
    Chunk,
    Document,
    Membership,
    ModelPrice,
    Role,
    SourceType,
    UploadedFile,
)
from .selectors import model_max_input_tokens, model_price_get
from .sources import SourceError
from .sources import git as git_source
from .sources.checks import source_parameters_changed, source_parameters_check
from .sources.folder import check_glob, resolve_allowed_folder

MIN_CHUNK_SIZE = 16  # tokens; smaller chunks carry too little meaning to embed


def _require(actor: Membership, role: str, action: str) -> None:
    if not actor.allows(role):
        raise PermissionDenied(f"Your role {actor.role} in this tenant cannot {action}.")


def _require_for_asset(actor: Membership, asset: Asset, role: str, action: str) -> None:
    """As _require, and the asset must be of the actor's tenant (NotFound otherwise, as
    for every cross-tenant access)."""
    if asset.tenant_id != actor.tenant_id:
        raise NotFound("No such asset in this tenant.")
    _require(actor, role, action)


def _actor_name(actor: Membership) -> str:
    return actor.user.get_username()


@dataclass
class UploadInput:
    """One uploaded file: name, declared size in bytes, readable stream."""

    name: str
    size: int
    stream: BinaryIO


def validate_chunking(*, provider: str, model: str, chunk_size, chunk_overlap) -> None:
    """Raise ValidationFailed (errors by field) unless MIN_CHUNK_SIZE ≤ chunk_size ≤
    the model's max input tokens and 0 ≤ chunk_overlap < chunk_size."""
    errors: dict[str, list[str]] = {}
    limit = model_max_input_tokens(provider=provider, model=model)
    if not isinstance(chunk_size, int) or not MIN_CHUNK_SIZE <= chunk_size <= limit:
        errors["chunkSize"] = [
            f"Chunk size must be a whole number of tokens from {MIN_CHUNK_SIZE} to {limit} "
            f"(the input limit of {model})."
        ]
    if not isinstance(chunk_overlap, int) or chunk_overlap < 0:
        errors["chunkOverlap"] = ["Chunk overlap must be a whole number of tokens ≥ 0."]
    elif isinstance(chunk_size, int) and chunk_overlap >= chunk_size:
        errors["chunkOverlap"] = ["Chunk overlap must be smaller than the chunk size."]
    if errors:
        raise ValidationFailed("The chunking settings are invalid.", errors=errors)


def _validate_uploads(files: list[UploadInput]) -> list[tuple[UploadInput, str]]:
    if not files:
        raise ValidationFailed("Choose at least one file.", errors={"files": ["No file given."]})
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
                f"{f.name} is empty.", errors={"files": [f"{f.name}: the file is empty."]}
            )
        content_type = content_type_for(f.name)
        if content_type is None:
            accepted = ", ".join(e for exts in SUPPORTED_TYPES.values() for e in exts)
            raise UnsupportedMediaType(
                f"{f.name} has an unsupported type; accepted: {accepted}.",
                errors={"files": [f"{f.name}: unsupported type (accepted: {accepted})."]},
            )
        if f.name in names:
            raise ValidationFailed(
                f"{f.name} is given twice.", errors={"files": [f"{f.name}: given twice."]}
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
        provider=asset.embedding_provider, model=asset.embedding_model,
        chunk_size=asset.chunk_size, chunk_overlap=asset.chunk_overlap,
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
            actor, display_name=display_name[:200], source_type=SourceType.UPLOAD, **embedding
        )
        for f, content_type in checked:
            data = _read_upload(f)
            UploadedFile.objects.create(
                asset=asset, file_name=f.name, content_type=content_type, size=len(data),
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
        raise ValidationFailed("The glob must stay inside the folder.", errors={"glob": [
            "Use a relative pattern such as **/*.md."]})
    try:
        # Tried now, so that a pattern pathlib rejects (``**a``, ``.``) is an error on
        # this field rather than a FAILED operation later.
        check_glob(glob)
    except SourceError as exc:
        raise ValidationFailed(str(exc), errors={"glob": [str(exc)]}) from exc
    display_name = (display_name or "").strip() or folder.name
    with transaction.atomic():
        asset = _new_asset(
            actor, display_name=display_name[:200], source_type=SourceType.FOLDER,
            source_parameters={"path": str(folder), "glob": glob}, **embedding,
        )
        op = operation_create(
            asset=asset, type=OperationType.INGEST, created_by=_actor_name(actor)
        )
    return asset, op


def asset_create_from_source(
    *, actor: Membership, display_name: str, source_type: str, parameters: dict,
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
            actor, display_name=display_name[:200], source_type=source_type,
            source_parameters=parameters, **embedding,
        )
        op = operation_create(
            asset=asset, type=OperationType.INGEST, created_by=_actor_name(actor)
        )
    return asset, op


def embedding_model_checked(
    *, provider: str, model: str, dimensions: int | None = None
) -> ModelPrice:
    """The ModelPrice row of ``provider``/``model``: a model assets may use here (the
    rows ``GET …/assets:embeddingModels`` lists; the ``local`` provider only where its
    extra is installed). ``dimensions``, if given, must be the row's. Raises
    ValidationFailed naming ``embeddingModel`` or ``embeddingDimensions`` (on the
    wire ``embedding.model`` / ``embedding.dimensions``)."""
    row = model_price_get(provider=provider, model=model)
    if row is None or not provider_available(provider):
        raise ValidationFailed(
            f"{provider}/{model} is not an embedding model of this server; "
            f"see assets:embeddingModels.",
            errors={"embeddingModel": [f"Unknown model {provider}/{model}."]},
        )
    if dimensions is not None and dimensions != row.dimensions:
        raise ValidationFailed(
            f"{provider}/{model} gives {row.dimensions} dimensions.",
            errors={"embeddingDimensions": [f"Must be {row.dimensions}."]},
        )
    return row


def _model_change(asset: Asset, provider, model, dimensions) -> dict | None:
    """The ``embedding_*`` fields a settings change gives ``asset``: None when the
    model stays (given values equal to the asset's are no change, so a body read
    back may be sent again, even for a model whose price row is gone). Raises
    ValidationFailed as embedding_model_checked."""
    provider = asset.embedding_provider if provider is None else provider
    model = asset.embedding_model if model is None else model
    if (provider, model) == (asset.embedding_provider, asset.embedding_model):
        current = asset.embedding_dimensions
        if dimensions not in (None, current):
            raise ValidationFailed(
                f"{provider}/{model} gives {current} dimensions.",
                errors={"embeddingDimensions": [f"Must be {current}."]},
            )
        return None
    if not asset.vectorized:
        raise ValidationFailed(
            "This asset is not vectorized, so it has no embedding model.",
            errors={"embeddingModel": ["Only vectorized assets have a model."]},
        )
    row = embedding_model_checked(provider=provider, model=model, dimensions=dimensions)
    return {
        "embedding_provider": provider,
        "embedding_model": model,
        "embedding_dimensions": row.dimensions,
    }


def asset_update_settings(
    *,
    actor: Membership,
    asset: Asset,
    display_name: str | None = None,
    embedding_provider: str | None = None,
    embedding_model: str | None = None,
    embedding_dimensions: int | None = None,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    source_parameters: dict | None = None,
    dry_run: bool = False,
) -> tuple[Asset, Operation | None]:
    """Change only the given fields (API.md "PATCH semantics"). A name change applies at
    once. A new embedding model (``embedding_provider``/``embedding_model``, a row of
    ``assets:embeddingModels``; its dimensions come from that row and
    ``embedding_dimensions``, if given, must equal them) or a new chunk size or
    overlap (tokens; the size within the new model's input limit) starts a REINDEX,
    or turns the queued operation into one (operation_create), returned with the
    asset. New ``source_parameters`` of a web or git asset (checked like on create;
    a secret not given keeps its stored value) start a REFRESH (a REINDEX re-reads
    them anyway).

    Budget limits stay as stored, in tokens, across a model change: a USD limit was
    converted with the old price when it was set and is not converted again (the
    server does not know which limits were given in USD; docs/api.md "Budgets").

    ``dry_run`` checks the role and the values and returns ``(asset, None)`` without
    saving (the dashboard's confirmation step). Raises PermissionDenied or
    ValidationFailed (errors keyed ``displayName``, ``embeddingModel``,
    ``embeddingDimensions``, ``chunkSize``, ``chunkOverlap`` or a source parameter);
    nothing is saved on error."""
    _require_for_asset(actor, asset, Role.EDITOR, "change asset settings")
    given = {
        "display_name": display_name, "embedding_provider": embedding_provider,
        "embedding_model": embedding_model,
        "embedding_dimensions": embedding_dimensions, "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap, "source_parameters": source_parameters,
    }  # fmt: skip
    if dry_run:
        _settings_checked(actor, asset, **given)
        return asset, None
    with transaction.atomic():
        # Checked against the locked row, so that a concurrent change (another
        # model, other chunking) cannot slip in between the check and the write.
        asset = Asset.objects.select_for_update().get(pk=asset.pk)
        changes, new_parameters = _settings_checked(actor, asset, **given)
        reindex = any(f != "display_name" for f in changes)
        for field, value in changes.items():
            setattr(asset, field, value)
        fields = [*changes, "modified_at"]
        if new_parameters is not None:
            asset.source_parameters = new_parameters
            fields.append("source_parameters")
        asset.save(update_fields=fields)
        op = None
        if reindex or new_parameters is not None:
            # After the save: the operation (or the queued one it joins) records the
            # model it will embed with.
            op = operation_create(
                asset=asset, created_by=_actor_name(actor),
                type=OperationType.REINDEX if reindex else OperationType.REFRESH,
            )
    return asset, op


def _settings_checked(
    actor: Membership, asset: Asset, *, display_name, embedding_provider,
    embedding_model, embedding_dimensions, chunk_size, chunk_overlap,
    source_parameters,
) -> tuple[dict, dict | None]:  # fmt: skip
    """``(Asset field → new value, new source parameters or None)`` of a settings
    change: a changed model or chunking among the fields means a REINDEX. Raises
    ValidationFailed with every field's errors (asset_update_settings)."""
    new_size = asset.chunk_size if chunk_size is None else chunk_size
    new_overlap = asset.chunk_overlap if chunk_overlap is None else chunk_overlap
    errors, changes = {}, {}
    if display_name is not None:
        if not display_name.strip():
            errors["displayName"] = ["The name cannot be empty."]
        changes["display_name"] = display_name.strip()[:200]
    try:
        model = _model_change(
            asset, embedding_provider, embedding_model, embedding_dimensions
        )
        changes.update(model or {})
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if "embeddingModel" not in errors:  # else there is no input limit to check with
        try:
            validate_chunking(
                provider=changes.get("embedding_provider", asset.embedding_provider),
                model=changes.get("embedding_model", asset.embedding_model),
                chunk_size=new_size, chunk_overlap=new_overlap,
            )  # fmt: skip
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if (new_size, new_overlap) != (asset.chunk_size, asset.chunk_overlap):
        changes.update(chunk_size=new_size, chunk_overlap=new_overlap)
    new_parameters = None
    if source_parameters is not None:
        try:
            new_parameters = source_parameters_changed(
                asset=asset, parameters=source_parameters,
                may_read_server=actor.allows(Role.ADMIN),
            )  # fmt: skip
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationFailed(
            "The settings are invalid; nothing was saved.", errors=errors
        )
    return changes, new_parameters


def asset_refresh(
    *, actor: Membership, asset: Asset, document_ids: list[str] | None = None,
    force: bool = False,
) -> Operation:
    """Start (or join the queued) REFRESH: re-read the source, re-embed only documents
    whose content hash changed (all with ``force``), remove vanished ones."""
    _require_for_asset(actor, asset, Role.EDITOR, "refresh assets")
    return operation_create(
        asset=asset, type=OperationType.REFRESH, created_by=_actor_name(actor),
        document_ids=document_ids_checked(asset=asset, document_ids=document_ids),
        force=force,
    )  # fmt: skip


def document_ids_checked(*, asset: Asset, document_ids: list | None) -> list[str] | None:
    """``document_ids`` as sorted canonical UUID strings (None stays None: all).
    Raises ValidationFailed naming those that are malformed or not of ``asset``."""
    if document_ids is not None:
        # Canonical ids: the worker matches them as strings against str(document.id),
        # and a malformed one must be a 400, not a database error.
        ids, unknown = [], []
        for raw in document_ids:
            try:
                ids.append(str(uuid.UUID(str(raw))))
            except ValueError:
                unknown.append(str(raw))
        known = {
            str(i)
            for i in Document.objects.filter(asset=asset, id__in=ids).values_list(
                "id", flat=True
            )
        }
        unknown += [i for i in ids if i not in known]
        if unknown:
            raise ValidationFailed(
                "Some documents are not in this asset.", errors={"documentIds": unknown}
            )
        document_ids = sorted(set(ids))
    return document_ids


def asset_retry_failed_documents(*, actor: Membership, operation: Operation) -> Operation:
    """"Retry failed documents" (issue 4): a REFRESH of the operation's asset limited
    to the documents that ``operation`` failed and that are still FAILED, through
    ``asset_refresh`` (so it queues or joins a queued refresh like any other).
    EDITOR or ADMIN. Raises NotFound (another tenant's operation, or its asset was
    deleted), PermissionDenied, or Conflict when none of its failed documents is
    still FAILED (nothing to retry)."""
    from operations_app.selectors import operation_retryable_document_ids

    asset = operation.asset
    if operation.tenant_id != actor.tenant_id or asset is None:
        raise NotFound("No such asset in this tenant.")
    _require_for_asset(actor, asset, Role.EDITOR, "retry failed documents")
    document_ids = operation_retryable_document_ids(operation=operation)
    if not document_ids:
        exc = Conflict(
            "No document this operation failed is still FAILED; there is nothing to "
            "retry. Refresh the asset to re-read its source."
        )
        exc.extra = {"operationId": str(operation.id)}
        raise exc
    return asset_refresh(actor=actor, asset=asset, document_ids=document_ids)


def asset_delete(*, actor: Membership, asset: Asset) -> None:
    """Delete the asset with its documents, chunks and uploads, its auto-update
    settings, webhooks and poll schedule; its active operations end FAILED ("asset
    deleted") and keep their history. A git asset's clone on this machine is
    removed after the commit (on other machines it is an orphan cache)."""
    from .autoupdate.schedules import poll_schedules_delete_for_asset  # imports us

    _require_for_asset(actor, asset, Role.ADMIN, "delete assets")
    with transaction.atomic():
        locked = Asset.objects.select_for_update().get(pk=asset.pk)
        operations_fail_for_deleted_asset(asset=locked, actor=_actor_name(actor))
        # The django-q2 Schedule is not a child of the asset: no cascade reaches it.
        poll_schedules_delete_for_asset(locked.pk)
        asset_id, is_git = locked.pk, locked.source_type == SourceType.GIT
        locked.delete()
        if is_git:
            transaction.on_commit(lambda: git_source.clone_remove(asset_id))


def document_delete(*, actor: Membership, document: Document) -> None:
    """Delete one document and its chunks (API.md: a later full refresh of the source
    brings it back). ADMIN only (API.md "Roles": ADMIN deletes). Raises
    PermissionDenied, NotFound (another tenant's document), or Conflict while an
    operation of the asset is RUNNING: its worker may be writing this document's
    chunks, so wait for it to end or cancel it first. (A worker that starts between
    this check and the commit may still fail its batch on the vanished row; the
    operation then ends FAILED and the next refresh repairs it.)"""
    asset = document.asset
    _require_for_asset(actor, asset, Role.ADMIN, "delete documents")
    with transaction.atomic():
        # Same lock as asset_delete and operation_create take: serializes with them
        # and with a worker's batch (which locks the asset FOR NO KEY UPDATE).
        Asset.objects.select_for_update().only("id").get(pk=asset.pk)
        running = (
            Operation.objects.filter(asset=asset, status=OperationStatus.RUNNING)
            .values_list("id", flat=True)
            .first()
        )
        if running is not None:
            exc = Conflict(
                "An operation of this asset is running; wait for it to end or cancel "
                "it, then delete the document."
            )
            exc.extra = {"operationId": str(running)}  # a Problem Details member
            raise exc
        removed = dict(
            Chunk.objects.filter(document=document)
            .values("operation_id")
            .annotate(n=Count("id"))
            .values_list("operation_id", "n")
        )
        operation_note_chunks_removed(
            removed=removed, actor=_actor_name(actor),
            reason=f"document {document.file_name} ({document.pk}) deleted",
        )
        Document.objects.filter(pk=document.pk).delete()
