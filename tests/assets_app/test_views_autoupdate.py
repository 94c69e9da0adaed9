"""Auto-update in the dashboard (issue 5): the section of the settings page, the
webhook dialog shown once, the regenerate button, the asset page's summary; and in
the admin: webhooks by hash only, the schedule on the asset."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_q.models import Schedule

from assets_app.autoupdate import AutoUpdateSettings, asset_set_auto_update
from assets_app.models import AssetAutoUpdate, AssetWebhook, WebhookStatus
from assets_app.services import asset_create_from_source
from tests.assets_app.test_views import detail_url, login, settings_url
from tests.factories import AssetFactory

pytestmark = pytest.mark.django_db
GIT = {"url": "https://93.184.215.14/r.git"}
HOOK = AutoUpdateSettings(strategy="WEBHOOK")


@pytest.fixture
def git_asset(admin_member, no_enqueue):
    asset, _ = asset_create_from_source(
        actor=admin_member, display_name="Repo", source_type="git", parameters=GIT
    )
    return asset


def post(asset, **auto) -> dict:
    """The settings form as the page posts it: the asset's own values, and the
    auto-update section."""
    data = {"display_name": asset.display_name, "chunk_size": asset.chunk_size,
            "chunk_overlap": asset.chunk_overlap, "url": GIT["url"], "branch": "",
            "include": "", "exclude": "", "token": "", "au-strategy": "",
            "au-poll_frequency": "DAILY", "au-poll_day": "MONDAY",
            "au-poll_day_of_month": 1, "au-poll_hour": 3, "au-poll_minute": 0,
            "au-timezone": "UTC", "au-filter": "",
            "au-webhook_auth_mode": "HMAC_SHA256"}  # fmt: skip
    data.update({f"au-{k}": v for k, v in auto.items()})
    return data


def test_the_settings_page_offers_what_the_source_type_supports(
    client, admin_member, git_asset, no_enqueue
):
    html = login(client, admin_member).get(settings_url(git_asset)).content.decode()
    assert 'id="auto-update-fields"' in html
    for value in ('value="POLL"', 'value="WEBHOOK"', 'value="Europe/Berlin"',
                  'value="America/New_York"', 'name="au-filter"'):  # fmt: skip
        assert value in html, value
    web, _ = asset_create_from_source(actor=admin_member, display_name="W",
                                      source_type="web", parameters={
                                          "url": "http://93.184.215.14/"})  # fmt: skip
    html = client.get(settings_url(web)).content.decode()
    assert 'value="POLL"' in html and 'value="WEBHOOK"' not in html
    upload = AssetFactory(tenant=admin_member.tenant)
    html = client.get(settings_url(upload)).content.decode()
    assert 'id="auto-update-fields"' not in html


def test_saving_a_weekly_poll_creates_the_schedule_and_the_page_shows_it(
    client, admin_member, git_asset
):
    response = login(client, admin_member).post(settings_url(git_asset), post(
        git_asset, strategy="POLL", poll_frequency="WEEKLY", poll_day="MONDAY",
        poll_hour=6, poll_minute=30, timezone="Europe/Berlin"))  # fmt: skip
    assert response.status_code == 302 and response["Location"] == detail_url(git_asset)
    row = AssetAutoUpdate.objects.get(asset=git_asset)
    # The fields the frequency does not use are not kept.
    assert (row.poll_day, row.poll_hour, row.poll_day_of_month) == ("MONDAY", 6, None)
    assert Schedule.objects.get(pk=row.schedule_id).schedule_type == Schedule.WEEKLY
    html = client.get(detail_url(git_asset)).content.decode()
    assert "Poll weekly" in html and "on Mondays at 06:30" in html
    assert "(Europe/Berlin)" in html and "next run" in html
    # The settings page shows the saved values.
    html = client.get(settings_url(git_asset)).content.decode()
    assert '<option value="Europe/Berlin" selected>' in html


def test_a_new_webhook_is_shown_once_in_a_dialog(client, admin_member, git_asset):
    response = login(client, admin_member).post(
        settings_url(git_asset), post(git_asset, strategy="WEBHOOK")
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    html = response.content.decode()
    webhook = AssetWebhook.objects.get(asset=git_asset)
    assert 'id="webhook-created"' in html and "the only time" in html
    assert f"http://testserver/v1/webhooks/{webhook.id}" in html
    secret = html.split('id="webhook-secret" class="mono" readonly value="')[1]
    secret = secret.split('"')[0]
    assert secret.startswith("whsec_")
    again = client.get(settings_url(git_asset)).content.decode()
    assert secret not in again and 'id="webhook-created"' not in again
    assert 'id="regenerate-webhook"' in again
    assert secret not in client.get(detail_url(git_asset)).content.decode()


def test_the_regenerate_button_rotates_and_shows_the_new_url_once(
    client, admin_member, git_asset
):
    old = asset_set_auto_update(actor=admin_member, asset=git_asset, settings=HOOK)
    url = reverse("assets:regenerate-webhook", kwargs={
        "tenant": admin_member.tenant.slug, "asset_id": git_asset.id})  # fmt: skip
    response = login(client, admin_member).post(url)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    new = AssetWebhook.objects.get(asset=git_asset, status=WebhookStatus.ACTIVE)
    assert new.pk != old.webhook.pk
    assert f"/v1/webhooks/{new.id}" in response.content.decode()
    old.webhook.refresh_from_db()
    assert old.webhook.status == WebhookStatus.REVOKED


def test_an_editor_cannot_mint_a_webhook_and_sees_why(
    client, editor_member, git_asset
):
    response = login(client, editor_member).post(
        settings_url(git_asset), post(git_asset, strategy="WEBHOOK")
    )
    assert response.status_code == 400
    assert "create or remove webhooks" in response.content.decode()
    assert not AssetWebhook.objects.exists()
    url = reverse("assets:regenerate-webhook", kwargs={
        "tenant": editor_member.tenant.slug, "asset_id": git_asset.id})  # fmt: skip
    response = client.post(url, follow=True)
    assert "cannot regenerate webhooks" in response.content.decode()


def test_invalid_schedule_fields_are_shown_inline_and_save_nothing(
    client, admin_member, git_asset
):
    response = login(client, admin_member).post(
        settings_url(git_asset), post(git_asset, strategy="POLL", poll_hour=24)
    )
    assert response.status_code == 400
    assert 'id="au-poll_hour-error"' in response.content.decode()
    assert not AssetAutoUpdate.objects.exists()


def test_a_post_without_the_section_leaves_auto_update_as_it_is(
    client, admin_member, git_asset
):
    settings = AutoUpdateSettings(strategy="POLL", poll_frequency="HOURLY")
    asset_set_auto_update(actor=admin_member, asset=git_asset, settings=settings)
    data = {k: v for k, v in post(git_asset).items() if not k.startswith("au-")}
    response = login(client, admin_member).post(settings_url(git_asset), data)
    assert response.status_code == 302
    assert AssetAutoUpdate.objects.get(asset=git_asset).poll_frequency == "HOURLY"


def test_choosing_off_removes_the_schedule(client, admin_member, git_asset):
    settings = AutoUpdateSettings(strategy="POLL", poll_frequency="HOURLY")
    asset_set_auto_update(actor=admin_member, asset=git_asset, settings=settings)
    response = login(client, admin_member).post(
        settings_url(git_asset), post(git_asset)
    )
    assert response.status_code == 302
    assert not AssetAutoUpdate.objects.exists()
    assert not Schedule.objects.filter(func="assets_app.tasks.poll_asset").exists()


# -- the admin ----------------------------------------------------------------------
def test_the_admin_shows_webhooks_by_hash_and_the_schedule_on_the_asset(
    admin_client, admin_member, git_asset
):
    minted = asset_set_auto_update(actor=admin_member, asset=git_asset, settings=HOOK)
    webhook = minted.webhook
    page = admin_client.get(
        reverse("admin:assets_app_assetwebhook_change", args=[webhook.pk])
    ).content.decode()
    assert webhook.secret_hash in page
    assert minted.signing_secret not in page and webhook.signing_salt not in page
    listing = admin_client.get(reverse("admin:assets_app_assetwebhook_changelist"))
    assert str(webhook.id) in listing.content.decode()
    daily = AutoUpdateSettings(strategy="POLL", poll_frequency="DAILY", poll_hour=9,
                               timezone="Europe/Berlin")  # fmt: skip
    asset_set_auto_update(actor=admin_member, asset=git_asset, settings=daily)
    row = AssetAutoUpdate.objects.get(asset=git_asset)
    page = admin_client.get(
        reverse("admin:assets_app_asset_change", args=[git_asset.pk])
    ).content.decode()
    assert "Europe/Berlin" in page and "ragdesk: poll asset" in page
    assert "next run (utc)" in page.lower()
    assert minted.signing_secret not in page and webhook.signing_salt not in page
    assert row.schedule.name in page
