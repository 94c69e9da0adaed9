"""The notification endpoints API (issue 5): ADMIN only, secret shown once,
deliveries with attempts, Problem Details for bad input, other tenants' ids 404."""

from __future__ import annotations

import uuid

import pytest

from operations_app.models import NotificationEndpoint
from operations_app.notifications import services as notify
from operations_app.services import operation_request_cancel
from tests.assets_app.test_api import api
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.notify_server import Receiver
from tests.operations_app.test_notifications import only_delivery_id


@pytest.fixture
def loopback(settings):
    settings.RAGDESK_FETCH_ALLOW_NETWORKS = ["127.0.0.0/8"]


def url(tenant, suffix="") -> str:
    return f"/v1/tenants/{tenant.slug}/notificationEndpoints{suffix}"


def test_register_shows_the_secret_once_then_list_and_get_do_not(
    admin_member, loopback
):
    client = api(admin_member)
    response = client.post(
        url(admin_member.tenant),
        {"url": "http://127.0.0.1:9/hook", "description": "ops"},
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["signingSecret"].startswith("whsec_")
    assert created["secretPrefix"] == created["signingSecret"][:12]
    listed = client.get(url(admin_member.tenant)).json()
    assert listed["totalCount"] == 1 and listed["items"][0]["signingSecret"] is None
    one = client.get(url(admin_member.tenant, f"/{created['id']}")).json()
    assert one["signingSecret"] is None and one["url"] == "http://127.0.0.1:9/hook"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://93.184.215.14/"}, "url"),
        ({"url": "https://10.0.0.1/"}, "url"),
        ({"url": "not a url"}, "url"),
        ({}, "url"),
        ({"url": "https://93.184.215.14/", "secret": "x"}, "secret"),
    ],
)
def test_bad_registrations_are_400_naming_the_field_and_store_nothing(
    admin_member, body, field
):
    response = api(admin_member).post(url(admin_member.tenant), body, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"]
    assert not NotificationEndpoint.objects.exists()


def test_an_editor_gets_403_on_every_route(admin_member, editor_member, loopback):
    endpoint, _ = notify.endpoint_create(actor=admin_member, url="http://127.0.0.1:9/")
    client, t = api(editor_member), editor_member.tenant
    assert client.get(url(t)).status_code == 403
    assert (
        client.post(url(t), {"url": "http://127.0.0.1:9/"}, format="json").status_code
        == 403
    )
    assert client.get(url(t, f"/{endpoint.id}")).status_code == 403
    assert client.get(url(t, f"/{endpoint.id}/deliveries")).status_code == 403
    assert client.delete(url(t, f"/{endpoint.id}")).status_code == 403
    assert NotificationEndpoint.objects.count() == 1


def test_another_tenants_endpoint_is_404_like_an_unknown_one(admin_member, loopback):
    other = MembershipFactory(
        tenant=TenantFactory(), role="ADMIN", user=UserFactory(username="bob")
    )
    theirs, _ = notify.endpoint_create(actor=other, url="http://127.0.0.1:9/")
    client, t = api(admin_member), admin_member.tenant
    for suffix in ("", "/deliveries"):
        foreign = client.get(url(t, f"/{theirs.id}{suffix}"))
        unknown = client.get(url(t, f"/{uuid.uuid4()}{suffix}"))
        assert foreign.status_code == unknown.status_code == 404
        assert foreign.json()["detail"] == unknown.json()["detail"]
    assert client.delete(url(t, f"/{theirs.id}")).status_code == 404
    assert client.get(url(t)).json()["items"] == []
    assert NotificationEndpoint.objects.filter(pk=theirs.pk).exists()


def test_deliveries_list_their_attempts_and_delete_removes_the_endpoint(
    admin_member, loopback, no_enqueue
):
    from assets_app.services import asset_create_from_uploads
    from tests.conftest import upload

    _asset, op = asset_create_from_uploads(
        actor=admin_member, display_name="A", files=[upload("a.txt", "alpha")]
    )
    with Receiver([500, 200]) as receiver:
        endpoint, _ = notify.endpoint_create(actor=admin_member, url=receiver.url)
        operation_request_cancel(operation=op, actor="alice")
        notify.notification_deliver(delivery_id=only_delivery_id(), attempt=1)
    client, t = api(admin_member), admin_member.tenant
    page = client.get(url(t, f"/{endpoint.id}/deliveries")).json()
    (delivery,) = page["items"]
    assert delivery["eventType"] == "OPERATION_CANCELLED"
    assert delivery["operationId"] == str(op.id) and delivery["status"] == "PENDING"
    (attempt,) = delivery["attempts"]
    assert attempt["statusCode"] == 500 and attempt["error"] == "HTTP 500: boom"
    assert isinstance(attempt["durationMs"], int) and attempt["attemptedAt"] > 0
    assert delivery["nextAttemptAt"] > attempt["attemptedAt"]
    assert client.delete(url(t, f"/{endpoint.id}")).status_code == 204
    assert client.get(url(t, f"/{endpoint.id}")).status_code == 404
