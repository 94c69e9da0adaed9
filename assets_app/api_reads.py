"""Reads the API renders that ``assets_app.selectors`` does not offer yet: the counts
and last operation of a page of assets in a constant number of queries, a document's
chunks, the embedding-model catalogue. Same rules as the selectors (inputs already
tenant-scoped, nothing written); kept apart only while selectors.py is edited by
others — fold them in when convenient."""

from __future__ import annotations

from django.db.models import Count, F, QuerySet

from operations_app.models import Operation
from operations_app.selectors import operations_load_prices

from .models import Asset, Chunk, Document, ModelPrice
from .selectors import asset_totals


def model_price_list() -> QuerySet[ModelPrice]:
    """Every embedding model with its price (USD per 1,000,000 tokens)."""
    return ModelPrice.objects.order_by("provider", "model", "id")


def assets_with_details(assets: list[Asset]) -> list[Asset]:
    """Set ``n_documents`` (if not annotated yet), ``n_chunks`` and ``last_operation``
    (newest by creation, or None) on each asset, in four queries whatever the number
    of assets. The operations' ``cost`` then needs no query of its own."""
    if not assets:
        return assets
    by_id = {a.id: a for a in assets}
    if not all(hasattr(a, "n_documents") for a in assets):
        docs = dict(
            Document.objects.filter(asset_id__in=by_id)
            .values("asset_id")
            .annotate(n=Count("id"))
            .values_list("asset_id", "n")
        )
        for a in assets:
            a.n_documents = docs.get(a.id, 0)
    # Counted as selectors.asset_totals counts: each document's current generation.
    chunks = dict(
        Chunk.objects.filter(
            asset_id__in=by_id, document_version=F("document__version")
        )
        .values("asset_id")
        .annotate(n=Count("id"))
        .values_list("asset_id", "n")
    )
    last_ops = list(
        Operation.objects.filter(asset_id__in=by_id)
        .order_by("asset_id", "-created_at", "-id")
        .distinct("asset_id")
    )
    for a in assets:
        a.n_chunks, a.last_operation = chunks.get(a.id, 0), None
    for op in last_ops:
        op.asset = by_id[op.asset_id]
        op.asset.last_operation = op
    operations_load_prices(last_ops)  # their cost, in one query
    return assets


def asset_with_details(asset: Asset) -> Asset:
    """One asset with ``n_documents``, ``n_chunks`` and ``last_operation`` set, counted
    as ``selectors.asset_totals`` counts them."""
    totals = asset_totals(asset=asset)
    asset.n_documents, asset.n_chunks = totals["documents"], totals["chunks"]
    op = Operation.objects.filter(asset=asset).order_by("-created_at", "-id").first()
    if op is not None:
        op.asset = asset
    asset.last_operation = op
    return asset


def chunk_list(*, document: Document) -> QuerySet[Chunk]:
    """The document's chunks of its current generation (``document.version``), in
    order. A re-embedding in progress writes the next generation, shown once the
    document completes."""
    return Chunk.objects.filter(
        document=document, document_version=document.version
    ).order_by("chunk_index", "id")
