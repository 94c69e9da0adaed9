"""Budgets: an asset's token limits (total, monthly, daily; API.md "Budgets") and the
metering that keeps them, for ingestion batches and search queries.

- **Limits** are billed tokens, ``null`` meaning unlimited. A USD limit
  (``currencyBudget``) is converted to tokens with the model's price when it is set and
  stored as the token limit (API.md "PATCH semantics"): ``floor(usd × 1,000,000 /
  pricePerMillionTokens)``, in Decimal, so the USD limit is never exceeded.
- **Periods** are UTC: the day (00:00 UTC) and the calendar month; the total never
  resets. The total counts ingestion; day and month count ingestion and search
  queries (API.md: "Search queries count … against daily/monthly limits").
- **Reservations** make two workers of one asset (or tenant) unable to overshoot
  together: before an embedding request, ``budget_reserve`` adds the estimate (the
  chunks' cl100k tokens) to ``BudgetUsage.reserved`` of each period, after locking
  the usage rows (``SELECT … FOR UPDATE``, in one order: asset, then total → month
  → day) and checking ``used + reserved + n <= limit`` on them, so concurrent
  reservations are serialized. ``budget_reserve_many`` does the same for many
  assets (a tenant search) in a fixed number of queries. ``budget_settle`` (in the
  transaction that stores the batch) moves the provider's billed count into
  ``used``; ``budget_release`` gives the estimate back when the batch is not stored.
  A ``BudgetReservation`` row per reservation makes settling or releasing happen
  once, and lets the reaper release what a lost worker held when it requeues or
  ends the operation (``budget_release_operation``), with the next operation of the
  asset as a second net (``budget_release_stale``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from django.db import connection, transaction
from django.db.models import Q

from config.errors import ApplicationError

from .models import Asset, BudgetReservation, BudgetUsage, UsagePeriod

logger = logging.getLogger("ragdesk.budgets")
P = UsagePeriod
EPOCH = dt.date(1970, 1, 1)
STALE_QUERY_SECONDS = 600  # a search holds its reservation for about a second
_USAGE = BudgetUsage._meta.db_table


@dataclass(frozen=True)
class Limit:
    period: str
    field: str  # Asset's token limit
    wire: str  # API.md's budget member (tokens)
    cost_wire: str  # API.md's currencyBudget / budget member (USD)
    label: str


LIMITS = (
    Limit(P.TOTAL, "token_budget", "tokenBudget", "costBudget", "total"),
    Limit(P.MONTH, "monthly_token_budget", "monthlyTokenBudget", "monthlyCostBudget",
          "monthly"),
    Limit(P.DAY, "daily_token_budget", "dailyTokenBudget", "dailyCostBudget", "daily"),
)  # fmt: skip
QUERY_PERIODS = (P.MONTH, P.DAY)  # what a search query counts against


class BudgetExhausted(ApplicationError):
    """A limit would be crossed. ``limit`` is the wire name of the limit
    (``dailyTokenBudget`` …), ``resets_at`` the UTC instant it resets (None: the total
    never does). As Problem Details: 429 with ``retryAfter`` and Retry-After."""

    status = 429
    code = "budget-exhausted"
    title = "Budget exhausted"

    def __init__(self, message: str, *, limit: str, resets_at, now: dt.datetime):
        super().__init__(message)
        self.limit, self.resets_at = limit, resets_at
        self.retry_after = (
            int((resets_at - now).total_seconds()) + 1 if resets_at else None
        )
        self.extra = {
            "limit": limit,
            "resetsAt": int(resets_at.timestamp() * 1000) if resets_at else None,
            "retryAfter": self.retry_after,
        }


@contextmanager
def asynchronous_commit():
    """A transaction that commits without waiting for its WAL flush
    (``SET LOCAL synchronous_commit = off``; PostgreSQL docs, "Asynchronous
    Commit"), for a search query's reservation and settlement: a search does not
    wait on the disk twice. A database crash can lose the last moments (at most
    3 × ``wal_writer_delay``, 600 ms by default) of such transactions — whole, never
    half of one, so usage and reservations stay consistent; a lost reservation
    holds nothing. Ingestion batches commit synchronously, with their chunks.
    Inside an outer transaction it applies to that one (SET LOCAL)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
        yield


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def period_start(period: str, now: dt.datetime) -> dt.date:
    """The first UTC day of the ``period`` holding ``now`` (EPOCH for TOTAL)."""
    day = now.astimezone(dt.UTC).date()
    return {P.TOTAL: EPOCH, P.MONTH: day.replace(day=1), P.DAY: day}[period]


def period_reset(period: str, start: dt.date) -> dt.datetime | None:
    """When the period starting ``start`` ends (UTC midnight); None for TOTAL."""
    if period == P.TOTAL:
        return None
    if period == P.DAY:
        end = start + dt.timedelta(days=1)
    else:
        end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return dt.datetime.combine(end, dt.time(), tzinfo=dt.UTC)


def exhausted_message(
    limit: Limit, start: dt.date, *, cap: int, used: int, needs: int, what: str
) -> str:
    """The documented message shape (docs/api.md "Budgets"), e.g. "The daily token
    budget (dailyTokenBudget) is exhausted: 950 of 1000 tokens used on 2026-11-29
    (UTC); this batch needs 120 more. It resets at 2026-11-30T00:00:00Z."."""
    scope = {
        P.TOTAL: "in total",
        P.MONTH: f"in {start:%Y-%m} (UTC)",
        P.DAY: f"on {start.isoformat()} (UTC)",
    }[limit.period]
    reset = period_reset(limit.period, start)
    after = (
        f"It resets at {reset:%Y-%m-%dT%H:%M:%SZ}."
        if reset
        else f"It does not reset; raise {limit.wire} to go on."
    )
    return (
        f"The {limit.label} token budget ({limit.wire}) is exhausted: {used} of "
        f"{cap} tokens used {scope}; {what} needs {needs} more. {after}"
    )


def _assets_limits_key_share(asset_ids) -> dict:
    """Asset id → its tenant and limits, the rows locked FOR KEY SHARE in id order:
    the lock order asset → usage rows of every other writer (a batch,
    ``asset_delete``), taken before the usage rows, so a delete cannot deadlock with
    a reservation. KEY SHARE blocks only a delete, not batches (NO KEY UPDATE) or
    other reservations. Assets gone are not in the result."""
    fields = ["id", "tenant_id", *(lim.field for lim in LIMITS)]
    table = Asset._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(fields)} FROM {table} WHERE id = ANY(%s) "
            "ORDER BY id FOR KEY SHARE",
            [list(asset_ids)],
        )
        rows = [dict(zip(fields, found, strict=True)) for found in cursor.fetchall()]
    return {row["id"]: row for row in rows}


