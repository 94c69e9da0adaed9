"""Reads of billed usage and budgets (assets and tenants). Tokens are billed tokens;
cost is USD = tokens × the asset model's *current* price per 1,000,000 tokens (as
``LongOperation.cost``, API.md), Decimal; days and months are UTC (budgets.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, Q, Sum
from django.db.models.functions import Coalesce

from operations_app.models import operation_cost

from .budgets import LIMITS, Limit, P, period_reset, period_start, utc_now
from .models import Asset, BudgetUsage, ModelPrice, Tenant
from .selectors import asset_price_per_million, asset_totals

SERIES_DAYS = 30


def _used(rows, now: dt.datetime) -> dict[str, int]:
    """Period → used tokens of the periods holding ``now``, from BudgetUsage rows."""
    current = {p: period_start(p, now) for p in (P.TOTAL, P.MONTH, P.DAY)}
    used = dict.fromkeys(current, 0)
    for period, start, tokens in rows:
        if current[period] == start:
            used[period] += tokens
    return used


def _current_rows(now: dt.datetime) -> Q:
    return (
        Q(period=P.TOTAL)
        | Q(period=P.MONTH, start=period_start(P.MONTH, now))
        | Q(period=P.DAY, start=period_start(P.DAY, now))
    )


def asset_budget(asset: Asset, *, now: dt.datetime | None = None) -> dict | None:
    """API.md's ``budget`` object of ``asset`` at ``now`` (UTC), None when not
    vectorized. Token limits as stored (null: unlimited); the cost limits are the
    token limits × the current price (USD); ``*Used`` of the UTC month and day."""
    if not asset.vectorized:
        return None
    now = now or utc_now()
    rows = getattr(asset, "_budget_rows", None)
    if rows is None:
        rows = BudgetUsage.objects.filter(_current_rows(now), asset=asset)
        rows = rows.values_list("period", "start", "used")
    used = _used(rows, now)
    price = asset_price_per_million(asset)
    data: dict = {}
    for lim in LIMITS:
        cap = getattr(asset, lim.field)
        data[lim.wire] = cap
        data[lim.cost_wire] = None if cap is None else operation_cost(cap, price)
    return {
        **data,
        "totalTokenCount": used[P.TOTAL],
        "monthlyTokensUsed": used[P.MONTH],
        "dailyTokensUsed": used[P.DAY],
        "totalCost": operation_cost(used[P.TOTAL], price),
        "monthlyCostUsed": operation_cost(used[P.MONTH], price),
        "dailyCostUsed": operation_cost(used[P.DAY], price),
        "pricePerMillionTokens": price,
    }


@dataclass(frozen=True)
class BudgetLeft:
    """What the tightest of an asset's limits leaves: ``tokens`` (>= 0) below
    ``limit`` (budgets.LIMITS) now, ``resets_at`` when that limit resets (UTC; None
    for the total, which never does)."""

    tokens: int
    limit: Limit
    resets_at: dt.datetime | None


def asset_budget_left(
    asset: Asset, *, now: dt.datetime | None = None,
    periods=(P.TOTAL, P.MONTH, P.DAY),
) -> BudgetLeft | None:  # fmt: skip
    """The smallest ``limit − used − reserved`` (tokens, at least 0) over the limits
    of ``periods`` that ``asset`` has at ``now`` (UTC): what the next reservation can
    still take (budgets.budget_reserve checks the same sum). Cost limits are stored
    as token limits (budget_limits.py), so they are among them. None when the asset
    is not vectorized or none of those limits is set (unlimited). On a tie the
    limit listed first in LIMITS (total, month, day) is named."""
    caps = [(lim, getattr(asset, lim.field)) for lim in LIMITS
            if lim.period in periods]  # fmt: skip
    caps = [(lim, cap) for lim, cap in caps if cap is not None]
    if not asset.vectorized or not caps:
        return None
    now = now or utc_now()
    rows = BudgetUsage.objects.filter(_current_rows(now), asset=asset)
    held = _used(
        rows.annotate(held=F("used") + F("reserved")).values_list(
            "period", "start", "held"
        ),
        now,
    )
    left, lim = min(
        ((max(0, cap - held[lim.period]), lim) for lim, cap in caps),
        key=lambda pair: pair[0],
    )
    return BudgetLeft(
        tokens=left, limit=lim,
        resets_at=period_reset(lim.period, period_start(lim.period, now)),
    )  # fmt: skip


def assets_load_budgets(assets: list[Asset], *, now: dt.datetime | None = None):
    """Load the current usage rows and model prices of ``assets`` in two queries, so
    rendering their ``budget`` costs none per asset (a page of the asset list)."""
    now = now or utc_now()
    rows: dict = {a.id: [] for a in assets}
    for asset_id, *row in BudgetUsage.objects.filter(
        _current_rows(now), asset_id__in=list(rows)
    ).values_list("asset_id", "period", "start", "used"):
        rows[asset_id].append(row)
    prices = {
        (p.provider, p.model): p.price_per_million_tokens
        for p in ModelPrice.objects.all()
    }
    for asset in assets:
        asset._budget_rows = rows[asset.id]
        asset._price_cache = prices.get(
            (asset.embedding_provider, asset.embedding_model), Decimal(0)
        )
    return assets


def _series(rows, prices: dict, now: dt.datetime, days: int) -> list[dict]:
    """``days`` UTC days ending today, oldest first, days without usage included."""
    today = period_start(P.DAY, now)
    first = today - dt.timedelta(days=days - 1)
    series = {first + dt.timedelta(days=i): [0, Decimal(0)] for i in range(days)}
    for asset_id, start, tokens in rows:
        if start in series:
            series[start][0] += tokens
            series[start][1] += operation_cost(tokens, prices.get(asset_id))
    return [{"date": d, "tokens": t, "cost": c} for d, (t, c) in series.items()]


def _day_rows(now: dt.datetime, days: int, **filters):
    first = period_start(P.DAY, now) - dt.timedelta(days=days - 1)
    return BudgetUsage.objects.filter(period=P.DAY, start__gte=first, **filters)


def asset_usage(
    asset: Asset, *, now: dt.datetime | None = None, days: int = SERIES_DAYS
) -> dict:
    """``GET …/assets/{asset}/usage``: ``totalTokenCount`` (ingestion tokens billed,
    ever), ``totalChunkCount`` and ``documentCount`` (stored now),
    ``operationCount``, ``totalCost`` (USD) and ``daily``: ``days`` UTC days ending
    today, oldest first, each ``{date, tokens, cost}`` with ingestion and search
    query tokens, zero days included."""
    now = now or utc_now()
    price = asset_price_per_million(asset)
    total = BudgetUsage.objects.filter(asset=asset, period=P.TOTAL).aggregate(
        t=Coalesce(Sum("used"), 0)
    )["t"]
    stored = asset_totals(asset=asset)
    rows = _day_rows(now, days, asset=asset).values_list("asset_id", "start", "used")
    return {
        "assetId": asset.id,
        "totalTokenCount": total,
        "totalChunkCount": stored["chunks"],
        "documentCount": stored["documents"],
        "operationCount": asset.operations.count(),
        "totalCost": operation_cost(total, price),
        "daily": _series(rows, {asset.id: price}, now, days),
    }


def tenant_usage(
    tenant: Tenant, *, now: dt.datetime | None = None, days: int = SERIES_DAYS
) -> dict:
    """The tenant's totals, read-only (API.md defines budgets per asset only):
    ``totalTokens`` (ingestion, ever), ``monthlyTokens``, ``dailyTokens`` (UTC,
    ingestion + search) and the same as ``*Cost`` (USD; tokens of deleted assets
    cost 0, as their operations do) and ``daily`` as in asset_usage. Counts the
    tenant's deleted assets too."""
    now = now or utc_now()
    prices = {
        a.id: asset_price_per_million(a) for a in Asset.objects.filter(tenant=tenant)
    }
    current = BudgetUsage.objects.filter(_current_rows(now), tenant=tenant)
    totals = {}
    for name, period in (("total", P.TOTAL), ("monthly", P.MONTH), ("daily", P.DAY)):
        rows = [r for r in current.values_list("period", "asset_id", "used")
                if r[0] == period]  # fmt: skip
        totals[f"{name}Tokens"] = sum(r[2] for r in rows)
        totals[f"{name}Cost"] = sum(
            (operation_cost(r[2], prices.get(r[1])) for r in rows), Decimal(0)
        )
    rows = _day_rows(now, days, tenant=tenant).values_list("asset_id", "start", "used")
    return {**totals, "daily": _series(rows, prices, now, days)}
