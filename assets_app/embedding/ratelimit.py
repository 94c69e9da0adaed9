"""Requests-per-minute caps shared by every process and machine, kept in PostgreSQL.

Why PostgreSQL and not the Django cache: the cache is process memory in the embedded
set-up (so two worker processes would each allow the full rate) and a table without
atomic increments with ``DATABASE_URL`` alone; only Redis would be shared and atomic.
PostgreSQL is there in every set-up, one ``INSERT … ON CONFLICT DO UPDATE`` is atomic
(the row lock orders concurrent callers) and its clock is one clock for all machines.

The algorithm is GCRA without burst (the "generic cell rate algorithm" of ATM networks,
ITU-T I.371, as used by e.g. redis-cell): a key of rate r requests/min stores the
earliest start of its next request, ``next_at``; a caller reserves the slot
``max(next_at, now)`` and moves ``next_at`` 60/r s further. Requests therefore start
at least 60/r s apart, so no 60-s window ever sees more than r (+1 at its edges), and
a caller that waits sleeps in its own process, holding no lock. A request reserves a
slot of its asset's key first, then of the global key no earlier than that.
"""

from __future__ import annotations

import time

from django.db import connection

from assets_app.models import EmbeddingRateSlot

_TABLE = EmbeddingRateSlot._meta.db_table
_RESERVE = f"""
INSERT INTO {_TABLE} AS s (key, next_at)
VALUES (%(key)s, clock_timestamp() + make_interval(secs => %(after)s + %(spacing)s))
ON CONFLICT (key) DO UPDATE SET next_at = GREATEST(
    s.next_at, clock_timestamp() + make_interval(secs => %(after)s)
) + make_interval(secs => %(spacing)s)
RETURNING EXTRACT(EPOCH FROM s.next_at - clock_timestamp())::float8 - %(spacing)s
"""


def reserve(key: str, *, per_minute: float, after: float = 0.0) -> float:
    """Reserve the next request slot of ``key`` at a rate of ``per_minute``
    requests/min, no earlier than ``after`` s from now; returns the s to wait until
    it (≥ 0). Runs in autocommit on this thread's connection: call it outside any
    transaction, or the row lock is held until that transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            _RESERVE, {"key": key[:300], "after": after, "spacing": 60.0 / per_minute}
        )
        return max(0.0, cursor.fetchone()[0])


def wait_for_slot(*, keys: list[tuple[str, float]], sleep=time.sleep) -> float:
    """Reserve a slot of each ``(key, requests/min)`` in order (a rate ≤ 0 is no cap)
    and sleep until the latest; returns the s slept."""
    wait = 0.0
    for key, per_minute in keys:
        if per_minute > 0:
            wait = max(wait, reserve(key, per_minute=per_minute, after=wait))
    if wait > 0:
        sleep(wait)
    return wait