def _usage_locked(asset_ids, keys) -> dict:
    """(asset id, period, start) → ``[id, used, reserved]`` of the usage rows of
    ``keys`` ((period, start) pairs), locked FOR UPDATE in one order, asset id then
    total → month → day, the order every writer of usage rows takes, so no two of
    them wait for each other in a cycle. SQL rather than the ORM: a tenant search
    locks rows of every asset, and model instances cost more than the query."""
    periods, starts = zip(*keys, strict=True) if keys else ((), ())
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, asset_id, period, start, used, reserved FROM {_USAGE} "
            "WHERE asset_id = ANY(%s) AND (period, start) IN "
            "(SELECT * FROM unnest(%s::text[], %s::date[])) ORDER BY asset_id, "
            "CASE period WHEN 'TOTAL' THEN 0 WHEN 'MONTH' THEN 1 ELSE 2 END "
            "FOR UPDATE",
            [list(asset_ids), list(periods), list(starts)],
        )
        return {(a, p, s): [i, used, held] for i, a, p, s, used, held in cursor}


def budget_reserve_many(
    *, asset_ids, tokens: int, now: dt.datetime | None = None, operation_id=None,
    periods=(P.TOTAL, P.MONTH, P.DAY), what: str = "this batch",
) -> tuple[dict, dict]:  # fmt: skip
    """Reserve ``tokens`` (an estimate, cl100k) for each asset of ``asset_ids``
    against each of its limits of ``periods`` at ``now`` (UTC): for each asset all
    or none, the assets independently, in one transaction of five statements
    whatever their number. Returns ``(reserved, refused)``: asset id → the
    BudgetReservation to settle or release, and asset id → the BudgetExhausted
    naming its first limit (total, month, day) that ``used + reserved + tokens``
    would cross. Assets gone are in neither. The usage rows are locked
    (``_usage_locked``) before they are checked, so concurrent reservations of one
    asset cannot overshoot together."""
    now = now or utc_now()
    # In LIMITS' order, total → month → day, as the rows are locked.
    keys = [(lim, period_start(lim.period, now)) for lim in LIMITS
            if lim.period in periods]  # fmt: skip
    pairs = [(lim.period, start) for lim, start in keys]
    with transaction.atomic():
        assets = _assets_limits_key_share(asset_ids)
        if not assets:
            return {}, {}
        new = [
            (row["tenant_id"], a, *pair) for a, row in assets.items() for pair in pairs
        ]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_USAGE} (tenant_id, asset_id, period, start, used, "
                "reserved) SELECT t, a, p, s, 0, 0 FROM unnest(%s::uuid[], "
                "%s::uuid[], %s::text[], %s::date[]) AS n(t, a, p, s) "
                "ON CONFLICT DO NOTHING",
                [list(column) for column in zip(*new, strict=True)],
            )
        usage = _usage_locked(assets, pairs)
        fits, refused = [], {}
        for asset_id, row in assets.items():
            for lim, start in keys:
                _, used, held = usage[asset_id, lim.period, start]
                cap = row[lim.field]
                if cap is not None and used + held + tokens > cap:
                    refused[asset_id] = BudgetExhausted(
                        exhausted_message(
                            lim, start, cap=cap, used=used + held, needs=tokens,
                            what=what,
                        ),
                        limit=lim.wire, now=now,
                        resets_at=period_reset(lim.period, start),
                    )  # fmt: skip
                    break
            else:
                fits.append(asset_id)
        if not fits:
            return {}, refused
        periods_json = [[period, start.isoformat()] for period, start in pairs]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_USAGE} SET reserved = reserved + %s WHERE id = ANY(%s)",
                [tokens, [usage[a, p, s][0] for a in fits for p, s in pairs]],
            )
            cursor.execute(
                f"INSERT INTO {BudgetReservation._meta.db_table} (asset_id, "
                "operation_id, tokens, periods, created_at) SELECT a, %s, %s, "
                "%s::jsonb, now() FROM unnest(%s::uuid[]) AS a "
                "RETURNING id, asset_id, created_at",
                [operation_id, tokens, json.dumps(periods_json), fits],
            )
            created = {
                a: BudgetReservation(
                    pk=pk, asset_id=a, operation_id=operation_id, tokens=tokens,
                    periods=periods_json, created_at=created_at,
                )
                for pk, a, created_at in cursor
            }  # fmt: skip
    return created, refused


