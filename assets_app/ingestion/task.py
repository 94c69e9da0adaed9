"""``ingestion_run``: one operation from PENDING to a terminal status, or back to
PENDING when its worker must stop (a stop signal, the database gone)."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import connection, transaction
from django.db.utils import InterfaceError, OperationalError

from assets_app.budgets import BudgetExhausted, budget_release_stale
from assets_app.embedding import EmbeddingError
from assets_app.models import Asset
from assets_app.sources import SourceError
from operations_app.models import OperationStatus
from operations_app.recovery import operation_requeue
from operations_app.services import (
    OperationInterrupted,
    operation_finish,
    operation_start,
)
from operations_app.worker import operation_lock_for_worker

from .run import _Run
from .stopping import WorkerStopping, exit_worker_if_stopping, stop_signals
from .switch import index_switch, index_switch_refusal

logger = logging.getLogger("ragdesk.ingestion")
REQUEUED = "REQUEUED"


def ingestion_run(*, operation_id) -> str:
    """Run the operation ``operation_id`` to a terminal status; returns that status,
    ``"SKIPPED"`` when it was not PENDING (redelivery, cancelled, or another
    operation of its asset runs — then it is enqueued again when that one ends), or
    ``"REQUEUED"`` when the worker stopped and handed it back to the queue.
    In a django-q2 worker process that received SIGTERM or SIGINT meanwhile, the
    process exits afterwards (stopping.py)."""
    with stop_signals():
        status = _run(operation_id)
    exit_worker_if_stopping()
    return status


def _run(operation_id) -> str:
    op = operation_start(operation_id=operation_id)
    if op is None:
        return "SKIPPED"
    attempt = op.attempt

    def finish(status: str, error_message: str = "") -> str:
        return operation_finish(
            operation_id=op.id, status=status, error_message=error_message, attempt=attempt
        ).status

    budget_release_stale(asset_id=op.asset_id)  # held by a lost worker
    asset = Asset.objects.filter(pk=op.asset_id).first()
    if asset is None:
        return finish(OperationStatus.FAILED, "asset deleted")
    try:
        run = _Run(op, asset)
        run.run()
        if run.staged:
            return _complete_staged(run)
    except WorkerStopping as exc:
        operation_requeue(
            operation_id=op.id, attempt=attempt,
            reason=f"The worker received {exc}; the operation resumes on the next worker.",
        )  # fmt: skip
        return REQUEUED
    except (OperationalError, InterfaceError) as exc:
        return _database_lost(op.id, attempt, exc)
    except OperationInterrupted:
        op.refresh_from_db(fields=["status", "cancel_requested", "attempt"])
        if op.status == OperationStatus.RUNNING and op.attempt == attempt:
            return finish(OperationStatus.CANCELLED)  # cancel requested and observed
        return op.status  # ended elsewhere (asset deleted) or requeued by the reaper
    except (SourceError, EmbeddingError, BudgetExhausted) as exc:
        return finish(OperationStatus.FAILED, str(exc))
    except Exception as exc:
        logger.exception("operation %s failed", operation_id)
        return finish(OperationStatus.FAILED, f"Internal error: {type(exc).__name__}: {exc}")
    return finish(OperationStatus.COMPLETED)


def _complete_staged(run: _Run) -> str:
    """End the staged run COMPLETED and switch the asset over to what it built
    (switch.py) in one transaction — or FAILED without switching when the switch
    would drop searchable documents of the old model (``index_switch_refusal``) —
    fenced by the attempt: a worker that lost the operation switches nothing, and a
    concurrent search sees the whole old index or the whole new one. Returns the status the operation has then."""
    op = run.op
    with transaction.atomic():
        if operation_lock_for_worker(operation_id=op.id, attempt=run.attempt):
            refusal = index_switch_refusal(
                asset_id=op.asset_id, operation_id=op.id, settings=run.settings
            )
            if refusal:
                return operation_finish(
                    operation_id=op.id, status=OperationStatus.FAILED,
                    error_message=refusal, attempt=run.attempt,
                ).status  # fmt: skip
            switched = index_switch(
                asset_id=op.asset_id, operation_id=op.id, settings=run.settings
            )
            logger.info("operation %s: %d documents switched", op.id, switched)
        return operation_finish(
            operation_id=op.id, status=OperationStatus.COMPLETED, attempt=run.attempt
        ).status


def _database_lost(operation_id, attempt: int, exc: Exception) -> str:
    """The database connection broke mid-run (PostgreSQL restarted, network cut).
    The batch in flight was rolled back by PostgreSQL with the connection. Reconnect
    for up to ``RAGDESK_DB_RECONNECT_SECONDS`` and hand the operation back to the
    queue to resume; if the database stays away, the reaper requeues it once it is
    back (its heartbeat stopped)."""
    logger.warning("operation %s: database connection lost: %s", operation_id, exc)
    deadline = time.monotonic() + settings.RAGDESK_DB_RECONNECT_SECONDS
    while True:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - a broken connection may fail to close
            pass
        try:
            connection.ensure_connection()
            operation_requeue(
                operation_id=operation_id, attempt=attempt,
                reason=f"The database connection was lost ({type(exc).__name__}); "
                "reconnected, the operation resumes.",
            )  # fmt: skip
            return REQUEUED
        except (OperationalError, InterfaceError):
            if time.monotonic() >= deadline:
                logger.error("operation %s: database still unreachable", operation_id)
                return "DATABASE_LOST"
            time.sleep(1)
