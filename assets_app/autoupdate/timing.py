"""When a poll schedule runs next, computed in the asset's own IANA time zone.

django-q2 cannot do this itself: its DAILY/WEEKLY/MONTHLY step keeps the wall time of
the *server's* ``TIME_ZONE`` and its CRON schedules are evaluated there too, while
each asset has its own zone. So every next run is computed here, from the local
calendar of the asset's zone (``zoneinfo``), and written to the Schedule's
``next_run`` (schedules.py); docs/architecture.md "Auto-update" explains the choice.

Wall times the clocks skip or repeat follow PEP 495's ``fold=0``:

- spring forward: a time that does not exist that day (02:30 in Berlin on the last
  Sunday of March) runs at the instant it would have had the clocks not changed —
  03:30 local, one hour after 01:30;
- fall back: a time that happens twice (02:30 on the last Sunday of October) runs
  once, at its first occurrence (CEST).

HOURLY runs at ``minute`` past every local hour, i.e. every 60 real minutes (through
both changes), and at the right minute in zones offset by half or quarter hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

WEEKDAYS = (
    "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY",
)  # fmt: skip
# How far ahead a next run is looked for: a month and then some (days), two hours
# (minutes, HOURLY). A run is always found well within these.
_SEARCH_DAYS = 62
_SEARCH_MINUTES = 180


@lru_cache(maxsize=1)
def timezone_names() -> frozenset[str]:
    """The IANA zone names this machine knows (the system's tz database, or the
    ``tzdata`` package)."""
    return frozenset(available_timezones())


def local_instant(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time ``day hour:minute`` in ``zone`` (fold=0, see the
    module docstring)."""
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


def next_poll_at(
    *,
    frequency: str,
    minute: int,
    hour: int | None = None,
    weekday: str | None = None,
    day_of_month: int | None = None,
    timezone: str,
    after: datetime,
) -> datetime:
    """The first run strictly after ``after`` (aware) of a poll at ``minute`` past
    the hour (HOURLY), at ``hour:minute`` every day (DAILY), on ``weekday``
    ("MONDAY"…, WEEKLY) or on ``day_of_month`` (1–28, MONTHLY), local time of
    ``timezone`` (an IANA name). Returns an aware UTC datetime, whole minutes.
    Raises ValueError for an unknown frequency."""
    zone = ZoneInfo(timezone)
    after = after.astimezone(UTC)
    if frequency == "HOURLY":
        # Minute by minute in real time: a zone's offset is not always whole hours.
        at = after.replace(second=0, microsecond=0)
        for _ in range(_SEARCH_MINUTES):
            at += timedelta(minutes=1)
            if at.astimezone(zone).minute == minute:
                return at
        raise ValueError(f"No minute {minute} within {_SEARCH_MINUTES} minutes.")
    if frequency == "DAILY":
        matches = lambda d: True  # noqa: E731
    elif frequency == "WEEKLY":
        matches = lambda d: d.weekday() == WEEKDAYS.index(weekday)  # noqa: E731
    elif frequency == "MONTHLY":
        matches = lambda d: d.day == day_of_month  # noqa: E731
    else:
        raise ValueError(f"Unknown poll frequency {frequency!r}.")
    day = after.astimezone(zone).date()
    for _ in range(_SEARCH_DAYS):
        if matches(day):
            # Compared in UTC: two datetimes of the same zone compare by wall time,
            # which ignores ``fold`` and would misorder the repeated hour.
            at = local_instant(day, hour, minute, zone)
            if at > after:
                return at
        day += timedelta(days=1)
    raise ValueError(f"No {frequency} run within {_SEARCH_DAYS} days.")