def budget_reserve(
    *, asset_id, tokens: int, now: dt.datetime | None = None, operation_id=None,
    periods=(P.TOTAL, P.MONTH, P.DAY), what: str = "this batch",
) -> BudgetReservation | None:  # fmt: skip
    """budget_reserve_many for one asset: returns its reservation to settle or
    release, or None when the asset is gone; raises its BudgetExhausted."""
    reserved, refused = budget_reserve_many(
        asset_ids=[asset_id], tokens=tokens, now=now, operation_id=operation_id,
        periods=periods, what=what,
    )  # fmt: skip
    if asset_id in refused:
        raise refused[asset_id]
    return reserved.get(asset_id)


def _apply(settlements: list[tuple[BudgetReservation, int]]) -> None:
    """Delete each reservation's row and move its billed count into ``used``,
    giving back its estimate from ``reserved`` only when the row was still there
    (released already, by the reaper or a resume: only ``used`` moves)."""
    if not settlements:
        return
    table = BudgetReservation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE id = ANY(%s) RETURNING id",
            [[r.pk for r, _ in settlements]],
        )
        still_held = {found for (found,) in cursor.fetchall()}
    deltas: dict = {}
    for reservation, billed in settlements:
        held = reservation.tokens if reservation.pk in still_held else 0
        for period, start in reservation.periods:
            key = (reservation.asset_id, period, dt.date.fromisoformat(start))
            used, reserved = deltas.get(key, (0, 0))
            deltas[key] = (used + billed, reserved + held)
    rows = _usage_locked(
        {asset_id for asset_id, _, _ in deltas},
        {(period, start) for _, period, start in deltas},
    )
    # The asset may be gone (its rows SET NULL): then there is no row to count in.
    found = [(rows[key][0], *delta) for key, delta in deltas.items() if key in rows]
    if found:
        # One statement for any number of rows (bulk_update's CASE per row costs
        # milliseconds per row to build); the rows are locked, in order, above.
        ids, used, held = (list(column) for column in zip(*found, strict=True))
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_USAGE} AS u SET used = u.used + d.used,"
                " reserved = u.reserved - d.held FROM unnest(%s::bigint[], "
                "%s::bigint[], %s::bigint[]) AS d(id, used, held) WHERE u.id = d.id",
                [ids, used, held],
            )


