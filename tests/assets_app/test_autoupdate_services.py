"""Auto-update settings (issue 5) through ``assets_app.autoupdate``'s services: the
capabilities and rules, roles, the django-q2 Schedule kept in step with the settings
(created, changed, removed, deleted with the asset), the webhook kept, minted and
revoked, and a poll run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django_q.models import Schedule

from assets_app.autoupdate import (
    AutoUpdateSettings,
    asset_poll,
    asset_regenerate_webhook,
    asset_set_auto_update,
)
from assets_app.autoupdate.schedules import TASK, schedule_name
from assets_app.models import (
    AssetAutoUpdate,
    AssetWebhook,
    Role,
    WebhookDelivery,
    WebhookStatus,
)
from assets_app.services import (
    asset_create_from_folder,
    asset_create_from_source,
    asset_delete,
)
from config.errors import NotFound, PermissionDenied, ValidationFailed
from operations_app.models import Operation, OperationType
from tests.factories import AssetFactory, MembershipFactory

POLL = AutoUpdateSettings
NOW = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # two days before Berlin's DST start
WEB = {"url": "http://93.184.215.14/"}  # a public address literal: no DNS look-up
GIT = {"url": "https://93.184.215.14/r.git"}


def daily(hour=9, minute=0, zone="Europe/Berlin") -> AutoUpdateSettings:
    return POLL(strategy="POLL", poll_frequency="DAILY", poll_hour=hour,
                poll_minute=minute, timezone=zone)  # fmt: skip


def webhook(mode=None, filter=None) -> AutoUpdateSettings:
    return AutoUpdateSettings(strategy="WEBHOOK", webhook_auth_mode=mode, filter=filter)


@pytest.fixture
def web_asset(editor_member, no_enqueue):
    asset, _ = asset_create_from_source(
        actor=editor_member, display_name="Site", source_type="web", parameters=WEB
    )
    return asset


@pytest.fixture
def git_asset(admin_member, no_enqueue):
    asset, _ = asset_create_from_source(
        actor=admin_member, display_name="Repo", source_type="git", parameters=GIT
    )
    return asset


def schedule_of(asset) -> Schedule:
    return AssetAutoUpdate.objects.get(asset=asset).schedule


# -- rules ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "field"),
    [
        (POLL(strategy="POLL"), "autoUpdate.pollFrequency"),
        (POLL(strategy="POLL", poll_frequency="WEEKLY"), "autoUpdate.pollDay"),
        (POLL(strategy="POLL", poll_frequency="MONTHLY"), "autoUpdate.pollDayOfMonth"),
        (POLL(strategy="POLL", poll_frequency="HOURLY", poll_hour=3),
         "autoUpdate.pollHour"),
        (POLL(strategy="POLL", poll_frequency="DAILY", poll_day="MONDAY"),
         "autoUpdate.pollDay"),
        (POLL(strategy="POLL", poll_frequency="DAILY", timezone="Mars/Olympus"),
         "autoUpdate.timezone"),
        (POLL(strategy="POLL", poll_frequency="DAILY", timezone="CET+1"),
         "autoUpdate.timezone"),
        (POLL(strategy="POLL", poll_frequency="DAILY", filter="*.md"),
         "autoUpdate.filter"),
        (POLL(strategy="POLL", poll_frequency="DAILY", webhook_auth_mode="URL_SECRET"),
         "autoUpdate.webhookAuthMode"),
        (webhook(), "autoUpdate.strategy"),  # web pages take no webhook
    ],
)  # fmt: skip
def test_invalid_settings_are_400_naming_the_field_and_save_nothing(
    web_asset, editor_member, settings, field
):
    with pytest.raises(ValidationFailed) as caught:
        asset_set_auto_update(actor=editor_member, asset=web_asset, settings=settings)
    assert field in caught.value.errors, caught.value.errors
    assert not AssetAutoUpdate.objects.exists()
    assert not Schedule.objects.filter(func=TASK).exists()


def test_upload_assets_take_no_auto_update(editor_member):
    asset = AssetFactory(tenant=editor_member.tenant)
    with pytest.raises(ValidationFailed) as caught:
        asset_set_auto_update(actor=editor_member, asset=asset, settings=daily())
    assert "cannot update themselves" in caught.value.errors["autoUpdate"][0]


def test_a_folder_asset_may_poll_but_takes_no_webhook(
    admin_member, tmp_path, settings, no_enqueue
):
    settings.RAGDESK_FOLDER_ROOTS = [tmp_path.resolve()]
    asset, _ = asset_create_from_folder(
        actor=admin_member, display_name="F", path=str(tmp_path)
    )
    asset_set_auto_update(actor=admin_member, asset=asset, settings=daily())
    assert schedule_of(asset) is not None
    with pytest.raises(ValidationFailed) as caught:
        asset_set_auto_update(actor=admin_member, asset=asset, settings=webhook())
    assert "autoUpdate.strategy" in caught.value.errors


def test_defaults_are_minute_0_hour_0_and_utc(web_asset, editor_member):
    settings = POLL(strategy="POLL", poll_frequency="DAILY")
    asset_set_auto_update(actor=editor_member, asset=web_asset, settings=settings,
                          now=NOW)  # fmt: skip
    row = AssetAutoUpdate.objects.get(asset=web_asset)
    assert (row.poll_hour, row.poll_minute, row.timezone) == (0, 0, "UTC")
    assert row.schedule.next_run == datetime(2026, 3, 28, tzinfo=UTC)


# -- the Schedule row ----------------------------------------------------------------
def test_poll_settings_create_change_and_remove_the_schedule(web_asset, editor_member):
    asset_set_auto_update(actor=editor_member, asset=web_asset, settings=daily(),
                          now=NOW)  # fmt: skip
    schedule = schedule_of(web_asset)
    assert (schedule.func, schedule.args, schedule.name) == (
        TASK, repr(str(web_asset.id)), schedule_name(web_asset.id)
    )
    assert (schedule.schedule_type, schedule.repeats) == (Schedule.DAILY, -1)
    # 09:00 in Berlin on 28 March (CET) is 08:00 UTC.
    assert schedule.next_run == datetime(2026, 3, 28, 8, tzinfo=UTC)

    weekly = POLL(strategy="POLL", poll_frequency="WEEKLY", poll_day="MONDAY",
                  poll_hour=6, poll_minute=30, timezone="America/New_York")  # fmt: skip
    asset_set_auto_update(actor=editor_member, asset=web_asset, settings=weekly,
                          now=NOW)  # fmt: skip
    changed = schedule_of(web_asset)
    assert changed.pk == schedule.pk  # the same row, changed
    assert changed.schedule_type == Schedule.WEEKLY
    assert changed.next_run == datetime(2026, 3, 30, 10, 30, tzinfo=UTC)  # EDT

    asset_set_auto_update(actor=editor_member, asset=web_asset, settings=None)
    assert not AssetAutoUpdate.objects.filter(asset=web_asset).exists()
    assert not Schedule.objects.filter(pk=schedule.pk).exists()


def test_a_schedule_deleted_by_hand_is_made_again_when_the_settings_are_saved(
    web_asset, editor_member
):
    asset_set_auto_update(actor=editor_member, asset=web_asset, settings=daily())
    Schedule.objects.filter(func=TASK).delete()  # e.g. in the django-q2 admin
    asset_set_auto_update(actor=editor_member, asset=web_asset, settings=daily())
    assert Schedule.objects.filter(func=TASK).count() == 1
    assert schedule_of(web_asset) is not None


def test_deleting_the_asset_removes_its_schedule_webhooks_and_deliveries(
    git_asset, web_asset, admin_member
):
    asset_set_auto_update(actor=admin_member, asset=web_asset, settings=daily())
    schedule_id = schedule_of(web_asset).pk
    revoked = asset_set_auto_update(actor=admin_member, asset=git_asset,
                                    settings=webhook())  # fmt: skip
    active = asset_regenerate_webhook(actor=admin_member, asset=git_asset)
    WebhookDelivery.objects.create(webhook=active.webhook, key="id:1", expires_at=NOW)
    assert AssetWebhook.objects.filter(pk=revoked.webhook.pk).exists()
    asset_delete(actor=admin_member, asset=web_asset)
    assert not Schedule.objects.filter(pk=schedule_id).exists()
    assert not Schedule.objects.filter(func=TASK).exists()
    asset_delete(actor=admin_member, asset=git_asset)
    assert not AssetWebhook.objects.exists()
    assert not AssetAutoUpdate.objects.exists()
    assert not WebhookDelivery.objects.exists()


# -- webhooks ---------------------------------------------------------------------
def test_webhook_is_kept_while_its_auth_mode_stays_and_minted_anew_otherwise(
    git_asset, admin_member
):
    first = asset_set_auto_update(actor=admin_member, asset=git_asset,
                                  settings=webhook())  # fmt: skip
    assert first.webhook.auth_mode == "HMAC_SHA256"
    assert first.signing_secret.startswith("whsec_")
    assert first.path == f"/v1/webhooks/{first.webhook.id}"
    # Same mode, another filter: same webhook, nothing shown again.
    assert asset_set_auto_update(
        actor=admin_member, asset=git_asset, settings=webhook(filter="docs/**")
    ) is None  # fmt: skip
    second = asset_set_auto_update(
        actor=admin_member, asset=git_asset, settings=webhook("URL_SECRET")
    )
    assert second.signing_secret is None
    secret = second.path.rsplit("/", 1)[1]
    assert second.path == f"/v1/webhooks/{second.webhook.id}/{secret}"
    statuses = dict(AssetWebhook.objects.values_list("id", "status"))
    assert statuses == {first.webhook.id: WebhookStatus.REVOKED,
                        second.webhook.id: WebhookStatus.ACTIVE}  # fmt: skip


def test_only_hashes_of_the_secrets_are_stored(git_asset, admin_member):
    for mode in ("URL_SECRET", "HMAC_SHA256"):
        minted = asset_set_auto_update(
            actor=admin_member, asset=git_asset, settings=webhook(mode)
        )
        shown = minted.signing_secret or minted.path.rsplit("/", 1)[1]
        row = AssetWebhook.objects.filter(pk=minted.webhook.pk).values().get()
        assert shown not in str(row)
        assert len(row["secret_hash"]) == 64


def test_switching_to_poll_or_off_revokes_the_webhook(git_asset, admin_member):
    minted = asset_set_auto_update(actor=admin_member, asset=git_asset,
                                   settings=webhook())  # fmt: skip
    asset_set_auto_update(actor=admin_member, asset=git_asset, settings=daily())
    minted.webhook.refresh_from_db()
    assert minted.webhook.status == WebhookStatus.REVOKED
    again = asset_set_auto_update(actor=admin_member, asset=git_asset,
                                  settings=webhook())  # fmt: skip
    asset_set_auto_update(actor=admin_member, asset=git_asset, settings=None)
    again.webhook.refresh_from_db()
    assert again.webhook.status == WebhookStatus.REVOKED
    assert not Schedule.objects.filter(func=TASK).exists()


def test_regenerate_revokes_and_mints_in_the_same_mode(git_asset, admin_member):
    first = asset_set_auto_update(actor=admin_member, asset=git_asset,
                                  settings=webhook("URL_SECRET"))  # fmt: skip
    second = asset_regenerate_webhook(actor=admin_member, asset=git_asset)
    assert second.webhook.id != first.webhook.id
    assert second.webhook.auth_mode == "URL_SECRET"
    first.webhook.refresh_from_db()
    assert first.webhook.status == WebhookStatus.REVOKED


def test_regenerate_without_a_webhook_strategy_is_refused(git_asset, admin_member):
    asset_set_auto_update(actor=admin_member, asset=git_asset, settings=daily())
    with pytest.raises(Exception) as caught:
        asset_regenerate_webhook(actor=admin_member, asset=git_asset)
    assert caught.value.status == 400
    assert not AssetWebhook.objects.exists()


# -- roles ------------------------------------------------------------------------
def test_an_editor_may_poll_but_not_mint_or_remove_webhooks(
    git_asset, admin_member, editor_member
):
    asset_set_auto_update(actor=editor_member, asset=git_asset, settings=daily())
    with pytest.raises(PermissionDenied):
        asset_set_auto_update(actor=editor_member, asset=git_asset, settings=webhook())
    asset_set_auto_update(actor=admin_member, asset=git_asset, settings=webhook())
    # Keeping the webhook (same mode) is a settings change an editor may make …
    asset_set_auto_update(
        actor=editor_member, asset=git_asset, settings=webhook(filter="*.md")
    )
    # … removing or rotating it is not.
    for change in (None, daily()):
        with pytest.raises(PermissionDenied):
            asset_set_auto_update(actor=editor_member, asset=git_asset, settings=change)
    with pytest.raises(PermissionDenied):
        asset_regenerate_webhook(actor=editor_member, asset=git_asset)
    assert AssetWebhook.objects.get().status == WebhookStatus.ACTIVE


def test_a_viewer_may_not_change_auto_update(web_asset, viewer_member):
    with pytest.raises(PermissionDenied):
        asset_set_auto_update(actor=viewer_member, asset=web_asset, settings=daily())


def test_another_tenants_asset_is_not_found(web_asset):
    outsider = MembershipFactory(role=Role.ADMIN)
    with pytest.raises(NotFound):
        asset_set_auto_update(actor=outsider, asset=web_asset, settings=daily())
    with pytest.raises(NotFound):
        asset_regenerate_webhook(actor=outsider, asset=web_asset)


# -- a poll run -------------------------------------------------------------------
def test_a_poll_run_starts_a_scheduled_refresh_and_sets_the_next_run_in_the_zone(
    web_asset, editor_member, run_queued
):
    run_queued()  # the INGEST
    asset_set_auto_update(actor=editor_member, asset=web_asset, settings=daily(2, 30),
                          now=NOW)  # fmt: skip
    # The run of 28 March, 02:30 CET; the next is on the day the clocks skip
    # 02:30, so at 03:30 CEST = 01:30 UTC; then 02:30 CEST = 00:30 UTC.
    ran_at = datetime(2026, 3, 28, 1, 30, 20, tzinfo=UTC)
    op = asset_poll(asset_id=web_asset.id, now=ran_at)
    assert (op.type, op.created_by) == (OperationType.SCHEDULED_REFRESH, "schedule")
    row = AssetAutoUpdate.objects.get(asset=web_asset)
    assert row.last_polled_at == ran_at
    assert row.schedule.next_run == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    op2 = asset_poll(asset_id=web_asset.id, now=datetime(2026, 3, 29, 1, 30, 5,
                                                          tzinfo=UTC))  # fmt: skip
    assert op2.pk == op.pk  # still queued: the run joins it
    assert schedule_of(web_asset).next_run == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)


def test_a_poll_run_after_the_settings_changed_does_nothing(
    web_asset, editor_member
):
    asset_set_auto_update(actor=editor_member, asset=web_asset, settings=daily())
    asset_set_auto_update(actor=editor_member, asset=web_asset, settings=None)
    before = Operation.objects.count()
    assert asset_poll(asset_id=web_asset.id) is None
    assert Operation.objects.count() == before


def test_a_poll_run_of_a_deleted_asset_does_nothing(web_asset, admin_member):
    asset_set_auto_update(actor=admin_member, asset=web_asset, settings=daily())
    asset_id = web_asset.id
    asset_delete(actor=admin_member, asset=web_asset)
    assert asset_poll(asset_id=asset_id) is None
