"""Setting an asset's budget limits: the one service behind the API's ``budget`` and
``currencyBudget`` (create and PATCH), the settings form and the admin. Limits apply
at once: the next batch or search query reserves against them (budgets.py)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from config.errors import NotFound, PermissionDenied, ValidationFailed

from .budgets import LIMITS, usd_to_tokens
from .models import Asset, Membership, Role
from .selectors import model_price_get

MAX_TOKENS = 10**15  # a bound that keeps arithmetic far from bigint's range


def budget_limits_from_input(
    *, provider: str, model: str, budget: dict | None, currency_budget: dict | None
) -> dict[str, int | None]:
    """Asset field → token limit, for the members present in ``budget`` (tokens:
    ``tokenBudget``, ``monthlyTokenBudget``, ``dailyTokenBudget``) and
    ``currency_budget`` (USD: ``costBudget``, ``monthlyCostBudget``,
    ``dailyCostBudget``); None = unlimited; absent members are not in the result.

    USD is converted with the model's price (budgets.usd_to_tokens). Raises
    ValidationFailed, errors keyed by wire path: a negative or too large value, a
    USD limit for a model without a price above 0 (nothing to convert with), or one
    limit given both in tokens and in USD."""
    budget, currency_budget = budget or {}, currency_budget or {}
    limits: dict[str, int | None] = {}
    errors: dict[str, list[str]] = {}
    price_row = model_price_get(provider=provider, model=model)
    price = price_row.price_per_million_tokens if price_row else Decimal(0)
    for lim in LIMITS:
        if lim.wire in budget:
            value = budget[lim.wire]
            if value is not None and not 0 <= value <= MAX_TOKENS:
                errors[f"budget.{lim.wire}"] = [
                    f"From 0 to {MAX_TOKENS} tokens, or null."
                ]
            limits[lim.field] = value
        if lim.cost_wire in currency_budget:
            path = f"currencyBudget.{lim.cost_wire}"
            usd = currency_budget[lim.cost_wire]
            if lim.wire in budget:
                errors[path] = [f"Given also as budget.{lim.wire}; send one of them."]
            elif usd is None:
                limits[lim.field] = None
            elif usd < 0:
                errors[path] = ["At least 0 USD, or null."]
            elif price <= 0:
                errors[path] = [
                    f"{provider}/{model} has no price, so USD cannot be converted "
                    f"to tokens; set budget.{lim.wire} in tokens."
                ]
            else:
                limits[lim.field] = min(usd_to_tokens(usd, price), MAX_TOKENS)
    if errors:
        raise ValidationFailed(
            "The budget is invalid; nothing was saved.", errors=errors
        )
    return limits


def asset_set_budget(
    *, actor: Membership, asset: Asset, limits: dict[str, int | None]
) -> Asset:
    """Store ``limits`` (from budget_limits_from_input) on ``asset``; they apply to
    the next batch and search query, with no re-ingestion. Raises NotFound (other
    tenant), PermissionDenied (below EDITOR) or ValidationFailed (the asset is not
    vectorized: API.md gives such an asset no budget)."""
    if asset.tenant_id != actor.tenant_id:
        raise NotFound("No such asset in this tenant.")
    if not actor.allows(Role.EDITOR):
        raise PermissionDenied(
            f"Your role {actor.role} in this tenant cannot change asset settings."
        )
    if not limits:
        return asset
    if not asset.vectorized:
        raise ValidationFailed(
            "This asset is not vectorized, so it has no budget.",
            errors={"budget": ["Only vectorized assets have a budget."]},
        )
    with transaction.atomic():
        asset = Asset.objects.select_for_update().get(pk=asset.pk)
        for field, value in limits.items():
            setattr(asset, field, value)
        asset.save(update_fields=[*limits, "modified_at"])
    return asset
