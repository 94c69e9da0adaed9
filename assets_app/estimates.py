"""The pre-run cost estimate (issue 5): ``POST …/assets/{asset}:estimate`` and the
dashboard's "Estimate" button, one core for both. A read: it writes nothing
(assets_app/ingestion/plan.py says what it reads of the source and how it is
bounded)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from config.errors import ApplicationError
from operations_app.models import operation_cost

from .ingestion.plan import Estimate, estimate_refresh
from .ingestion.switch import index_pending
from .models import Asset, Membership, Role
from .selectors import asset_price_per_million, model_price_get
from .services import (
    _model_change,
    _require_for_asset,
    asset_update_settings,
    document_ids_checked,
)
from .sources import SourceError
from .usage import BudgetLeft, asset_budget_left


class SourceUnreadable(ApplicationError):
    status = 422
    code = "source-unreadable"
    title = "The source cannot be read"


@dataclass
class CostEstimate:
    """An Estimate (plan.py: counts in documents, ``tokens``, ``bytes_read``) with
    its price: ``price_per_million`` and ``cost`` in USD (Decimal, as an operation's
    cost) of the model the run would embed with (``provider``/``model``: a proposed
    new one, else the asset's), and ``budget``: what the asset's tightest limit
    (total, monthly, daily; USD limits are stored as tokens) leaves now, None when it
    has no limit (usage.asset_budget_left)."""

    asset_id: object  # UUID
    reindex: bool  # the estimate is of the REINDEX new settings would start
    estimate: Estimate
    provider: str
    model: str
    price_per_million: Decimal
    cost: Decimal
    budget: BudgetLeft | None = None

    @property
    def budget_left(self) -> int | None:
        """Tokens the tightest limit leaves before this run; None: unlimited."""
        return None if self.budget is None else self.budget.tokens

    @property
    def budget_limit(self) -> str | None:
        """That limit's wire name (``dailyTokenBudget`` …), as a 429's ``limit``."""
        return None if self.budget is None else self.budget.limit.wire

    @property
    def fits_budget(self) -> bool:
        """The run's tokens fit in every limit. When they do not, the refresh stores
        the batches that fit and ends FAILED at the first that would cross (API.md
        "Budgets")."""
        return self.budget is None or self.estimate.tokens <= self.budget.tokens


def asset_estimate(
    *, actor: Membership, asset: Asset, document_ids: list | None = None,
    force: bool = False, chunk_size: int | None = None,
    chunk_overlap: int | None = None, embedding_provider: str | None = None,
    embedding_model: str | None = None, embedding_dimensions: int | None = None,
) -> CostEstimate:  # fmt: skip
    """The dry run of a refresh of ``asset``; with proposed settings (``chunk_size``
    / ``chunk_overlap`` in tokens, ``embedding_provider`` / ``embedding_model`` /
    ``embedding_dimensions``), of the REINDEX they would start, priced with the
    proposed model. EDITOR or ADMIN: it may fetch from the source. Raises NotFound
    (another tenant's asset), PermissionDenied (VIEWER), ValidationFailed (bad
    document ids, or settings asset_update_settings would refuse, keyed as it keys
    them) and SourceUnreadable (422: the source as a whole cannot be listed)."""
    _require_for_asset(actor, asset, Role.EDITOR, "estimate refreshes")
    ids = document_ids_checked(asset=asset, document_ids=document_ids)
    model = {
        "embedding_provider": asset.embedding_provider,
        "embedding_model": asset.embedding_model,
    }
    proposed = {
        "embedding_provider": embedding_provider, "embedding_model": embedding_model,
        "embedding_dimensions": embedding_dimensions, "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap,
    }  # fmt: skip
    # A re-index that is pending (cancelled, failed) makes the next refresh one
    # (ingestion/switch.py); plan.py then counts every document.
    reindex = asset.vectorized and index_pending(asset)
    if any(v is not None for v in proposed.values()):
        # The checks of the change itself (role, model, chunking), nothing saved.
        asset_update_settings(actor=actor, asset=asset, dry_run=True, **proposed)
        new_model = _model_change(
            asset, embedding_provider, embedding_model, embedding_dimensions
        )
        chunk_size = asset.chunk_size if chunk_size is None else chunk_size
        chunk_overlap = asset.chunk_overlap if chunk_overlap is None else chunk_overlap
        rechunk = (chunk_size, chunk_overlap) != (asset.chunk_size, asset.chunk_overlap)
        reindex = reindex or rechunk or new_model is not None
        model.update(new_model or {})
    try:
        est = estimate_refresh(
            asset=asset, force=force, document_ids=ids,
            # Chunking given: plan.py estimates a REINDEX (every document embedded).
            chunk_size=chunk_size if reindex else None,
            chunk_overlap=chunk_overlap if reindex else None,
        )  # fmt: skip
    except SourceError as exc:
        raise SourceUnreadable(str(exc)) from exc
    if (model["embedding_provider"], model["embedding_model"]) == (
        asset.embedding_provider, asset.embedding_model,
    ):  # fmt: skip
        price = asset_price_per_million(asset)
    else:
        row = model_price_get(
            provider=model["embedding_provider"], model=model["embedding_model"]
        )
        price = row.price_per_million_tokens
    return CostEstimate(
        asset_id=asset.id, reindex=reindex, estimate=est,
        provider=model["embedding_provider"], model=model["embedding_model"],
        price_per_million=price, cost=operation_cost(est.tokens, price),
        budget=asset_budget_left(asset),
    )  # fmt: skip
