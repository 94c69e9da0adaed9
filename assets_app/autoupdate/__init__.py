"""Auto-update of assets (issue 5): inbound webhooks and poll schedules.

- ``checks``: the settings (``AutoUpdateSettings``) and their rules;
- ``timing``: the next run of a poll schedule in the asset's time zone (DST);
- ``schedules``: the django-q2 Schedule row of a polling asset;
- ``webhooks``: secrets, signature checks, GitHub push payloads;
- ``selectors`` and ``services``: the reads and the writes.

The services are re-exported here."""

from .checks import AutoUpdateSettings, auto_update_check
from .services import (
    DeliveryOutcome,
    MintedWebhook,
    asset_poll,
    asset_regenerate_webhook,
    asset_set_auto_update,
    webhook_deliver,
)

__all__ = [
    "AutoUpdateSettings",
    "DeliveryOutcome",
    "MintedWebhook",
    "asset_poll",
    "asset_regenerate_webhook",
    "asset_set_auto_update",
    "auto_update_check",
    "webhook_deliver",
]
