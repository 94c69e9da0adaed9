"""Reads of auto-update. The asset passed in is already tenant-checked (got through
``assets_app.selectors.asset_get``); a delivery finds its webhook by id alone, since
the webhook URL carries no tenant (API.md)."""

from __future__ import annotations

import uuid

from assets_app.models import Asset, AssetAutoUpdate, AssetWebhook, WebhookStatus
from config.errors import NotFound


def auto_update_of(asset: Asset) -> AssetAutoUpdate | None:
    """The asset's settings, or None (``autoUpdate: false``); no query when the
    asset was read with ``select_related("auto_update")``."""
    try:
        return asset.auto_update
    except AssetAutoUpdate.DoesNotExist:
        return None


def webhook_active_of(asset: Asset) -> AssetWebhook | None:
    return AssetWebhook.objects.filter(asset=asset, status=WebhookStatus.ACTIVE).first()


def webhook_for_delivery(webhook_id) -> AssetWebhook:
    """The ACTIVE webhook with this id. Raises NotFound for a malformed, unknown or
    revoked id alike (a rotated URL is dead at once)."""
    try:
        pk = uuid.UUID(str(webhook_id))
    except ValueError:
        raise NotFound("No such webhook.") from None
    webhook = (
        AssetWebhook.objects.filter(pk=pk, status=WebhookStatus.ACTIVE)
        .select_related("asset")
        .first()
    )
    if webhook is None:
        raise NotFound("No such webhook.")
    return webhook
