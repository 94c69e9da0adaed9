"""Outbound notifications through a real ``qcluster``: the operation's worker ends it,
attempt 1 is enqueued on commit, a 500 is retried by django-q2's scheduler from the
persisted schedule, and the receiver gets the same signed body twice."""

from __future__ import annotations

import json

import pytest

from assets_app.services import asset_create_from_uploads
from operations_app.models import NotificationAttempt, NotificationDelivery
from operations_app.notifications import services as notify
from tests.cluster import running_qcluster
from tests.conftest import upload
from tests.notify_server import Receiver
from tests.operations_app.test_notifications import verify
from tests.operations_app.test_tasks import wait_status, wait_until

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_worker_ends_the_operation_and_the_scheduler_retries_the_500(
    transactional_db, admin_member, tmp_path, settings
):
    settings.RAGDESK_FETCH_ALLOW_NETWORKS = ["127.0.0.0/8"]
    env = {
        "RAGDESK_FETCH_ALLOW_NETWORKS": "127.0.0.0/8",
        "RAGDESK_NOTIFY_BACKOFF_SECONDS": "1",
    }
    with (
        Receiver([500, 200]) as receiver,
        running_qcluster(log_path=tmp_path / "qcluster.log", env=env) as cluster,
    ):
        _endpoint, secret = notify.endpoint_create(actor=admin_member, url=receiver.url)
        _asset, op = asset_create_from_uploads(
            actor=admin_member, display_name="A", files=[upload("a.txt", "alpha beta")]
        )
        op = wait_status(op, "COMPLETED", timeout=60, cluster=cluster)

        def delivered():
            return NotificationDelivery.objects.filter(status="SUCCEEDED").exists()

        # the scheduler looks about every 30 s
        wait_until(delivered, timeout=90, cluster=cluster, what="the retried delivery")
    assert len(receiver.requests) == 2
    assert receiver.requests[0][1] == receiver.requests[1][1]
    assert all(verify(h, b, secret) for h, b in receiver.requests)
    body = json.loads(receiver.requests[1][1])
    assert body["eventType"] == "OPERATION_COMPLETED"
    assert body["operation"]["id"] == str(op.id)
    assert body["operation"]["tokenCount"] == op.token_count > 0
    assert list(NotificationAttempt.objects.values_list("number", "status_code")) == [
        (1, 500),
        (2, 200),
    ]