def budget_record_many(
    asset_tokens: dict, *, periods=QUERY_PERIODS, now: dt.datetime | None = None
) -> None:
    """Count billed tokens (asset id → tokens) in each asset's ``periods`` at
    ``now`` (UTC) without a reservation: for assets with no limit in those periods,
    where there is nothing to check before (a search query of an asset without a
    daily or monthly limit). One statement for any number of assets; assets gone
    are skipped."""
    now = now or utc_now()
    rows = [(a, p, period_start(p, now), n) for a, n in asset_tokens.items()
            for p in periods if n]  # fmt: skip
    if not rows:
        return
    assets, kinds, starts, used = (list(column) for column in zip(*rows, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_USAGE} (tenant_id, asset_id, period, start, used, "
            "reserved) SELECT a.tenant_id, a.id, n.p, n.s, n.u, 0 FROM unnest("
            "%s::uuid[], %s::text[], %s::date[], %s::bigint[]) AS n(a, p, s, u) "
            f"JOIN {Asset._meta.db_table} a ON a.id = n.a "
            "ON CONFLICT (asset_id, period, start) DO UPDATE "
            f"SET used = {_USAGE}.used + EXCLUDED.used",
            [assets, kinds, starts, used],
        )


def budget_settle(reservation: BudgetReservation | None, *, billed: int) -> None:
    """Count ``billed`` tokens (the provider's figure) in the periods of
    ``reservation`` and free its estimate. Call it inside the transaction that
    stores what was billed, so usage commits or rolls back with it."""
    if reservation is not None:
        budget_settle_many([(reservation, billed)])


def budget_settle_many(settlements: list[tuple[BudgetReservation, int]]) -> None:
    """budget_settle for several ``(reservation, billed tokens)`` at once, in one
    transaction of a fixed number of queries (a tenant search's assets)."""
    if settlements:
        with transaction.atomic():
            _apply(settlements)


def budget_release(reservation: BudgetReservation | None) -> None:
    """Free ``reservation`` unused (its batch was not stored). Never raises: with the
    database gone, the operation's next attempt releases it."""
    if reservation is not None:
        budget_release_all([reservation])


def budget_release_all(reservations) -> None:
    """budget_release for several reservations at once; never raises."""
    settlements = [(r, 0) for r in reservations if r is not None]
    if not settlements:
        return
    try:
        with transaction.atomic():
            _apply(settlements)
    except Exception:  # noqa: BLE001 - the caller is raising its own error already
        logger.warning("%d budget reservation(s) not released", len(settlements))


def budget_release_operation(*, operation_id) -> int:
    """Release every reservation of ``operation_id`` unused, inside the caller's
    transaction (which changes the operation's status: operations_app/recovery.py),
    so the status change and the release commit together. For a worker that can no
    longer settle: lost (the reaper) or stopped and requeued. A hung worker that
    wakes later finds its row gone and gives nothing back twice (``_apply``); its
    batch cannot be stored, being fenced by ``attempt``. Raises what the database
    raises. Returns how many were released."""
    held = list(BudgetReservation.objects.filter(operation_id=operation_id))
    with transaction.atomic():
        _apply([(reservation, 0) for reservation in held])
    return len(held)


def budget_release_stale(*, asset_id, now: dt.datetime | None = None) -> int:
    """Release what no live worker or request can still settle, when an operation of
    the asset starts: reservations of operations (only one operation of an asset runs
    at a time, so any other is a lost worker's) and of search queries older than
    STALE_QUERY_SECONDS. Returns how many were released."""
    now = now or utc_now()
    stale = BudgetReservation.objects.filter(asset_id=asset_id).filter(
        Q(operation_id__isnull=False)
        | Q(created_at__lt=now - dt.timedelta(seconds=STALE_QUERY_SECONDS))
    )
    held = list(stale)
    budget_release_all(held)
    return len(held)


def budget_split(billed: int, parts: int) -> list[int]:
    """``billed`` tokens shared by ``parts`` payers in whole tokens: each gets the
    floor of the even share and the first ``billed mod parts`` one more, so the
    shares add up to ``billed`` exactly (a tenant search, docs/api.md "Budgets")."""
    share, rest = divmod(billed, parts)
    return [share + (i < rest) for i in range(parts)]


def usd_to_tokens(usd: Decimal, price_per_million: Decimal) -> int:
    """Tokens that ``usd`` buys at ``price_per_million`` USD per 1,000,000 tokens,
    rounded down. ``price_per_million`` must be > 0."""
    tokens = Decimal(usd) * Decimal(1_000_000) / Decimal(price_per_million)
    return int(tokens.to_integral_value(rounding=ROUND_FLOOR))
