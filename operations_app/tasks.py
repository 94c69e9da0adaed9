"""django-q2 entry points: ids in, one service call. Safe to redeliver: a task for an
operation that is not PENDING does nothing (operation_start returns None)."""

from django.conf import settings

from assets_app.ingestion import ingestion_run
from operations_app.recovery import operations_reap


def run_operation(operation_id: str) -> str:
    return ingestion_run(operation_id=operation_id)


def reap_stale_operations() -> int:
    """Scheduled every ~30 s (migrations 0003, 0006) and run at each worker start
    (apps.py): requeue operations whose worker died (operations_app.recovery)."""
    return operations_reap(
        stale_after_seconds=settings.RAGDESK_STALE_AFTER_SECONDS,
        max_attempts=settings.RAGDESK_MAX_ATTEMPTS,
        cancel_stale_after_seconds=settings.RAGDESK_CANCEL_STALE_AFTER_SECONDS,
        resend_after_seconds=settings.RAGDESK_RESEND_AFTER_SECONDS,
    )


def deliver_notification(delivery_id: str, attempt: int) -> str:
    """Attempt ``attempt`` of an outbound notification (enqueued on commit of a
    terminal transition, retries scheduled): operations_app.notifications."""
    from operations_app.notifications.services import notification_deliver

    return notification_deliver(delivery_id=delivery_id, attempt=attempt)
