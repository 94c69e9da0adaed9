"""The Estimate button and the notifications pages in headless Chromium (issue 5)."""

from __future__ import annotations

import pytest

from assets_app.services import asset_create_from_uploads
from operations_app.notifications import services as notify
from operations_app.services import operation_request_cancel
from tests.browser.conftest import ARTIFACTS
from tests.conftest import upload
from tests.notify_server import Receiver

pytestmark = pytest.mark.browser


def test_estimate_button_shows_what_a_refresh_would_cost(page, member):
    asset, _op = asset_create_from_uploads(
        actor=member, display_name="Handbook",
        files=[upload("a.md", "# A\n\n" + "Lanterns by the lake. " * 200),
               upload("b.txt", "Bridges and rivers. " * 100)],
    )  # fmt: skip
    page.goto(f"{page.base}/t/acme/assets/{asset.id}/")
    page.click("#estimate-button")
    page.wait_for_selector("#estimate-table")
    text = page.inner_text("#estimate-result")
    assert "re-embed 2 documents" in text and "$0.000000" in text
    assert int(page.inner_text("#estimate-tokens")) > 0


def test_notifications_pages_show_the_secret_once_and_attempts(
    page, member, settings
):
    settings.RAGDESK_FETCH_ALLOW_NETWORKS = ["127.0.0.0/8"]
    with Receiver([500]) as receiver:
        page.goto(f"{page.base}/t/acme/notifications/")
        page.fill("#id_url", receiver.url)
        page.fill("#id_description", "Ops channel")
        page.click("#endpoint-form button[type=submit]")
        page.wait_for_selector("#secret-created")
        assert page.input_value("#new-secret").startswith("whsec_")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "notifications-list.png"), full_page=True)
        _asset, op = asset_create_from_uploads(
            actor=member, display_name="A", files=[upload("a.txt", "alpha")]
        )
        operation_request_cancel(operation=op, actor="carol")
        from operations_app.models import NotificationDelivery

        delivery = NotificationDelivery.objects.get()
        notify.notification_deliver(delivery_id=delivery.id, attempt=1)
        page.click("#endpoints a")
        page.wait_for_selector("#deliveries")
        assert "HTTP 500" in page.inner_text(f"#delivery-{delivery.id}")
