"""The django-q2 Schedule row of a polling asset: created, changed and removed with
its settings (services.py) and with the asset (``assets_app.services.asset_delete``).

Each row runs ``assets_app.tasks.poll_asset`` with the asset's id. Its ``next_run`` is
always computed here, in the asset's time zone (timing.py), when the settings are
saved and again by each run (``asset_poll`` calls ``poll_schedule_sync``). django-q2
still advances ``next_run`` by its own rule when it fires the schedule (the
``schedule_type`` below, in the server's TIME_ZONE); the run then overwrites that
within seconds with the DST-correct time, so django-q2's value only matters if the
run never happens."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django_q.models import Schedule

from assets_app.models import AssetAutoUpdate, AutoUpdateStrategy, PollFrequency

from .timing import next_poll_at

TASK = "assets_app.tasks.poll_asset"
# django-q2's nearest step for each frequency: its fallback only (module docstring).
SCHEDULE_TYPES = {
    PollFrequency.HOURLY: Schedule.HOURLY,
    PollFrequency.DAILY: Schedule.DAILY,
    PollFrequency.WEEKLY: Schedule.WEEKLY,
    PollFrequency.MONTHLY: Schedule.MONTHLY,
}


def schedule_name(asset_id) -> str:
    return f"ragdesk: poll asset {asset_id}"


def next_run_of(auto_update: AssetAutoUpdate, *, after: datetime) -> datetime:
    """The first poll of ``auto_update`` strictly after ``after`` (UTC)."""
    return next_poll_at(
        frequency=auto_update.poll_frequency,
        minute=auto_update.poll_minute,
        hour=auto_update.poll_hour,
        weekday=auto_update.poll_day or None,
        day_of_month=auto_update.poll_day_of_month,
        timezone=auto_update.timezone,
        after=after,
    )


def poll_schedule_sync(auto_update: AssetAutoUpdate, *, now: datetime) -> None:
    """Make the Schedule match ``auto_update`` (saved, locked by the caller): for
    POLL, create or update it with the next run after ``now``, and link it (the
    caller saves ``schedule``); otherwise delete it."""
    if auto_update.strategy != AutoUpdateStrategy.POLL:
        poll_schedule_delete(auto_update)
        return
    fields = {
        "name": schedule_name(auto_update.asset_id),
        "func": TASK,
        "args": repr(str(auto_update.asset_id)),
        "schedule_type": SCHEDULE_TYPES[auto_update.poll_frequency],
        "repeats": -1,
        "next_run": next_run_of(auto_update, after=now),
    }
    if auto_update.schedule_id is not None:
        updated = Schedule.objects.filter(pk=auto_update.schedule_id).update(**fields)
        if updated:
            return
    # None yet, or removed by hand (the django-q2 admin): make it anew.
    auto_update.schedule = Schedule.objects.create(**fields)


def poll_schedule_delete(auto_update: AssetAutoUpdate) -> None:
    if auto_update.schedule_id is not None:
        Schedule.objects.filter(pk=auto_update.schedule_id).delete()
        auto_update.schedule = None


def poll_schedules_delete_for_asset(asset_id) -> int:
    """Delete the Schedule of the asset (inside the transaction deleting it: the
    AssetAutoUpdate row goes by cascade, the Schedule would not). Returns how many
    were deleted."""
    linked = AssetAutoUpdate.objects.filter(asset_id=asset_id).values("schedule_id")
    deleted, _ = Schedule.objects.filter(
        Q(pk__in=linked) | Q(name=schedule_name(asset_id))
    ).delete()
    return deleted
