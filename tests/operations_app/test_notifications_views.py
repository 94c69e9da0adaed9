"""The notifications dashboard page (issue 5): ADMIN only, the secret shown once,
inline errors, deliveries with attempts, delete."""

from __future__ import annotations

import pytest

from operations_app.models import NotificationEndpoint
from operations_app.notifications import services as notify
from operations_app.services import operation_request_cancel
from tests.notify_server import Receiver
from tests.operations_app.test_notifications import only_delivery_id


@pytest.fixture
def loopback(settings):
    settings.RAGDESK_FETCH_ALLOW_NETWORKS = ["127.0.0.0/8"]


def page(tenant, suffix=""):
    return f"/t/{tenant.slug}/notifications/{suffix}"


def test_admin_registers_an_endpoint_and_sees_the_secret_once(
    client, admin_member, loopback
):
    client.force_login(admin_member.user)
    response = client.post(page(admin_member.tenant), {"url": "http://127.0.0.1:9/h"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    html = response.content.decode()
    endpoint = NotificationEndpoint.objects.get()
    assert 'id="new-secret"' in html and f'value="{endpoint.secret_prefix}' in html
    again = client.get(page(admin_member.tenant)).content.decode()
    assert "new-secret" not in again and "http://127.0.0.1:9/h" in again


def test_a_refused_url_is_an_inline_error_and_stores_nothing(client, admin_member):
    client.force_login(admin_member.user)
    response = client.post(page(admin_member.tenant), {"url": "http://10.1.2.3/"})
    assert response.status_code == 400
    assert (
        "private" in response.content.decode()
        and not NotificationEndpoint.objects.exists()
    )


def test_editors_get_403_and_no_menu_link(
    client, editor_member, admin_member, loopback
):
    endpoint, _ = notify.endpoint_create(actor=admin_member, url="http://127.0.0.1:9/")
    client.force_login(editor_member.user)
    t = editor_member.tenant
    assert client.get(page(t)).status_code == 403
    assert client.post(page(t), {"url": "http://127.0.0.1:9/"}).status_code == 403
    assert client.get(page(t, f"{endpoint.id}/")).status_code == 403
    assert client.post(page(t, f"{endpoint.id}/delete/")).status_code == 403
    assert "Notifications</a>" not in client.get(f"/t/{t.slug}/").content.decode()
    assert NotificationEndpoint.objects.count() == 1


def test_endpoint_page_lists_deliveries_with_attempts_and_delete_works(
    client, admin_member, loopback, no_enqueue
):
    from assets_app.services import asset_create_from_uploads
    from tests.conftest import upload

    _asset, op = asset_create_from_uploads(
        actor=admin_member, display_name="A", files=[upload("a.txt", "alpha")]
    )
    with Receiver([502]) as receiver:
        endpoint, _ = notify.endpoint_create(actor=admin_member, url=receiver.url)
        operation_request_cancel(operation=op, actor="alice")
        notify.notification_deliver(delivery_id=only_delivery_id(), attempt=1)
    client.force_login(admin_member.user)
    html = client.get(page(admin_member.tenant, f"{endpoint.id}/")).content.decode()
    assert "OPERATION_CANCELLED" in html and "HTTP 502" in html and " ms" in html
    response = client.post(page(admin_member.tenant, f"{endpoint.id}/delete/"))
    assert response.status_code == 302 and not NotificationEndpoint.objects.exists()


def test_another_tenants_endpoint_is_404_and_survives(client, admin_member, loopback):
    from tests.factories import MembershipFactory, TenantFactory, UserFactory

    other = MembershipFactory(
        tenant=TenantFactory(), role="ADMIN", user=UserFactory(username="bob")
    )
    theirs, _ = notify.endpoint_create(actor=other, url="http://127.0.0.1:9/")
    client.force_login(admin_member.user)
    t = admin_member.tenant
    assert client.get(page(t, f"{theirs.id}/")).status_code == 404
    assert client.post(page(t, f"{theirs.id}/delete/")).status_code == 404
    assert "127.0.0.1:9" not in client.get(page(t)).content.decode()
    assert NotificationEndpoint.objects.filter(pk=theirs.pk).exists()


def test_admin_lists_endpoints_and_deliveries_without_the_secret(
    admin_client, admin_member, loopback, no_enqueue
):
    from assets_app.services import asset_create_from_uploads
    from tests.conftest import upload

    endpoint, secret = notify.endpoint_create(
        actor=admin_member, url="http://127.0.0.1:9/"
    )
    _asset, op = asset_create_from_uploads(
        actor=admin_member, display_name="A", files=[upload("a.txt", "alpha")]
    )
    operation_request_cancel(operation=op, actor="alice")
    base = "/admin/operations_app/"
    listed = admin_client.get(f"{base}notificationendpoint/").content.decode()
    assert "http://127.0.0.1:9/" in listed
    one = admin_client.get(f"{base}notificationendpoint/{endpoint.id}/change/")
    assert one.status_code == 200 and secret not in one.content.decode()
    assert endpoint.secret_sealed not in one.content.decode()
    delivery = admin_client.get(
        f"{base}notificationdelivery/{only_delivery_id()}/change/"
    ).content.decode()
    assert "OPERATION_CANCELLED" in delivery
    assert admin_client.get(f"{base}notificationendpoint/add/").status_code == 403
