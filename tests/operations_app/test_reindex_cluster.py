"""Re-index switch-over (issue 6) on a real ``qcluster``: a REINDEX into another
model of other dimensions, against a slow local OpenAI-compatible server
(tests/embedding_server.py). While it runs, the current chunks and search results
are all of the old index (model, dimensions, chunk ids); after COMPLETED all of the
new one; a cancelled REINDEX leaves the old index exactly in place. The consistency
check (``manage.py check_consistency``) is clean after each."""

from __future__ import annotations

from decimal import Decimal

import pytest

from assets_app.models import Asset, Chunk, Document, ModelPrice
from assets_app.search import SearchMode, SearchParams, search_asset
from assets_app.selectors import current_chunks
from operations_app.consistency import consistency_check
from operations_app.models import Operation, OperationStatus, OperationType
from operations_app.services import operation_create, operation_request_cancel
from tests.cluster import running_qcluster
from tests.conftest import upload

from .test_tasks import (  # noqa: F401 - openai_price is a fixture
    OPENAI,
    create_asset,
    openai_price,
    prose,
    wait_status,
    wait_until,
)

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
S = OperationStatus
LARGE = ("openai", "text-embedding-3-large", 3072)


@pytest.fixture
def large_price():
    """The model re-indexed into: another dimension (3072, halfvec HNSW index)."""
    provider, model, dimensions = LARGE
    price, _ = ModelPrice.objects.update_or_create(
        provider=provider, model=model,
        defaults={"dimensions": dimensions, "max_input_tokens": 8191,
                  "price_per_million_tokens": Decimal("0.13")},
    )  # fmt: skip
    return price


@pytest.fixture
def cluster(transactional_db, embedding_server, tmp_path, monkeypatch):
    # The test process searches too: its query embedder talks to the same server.
    monkeypatch.setenv("RAGDESK_OPENAI_BASE_URL", embedding_server.base_url)
    env = {
        "RAGDESK_OPENAI_BASE_URL": embedding_server.base_url,
        "RAGDESK_EMBED_BATCH_SIZE": "8",
    }
    with running_qcluster(log_path=tmp_path / "qcluster.log", env=env, workers=1) as c:
        yield c


def _indexed(member, cluster, embedding_server):
    """An asset of eight documents in text-embedding-3-small (1536), ingested."""
    asset, op = create_asset(
        member,
        [upload(f"doc{i}.txt", prose(seed=i, paragraphs=30)) for i in range(8)],
        **OPENAI,
    )
    wait_status(op, S.COMPLETED, timeout=60, cluster=cluster)
    return Asset.objects.get(pk=asset.pk)


def _start_reindex_into_large(asset, embedding_server) -> Operation:
    """What a PATCH of ``embedding.model`` does: the target changes at once and a
    REINDEX starts. The provider answers slowly so that the run takes seconds."""
    embedding_server.delay, embedding_server.delay_per_input = 0.3, 0.02
    provider, model, dimensions = LARGE
    Asset.objects.filter(pk=asset.pk).update(
        embedding_provider=provider, embedding_model=model,
        embedding_dimensions=dimensions,
    )  # fmt: skip
    return operation_create(
        asset=Asset.objects.get(pk=asset.pk), type=OperationType.REINDEX,
        created_by="alice",
    )  # fmt: skip


def _index(asset) -> dict:
    """What search answers from: current chunk ids and their dimensions."""
    rows = (
        current_chunks().filter(asset=asset).values_list("id", "embedding_dimensions")
    )
    return {"ids": {i for i, _ in rows}, "dims": {d for _, d in rows}}


def _search(member, asset, mode=SearchMode.VECTOR, query="river lantern map orchard"):
    """The ids of the top 10 hits. The test server's vectors are hashes of the text:
    most chunks tie at a similarity of about 0 with any query, so which of them
    fill the list may change with the plan; compare these as sets of the index
    they come from, and use ``_probe`` for an answer that must not change."""
    params = SearchParams(query=query, mode=mode, top_k=10)
    asset = Asset.objects.get(pk=asset.pk)
    return [
        h.chunk.id for h in search_asset(actor=member, asset=asset, params=params).hits
    ]


