"""Every write of an operation's status and counters happens here and nowhere else.

A transition runs in ``transaction.atomic``: the row is locked (``select_for_update``)
or changed with a conditional ``UPDATE … WHERE status = …`` whose row count is checked,
checked against ``ALLOWED_TRANSITIONS``, saved with ``update_fields``, recorded as an
OperationEvent, and any follow-up work is enqueued with ``transaction.on_commit``.
"""

from __future__ import annotations

import logging
import os
import socket

from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from assets_app.models import Asset
from config.errors import ApplicationError

from .models import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Operation,
    OperationEvent,
    OperationStatus,
    OperationType,
)

logger = logging.getLogger("ragdesk.operations")

S = OperationStatus
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.RUNNING, S.CANCELLED, S.FAILED}),
    # RUNNING → PENDING: requeued after its worker was lost (operations_recover_stale).
    S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.CANCELLED, S.PENDING}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}
WORKER = "worker"


class InvalidTransition(ApplicationError):
    status = 409
    code = "invalid-transition"
    title = "Invalid operation state transition"


class OperationInterrupted(Exception):
    """Raised inside a batch transaction when the operation may no longer write:
    cancellation was requested or it is no longer RUNNING. The transaction rolls back,
    so nothing of that batch is stored."""



def check_transition(from_status: str, to_status: str) -> None:
    """Raise InvalidTransition unless ``from_status → to_status`` is in the table."""
    if to_status not in ALLOWED_TRANSITIONS[from_status]:
        raise InvalidTransition(f"An operation cannot go from {from_status} to {to_status}.")


def _event(op: Operation, kind: str, actor: str, *, frm: str = "", to: str = "", msg: str = ""):
    OperationEvent.objects.create(
        operation=op, kind=kind, from_status=frm, to_status=to, actor=actor, message=msg
    )
    if to in TERMINAL_STATUSES:  # every terminal transition writes this event
        from .notifications.services import notifications_enqueue

        notifications_enqueue(operation=op)  # outbound notifications, on commit


def _enqueue(operation_id) -> None:
    """Send ``run_operation`` to the broker when the transaction commits, and record
    ``enqueued_at`` in it (the reaper resends a PENDING operation whose task a dying
    cluster took with it, recovery.py)."""
    from django_q.tasks import async_task

    Operation.objects.filter(id=operation_id).update(enqueued_at=timezone.now())
    transaction.on_commit(
        lambda: async_task(
            "operations_app.tasks.run_operation",
            str(operation_id),
            task_name=f"operation-{operation_id}",
            group="operations",
        )
    )


def _merge_document_ids(a: list[str] | None, b: list[str] | None) -> list[str] | None:
    if a is None or b is None:
        return None  # one of them means "all documents"
    return sorted(set(a) | set(b))


@transaction.atomic
def operation_create(
    *,
    asset: Asset,
    type: str,
    created_by: str,
    document_ids: list[str] | None = None,
    force: bool = False,
) -> Operation:
    """Create a PENDING operation for ``asset`` and enqueue it when nothing else of the
    asset is running (else it waits and is enqueued when the running one ends).

    While a PENDING operation of the asset exists, a new request returns that one
    (coalescing, API.md "Refresh and concurrency"): document ids are merged (``None`` =
    all), ``force`` is or-ed, and a REINDEX request turns it into a REINDEX.
    """
    Asset.objects.select_for_update().only("id").get(pk=asset.pk)
    queued = (
        Operation.objects.select_for_update()
        .filter(asset=asset, status=S.PENDING)
        .order_by("created_at")
        .first()
    )
    if queued is not None and type != OperationType.INGEST:
        queued.document_ids = _merge_document_ids(queued.document_ids, document_ids)
        queued.force = queued.force or force or type == OperationType.REINDEX
        if type == OperationType.REINDEX:
            queued.type = OperationType.REINDEX
        queued.embedding_provider = asset.embedding_provider  # what it will embed with
        queued.embedding_model = asset.embedding_model
        queued.save(update_fields=["document_ids", "force", "type",
                                   "embedding_provider", "embedding_model"])  # fmt: skip
        _event(queued, "COALESCED", created_by, msg=f"{type} request merged into this one")
        return queued
    op = Operation.objects.create(
        tenant_id=asset.tenant_id,
        asset=asset,
        asset_name=asset.display_name,
        embedding_provider=asset.embedding_provider,
        embedding_model=asset.embedding_model,
        type=type,
        created_by=created_by,
        document_ids=document_ids,
        force=force or type == OperationType.REINDEX,
    )
    _event(op, "CREATED", created_by, to=S.PENDING)
    if not Operation.objects.filter(asset=asset, status=S.RUNNING).exists():
        _enqueue(op.id)
    return op


