"""Next runs of poll schedules across daylight-saving changes (issue 5), computed in
the asset's zone (assets_app/autoupdate/timing.py). 2026's changes:

- Europe/Berlin: spring forward Sun 29 March 02:00 CET → 03:00 CEST (UTC+1 → +2);
  fall back Sun 25 October 03:00 CEST → 02:00 CET.
- America/New_York: spring forward Sun 8 March 02:00 EST → 03:00 EDT (UTC−5 → −4);
  fall back Sun 1 November 02:00 EDT → 01:00 EST.

Each test follows a schedule run after run (each next run computed after the
previous one, as ``asset_poll`` does) and compares the UTC instants."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from assets_app.autoupdate.timing import next_poll_at

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def runs(n: int, *, after: datetime, **schedule) -> list[datetime]:
    out = []
    for _ in range(n):
        after = next_poll_at(after=after, **schedule)
        out.append(after)
    return out


def local(at: datetime, zone: str) -> str:
    return at.astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M %Z")


@pytest.mark.parametrize(
    ("zone", "after", "expected"),
    [
        # 09:00 every day: the UTC time moves by the hour the clocks move.
        (BERLIN, utc(2026, 3, 27, 12), [utc(2026, 3, 28, 8), utc(2026, 3, 29, 7),
                                        utc(2026, 3, 30, 7)]),
        (BERLIN, utc(2026, 10, 23, 12), [utc(2026, 10, 24, 7), utc(2026, 10, 25, 8),
                                         utc(2026, 10, 26, 8)]),
        (NEW_YORK, utc(2026, 3, 6, 18), [utc(2026, 3, 7, 14), utc(2026, 3, 8, 13),
                                         utc(2026, 3, 9, 13)]),
        (NEW_YORK, utc(2026, 10, 30, 18), [utc(2026, 10, 31, 13),
                                           utc(2026, 11, 1, 14), utc(2026, 11, 2, 14)]),
    ],
)  # fmt: skip
def test_daily_runs_keep_the_local_time_across_both_changes(zone, after, expected):
    got = runs(3, after=after, frequency="DAILY", hour=9, minute=0, timezone=zone)
    assert got == expected
    assert {local(at, zone).split(" ")[3] for at in got} == {"09:00"}


def test_daily_run_in_the_skipped_hour_runs_once_an_hour_later_that_day():
    # 02:30 does not exist in Berlin on 29 March: it runs at 03:30 CEST, which is
    # the instant 02:30 CET would have been; the other days at 02:30.
    got = runs(3, after=utc(2026, 3, 27, 12), frequency="DAILY", hour=2, minute=30,
               timezone=BERLIN)  # fmt: skip
    assert got == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30),
                   utc(2026, 3, 30, 0, 30)]  # fmt: skip
    assert [local(at, BERLIN) for at in got] == [
        "Sat 28 Mar 02:30 CET", "Sun 29 Mar 03:30 CEST", "Mon 30 Mar 02:30 CEST",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("zone", "after", "first", "day_after"),
    [
        # 02:30 happens twice in Berlin on 25 October: once, at the first (CEST).
        (BERLIN, utc(2026, 10, 24, 12), utc(2026, 10, 25, 0, 30),
         utc(2026, 10, 26, 1, 30)),
        # 01:30 happens twice in New York on 1 November: once, at the first (EDT).
        (NEW_YORK, utc(2026, 10, 31, 12), utc(2026, 11, 1, 5, 30),
         utc(2026, 11, 2, 6, 30)),
    ],
)  # fmt: skip
def test_daily_run_in_the_repeated_hour_runs_once(zone, after, first, day_after):
    hour = 2 if zone == BERLIN else 1
    got = runs(2, after=after, frequency="DAILY", hour=hour, minute=30, timezone=zone)
    assert got == [first, day_after]


@pytest.mark.parametrize(
    ("zone", "weekday", "after", "expected"),
    [
        # Sundays 02:30 — the change days themselves.
        (BERLIN, "SUNDAY", utc(2026, 3, 20), [utc(2026, 3, 22, 1, 30),
         utc(2026, 3, 29, 1, 30), utc(2026, 4, 5, 0, 30)]),
        (BERLIN, "SUNDAY", utc(2026, 10, 15), [utc(2026, 10, 18, 0, 30),
         utc(2026, 10, 25, 0, 30), utc(2026, 11, 1, 1, 30)]),
        (NEW_YORK, "SUNDAY", utc(2026, 2, 27), [utc(2026, 3, 1, 7, 30),
         utc(2026, 3, 8, 7, 30), utc(2026, 3, 15, 6, 30)]),
        (NEW_YORK, "SUNDAY", utc(2026, 10, 23), [utc(2026, 10, 25, 6, 30),
         utc(2026, 11, 1, 7, 30), utc(2026, 11, 8, 7, 30)]),
    ],
)  # fmt: skip
def test_weekly_runs_across_both_changes(zone, weekday, after, expected):
    got = runs(3, after=after, frequency="WEEKLY", weekday=weekday, hour=2, minute=30,
               timezone=zone)  # fmt: skip
    assert got == expected
    assert {at.astimezone(ZoneInfo(zone)).weekday() for at in got} == {6}


@pytest.mark.parametrize(
    ("zone", "after", "expected"),
    [
        # Day 29 is not allowed, so: the 25th (Berlin's October change day) and the
        # 8th (New York's March change day) at 06:15 local.
        (BERLIN, utc(2026, 9, 1), [utc(2026, 9, 25, 4, 15), utc(2026, 10, 25, 5, 15),
                                   utc(2026, 11, 25, 5, 15)]),
        (NEW_YORK, utc(2026, 2, 1), [utc(2026, 2, 8, 11, 15),
                                     utc(2026, 3, 8, 10, 15),
                                     utc(2026, 4, 8, 10, 15)]),
    ],
)  # fmt: skip
def test_monthly_runs_across_both_changes(zone, after, expected):
    day = expected[0].astimezone(ZoneInfo(zone)).day
    got = runs(3, after=after, frequency="MONTHLY", day_of_month=day, hour=6,
               minute=15, timezone=zone)  # fmt: skip
    assert got == expected


def test_monthly_on_the_28th_runs_in_february_too():
    got = runs(3, after=utc(2026, 1, 1), frequency="MONTHLY", day_of_month=28,
               hour=0, minute=0, timezone="UTC")  # fmt: skip
    assert got == [utc(2026, 1, 28), utc(2026, 2, 28), utc(2026, 3, 28)]


def test_hourly_runs_every_60_real_minutes_through_the_fall_back():
    got = runs(4, after=utc(2026, 10, 24, 23, 20), frequency="HOURLY", minute=15,
               timezone=BERLIN)  # fmt: skip
    assert got == [utc(2026, 10, 25, h, 15) for h in range(4)]
    assert [local(at, BERLIN).split(" ", 3)[3] for at in got] == [
        "02:15 CEST", "02:15 CET", "03:15 CET", "04:15 CET"
    ]


def test_hourly_runs_at_the_local_minute_in_a_half_hour_zone():
    got = runs(2, after=utc(2026, 6, 1, 10, 0), frequency="HOURLY", minute=0,
               timezone="Asia/Kolkata")  # fmt: skip
    assert got == [utc(2026, 6, 1, 10, 30), utc(2026, 6, 1, 11, 30)]


def test_a_run_due_now_is_not_returned_again():
    at = next_poll_at(after=utc(2026, 6, 1, 9), frequency="DAILY", hour=9, minute=0,
                      timezone="UTC")  # fmt: skip
    assert at == utc(2026, 6, 2, 9)
