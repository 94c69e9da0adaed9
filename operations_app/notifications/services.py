"""Writes of outbound notifications: endpoints (tenant ADMIN), the deliveries a
terminal operation creates, and each delivery attempt.

Lifecycle of a delivery (docs/notifications.md):
- ``notifications_enqueue`` runs inside the transaction that ends an operation
  (operations_app.services ``_event``): one PENDING delivery per endpoint of the
  tenant, its body frozen, and attempt 1 enqueued on commit — so a rolled-back
  transition notifies nobody.
- ``notification_deliver(attempt=n)`` claims attempt n (conditional on the attempts
  so far, so a redelivered task does nothing), and in the same transaction
  schedules attempt n + 1 (a django-q2 ONCE schedule, a database row) as a safety
  net: if the worker dies while sending, that row survives the restart and the
  delivery goes on. After the POST: a 2xx → SUCCEEDED and the safety net is
  removed; else, below ``RAGDESK_NOTIFY_MAX_ATTEMPTS``, attempt n + 1 is set for
  ``RAGDESK_NOTIFY_BACKOFF_SECONDS`` × 2^(n-1) (capped at
  ``RAGDESK_NOTIFY_BACKOFF_MAX_SECONDS``) from now; at the last → FAILED. An attempt
  past the last (its worker died) ends the delivery FAILED.
- Retries run when django-q2's scheduler next looks after their time (every ~30 s),
  so short backoffs are rounded up to that."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from assets_app.models import Membership, Role
from config.errors import NotFound, PermissionDenied, ValidationFailed

from .models import (
    DeliveryStatus,
    NotificationAttempt,
    NotificationDelivery,
    NotificationEndpoint,
)
from .send import EndpointRefused, checked_endpoint, post_signed
from .signing import SecretUnreadable, mint_secret, seal, unseal

D = DeliveryStatus
TASK = "operations_app.tasks.deliver_notification"
EVENT_TYPES = {
    "COMPLETED": "OPERATION_COMPLETED",
    "FAILED": "OPERATION_FAILED",
    "CANCELLED": "OPERATION_CANCELLED",
}
MAX_ENDPOINTS = 20  # per tenant


def _require_admin(actor: Membership) -> None:
    if not actor.allows(Role.ADMIN):
        raise PermissionDenied(
            f"Your role {actor.role} cannot manage notification endpoints; "
            "it takes a tenant ADMIN."
        )


def endpoint_create(
    *, actor: Membership, url: str, description: str = ""
) -> tuple[NotificationEndpoint, str]:
    """Register ``url`` for the actor's tenant. Returns the endpoint and its signing
    secret — shown this once; only its sealed form is stored. ADMIN. Raises
    PermissionDenied, ValidationFailed (``url``: not https, refused by the address
    guard, unknown host; too many endpoints)."""
    _require_admin(actor)
    url = (url or "").strip()
    try:
        checked_endpoint(url)
    except EndpointRefused as exc:
        raise ValidationFailed(str(exc), errors={"url": [str(exc)]}) from exc
    if len(url) > 2000:
        raise ValidationFailed(
            "The URL is too long.", errors={"url": ["At most 2000."]}
        )
    tenant = actor.tenant
    if NotificationEndpoint.objects.filter(tenant=tenant).count() >= MAX_ENDPOINTS:
        raise ValidationFailed(
            f"A tenant may register at most {MAX_ENDPOINTS} endpoints.",
            errors={"url": [f"At most {MAX_ENDPOINTS} endpoints per tenant."]},
        )
    secret = mint_secret()
    endpoint = NotificationEndpoint.objects.create(
        tenant=tenant, url=url, description=(description or "").strip()[:200],
        secret_sealed=seal(secret), secret_prefix=secret[:12],
        created_by=actor.user.get_username(),
    )  # fmt: skip
    return endpoint, secret


def endpoint_delete(*, actor: Membership, endpoint: NotificationEndpoint) -> None:
    """Delete the endpoint with its deliveries (pending ones are not sent). ADMIN.
    Raises NotFound (another tenant's) or PermissionDenied."""
    if endpoint.tenant_id != actor.tenant_id:
        raise NotFound("No such notification endpoint in this tenant.")
    _require_admin(actor)
    from django_q.models import Schedule

    with transaction.atomic():
        for delivery_id in endpoint.deliveries.filter(status=D.PENDING).values_list(
            "id", flat=True
        ):
            Schedule.objects.filter(
                name__startswith=_schedule_name(delivery_id, "")
            ).delete()
        endpoint.delete()


def notifications_enqueue(*, operation) -> int:
    """Inside the transaction that made ``operation`` terminal: a delivery per
    endpoint of its tenant with the frozen body ``{"eventId", "eventType",
    "createdAt" (ms), "operation": LongOperation}``, attempt 1 enqueued on commit.
    Returns how many deliveries were made."""
    endpoints = list(
        NotificationEndpoint.objects.filter(tenant_id=operation.tenant_id).values_list(
            "id", flat=True
        )
    )
    if not endpoints:
        return 0
    from config.api import epoch_ms
    from operations_app.serializers import OperationSerializer

    event_id, now = uuid.uuid4(), timezone.now()
    event_type = EVENT_TYPES[operation.status]
    body = (
        JSONRenderer()
        .render(
            {
                "eventId": str(event_id),
                "eventType": event_type,
                "createdAt": epoch_ms(now),
                "operation": OperationSerializer(operation).data,
            }  # fmt: skip
        )
        .decode()
    )
    deliveries = NotificationDelivery.objects.bulk_create(
        NotificationDelivery(
            tenant_id=operation.tenant_id,
            endpoint_id=e,
            operation_id=operation.id,
            event_id=event_id,
            event_type=event_type,
            body=body,
            next_attempt_at=now,
        )  # fmt: skip
        for e in endpoints
    )
    ids = [str(d.id) for d in deliveries]
    transaction.on_commit(lambda: _enqueue_first(ids))
    return len(ids)


def _enqueue_first(delivery_ids: list[str]) -> None:
    from django_q.tasks import async_task

    for delivery_id in delivery_ids:
        async_task(TASK, delivery_id, 1, group="notifications")


def backoff_seconds(attempt: int) -> float:
    """Seconds after failed attempt ``attempt`` (1-based) before the next one."""
    return min(
        settings.RAGDESK_NOTIFY_BACKOFF_MAX_SECONDS,
        settings.RAGDESK_NOTIFY_BACKOFF_SECONDS * 2 ** (attempt - 1),
    )


def _schedule_name(delivery_id, attempt: int | str) -> str:
    return f"ragdesk notify {delivery_id} #{attempt}"


def _schedule(delivery_id, attempt: int, when) -> None:
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=_schedule_name(delivery_id, attempt),
        defaults={
            "func": TASK, "kwargs": f"delivery_id='{delivery_id}', attempt={attempt}",
            "schedule_type": Schedule.ONCE, "repeats": 1, "next_run": when,
        },
    )  # fmt: skip


