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
  chunks' cl100k tokens) to ``BudgetUsage.reserved`` of each period with a conditional
  ``UPDATE … SET reserved = reserved + n WHERE used + reserved + n <= limit``; the
  row lock it takes serializes concurrent reservations and PostgreSQL re-checks the
  WHERE on the row as committed. ``budget_settle`` (in the transaction that stores
  the batch) moves the provider's billed count into ``used``; ``budget_release``
  gives the estimate back when the batch is not stored. A ``BudgetReservation`` row
  per reservation makes settling or releasing happen once, and lets the reaper
  release what a lost worker held when it requeues or ends the operation
  (``budget_release_operation``), with the next operation of the asset as a second
  net (``budget_release_stale``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from django.db import connection, transaction
from django.db.models import F, Q, Value

from config.errors import ApplicationError

from .models import Asset, BudgetReservation, BudgetUsage, UsagePeriod

logger = logging.getLogger("ragdesk.budgets")
P = UsagePeriod
EPOCH = dt.date(1970, 1, 1)
STALE_QUERY_SECONDS = 600  # a search holds its reservation for about a second


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


def _asset_limits_key_share(asset_id) -> dict | None:
    """The asset's tenant and limits, locked FOR KEY SHARE: the lock order asset →
    usage rows of every other writer (a batch, ``asset_delete``), taken before the
    usage rows, so a delete cannot deadlock with a reservation. KEY SHARE blocks only
    a delete, not batches (NO KEY UPDATE) or other reservations."""
    fields = ["tenant_id", *(lim.field for lim in LIMITS)]
    table = Asset._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(fields)} FROM {table} WHERE id = %s FOR KEY SHARE",
            [asset_id],
        )
        found = cursor.fetchone()
    return None if found is None else dict(zip(fields, found, strict=True))


def budget_reserve(
    *, asset_id, tokens: int, now: dt.datetime | None = None, operation_id=None,
    periods=(P.TOTAL, P.MONTH, P.DAY), what: str = "this batch",
) -> BudgetReservation | None:  # fmt: skip
    """Reserve ``tokens`` (an estimate, cl100k) against each of the asset's limits of
    ``periods`` at ``now`` (UTC), all or none. Returns the reservation to settle or
    release, or None when the asset is gone. Raises BudgetExhausted naming the first
    limit (total, month, day) that ``used + reserved + tokens`` would cross."""
    now = now or utc_now()
    with transaction.atomic():
        row = _asset_limits_key_share(asset_id)
        if row is None:
            return None
        keys = [(lim, period_start(lim.period, now)) for lim in LIMITS
                if lim.period in periods]  # fmt: skip
        BudgetUsage.objects.bulk_create(
            [BudgetUsage(tenant_id=row["tenant_id"], asset_id=asset_id,
                         period=lim.period, start=start) for lim, start in keys],
            ignore_conflicts=True,
        )  # fmt: skip
        for lim, start in keys:  # always total → month → day: no lock cycles
            rows = BudgetUsage.objects.filter(
                asset_id=asset_id, period=lim.period, start=start
            )
            cap = row[lim.field]
            if cap is not None:
                rows = rows.filter(used__lte=Value(cap - tokens) - F("reserved"))
            if not rows.update(reserved=F("reserved") + tokens):
                usage = BudgetUsage.objects.get(
                    asset_id=asset_id, period=lim.period, start=start
                )
                message = exhausted_message(
                    lim, start, cap=cap, used=usage.used + usage.reserved,
                    needs=tokens, what=what,
                )  # fmt: skip
                raise BudgetExhausted(
                    message, limit=lim.wire, now=now,
                    resets_at=period_reset(lim.period, start),
                )  # fmt: skip
        return BudgetReservation.objects.create(
            asset_id=asset_id, operation_id=operation_id, tokens=tokens,
            periods=[[lim.period, start.isoformat()] for lim, start in keys],
        )  # fmt: skip


def _apply(reservation: BudgetReservation, *, billed: int) -> None:
    deleted, _ = BudgetReservation.objects.filter(pk=reservation.pk).delete()
    held = reservation.tokens if deleted else 0  # released already by a resume
    for period, start in reservation.periods:
        BudgetUsage.objects.filter(
            asset_id=reservation.asset_id, period=period, start=start
        ).update(used=F("used") + billed, reserved=F("reserved") - held)


def budget_settle(reservation: BudgetReservation | None, *, billed: int) -> None:
    """Count ``billed`` tokens (the provider's figure) in the periods of
    ``reservation`` and free its estimate. Call it inside the transaction that
    stores what was billed, so usage commits or rolls back with it."""
    if reservation is not None:
        with transaction.atomic():
            _apply(reservation, billed=billed)


def budget_release(reservation: BudgetReservation | None) -> None:
    """Free ``reservation`` unused (its batch was not stored). Never raises: with the
    database gone, the operation's next attempt releases it."""
    if reservation is None:
        return
    try:
        with transaction.atomic():
            _apply(reservation, billed=0)
    except Exception:  # noqa: BLE001 - the caller is raising its own error already
        logger.warning("budget reservation %s not released", reservation.pk)


def budget_release_operation(*, operation_id) -> int:
    """Release every reservation of ``operation_id`` unused, inside the caller's
    transaction (which changes the operation's status: operations_app/recovery.py),
    so the status change and the release commit together. For a worker that can no
    longer settle: lost (the reaper) or stopped and requeued. A hung worker that
    wakes later finds its row gone and gives nothing back twice (``_apply``); its
    batch cannot be stored, being fenced by ``attempt``. Raises what the database
    raises. Returns how many were released."""
    held = BudgetReservation.objects.filter(operation_id=operation_id).order_by("pk")
    released = 0
    with transaction.atomic():
        for reservation in held:
            _apply(reservation, billed=0)
            released += 1
    return released


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
    for reservation in held:
        budget_release(reservation)
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
