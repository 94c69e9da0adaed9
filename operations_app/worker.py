"""What the worker holding an operation writes while it runs it: its total, progress
(counters with the batch that stores what they count), heartbeats, and the checks
that tell it to stop. Every write is conditional on ``status = RUNNING`` and on the
worker's ``attempt`` (services.operation_start), so a worker that lost the operation
writes nothing into it. Part of the one writer of operation status and counters
(services.py, recovery.py)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F
from django.utils import timezone

from assets_app.models import Asset

from .models import Operation, OperationStatus

S = OperationStatus


def _owned(operation_id, attempt: int | None):
    """The operation while RUNNING under ``attempt`` (any attempt when None)."""
    qs = Operation.objects.filter(id=operation_id, status=S.RUNNING)
    return qs if attempt is None else qs.filter(attempt=attempt)


def operation_set_total(*, operation_id, items_total: int, attempt: int | None = None):
    """Set ``itemsTotal`` (documents the run will visit) of a RUNNING operation."""
    _owned(operation_id, attempt).update(items_total=items_total, heartbeat_at=timezone.now())


def operation_heartbeat(*, operation_id, attempt: int | None = None) -> None:
    """Record that the worker of a RUNNING operation is alive (``heartbeat_at``)."""
    _owned(operation_id, attempt).update(heartbeat_at=timezone.now())


@dataclass
class Progress:
    """Increments of one unit of work: documents, chunks stored, billed tokens, stats."""

    items: int = 0
    chunks: int = 0
    tokens: int = 0
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: int = 0


_PROGRESS_COLUMNS = {
    "items": "items_processed",
    "chunks": "chunk_count",
    "tokens": "token_count",
    "added": "documents_added",
    "updated": "documents_updated",
    "deleted": "documents_deleted",
    "unchanged": "documents_unchanged",
    "failed": "documents_failed",
}


def operation_add_progress(
    *, operation_id, progress: Progress, attempt: int | None = None
) -> None:
    """Add ``progress`` to a RUNNING operation whose cancellation was not requested.

    Call it first inside the transaction that stores the work it counts: the
    conditional UPDATE takes the operation's row lock, so a cancel request waits for
    this batch, and counters always equal what is stored. Raises OperationInterrupted (rolling the
    caller's transaction back) when the operation may no longer write.
    """
    # Lock the asset first (asset → operation, the order of asset_delete and
    # operation_create). The caller's chunk and document rows lock the asset for their
    # foreign-key checks at commit; without this a delete holding the asset and waiting
    # for this operation's row deadlocks with the batch. NO KEY UPDATE does not block
    # those checks, only FOR UPDATE (delete, create).
    list(
        Asset.objects.select_for_update(no_key=True, of=("self",))
        .filter(operations__id=operation_id)
        .values_list("pk", flat=True)
    )
    # Only the counters that move: each ``F() + n`` costs query compilation time (most
    # of this function's, bench/ingest.py), and a unit of work moves two of eight.
    increments = {
        column: F(column) + getattr(progress, name)
        for name, column in _PROGRESS_COLUMNS.items()
        if getattr(progress, name)
    }
    changed = (
        _owned(operation_id, attempt)
        .filter(cancel_requested=False)
        .update(**increments, heartbeat_at=timezone.now())
    )
    if not changed:
        from .services import OperationInterrupted

        raise OperationInterrupted(str(operation_id))


def operation_lock_for_worker(*, operation_id, attempt: int | None) -> bool:
    """Inside a transaction: lock the asset, then the operation (the order of
    ``operation_add_progress``), and tell whether the worker holding ``attempt`` still
    owns it (RUNNING under that attempt). For writes a worker makes outside a batch,
    such as settling its interrupted documents, which a worker that lost the
    operation must not make."""
    list(
        Asset.objects.select_for_update(no_key=True, of=("self",))
        .filter(operations__id=operation_id)
        .values_list("pk", flat=True)
    )
    return bool(list(_owned(operation_id, attempt).select_for_update().values_list("pk")[:1]))


def operation_should_stop(*, operation_id, attempt: int | None = None) -> bool:
    """True when the worker must stop: cancel requested, no longer RUNNING, or
    claimed again by another worker (``attempt``)."""
    return not _owned(operation_id, attempt).filter(cancel_requested=False).exists()
