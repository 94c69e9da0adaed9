"""Refreshing, retrying failed documents, and deleting assets and documents."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.db.models import Count

from config.errors import (
    Conflict,
    NotFound,
    ValidationFailed,
)
from operations_app.failures import operation_note_chunks_removed
from operations_app.models import Operation, OperationStatus, OperationType
from operations_app.services import operation_create, operations_fail_for_deleted_asset

from ..models import (
    Asset,
    Chunk,
    Document,
    Membership,
    Role,
    SourceType,
)
from ..sources import git as git_source
from .access import (
    _actor_name,
    _require_for_asset,
)


def asset_refresh(
    *,
    actor: Membership,
    asset: Asset,
    document_ids: list[str] | None = None,
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


def document_ids_checked(
    *, asset: Asset, document_ids: list | None
) -> list[str] | None:
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


def asset_retry_failed_documents(
    *, actor: Membership, operation: Operation
) -> Operation:
    """ "Retry failed documents" (issue 4): a REFRESH of the operation's asset limited
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
    from ..autoupdate.schedules import poll_schedules_delete_for_asset  # imports us

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
            removed=removed,
            actor=_actor_name(actor),
            reason=f"document {document.file_name} ({document.pk}) deleted",
        )
        Document.objects.filter(pk=document.pk).delete()