def operation_start(*, operation_id) -> Operation | None:
    """PENDING → RUNNING, claimed with a conditional update that also counts the
    ``attempt``: the claiming worker passes that number to every later write, so a
    worker that lost the operation (requeued while it hung) can no longer write into
    it. Returns the operation, or
    ``None`` when it is not PENDING (cancelled, redelivered, already claimed) or
    another operation of its asset is running (it stays PENDING and is enqueued again
    when that one ends)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            claimed = Operation.objects.filter(id=operation_id, status=S.PENDING).update(
                status=S.RUNNING, heartbeat_at=now, attempt=F("attempt") + 1,
                started_at=Coalesce(F("started_at"), Value(now)),  # first start counts
            )
            if not claimed:
                return None
            op = Operation.objects.get(id=operation_id)
            _event(op, "STARTED", WORKER, frm=S.PENDING, to=S.RUNNING,
                   msg=f"attempt {op.attempt} on {socket.gethostname()} pid {os.getpid()}")
    except IntegrityError:
        logger.info("operation %s waits: another operation of its asset runs", operation_id)
        return None
    return op


@transaction.atomic
def operation_request_cancel(*, operation: Operation, actor: str) -> Operation:
    """Cancel as API.md "Cancel semantics": PENDING → CANCELLED at once; RUNNING →
    ``cancel_requested`` (the worker ends it CANCELLED at its next check); terminal →
    unchanged. Idempotent. Returns the operation as it is after the signal."""
    op = Operation.objects.select_for_update().get(pk=operation.pk)
    if op.status == S.PENDING:
        check_transition(op.status, S.CANCELLED)
        op.status, op.completed_at, op.cancel_requested = S.CANCELLED, timezone.now(), True
        op.save(update_fields=["status", "completed_at", "cancel_requested"])
        _event(op, "CANCELLED", actor, frm=S.PENDING, to=S.CANCELLED)
    elif op.status == S.RUNNING and not op.cancel_requested:
        op.cancel_requested = True
        op.save(update_fields=["cancel_requested"])
        _event(op, "CANCEL_REQUESTED", actor)
    return op


def operation_finish(
    *, operation_id, status: str, error_message: str = "", attempt: int | None = None
) -> Operation:
    """End a RUNNING (or, for FAILED, a PENDING) operation with a terminal ``status``,
    set ``completedAt``, and enqueue the asset's next queued operation on commit.
    Ending an already-terminal operation, or one no longer claimed under ``attempt``
    (a worker that lost it), is a no-op returning it unchanged. Raises
    InvalidTransition for a non-terminal ``status`` or a refused transition."""
    if status not in TERMINAL_STATUSES:
        raise InvalidTransition(f"{status} is not a terminal status.")
    with transaction.atomic():
        # Lock the asset first, as operation_create does: otherwise a refresh created
        # while this one ends sees it RUNNING (so does not enqueue itself) while this
        # one does not yet see the new PENDING row, and the refresh is never run.
        asset_id = Operation.objects.values_list("asset_id", flat=True).get(pk=operation_id)
        if asset_id:
            Asset.objects.select_for_update(no_key=True).filter(pk=asset_id).first()
        op = Operation.objects.select_for_update().get(pk=operation_id)
        lost = attempt is not None and (op.attempt != attempt or op.status != S.RUNNING)
        if op.status in TERMINAL_STATUSES or lost:
            return op
        check_transition(op.status, status)
        previous = op.status
        op.status, op.completed_at = status, timezone.now()
        op.error_message = error_message[:4000]
        op.save(update_fields=["status", "completed_at", "error_message"])
        _event(op, status, WORKER, frm=previous, to=status, msg=op.error_message)
        if op.asset_id:
            _enqueue_next(op.asset_id)
    return op


def _enqueue_next(asset_id) -> None:
    nxt = (
        Operation.objects.filter(asset_id=asset_id, status=S.PENDING)
        .order_by("created_at")
        .values_list("id", flat=True)
        .first()
    )
    if nxt:
        _enqueue(nxt)


def operations_fail_for_deleted_asset(*, asset: Asset, actor: str) -> int:
    """End every active operation of ``asset`` FAILED ("asset deleted"); the workers see
    it at their next check. Call inside the transaction that deletes the asset.
    Returns how many were ended."""
    ops = list(
        Operation.objects.select_for_update().filter(asset=asset, status__in=ACTIVE_STATUSES)
    )
    for op in ops:
        check_transition(op.status, S.FAILED)
        previous = op.status
        op.status, op.completed_at, op.error_message = S.FAILED, timezone.now(), "asset deleted"
        op.save(update_fields=["status", "completed_at", "error_message"])
        _event(op, S.FAILED, actor, frm=previous, to=S.FAILED, msg="asset deleted")
    return len(ops)


def operation_cancel(*, actor, operation: Operation) -> Operation:
    """Cancel on behalf of a tenant member (``actor``: assets_app Membership); EDITOR or
    ADMIN only (API.md "Roles"). Raises config.errors.NotFound for another tenant's
    operation and PermissionDenied for a VIEWER."""
    from assets_app.models import Role
    from config.errors import NotFound, PermissionDenied

    if operation.tenant_id != actor.tenant_id:
        raise NotFound("No such operation in this tenant.")
    if not actor.allows(Role.EDITOR):
        raise PermissionDenied(f"Your role {actor.role} cannot cancel operations.")
    return operation_request_cancel(operation=operation, actor=actor.user.get_username())
