"""API.md's asset ``budget`` object on the wire: its OpenAPI schema and rendering
(USD members as JSON numbers, like ``LongOperation.cost``)."""

from __future__ import annotations

from .usage import asset_budget

USD_MEMBERS = (
    "costBudget", "monthlyCostBudget", "dailyCostBudget", "totalCost",
    "monthlyCostUsed", "dailyCostUsed", "pricePerMillionTokens",
)  # fmt: skip
_TOKENS = {"type": "integer", "format": "int64"}
_USD = {"type": "number", "description": "USD"}
BUDGET_SCHEMA = {
    "type": "object", "nullable": True,
    "description": "Null when not vectorized. Limits null: unlimited; cost limits are "
    "the token limits × the current price; *Used: the current UTC month and day.",
    "properties": {
        **{n: {**_TOKENS, "nullable": True} for n in
           ("tokenBudget", "monthlyTokenBudget", "dailyTokenBudget")},
        **{n: _TOKENS for n in
           ("totalTokenCount", "monthlyTokensUsed", "dailyTokensUsed")},
        **{n: {**_USD, "nullable": True} for n in
           ("costBudget", "monthlyCostBudget", "dailyCostBudget")},
        **{n: _USD for n in ("totalCost", "monthlyCostUsed", "dailyCostUsed",
                             "pricePerMillionTokens")},
    },
}  # fmt: skip


def budget_wire(asset) -> dict | None:
    """The ``budget`` member of an asset (usage.asset_budget), null when the asset
    is not vectorized."""
    data = asset_budget(asset)
    if data is not None:
        for name in USD_MEMBERS:
            value = data[name]
            data[name] = None if value is None else float(round(value, 10))
    return data
