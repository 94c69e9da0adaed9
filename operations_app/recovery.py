"""Handing a RUNNING operation back to the queue: when its worker stops on a signal
or loses the database (``operation_requeue``), and when its worker was lost without
a word (``operations_recover_stale``, the reaper). Both go RUNNING → PENDING and
enqueue it again, so that the next worker resumes it: documents this operation
already ended are skipped and a document it stored part-way continues after its
last stored chunk (assets_app/ingestion), so nothing is embedded or billed twice.

Writes go through the same transition table and events as services.py, the one
module that writes operation status; this one only holds the recovery paths.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import services
from .models import Operation, OperationStatus

S = OperationStatus
logger = logging.getLogger("ragdesk.operations")
def _to_pending(op: Operation, *, kind: str, actor: str, message: str) -> None:
    """RUNNING → PENDING, enqueued on commit. The resumed run lists the source again:
    it counts documents this operation already ended as processed but not again by
    kind, and unchanged ones again, so ``itemsProcessed`` restarts at the documents it
    deleted (gone from the listing) and ``documentsUnchanged`` at 0."""
    services.check_transition(op.status, S.PENDING)
    _release_budget(op)
    op.items_processed, op.documents_unchanged = op.documents_deleted, 0
    op.status, op.heartbeat_at = S.PENDING, None
    op.save(update_fields=["status", "items_processed", "documents_unchanged", "heartbeat_at"])
    services._event(op, kind, actor, frm=S.RUNNING, to=S.PENDING, msg=message)
    services._enqueue(op.id)


def operation_requeue(*, operation_id, attempt: int, reason: str) -> bool:
    """RUNNING → PENDING for the worker that holds ``attempt`` and must stop (a stop
    signal, a lost database connection): event WORKER_STOPPED with ``reason``, enqueued
    on commit. A pending cancel ends it CANCELLED instead. Returns False (nothing
    changed) when the operation is no longer RUNNING under ``attempt``."""
    with transaction.atomic():
        op = (
            Operation.objects.select_for_update()
            .filter(id=operation_id, status=S.RUNNING, attempt=attempt)
            .first()
        )
        if op is None:
            return False
        if op.cancel_requested:
            services.operation_finish(operation_id=op.id, status=S.CANCELLED, attempt=attempt)
            return True
        _to_pending(op, kind="WORKER_STOPPED", actor=services.WORKER, message=reason)
    return True


def operations_recover_stale(
    *, stale_after_seconds: float, max_attempts: int = 3,
    cancel_stale_after_seconds: float | None = None,
) -> int:  # fmt: skip
    """Requeue RUNNING operations whose worker stopped writing heartbeats more than
    ``stale_after_seconds`` ago (killed, machine lost, ``make run`` stopped mid-run):
    RUNNING → PENDING and enqueued again, so the run resumes. One whose cancel was
    requested ends CANCELLED, already once silent for ``cancel_stale_after_seconds``
    (default: the same; a live worker writes a heartbeat every 5 s, so a short wait
    is enough to end the cancel of a dead one); after ``max_attempts`` losses one
    ends FAILED saying so. Each step is an OperationEvent (WORKER_LOST, CANCELLED,
    FAILED). Returns how many operations were recovered."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=stale_after_seconds)
    cancel_cutoff = now - timedelta(
        seconds=min(stale_after_seconds, cancel_stale_after_seconds or stale_after_seconds)
    )
    stale = Operation.objects.filter(status=S.RUNNING).filter(
        Q(heartbeat_at__lte=cutoff) | Q(cancel_requested=True, heartbeat_at__lte=cancel_cutoff)
    )
    recovered = 0
    for operation_id in stale.values_list("id", flat=True):
        with transaction.atomic():
            if _recover_one(operation_id, cutoff, cancel_cutoff, max_attempts):
                recovered += 1
    return recovered


REAP_AGAIN = "ragdesk: requeue operations of lost workers (once)"


def operations_resend_lost(*, resend_after_seconds: float) -> int:
    """Send again PENDING operations whose task is gone: sent to the broker more than
    ``resend_after_seconds`` ago (or never, and created that long ago) while no
    operation of their asset runs (one queued behind a running operation waits for
    it by design). A cluster that took tasks from the broker and then died (SIGKILL,
    machine lost) takes them with it: django-q2's Redis broker has no redelivery,
    its ORM broker redelivers only after ``retry`` (62 min here). A duplicate is
    harmless: ``operation_start`` claims conditionally, the other run is SKIPPED. In a
    backlog longer than ``resend_after_seconds`` each waiting operation gets one
    duplicate per reaper period. Returns how many were sent again."""
    cutoff = timezone.now() - timedelta(seconds=resend_after_seconds)
    running_assets = Operation.objects.filter(status=S.RUNNING).values("asset_id")
    lost = (
        Operation.objects.filter(status=S.PENDING)
        .filter(
            Q(enqueued_at__lte=cutoff) | Q(enqueued_at__isnull=True, created_at__lte=cutoff)
        )
        .exclude(asset_id__in=running_assets)
        .values_list("id", flat=True)
    )
    sent = 0
    for operation_id in list(lost):
        with transaction.atomic():
            services._enqueue(operation_id)
        sent += 1
    if sent:
        logger.warning("resent %d PENDING operation(s) whose task was lost", sent)
    return sent