def _probe(asset) -> tuple:
    """(id, content) of one current chunk: searching its exact content finds it
    first (similarity 1), as long as search answers from the index it is in."""
    return current_chunks().filter(asset=asset).order_by("id").values_list(
        "id", "content")[0]  # fmt: skip


def _staged(asset) -> int:
    return Document.objects.filter(asset=asset, staged_version__gt=0).count()


def _consistent():
    report = consistency_check(stale_after_seconds=120)
    assert report.ok, report.violations


def test_reindex_into_another_dimension_serves_the_old_index_until_completed(
    cluster,
    embedding_server,
    editor_member,
    openai_price,  # noqa: F811
    large_price,
):
    asset = _indexed(editor_member, cluster, embedding_server)
    old = _index(asset)
    old_vector, old_hybrid = (
        _search(editor_member, asset),
        _search(editor_member, asset, SearchMode.HYBRID),
    )
    assert old["dims"] == {1536} and old_vector and set(old_vector) <= old["ids"]
    probe_id, probe_text = _probe(asset)
    assert _search(editor_member, asset, query=probe_text)[0] == probe_id
    _consistent()

    op = _start_reindex_into_large(asset, embedding_server)
    wait_until(lambda: _staged(asset) >= 1, timeout=60, cluster=cluster,
               what="a document staged")  # fmt: skip
    looks = 0
    while Operation.objects.get(pk=op.pk).status in (S.PENDING, S.RUNNING):
        now = _index(asset)
        vector = _search(editor_member, asset)
        if Operation.objects.get(pk=op.pk).status != S.RUNNING:
            break  # switched meanwhile: this look may be of either side
        assert now == old, "the current chunks are the old index's"
        top = _search(editor_member, asset, query=probe_text)[0]
        assert vector and set(vector) <= old["ids"], "search answers from the old index"
        assert top == probe_id, "search answers from the old index"
        looks += 1
    assert looks >= 2
    op.refresh_from_db()
    assert op.status == S.COMPLETED, op.error_message

    new = _index(asset)
    assert new["dims"] == {3072} and not new["ids"] & old["ids"]
    assert (
        set(Chunk.objects.filter(asset=asset).values_list("id", flat=True))
        == new["ids"]
    )
    asset.refresh_from_db()
    assert (asset.index_model, asset.index_dimensions) == (
        "text-embedding-3-large",
        3072,
    )
    for mode in (SearchMode.VECTOR, SearchMode.HYBRID):
        hits = _search(editor_member, asset, mode)
        assert hits and set(hits) <= new["ids"]
    assert embedding_server.snapshot()[-1].model == "text-embedding-3-large"
    assert old_hybrid
    _consistent()


def test_cancelled_reindex_leaves_the_old_index_exactly_in_place(
    cluster,
    embedding_server,
    editor_member,
    openai_price,  # noqa: F811
    large_price,
):
    asset = _indexed(editor_member, cluster, embedding_server)
    old = _index(asset)
    old_hits = {
        mode: _search(editor_member, asset, mode)
        for mode in (SearchMode.VECTOR, SearchMode.HYBRID, SearchMode.FULL_TEXT)
    }
    documents = set(
        Document.objects.filter(asset=asset).values_list("id", "version", "chunk_count")
    )

    op = _start_reindex_into_large(asset, embedding_server)
    wait_until(lambda: _staged(asset) >= 1, timeout=60, cluster=cluster,
               what="a document staged")  # fmt: skip
    operation_request_cancel(operation=op, actor="alice")
    wait_status(op, S.CANCELLED, timeout=30, cluster=cluster)

    assert _index(asset) == old
    probe_id, probe_text = _probe(asset)
    for mode, hits in old_hits.items():
        again = _search(editor_member, asset, mode)
        assert len(again) == len(hits) and set(again) <= old["ids"], mode
    assert _search(editor_member, asset, query=probe_text)[0] == probe_id  # VECTOR
    assert (
        set(
            Document.objects.filter(asset=asset).values_list(
                "id", "version", "chunk_count"
            )
        )
        == documents
    )
    asset.refresh_from_db()
    assert (asset.index_model, asset.index_dimensions) == (
        "text-embedding-3-small",
        1536,
    )
    assert asset.embedding_model == "text-embedding-3-large"  # the target stays
    assert Chunk.objects.filter(asset=asset, embedding_dimensions=3072).exists()
    _consistent()
