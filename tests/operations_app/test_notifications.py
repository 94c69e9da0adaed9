"""Outbound notifications (issue 5) against a real local receiver: endpoints and the
address guard, deliveries made by terminal transitions (on commit only), signed
bodies, retries after failures (persisted as schedules), giving up, attempts."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.db import transaction
from django_q.models import Schedule

from assets_app.services import asset_create_from_uploads
from config.errors import PermissionDenied, ValidationFailed
from operations_app.models import (
    NotificationAttempt,
    NotificationDelivery,
    NotificationEndpoint,
    Operation,
)
from operations_app.notifications import services as notify
from operations_app.notifications.signing import unseal
from operations_app.services import (
    operation_finish,
    operation_request_cancel,
    operation_start,
)
from tests.conftest import upload
from tests.notify_server import Receiver


@pytest.fixture
def loopback(settings):
    settings.RAGDESK_FETCH_ALLOW_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def queued(monkeypatch):
    """Attempt-1 tasks that would be enqueued on commit: (delivery id, attempt)."""
    sent = []
    monkeypatch.setattr(
        notify, "_enqueue_first", lambda ids: sent.extend((i, 1) for i in ids)
    )
    return sent


@pytest.fixture
def operation(admin_member, no_enqueue):
    asset, op = asset_create_from_uploads(
        actor=admin_member, display_name="A", files=[upload("a.txt", "alpha")]
    )
    return op


def verify(headers: dict, body: bytes, secret: str) -> bool:
    timestamp = headers["X-Signature-Timestamp"]
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(headers["X-Signature-256"], f"sha256={expected}")


def only_delivery_id() -> str:
    return str(NotificationDelivery.objects.get().id)


def run_scheduled(name_part: str) -> str:
    """Run what the scheduler would run for the schedule whose name has ``name_part``
    (django-q2 parses ``kwargs`` the same way), then drop it as a ONCE schedule."""
    schedule = Schedule.objects.get(name__contains=name_part)
    kwargs = eval(f"dict({schedule.kwargs})")  # noqa: S307 - our own literal
    schedule.delete()
    return notify.notification_deliver(**kwargs)


# -- endpoints -----------------------------------------------------------------------


def test_endpoint_secret_is_shown_once_and_stored_encrypted(admin_member, loopback):
    endpoint, secret = notify.endpoint_create(
        actor=admin_member, url="http://127.0.0.1:9/hook", description="ops"
    )
    assert secret.startswith("whsec_") and len(secret) > 40
    stored = NotificationEndpoint.objects.get(pk=endpoint.pk)
    assert secret not in stored.secret_sealed and unseal(stored.secret_sealed) == secret
    assert stored.secret_prefix == secret[:12]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://93.184.215.14/hook", "https"),  # public, but plain http
        ("https://127.0.0.1/hook", "loopback"),  # not allowed without the setting
        ("https://169.254.169.254/latest", "link-local"),
        ("ftp://example.com/x", "https"),
        ("https://user:pw@93.184.215.14/", "credentials"),
    ],
)
def test_endpoint_urls_go_through_the_address_guard(admin_member, url, says):
    with pytest.raises(ValidationFailed) as exc:
        notify.endpoint_create(actor=admin_member, url=url)
    assert says in exc.value.errors["url"][0]
    assert not NotificationEndpoint.objects.exists()


def test_only_a_tenant_admin_registers_endpoints(editor_member, loopback):
    with pytest.raises(PermissionDenied):
        notify.endpoint_create(actor=editor_member, url="http://127.0.0.1:9/")


# -- deliveries made by transitions ---------------------------------------------


def test_a_terminal_transition_makes_one_delivery_per_endpoint_after_commit(
    admin_member, loopback, operation, queued, django_capture_on_commit_callbacks
):
    for port in (9, 10):
        notify.endpoint_create(actor=admin_member, url=f"http://127.0.0.1:{port}/")
    operation_start(operation_id=operation.id)
    assert not NotificationDelivery.objects.exists()  # RUNNING is not terminal
    with django_capture_on_commit_callbacks(execute=True):
        operation_finish(operation_id=operation.id, status="COMPLETED")
    deliveries = list(NotificationDelivery.objects.all())
    assert len(deliveries) == 2 and len({d.event_id for d in deliveries}) == 1
    assert sorted(queued) == sorted((str(d.id), 1) for d in deliveries)
    body = json.loads(deliveries[0].body)
    assert body["eventType"] == "OPERATION_COMPLETED"
    assert body["eventId"] == str(deliveries[0].event_id)
    assert body["operation"]["id"] == str(operation.id)
    assert body["operation"]["status"] == "COMPLETED" and body["operation"]["done"]


def test_cancel_of_a_pending_operation_notifies_cancelled(
    admin_member, loopback, operation, queued
):
    notify.endpoint_create(actor=admin_member, url="http://127.0.0.1:9/")
    operation_request_cancel(operation=operation, actor="alice")
    (delivery,) = NotificationDelivery.objects.all()
    assert delivery.event_type == "OPERATION_CANCELLED"


def test_a_rolled_back_transition_notifies_nobody(
    admin_member, loopback, operation, queued, django_capture_on_commit_callbacks
):
    notify.endpoint_create(actor=admin_member, url="http://127.0.0.1:9/")
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            operation_request_cancel(operation=operation, actor="alice")
            raise RuntimeError
    assert not NotificationDelivery.objects.exists() and queued == []
    assert Operation.objects.get(pk=operation.pk).status == "PENDING"


# -- attempts ----------------------------------------------------------------------


def test_retry_after_a_500_then_success_signed_the_same_each_time(
    admin_member, loopback, operation, queued, settings
):
    settings.RAGDESK_NOTIFY_BACKOFF_SECONDS = 60
    with Receiver([500, 200]) as receiver:
        _endpoint, secret = notify.endpoint_create(actor=admin_member, url=receiver.url)
        operation_request_cancel(operation=operation, actor="alice")
        delivery_id = only_delivery_id()
        assert (
            notify.notification_deliver(delivery_id=delivery_id, attempt=1) == "PENDING"
        )
        # a redelivered task for the attempt already made does nothing
        assert (
            notify.notification_deliver(delivery_id=delivery_id, attempt=1) == "SKIPPED"
        )
        delivery = NotificationDelivery.objects.get(pk=delivery_id)
        schedule = Schedule.objects.get(name__contains=delivery_id)
        assert (
            schedule.name.endswith("#2")
            and schedule.next_run == delivery.next_attempt_at
        )
        wait = delivery.next_attempt_at - NotificationAttempt.objects.get().attempted_at
        assert 60 <= wait.total_seconds() < 62
        assert run_scheduled(delivery_id) == "SUCCEEDED"
    assert len(receiver.requests) == 2
    assert receiver.requests[0][1] == receiver.requests[1][1] == delivery.body.encode()
    assert all(verify(h, b, secret) for h, b in receiver.requests)
    assert receiver.requests[0][0]["X-Ragdesk-Event-Id"] == str(delivery.event_id)
    attempts = list(NotificationAttempt.objects.values_list("number", "status_code"))
    assert attempts == [(1, 500), (2, 200)]
    assert NotificationAttempt.objects.get(number=1).error == "HTTP 500: boom"
    assert not Schedule.objects.filter(name__contains=delivery_id).exists()
    delivery.refresh_from_db()
    assert delivery.status == "SUCCEEDED" and delivery.completed_at is not None


def test_gives_up_after_the_last_attempt(
    admin_member, loopback, operation, queued, settings
):
    settings.RAGDESK_NOTIFY_MAX_ATTEMPTS = 3
    with Receiver([503]) as receiver:
        notify.endpoint_create(actor=admin_member, url=receiver.url)
        operation_request_cancel(operation=operation, actor="alice")
        delivery_id = only_delivery_id()
        assert (
            notify.notification_deliver(delivery_id=delivery_id, attempt=1) == "PENDING"
        )
        assert run_scheduled(delivery_id) == "PENDING"
        assert run_scheduled(delivery_id) == "FAILED"
    assert len(receiver.requests) == 3
    assert list(NotificationAttempt.objects.values_list("status_code", flat=True)) == [
        503, 503, 503,
    ]  # fmt: skip
    assert not Schedule.objects.filter(name__contains=delivery_id).exists()


def test_an_unreachable_endpoint_records_the_error_and_duration(
    admin_member, loopback, operation, queued
):
    with Receiver() as receiver:
        url = receiver.url
    notify.endpoint_create(actor=admin_member, url=url)  # nothing listens any more
    operation_request_cancel(operation=operation, actor="alice")
    notify.notification_deliver(delivery_id=only_delivery_id(), attempt=1)
    attempt = NotificationAttempt.objects.get()
    assert attempt.status_code is None and "Connect" in attempt.error
    assert attempt.duration_ms >= 0


def test_an_attempt_whose_worker_dies_is_retried_from_its_persisted_schedule(
    admin_member, loopback, operation, queued, monkeypatch
):
    with Receiver([200]) as receiver:
        notify.endpoint_create(actor=admin_member, url=receiver.url)
        operation_request_cancel(operation=operation, actor="alice")
        delivery_id = only_delivery_id()

        def die(*args, **kwargs):
            raise SystemExit("worker killed")

        monkeypatch.setattr(notify, "post_signed", die)
        with pytest.raises(SystemExit):
            notify.notification_deliver(delivery_id=delivery_id, attempt=1)
        monkeypatch.undo()
        assert Schedule.objects.filter(name__contains=delivery_id).exists()
        assert run_scheduled(delivery_id) == "SUCCEEDED"
    assert len(receiver.requests) == 1


def test_deleting_an_endpoint_drops_its_pending_retries(
    admin_member, loopback, operation, queued
):
    with Receiver([500]) as receiver:
        endpoint, _ = notify.endpoint_create(actor=admin_member, url=receiver.url)
        operation_request_cancel(operation=operation, actor="alice")
        delivery_id = only_delivery_id()
        notify.notification_deliver(delivery_id=delivery_id, attempt=1)
    assert Schedule.objects.filter(name__contains=delivery_id).count() == 1
    notify.endpoint_delete(actor=admin_member, endpoint=endpoint)
    assert not Schedule.objects.filter(name__contains=delivery_id).exists()
    assert not NotificationDelivery.objects.exists()
    assert notify.notification_deliver(delivery_id=delivery_id, attempt=2) == "SKIPPED"
