"""Reads of operations, always within a tenant."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Case, OuterRef, Q, QuerySet, Subquery, When

from assets_app.models import Asset, ModelPrice, Tenant
from assets_app.selectors import _uuid
from config.errors import NotFound

from .models import ACTIVE_STATUSES, Operation, OperationDocumentFailure


def operation_list(
    *,
    tenant: Tenant,
    asset: Asset | None = None,
    status: str | None = None,
    type: str | None = None,
) -> QuerySet[Operation]:
    """The tenant's operations, newest first, optionally of one asset, status or type."""
    qs = Operation.objects.filter(tenant=tenant).select_related("asset")
    if asset is not None:
        qs = qs.filter(asset=asset)
    if status:
        qs = qs.filter(status=status)
    if type:
        qs = qs.filter(type=type)
    return qs.order_by("-created_at", "-id")


def operation_rows(
    *,
    tenant: Tenant,
    columns: Iterable[str],
    asset: Asset | None = None,
    status: str | None = None,
    type: str | None = None,
) -> QuerySet[dict]:
    """``operation_list`` as dicts of ``columns`` (Operation field names) plus
    ``price``: the asset's model price now, USD per 1,000,000 tokens (of the
    operation's own model once the asset is deleted), or None when unpriced (cost 0,
    as ``Operation.cost``).

    For pages of the API: no model instances and no asset row, and the price comes
    with each row from a subquery, not from a query of its own — about half the
    Python time of a 50-row page (bench/api.py)."""
    return (
        operation_list(tenant=tenant, asset=asset, status=status, type=type)
        .annotate(price=_asset_price())
        .values(*columns, "price")
    )


@functools.cache
def _asset_price() -> Subquery:
    """The price subquery of ``operation_rows``, built once (building it cost 0.4 ms
    a request; Django copies an expression when a query resolves it). It reads the
    asset itself: a join to it would stay in the page's ``count()`` (~4× slower)."""
    model_price = ModelPrice.objects.filter(
        provider=OuterRef("embedding_provider"), model=OuterRef("embedding_model")
    ).order_by()
    price = Asset.objects.filter(pk=OuterRef("asset_id")).annotate(
        price=Subquery(model_price.values("price_per_million_tokens")[:1])
    )
    own_model_price = ModelPrice.objects.filter(
        provider=OuterRef("embedding_provider"), model=OuterRef("embedding_model")
    ).order_by()
    return Case(
        When(
            asset_id__isnull=True,
            then=Subquery(own_model_price.values("price_per_million_tokens")[:1]),
        ),
        default=Subquery(price.values("price")[:1]),
    )


def operations_recent(
    *,
    tenant: Tenant,
    limit: int,
    asset: Asset | None = None,
    status: str | None = None,
    type: str | None = None,
) -> list[Operation]:
    """The newest ``limit`` operations of ``operation_list``, with their prices loaded
    so that rendering their ``cost`` costs no query per row."""
    operations = list(
        operation_list(tenant=tenant, asset=asset, status=status, type=type)[:limit]
    )
    operations_load_prices(operations)
    operations_load_failures(operations)
    return operations


def operation_get(*, tenant: Tenant, operation_id, asset: Asset | None = None) -> Operation:
    """Raises NotFound when missing, of another tenant, or not of ``asset``."""
    qs = Operation.objects.filter(tenant=tenant, id=_uuid(operation_id)).select_related("asset")
    if asset is not None:
        qs = qs.filter(asset=asset)
    op = qs.first()
    if op is None:
        raise NotFound("No such operation in this tenant.")
    return op


def operations_load_prices(operations) -> None:
    """Load, in one query, the model price of every asset of ``operations`` into the
    per-asset cache that ``Operation.cost`` reads (``asset_price_per_million``), so a
    page of N operations costs one price query, not N. An operation whose asset is
    deleted gets the price of its own model (``Operation.embedding_model``)."""
    assets = [op.asset for op in operations if op.asset is not None]
    orphans = [op for op in operations if op.asset is None]
    models = {(a.embedding_provider, a.embedding_model) for a in assets}
    models |= {(op.embedding_provider, op.embedding_model) for op in orphans}
    if not models:
        return
    match = Q()
    for provider, model in models:
        match |= Q(provider=provider, model=model)
    prices = {
        (p.provider, p.model): p.price_per_million_tokens
        for p in ModelPrice.objects.filter(match)
    }
    for asset in assets:
        asset._price_cache = prices.get(
            (asset.embedding_provider, asset.embedding_model), Decimal("0")
        )
    for op in orphans:
        op._price_cache = prices.get(
            (op.embedding_provider, op.embedding_model), Decimal("0")
        )


def operations_any_active(operations) -> bool:
    return any(op.status in ACTIVE_STATUSES for op in operations)


def operation_failed_documents(
    *, operation: Operation
) -> QuerySet[OperationDocumentFailure]:
    """The documents ``operation`` failed (read, parse or embed), in the order they
    failed, each with its reason and its document (whose ``status`` is what it is
    now: a later operation may have completed it). Deleted documents are not listed.
    The operation comes from ``operation_get``, so it is already tenant-checked."""
    return (
        OperationDocumentFailure.objects.filter(operation=operation)
        .select_related("document")
        .order_by("created_at", "id")
    )


def operation_retryable_document_ids(*, operation: Operation) -> list[str]:
    """Ids (str) of the documents ``operation`` failed that are still FAILED now,
    sorted: what "Retry failed documents" refreshes."""
    return sorted(
        str(i)
        for i in operation_failed_documents(operation=operation)
        .filter(document__status="FAILED")
        .values_list("document_id", flat=True)
    )


def operations_load_failures(operations, *, per_operation: int = 20) -> None:
    """Set ``failed_documents`` (at most ``per_operation`` OperationDocumentFailure
    rows with their documents) on each of ``operations``, in one query for all of
    those that counted a failure: the dashboard rows list them."""
    failing = {op.id: op for op in operations if op.documents_failed}
    for op in operations:
        op.failed_documents = []
    if not failing:
        return
    rows = (
        OperationDocumentFailure.objects.filter(operation_id__in=failing)
        .select_related("document")
        .order_by("operation_id", "created_at", "id")
    )
    for row in rows:
        listed = failing[row.operation_id].failed_documents
        if len(listed) < per_operation:
            listed.append(row)
