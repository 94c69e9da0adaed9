"""VECTOR ranking: cosine distance on pgvector's partial HNSW indexes.

The embedding column has no fixed dimension; migration 0003 indexes
``embedding::vector(d)`` (``halfvec(d)`` above 2,000 dimensions) per dimension ``d``,
partial on ``embedding_dimensions = d``. A query uses such an index only when its
ORDER BY is the same cast expression and its WHERE names ``d`` as a literal (the
planner must prove the partial predicate; Django binds parameters client-side, so the
integer arrives as one).

Filtering by asset after an approximate index scan would lose results (the scan
yields ``hnsw.ef_search`` candidates, most of them of other assets), so the scan runs
with ``hnsw.iterative_scan = relaxed_order`` (pgvector ≥ 0.8, README "Iterative Index
Scans"): it goes on until the LIMIT is filled with rows that pass the filters (asset,
current generation) or ``hnsw.max_scan_tuples`` (20,000) are visited. Relaxed order
may return rows slightly out of order, so they are re-sorted here. Should the scan
still come back short, the same query runs exactly (no index) — that happens for
assets too small to fill ``limit`` anyway, where exact search is cheap. The planner
may also pick the exact plan on its own (B-tree on the asset, then sort) when it
expects few rows."""

from __future__ import annotations

import math

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Cast
from pgvector.django import CosineDistance, HalfVectorField, VectorField

from ..selectors import current_chunks
from .fusion import Ranking

HALFVEC_ABOVE = 2000  # HNSW's limit for vector; migration 0003 indexes halfvec above


def ef_search() -> int:
    """Candidates the HNSW scan keeps per step (``hnsw.ef_search``; pgvector's
    default is 40). bench/search.py measured recall@10 with it."""
    return int(settings.RAGDESK_HNSW_EF_SEARCH)


def _indexed(dimensions: int):
    """The expression the dimension's HNSW index is built on."""
    field = (
        VectorField(dimensions=dimensions)
        if dimensions <= HALFVEC_ABOVE
        else HalfVectorField(dimensions=dimensions)
    )
    return Cast("embedding", field)


def vector_queryset(*, asset_ids, dimensions: int, vector: list[float], exact: bool):
    """Current chunks of ``asset_ids`` with ``distance`` (cosine, 0…2), nearest first:
    through the HNSW index, or ``exact`` (an expression no index matches)."""
    column = F("embedding") if exact else _indexed(dimensions)
    return (
        current_chunks()
        .filter(asset_id__in=asset_ids, embedding_dimensions=dimensions)
        .annotate(distance=CosineDistance(column, vector))
        .order_by("distance")
    )


def vector_ranking(
    *, asset_ids, dimensions: int, vector: list[float], limit: int, exact=False
) -> Ranking:
    """The ``limit`` current chunks of ``asset_ids`` nearest to ``vector`` (of
    ``dimensions`` floats) as ``[(chunk_id, cosine similarity)]``, best first;
    similarity = 1 − cosine distance, in [−1, 1]. A zero query vector (the built-in
    embedder's for a query without words) and zero chunk vectors have no direction:
    they match nothing. ``exact`` skips the index (for ground truth)."""
    if not asset_ids or not any(vector):
        return []
    qs = vector_queryset(
        asset_ids=asset_ids, dimensions=dimensions, vector=vector, exact=exact
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if not exact:  # SET LOCAL: only for this transaction
            cursor.execute(
                "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
                "set_config('hnsw.ef_search', %s, true)",
                [str(max(ef_search(), limit))],
            )
        rows = list(qs.values_list("id", "distance")[:limit])
    if len(rows) < limit and not exact:
        return vector_ranking(
            asset_ids=asset_ids, dimensions=dimensions, vector=vector, limit=limit,
            exact=True,
        )  # fmt: skip
    ranked = sorted(
        (d, str(i), i) for i, d in rows if d is not None and not math.isnan(d)
    )
    return [(i, 1.0 - d) for d, _, i in ranked]
