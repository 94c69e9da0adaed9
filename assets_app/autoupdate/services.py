"""Every write of auto-update (issue 5): an asset's settings with its webhook or its
poll schedule, a webhook's rotation, a delivery, a scheduled poll.

Roles (API.md "Roles": ADMIN … webhooks): poll settings need EDITOR; anything that
mints, rotates or revokes a webhook needs ADMIN. Operations are started through
``operation_create``, which coalesces them with a queued one of the asset (API.md
"Refresh and concurrency"): a burst of deliveries or polls is one queued operation.
Lock order, as everywhere: the asset first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from assets_app.ingestion.parsing import content_type_for
from assets_app.models import (
    Asset,
    AssetAutoUpdate,
    AssetWebhook,
    AutoUpdateStrategy,
    Document,
    Membership,
    Role,
    SourceType,
    WebhookAuthMode,
    WebhookDelivery,
    WebhookStatus,
)
from assets_app.services import _actor_name, _require, _require_for_asset
from assets_app.sources import git as git_source
from config.errors import ApplicationError, NotFound
from operations_app.models import Operation, OperationType
from operations_app.services import operation_create

from . import webhooks
from .checks import AutoUpdateSettings, auto_update_check
from .schedules import poll_schedule_delete, poll_schedule_sync
from .selectors import webhook_for_delivery

WEBHOOK_PATH = "/v1/webhooks/"  # config/api_urls.py
# What a webhook of each source type understands besides generic deliveries.
PROVIDERS = {SourceType.GIT: "GITHUB"}
# How long a delivery id is remembered. Signed deliveries are refused after 5
# minutes anyway; GitHub's carry no timestamp, so theirs are kept a day.
DELIVERY_MEMORY = timedelta(hours=24)
SCHEDULE_ACTOR = "schedule"  # API.md: createdBy "schedule"


@dataclass(frozen=True)
class MintedWebhook:
    """A new webhook with what is shown once: its URL path (``/v1/webhooks/…``, the
    interface makes it absolute) and, in HMAC_SHA256 mode, the signing secret."""

    webhook: AssetWebhook
    path: str
    signing_secret: str | None


class NoWebhook(ApplicationError):
    """400 ``bad-request``: ``:regenerateWebhook`` of an asset without a webhook."""


def _mint(asset: Asset, auth_mode: str, created_by: str) -> MintedWebhook:
    webhook = AssetWebhook(
        asset=asset, auth_mode=auth_mode, created_by=created_by,
        provider=PROVIDERS.get(asset.source_type, "GENERIC"),
    )  # fmt: skip
    if auth_mode == WebhookAuthMode.URL_SECRET:
        secret = webhooks.new_url_secret()
        webhook.secret_hash = webhooks.sha256_hex(secret)
        webhook.save()
        return MintedWebhook(webhook, f"{WEBHOOK_PATH}{webhook.id}/{secret}", None)
    webhook.signing_salt = webhooks.new_signing_salt()
    key = webhooks.signing_secret(webhook.id, webhook.signing_salt)
    webhook.secret_hash = webhooks.sha256_hex(key)
    webhook.save()
    return MintedWebhook(webhook, f"{WEBHOOK_PATH}{webhook.id}", key)


def _revoke(webhook: AssetWebhook | None) -> None:
    """REVOKED: its URL is a 404 from the commit on, so its replay keys can go."""
    if webhook is not None:
        webhook.status = WebhookStatus.REVOKED
        webhook.save(update_fields=["status", "modified_at"])
        webhook.deliveries.all().delete()


def _apply(row: AssetAutoUpdate, s: AutoUpdateSettings) -> None:
    row.strategy = s.strategy
    row.poll_frequency = s.poll_frequency or ""
    row.poll_day = s.poll_day or ""
    row.poll_day_of_month = s.poll_day_of_month
    row.poll_hour, row.poll_minute = s.poll_hour, s.poll_minute
    row.timezone = s.timezone or ""
    row.filter = s.filter or ""
    row.webhook_auth_mode = s.webhook_auth_mode or ""


def asset_set_auto_update(
    *, actor: Membership, asset: Asset, settings: AutoUpdateSettings | None,
    now: datetime | None = None,
) -> MintedWebhook | None:  # fmt: skip
    """Replace the asset's auto-update settings (API.md PATCH ``autoUpdate``), or
    remove them with ``settings=None`` (``disableAutoUpdate``). POLL keeps its
    django-q2 Schedule in step (next run after ``now``, in the asset's zone).
    WEBHOOK keeps an ACTIVE webhook of the same ``authMode`` (its URL stays valid),
    else mints one, returned with what is shown once; any other change revokes the
    webhook. Returns the minted webhook or None. Raises PermissionDenied (below
    EDITOR; below ADMIN when a webhook would be minted or revoked), NotFound
    (another tenant's asset) or ValidationFailed (auto_update_check)."""
    _require_for_asset(actor, asset, Role.EDITOR, "change auto-update settings")
    if settings is not None:
        settings = auto_update_check(source_type=asset.source_type, settings=settings)
    wants_webhook = settings is not None and settings.strategy == "WEBHOOK"
    with transaction.atomic():
        Asset.objects.select_for_update().only("id").get(pk=asset.pk)
        row = AssetAutoUpdate.objects.select_for_update().filter(asset=asset).first()
        active = (
            AssetWebhook.objects.select_for_update()
            .filter(asset=asset, status=WebhookStatus.ACTIVE)
            .first()
        )
        keep = bool(
            wants_webhook and active and active.auth_mode == settings.webhook_auth_mode
        )
        if not keep and (active or wants_webhook):
            _require(actor, Role.ADMIN, "create or remove webhooks")
        if not keep:
            _revoke(active)
        if settings is None:
            if row is not None:
                poll_schedule_delete(row)
                row.delete()
            return None
        row = row or AssetAutoUpdate(asset=asset)
        _apply(row, settings)
        poll_schedule_sync(row, now=now or timezone.now())
        row.save()
        if wants_webhook and not keep:
            return _mint(asset, settings.webhook_auth_mode, _actor_name(actor))
    return None


def asset_regenerate_webhook(*, actor: Membership, asset: Asset) -> MintedWebhook:
    """Rotate the asset's webhook (API.md ``:regenerateWebhook``): the old one is
    REVOKED (its URL answers 404 at once) and a new one of the same ``authMode`` is
    minted and returned with what is shown once. ADMIN only. Raises
    PermissionDenied, NotFound, or NoWebhook (400) when the asset has no webhook
    auto-update."""
    _require_for_asset(actor, asset, Role.ADMIN, "regenerate webhooks")
    with transaction.atomic():
        Asset.objects.select_for_update().only("id").get(pk=asset.pk)
        row = AssetAutoUpdate.objects.filter(
            asset=asset, strategy=AutoUpdateStrategy.WEBHOOK
        ).first()
        if row is None:
            raise NoWebhook(
                "This asset has no webhook auto-update; set autoUpdate with strategy "
                "WEBHOOK first (PATCH the asset).",
                errors={"autoUpdate": ["No webhook auto-update."]},
            )
        _revoke(
            AssetWebhook.objects.select_for_update()
            .filter(asset=asset, status=WebhookStatus.ACTIVE)
            .first()
        )
        return _mint(asset, row.webhook_auth_mode, _actor_name(actor))


def asset_poll(*, asset_id, now: datetime | None = None) -> Operation | None:
    """One run of a poll schedule (``assets_app.tasks.poll_asset``): start (or join
    the queued) SCHEDULED_REFRESH, created by "schedule", set ``last_polled_at`` and
    the Schedule's next run after ``now`` in the asset's zone. None when the asset
    is gone or polls no longer (a run enqueued before the settings changed)."""
    now = now or timezone.now()
    with transaction.atomic():
        asset = Asset.objects.select_for_update().filter(pk=asset_id).first()
        row = (
            AssetAutoUpdate.objects.select_for_update()
            .filter(asset_id=asset_id, strategy=AutoUpdateStrategy.POLL)
            .first()
        )
        if asset is None or row is None:
            return None
        op = operation_create(
            asset=asset, type=OperationType.SCHEDULED_REFRESH, created_by=SCHEDULE_ACTOR
        )
        row.last_polled_at = now
        poll_schedule_sync(row, now=now)
        row.save(update_fields=["last_polled_at", "schedule", "modified_at"])
    return op


# -- deliveries ----------------------------------------------------------------
@dataclass(frozen=True)
class DeliveryOutcome:
    """The WEBHOOK_UPDATE started or joined, or None with ``detail`` saying why the
    delivery starts nothing (a ping, another branch, no file the asset reads)."""

    operation: Operation | None
    detail: str


def webhook_deliver(
    *, webhook_id, url_secret: str | None, headers: Mapping[str, str], body: bytes,
    now: datetime | None = None,
) -> DeliveryOutcome:  # fmt: skip
    """Accept a delivery (API.md ``/v1/webhooks/{webhookId}[/{secret}]``): check it
    (webhooks.py), refuse a replay of a delivery id or signature seen in the last
    DELIVERY_MEMORY, and start (or join the queued) WEBHOOK_UPDATE created by
    ``webhook:<id>``, limited to the documents a git push changed when it names
    them all (``_documents_to_update``). Raises NotFound (unknown or revoked
    webhook, wrong URL secret, or a route of the other auth mode),
    WebhookUnauthenticated (401: signature, timestamp) or WebhookReplayed (409)."""
    now = now or timezone.now()
    webhook = webhook_for_delivery(webhook_id)
    if url_secret is not None:
        if webhook.auth_mode != WebhookAuthMode.URL_SECRET or not (
            webhooks.url_secret_matches(url_secret, webhook.secret_hash)
        ):
            raise NotFound("No such webhook.")
        verified = webhooks.url_delivery(headers)
    else:
        if webhook.auth_mode != WebhookAuthMode.HMAC_SHA256:
            raise NotFound("No such webhook.")
        verified = webhooks.verify_hmac_delivery(
            key=webhooks.signing_secret(webhook.id, webhook.signing_salt),
            headers=headers, body=body, now=now.timestamp(),
            github_style=webhook.provider == "GITHUB",
        )  # fmt: skip
    with transaction.atomic():
        # The asset first (as rotation and operation_create lock it), then the
        # webhook again: rotated or deleted since it was read → 404.
        asset = Asset.objects.select_for_update().filter(pk=webhook.asset_id).first()
        if asset is None or not AssetWebhook.objects.filter(
            pk=webhook.pk, status=WebhookStatus.ACTIVE
        ).exists():
            raise NotFound("No such webhook.")
        _remember(webhook, verified.replay_keys, now)
        AssetWebhook.objects.filter(pk=webhook.pk).update(last_delivery_at=now)
        document_ids, ignored = _documents_to_update(asset, headers, body)
        if ignored:
            return DeliveryOutcome(None, ignored)
        op = operation_create(
            asset=asset, type=OperationType.WEBHOOK_UPDATE,
            created_by=f"webhook:{webhook.id}", document_ids=document_ids,
        )  # fmt: skip
    return DeliveryOutcome(op, "Queued.")


def _remember(webhook: AssetWebhook, keys: tuple[str, ...], now: datetime) -> None:
    """Store the delivery's replay keys; raise WebhookReplayed if one was seen.
    Prunes the webhook's expired keys first: deliveries of one webhook are already
    serialised by the asset's lock, so the prune never waits on another's."""
    WebhookDelivery.objects.filter(webhook=webhook, expires_at__lt=now).delete()
    expires = now + DELIVERY_MEMORY
    for key in keys:
        try:
            with transaction.atomic():
                WebhookDelivery.objects.create(
                    webhook=webhook, key=key, expires_at=expires
                )
        except IntegrityError:
            what = "delivery id" if key.startswith("id:") else "signature"
            raise webhooks.WebhookReplayed(
                f"This {what} was already delivered; a new delivery needs a new "
                f"{what}."
            ) from None


def _documents_to_update(asset: Asset, headers, body: bytes):
    """``(document_ids, ignored)``: the documents to re-read (None: the whole
    source), or a sentence why the delivery starts nothing.

    A GitHub-style push to a git asset names its changed files: those the asset
    reads (its include/exclude patterns and supported types, and the auto-update
    ``filter``) become the documentIds. A changed file the asset holds no document
    for yet (a new file) cannot be named by id, so then the whole source is re-read
    (unchanged files cost nothing: their blob ids match). So is it for a push that
    cannot list all its files (forced, a new branch) and any other delivery."""
    event = headers.get("X-GitHub-Event")
    if event == "ping":
        return None, "Ping received: the webhook is set up. Nothing to update."
    if event and event != "push":
        return None, f"A {event} event starts nothing; only push events do."
    push = webhooks.push_changes(body) if asset.source_type == SourceType.GIT else None
    if push is None:
        return None, ""
    if push.deleted:
        return None, "The branch was deleted; nothing to update."
    branch = asset.source_parameters.get("branch") or push.default_branch
    if push.ref and branch and push.ref != f"refs/heads/{branch}":
        return None, f"A push to {push.ref}; this asset reads the branch {branch}."
    if not push.complete:
        return None, ""
    selected = git_source.path_filter(asset.source_parameters)
    row = AssetAutoUpdate.objects.filter(asset=asset).first()
    wanted = webhooks.filter_spec(row.filter).match_file if row and row.filter else None
    paths = {
        p for p in push.changed | push.removed
        if content_type_for(p) and selected(p) and (wanted is None or wanted(p))
    }  # fmt: skip
    known = dict(
        Document.objects.filter(asset=asset, source_key__in=paths).values_list(
            "source_key", "id"
        )
    )
    if any(p not in known for p in paths & push.changed):
        return None, ""
    if not known:
        return None, "No file this asset reads was changed by the push."
    return sorted(str(i) for i in known.values()), ""