def _unschedule(delivery_id, attempt: int) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name=_schedule_name(delivery_id, attempt)).delete()


def notification_deliver(*, delivery_id, attempt: int) -> str:
    """Make attempt number ``attempt`` of a delivery (module docstring). Returns
    its status afterwards, or ``"SKIPPED"`` when that attempt is not due (already
    made, delivery ended or deleted): safe to redeliver."""
    now = timezone.now()
    with transaction.atomic():
        d = (
            NotificationDelivery.objects.select_for_update()
            .select_related("endpoint")
            .filter(pk=delivery_id, status=D.PENDING, attempts=attempt - 1)
            .first()
        )
        if d is None:
            return "SKIPPED"
        if attempt > settings.RAGDESK_NOTIFY_MAX_ATTEMPTS:  # the last one's worker died
            d.status, d.completed_at, d.next_attempt_at = D.FAILED, now, None
            d.save(update_fields=["status", "completed_at", "next_attempt_at"])
            return d.status
        d.attempts = attempt
        # Safety net: the next attempt, should this worker die while sending.
        d.next_attempt_at = now + timedelta(
            seconds=backoff_seconds(attempt) + settings.RAGDESK_NOTIFY_TIMEOUT_SECONDS
        )
        d.save(update_fields=["attempts", "next_attempt_at"])
        _schedule(d.id, attempt + 1, d.next_attempt_at)
    try:
        secret = unseal(d.endpoint.secret_sealed)
    except SecretUnreadable as exc:
        outcome = None
        error = str(exc)
    else:
        outcome = post_signed(
            d.endpoint.url, d.body.encode(), secret=secret, event_id=str(d.event_id)
        )
        error = outcome.error
    return _record(d, attempt, now, outcome, error)


def _record(d, attempt: int, started, outcome, error: str) -> str:
    now = timezone.now()
    with transaction.atomic():
        d = NotificationDelivery.objects.select_for_update().filter(pk=d.pk).first()
        if d is None:
            return "SKIPPED"  # its endpoint was deleted meanwhile
        NotificationAttempt.objects.create(
            delivery=d, number=attempt, attempted_at=started, error=error,
            status_code=outcome.status_code if outcome else None,
            duration_ms=outcome.duration_ms if outcome else 0,
        )  # fmt: skip
        if outcome is not None and outcome.ok:
            d.status, d.completed_at, d.next_attempt_at = D.SUCCEEDED, now, None
            _unschedule(d.id, attempt + 1)
        elif attempt >= settings.RAGDESK_NOTIFY_MAX_ATTEMPTS:
            d.status, d.completed_at, d.next_attempt_at = D.FAILED, now, None
            _unschedule(d.id, attempt + 1)
        else:
            d.next_attempt_at = now + timedelta(seconds=backoff_seconds(attempt))
            _schedule(d.id, attempt + 1, d.next_attempt_at)
        d.save(update_fields=["status", "completed_at", "next_attempt_at"])
    return d.status
