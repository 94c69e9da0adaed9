"""django-q2 entry points of assets: ids in, one service call."""

from assets_app.autoupdate import asset_poll


def poll_asset(asset_id: str) -> str | None:
    """Run by the asset's poll Schedule (assets_app/autoupdate/schedules.py): start
    a SCHEDULED_REFRESH. Returns its id, or None when the asset no longer polls."""
    op = asset_poll(asset_id=asset_id)
    return None if op is None else str(op.id)
