"""Filtered VECTOR search through the HNSW index: an asset holding 1% of all chunks
still gets its top k, thanks to pgvector's iterative index scan — checked on the
plan (EXPLAIN) and against exact search."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from assets_app.models import Chunk, Document, DocumentStatus
from assets_app.search import vector_queryset, vector_ranking
from tests.factories import AssetFactory
from tests.search_corpus import clustered_vectors

pytestmark = pytest.mark.django_db

TOTAL, SMALL, K = 4_040, 40, 10  # the small asset holds 1% of the chunks


def _fill(asset, vectors, first_index=0) -> None:
    document = Document.objects.create(
        asset=asset, source_key="k", file_name="k", content_type="text/plain",
        version=1, status=DocumentStatus.COMPLETED,
    )  # fmt: skip
    Chunk.objects.bulk_create(
        (
            Chunk(
                asset=asset,
                document=document,
                document_version=1,
                chunk_index=i,
                content=f"chunk {first_index + i}",
                token_count=2,
                start_char_idx=0,
                end_char_idx=8,
                start_line=1,
                end_line=1,
                embedding=v,
                embedding_dimensions=384,
            )  # fmt: skip
            for i, v in enumerate(vectors)
        ),
        batch_size=1000,
    )


@pytest.fixture
def one_percent(tenant):
    vectors = clustered_vectors(TOTAL + 5)
    big, small = AssetFactory(tenant=tenant), AssetFactory(tenant=tenant)
    _fill(big, vectors[: TOTAL - SMALL])
    _fill(small, vectors[TOTAL - SMALL : TOTAL])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE assets_app_chunk; ANALYZE assets_app_document")
    return {"small": small, "queries": vectors[TOTAL:]}


def _force_index_path(cursor) -> None:
    """With so few rows the planner rightly prefers the exact plan (B-tree on the
    asset, then sort). Penalising sorts leaves the HNSW scan as the only ordered
    path, so the test exercises what a large table gets."""
    cursor.execute("SET LOCAL enable_sort = off")


def test_filtered_search_through_hnsw_returns_top_k_close_to_exact(one_percent):
    small = [one_percent["small"].id]
    recalls = []
    with transaction.atomic(), connection.cursor() as cursor:
        _force_index_path(cursor)
        for q in one_percent["queries"]:
            plan = vector_queryset(
                asset_ids=small, dimensions=384, vector=q, exact=False
            )[:K].explain()
            assert "Index Scan using chunk_embedding_hnsw_384_ef128" in plan
            with CaptureQueriesContext(connection) as queries:
                approx = vector_ranking(
                    asset_ids=small, dimensions=384, vector=q, limit=K
                )
            # One index scan filled the limit: no exact re-run.
            assert sum("<=>" in query["sql"] for query in queries) == 1
            assert len(approx) == K
            exact = vector_ranking(
                asset_ids=small, dimensions=384, vector=q, limit=K, exact=True
            )
            recalls.append(len({i for i, _ in approx} & {i for i, _ in exact}) / K)
    assert sum(recalls) / len(recalls) >= 0.9, recalls


def test_without_iterative_scan_the_same_plan_loses_results(one_percent):
    """What the iterative scan is for: the plain HNSW scan yields ef_search
    candidates, 1% of which belong to the asset."""
    small, q = [one_percent["small"].id], one_percent["queries"][0]
    with transaction.atomic(), connection.cursor() as cursor:
        _force_index_path(cursor)
        cursor.execute("SET LOCAL hnsw.iterative_scan = off")
        cursor.execute("SET LOCAL hnsw.ef_search = 40")
        qs = vector_queryset(asset_ids=small, dimensions=384, vector=q, exact=False)
        assert len(list(qs[:K])) < K


def test_the_planners_own_choice_returns_top_k_too(one_percent):
    small, q = [one_percent["small"].id], one_percent["queries"][1]
    assert len(vector_ranking(asset_ids=small, dimensions=384, vector=q, limit=K)) == K