def operations_reap(
    *, stale_after_seconds: float, max_attempts: int, cancel_stale_after_seconds: float,
    resend_after_seconds: float | None = None,
) -> int:  # fmt: skip
    """The reaper: ``operations_recover_stale``, then, when a RUNNING operation's
    heartbeat will be stale before the next scheduled run (~30 s), a one-off django-q2
    schedule for that moment + 1 s, so a lost operation resumes about
    ``stale_after_seconds`` + 15 s (the scheduler's period) after its last heartbeat
    rather than up to 45 s later. Returns how many operations were recovered."""
    from django_q.models import Schedule

    recovered = operations_recover_stale(
        stale_after_seconds=stale_after_seconds, max_attempts=max_attempts,
        cancel_stale_after_seconds=cancel_stale_after_seconds,
    )  # fmt: skip
    if resend_after_seconds is not None:
        operations_resend_lost(resend_after_seconds=resend_after_seconds)
    due = operations_next_stale_at(
        stale_after_seconds=stale_after_seconds, within_seconds=45,
        cancel_stale_after_seconds=cancel_stale_after_seconds,
    )  # fmt: skip
    if due is not None:
        Schedule.objects.update_or_create(
            name=REAP_AGAIN,
            defaults={
                "func": "operations_app.tasks.reap_stale_operations",
                "schedule_type": Schedule.ONCE,
                "repeats": 1,
                "next_run": due + timedelta(seconds=1),
            },
        )
    return recovered


def operations_next_stale_at(
    *, stale_after_seconds: float, within_seconds: float,
    cancel_stale_after_seconds: float | None = None,
):  # fmt: skip
    """When the next RUNNING operation becomes stale (its heartbeat +
    ``stale_after_seconds``, or + ``cancel_stale_after_seconds`` once its cancel is
    requested), if that is within ``within_seconds`` from now: a datetime, else None.
    The reaper uses it to run again at that moment instead of up to a schedule
    period later."""
    from django.db.models import Min

    now = timezone.now()
    dues = []
    for seconds, extra in (
        (stale_after_seconds, {}),
        (cancel_stale_after_seconds, {"cancel_requested": True}),
    ):
        if seconds is None:
            continue
        stale = timedelta(seconds=seconds)
        oldest = Operation.objects.filter(
            status=S.RUNNING, heartbeat_at__gt=now - stale, **extra
        ).aggregate(m=Min("heartbeat_at"))["m"]
        if oldest is not None:
            dues.append(oldest + stale)
    due = min(dues, default=None)
    if due is None or due > now + timedelta(seconds=within_seconds):
        return None
    return due


def _recover_one(operation_id, cutoff, cancel_cutoff, max_attempts: int) -> bool:
    op = (
        Operation.objects.select_for_update(skip_locked=True)
        .filter(id=operation_id, status=S.RUNNING, heartbeat_at__lte=cancel_cutoff)
        .first()
    )
    if op is None or (not op.cancel_requested and op.heartbeat_at > cutoff):
        return False  # it wrote a heartbeat meanwhile, or another reaper has it
    lost = op.events.filter(kind="WORKER_LOST").count() + 1
    last_beat = op.heartbeat_at
    if op.cancel_requested or lost >= max_attempts:
        status = S.CANCELLED if op.cancel_requested else S.FAILED
        message = "" if op.cancel_requested else (
            f"The worker was lost {lost} times (no heartbeat for "
            f"{(timezone.now() - last_beat).total_seconds():.0f} s, attempt {op.attempt} "
            f"of {max_attempts}); giving up. What it stored stays; refresh the asset "
            "to finish."
        )
        services.check_transition(op.status, status)
        _release_budget(op)
        op.status, op.completed_at, op.error_message = status, timezone.now(), message
        op.save(update_fields=["status", "completed_at", "error_message"])
        services._event(
            op, status, "reaper", frm=S.RUNNING, to=status, msg=message or "worker lost"
        )
        if op.asset_id:
            _settle_documents(op.asset_id)
            services._enqueue_next(op.asset_id)
        return True
    _to_pending(
        op, kind="WORKER_LOST", actor="reaper",
        message=f"No heartbeat since {last_beat:%H:%M:%S} UTC; requeued to resume "
        f"(attempt {op.attempt + 1} of {max_attempts}).",
    )  # fmt: skip
    return True


def _release_budget(op: Operation) -> None:
    """Give back the tokens the operation's worker reserved for a batch it will
    never store, in the transaction of the status change, rather than at the
    asset's next operation start (assets_app/budgets.py "Reservations")."""
    from assets_app.budgets import budget_release_operation

    released = budget_release_operation(operation_id=op.id)
    if released:
        logger.info("operation %s: released %d budget reservation(s)", op.id, released)


def _settle_documents(asset_id) -> None:
    from assets_app.ingestion.documents import documents_settle_abandoned

    documents_settle_abandoned(asset_id=asset_id)
