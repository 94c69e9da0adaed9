"""A re-index switches the whole asset over only when it completes (issue 6), run
in-process (``run_queued``) on real PostgreSQL: while it runs, the current chunks
and search are those of the old index; a cancelled or stopped one leaves the old
index in place and the next run reuses what it built; the switch itself is one
transaction (assets_app/ingestion/switch.py), timed here at 5,000 chunks."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from assets_app.embedding.builtin import HashedLexicalEmbedder
from assets_app.ingestion import stopping
from assets_app.ingestion import task as ingestion_task
from assets_app.ingestion.switch import IndexSettings, index_switch
from assets_app.models import Asset, Chunk, Document, ModelPrice, UploadedFile
from assets_app.search import SearchMode, SearchParams, search_asset
from assets_app.selectors import current_chunks
from assets_app.services import asset_create_from_uploads, asset_update_settings
from operations_app.consistency import consistency_check
from operations_app.models import Operation, OperationStatus, OperationType
from operations_app.services import operation_create, operation_request_cancel
from tests.conftest import upload
from tests.embedding_server import EmbeddingServer

pytestmark = pytest.mark.django_db
S = OperationStatus
TOPICS = ["lanterns", "rivers", "maps", "orchards", "bees", "harbours"]


def text(seed: int, paragraphs: int = 12) -> str:
    return "\n\n".join(
        f"Paragraph {i} of file {seed} is about {TOPICS[(i + seed) % 6]} and "
        f"{TOPICS[(i * seed + 1) % 6]}, with some detail number {i * 7 + seed}."
        for i in range(paragraphs)
    )


@pytest.fixture(autouse=True)
def small_batches(settings):
    settings.RAGDESK_EMBED_BATCH_SIZE = 4


@pytest.fixture
def indexed(editor_member, run_queued):
    """An asset of three documents, ingested at chunk size 40."""
    asset, _ = asset_create_from_uploads(
        actor=editor_member, display_name="Atlas", chunk_size=40, chunk_overlap=8,
        files=[upload(f"f{i}.txt", text(i)) for i in range(3)],
    )  # fmt: skip
    assert run_queued() == [S.COMPLETED]
    return Asset.objects.get(pk=asset.pk)


def current_ids(asset) -> set:
    return set(current_chunks().filter(asset=asset).values_list("id", flat=True))


def search_ids(member, asset, mode=SearchMode.HYBRID) -> list:
    asset = Asset.objects.get(pk=asset.pk)
    params = SearchParams(query="lanterns and rivers", mode=mode, top_k=10)
    return [
        h.chunk.id for h in search_asset(actor=member, asset=asset, params=params).hits
    ]


def consistent() -> None:
    report = consistency_check(stale_after_seconds=120)
    assert report.ok, report.violations


def on_embed(monkeypatch, action):
    """Call ``action(n)`` before the n-th embedding request (1-based) of the built-in
    embedder (of the run, not of the action's own searches); returns the list of
    the requests' input counts."""
    original = HashedLexicalEmbedder.embed
    calls: list[int] = []
    inside = []  # the action's own searches embed their query: not counted

    def embed(self, texts):
        if not inside:
            calls.append(len(texts))
            inside.append(True)
            try:
                action(len(calls))
            finally:
                inside.clear()
        return original(self, texts)

    monkeypatch.setattr(HashedLexicalEmbedder, "embed", embed)
    return calls


def before_switch(monkeypatch, action):
    """Call ``action()`` just before the switch (all documents built, none switched)."""
    original = ingestion_task.index_switch

    def switch(**kwargs):
        action()
        return original(**kwargs)

    monkeypatch.setattr(ingestion_task, "index_switch", switch)


def test_reindex_answers_from_the_old_index_until_it_completes_then_all_new(
    indexed, editor_member, run_queued, monkeypatch
):
    old, old_hits = current_ids(indexed), search_ids(editor_member, indexed)
    assert old and old_hits
    UploadedFile.objects.create(
        asset=indexed, file_name="new.txt", content_type="text/plain",
        size=len(text(9)), data=text(9).encode(),
    )  # fmt: skip
    seen = []
    on_embed(monkeypatch, lambda n: seen.append(
        (current_ids(indexed), search_ids(editor_member, indexed))))  # fmt: skip
    staged = []
    before_switch(monkeypatch, lambda: staged.append((
        current_ids(indexed),
        dict(Document.objects.filter(asset=indexed).values_list("file_name", "status")),
        Document.objects.filter(asset=indexed, staged_version__gt=0).count(),
    )))  # fmt: skip
    _, op = asset_update_settings(
        actor=editor_member, asset=indexed, chunk_size=20, chunk_overlap=0
    )
    assert op.type == OperationType.REINDEX

    assert run_queued() == [S.COMPLETED]

    assert len(seen) > 3, "several batches"
    for current, hits in seen:
        assert current == old and set(hits) <= old
    ((current, statuses, n_staged),) = staged
    assert current == old, "nothing switched before the end"
    assert n_staged == 4 and statuses["new.txt"] == "PENDING"
    assert set(statuses.values()) == {"COMPLETED", "PENDING"}
    new = current_ids(indexed)
    assert new and not new & old
    assert set(Chunk.objects.filter(asset=indexed).values_list("id", flat=True)) == new
    assert (
        max(Chunk.objects.filter(asset=indexed).values_list("token_count", flat=True))
        <= 20
    )
    assert set(search_ids(editor_member, indexed)) <= new
    asset = Asset.objects.get(pk=indexed.pk)
    assert IndexSettings.index(asset) == IndexSettings.target(asset)
    assert asset.index_chunk_size == 20
    for document in Document.objects.filter(asset=indexed):
        assert document.status == "COMPLETED" and document.content_hash
        assert (document.staged_version, document.building_version) == (0, 0)
        assert document.chunk_count == Chunk.objects.filter(document=document).count()
    op.refresh_from_db()
    assert (op.documents_updated, op.documents_added) == (3, 1)
    assert op.chunk_count == len(new)
    consistent()


def test_cancelled_reindex_leaves_the_old_index_in_place_and_the_next_run_reuses_it(
    indexed, editor_member, run_queued, monkeypatch
):
    old, old_hits = current_ids(indexed), search_ids(editor_member, indexed)
    old_counts = set(
        Document.objects.filter(asset=indexed).values_list(
            "id", "version", "chunk_count"
        )
    )

    def cancel(n):
        if n == 6 and op.status == S.PENDING:  # some documents staged, one part-way
            operation_request_cancel(
                operation=Operation.objects.get(status=S.RUNNING), actor="alice"
            )

    calls = on_embed(monkeypatch, cancel)
    _, op = asset_update_settings(
        actor=editor_member, asset=indexed, chunk_size=20, chunk_overlap=0
    )
    assert run_queued() == [S.CANCELLED]

    assert current_ids(indexed) == old
    assert search_ids(editor_member, indexed) == old_hits
    assert (
        set(
            Document.objects.filter(asset=indexed).values_list(
                "id", "version", "chunk_count"
            )
        )
        == old_counts
    )
    assert Document.objects.filter(asset=indexed, staged_version__gt=0).exists()
    asset = Asset.objects.get(pk=indexed.pk)
    assert (asset.index_chunk_size, asset.chunk_size) == (40, 20)
    op.refresh_from_db()
    stored = op.chunk_count
    assert stored == sum(calls[:5]) > 0
    consistent()

    # The next run of the asset (a plain refresh) is staged, since the target
    # differs from the index: it finishes the re-index without embedding again.
    calls.clear()
    operation_create(asset=asset, type=OperationType.REFRESH, created_by="bob")
    assert run_queued() == [S.COMPLETED]
    new = current_ids(indexed)
    assert new and not new & old
    assert sum(calls) == len(new) - stored, "what the cancelled run stored is reused"
    asset.refresh_from_db()
    assert asset.index_chunk_size == 20
    consistent()


def test_stopped_reindex_resumes_in_the_next_attempt_and_switches_once(
    indexed, editor_member, run_queued, monkeypatch
):
    old = current_ids(indexed)
    during = []

    def stop(n):
        during.append(current_ids(indexed))
        if n == 5:
            stopping._received.append(15)  # SIGTERM: the worker hands it back

    calls = on_embed(monkeypatch, stop)
    _, op = asset_update_settings(
        actor=editor_member, asset=indexed, chunk_size=20, chunk_overlap=0
    )
    # The stopped attempt hands it back to the queue; the next attempt resumes it.
    assert run_queued() == ["REQUEUED", S.COMPLETED]
    op.refresh_from_db()
    assert op.status == S.COMPLETED
    assert op.events.filter(kind="WORKER_STOPPED").count() == 1
    assert all(c == old for c in during)
    new = current_ids(indexed)
    assert new and not new & old
    assert sum(calls) == op.chunk_count == len(new), "nothing embedded twice"
    assert (op.documents_updated, op.items_processed, op.items_total) == (3, 3, 3)
    consistent()


def test_reindex_into_another_model_switches_dimensions_and_query_model_at_the_end(
    indexed, editor_member, run_queued, monkeypatch
):
    ModelPrice.objects.update_or_create(
        provider="openai", model="test-embedding-768",
        defaults={"dimensions": 768, "max_input_tokens": 8191,
                  "price_per_million_tokens": Decimal("0.50")},
    )  # fmt: skip
    old, old_hits = current_ids(indexed), search_ids(editor_member, indexed)
    with EmbeddingServer() as server:
        monkeypatch.setenv("RAGDESK_OPENAI_BASE_URL", server.base_url)
        during = []

        def look():
            sent = len(server.snapshot())
            hits = search_ids(editor_member, indexed, SearchMode.VECTOR)
            dims = set(current_chunks().filter(asset=indexed).values_list(
                "embedding_dimensions", flat=True))  # fmt: skip
            during.append(
                (current_ids(indexed), hits, len(server.snapshot()) - sent, dims)
            )

        before_switch(monkeypatch, look)
        Asset.objects.filter(pk=indexed.pk).update(
            embedding_provider="openai", embedding_model="test-embedding-768",
            embedding_dimensions=768,
        )  # what a PATCH of embedding.model sets  # fmt: skip
        operation_create(asset=indexed, type=OperationType.REINDEX, created_by="bob")
        assert run_queued() == [S.COMPLETED]

        ((current, hits, query_requests, current_dims),) = during
        assert current == old and set(hits) <= old and current_dims == {384}
        assert query_requests == 0, "the query was embedded with the index's model"
        new = current_ids(indexed)
        assert not new & old
        dims = set(Chunk.objects.filter(asset=indexed).values_list(
            "embedding_dimensions", flat=True))  # fmt: skip
        assert dims == {768}
        asset = Asset.objects.get(pk=indexed.pk)
        assert (asset.index_model, asset.index_dimensions) == (
            "test-embedding-768",
            768,
        )
        sent = len(server.snapshot())
        params = SearchParams(query="lanterns", mode=SearchMode.VECTOR, top_k=5)
        outcome = search_asset(actor=editor_member, asset=asset, params=params)
        assert len(server.snapshot()) == sent + 1
        assert outcome.hits and {h.chunk.id for h in outcome.hits} <= new
        assert outcome.cost == outcome.query_tokens * Decimal("0.50") / 1_000_000
    consistent()
    assert old_hits


def test_consistency_check_reports_current_chunks_outside_the_index(indexed):
    Asset.objects.filter(pk=indexed.pk).update(index_dimensions=1536)
    report = consistency_check(stale_after_seconds=120)
    assert {v.invariant for v in report.violations} == {"current-chunks-in-index"}


def test_switch_of_5000_chunks_is_one_short_transaction(editor_member):
    asset, _ = asset_create_from_uploads(
        actor=editor_member, display_name="Big", files=[upload("x.txt", "x")]
    )
    op = Operation.objects.get(asset=asset)
    vector = [0.0] * 383 + [1.0]
    documents = Document.objects.bulk_create(
        Document(asset=asset, source_key=f"d{i}.txt", file_name=f"d{i}.txt",
                 content_type="text/plain", version=1, status="COMPLETED",
                 chunk_count=100, token_count=1000, staged_version=2,
                 building_version=2, building_key="a" * 64 + ":20:0:builtin",
                 last_operation=op)
        for i in range(50)
    )  # fmt: skip
    Chunk.objects.bulk_create(
        Chunk(asset=asset, document=d, document_version=v, chunk_index=i,
              content=f"chunk {i} of {d.file_name}", token_count=10 if v == 1 else 5,
              start_char_idx=0, end_char_idx=1, start_line=1, end_line=1,
              embedding=vector, embedding_dimensions=384)
        for d in documents for v in (1, 2) for i in range(100)
    )  # fmt: skip
    old = current_ids(asset)
    assert len(old) == 5000

    started = time.perf_counter()
    switched = index_switch(
        asset_id=asset.id, operation_id=op.id, settings=IndexSettings.target(asset)
    )
    seconds = time.perf_counter() - started

    print(f"[switch] {switched} documents, 5000 chunks → 5000 new: {seconds:.3f} s")
    assert switched == 50
    new = current_ids(asset)
    assert len(new) == 5000 and not new & old
    assert Chunk.objects.filter(asset=asset).count() == 5000
    d = Document.objects.get(pk=documents[0].pk)
    assert (d.version, d.chunk_count, d.token_count, d.content_hash) == (
        2,
        100,
        500,
        "a" * 64,
    )
    assert seconds < 5


def test_a_document_failing_in_a_reindex_stays_searchable_until_the_switch(
    indexed, editor_member, run_queued, monkeypatch
):
    UploadedFile.objects.filter(asset=indexed, file_name="f1.txt").update(data=b"   ")
    f1 = Document.objects.get(asset=indexed, file_name="f1.txt")
    f1_chunks = set(Chunk.objects.filter(document=f1).values_list("id", flat=True))
    before = []
    before_switch(monkeypatch, lambda: before.append(
        (Document.objects.get(pk=f1.pk), current_ids(indexed))))  # fmt: skip
    asset_update_settings(
        actor=editor_member, asset=indexed, chunk_size=20, chunk_overlap=0
    )
    assert run_queued() == [S.COMPLETED]

    ((during, current),) = before
    assert during.status == "FAILED" and f1_chunks <= current
    f1.refresh_from_db()
    assert (f1.status, f1.chunk_count) == ("FAILED", 0)
    assert not Chunk.objects.filter(document=f1).exists()
    assert Document.objects.filter(asset=indexed, status="COMPLETED").count() == 2
    consistent()


def test_consistency_check_reports_a_staged_generation_that_is_current(indexed):
    document = Document.objects.filter(asset=indexed).first()
    Document.objects.filter(pk=document.pk).update(
        staged_version=document.version, building_version=document.version
    )
    report = consistency_check(stale_after_seconds=120)
    assert {v.invariant for v in report.violations} == {"staged-generation"}


def test_reindex_to_a_model_whose_provider_fails_ends_failed_and_keeps_the_index(
    indexed, editor_member, run_queued, monkeypatch, settings
):
    """Found by QA: a re-index to another model whose every request failed ended
    COMPLETED and switched, deleting the whole index. Now it ends FAILED naming the
    documents, and the old index stays current and searchable."""
    settings.RAGDESK_EMBED_MAX_ATTEMPTS = 1
    ModelPrice.objects.update_or_create(
        provider="openai", model="test-embedding-768",
        defaults={"dimensions": 768, "max_input_tokens": 8191,
                  "price_per_million_tokens": Decimal("0.50")},
    )  # fmt: skip
    old, old_hits = current_ids(indexed), search_ids(editor_member, indexed)
    with EmbeddingServer(status=500) as server:
        monkeypatch.setenv("RAGDESK_OPENAI_BASE_URL", server.base_url)
        asset_update_settings(
            actor=editor_member, asset=indexed, embedding_provider="openai",
            embedding_model="test-embedding-768",
        )  # fmt: skip
        assert run_queued() == [S.FAILED]
        assert server.snapshot(), "the new model was asked"
    op = Operation.objects.filter(asset=indexed).latest("created_at")
    assert (op.type, op.status) == (OperationType.REINDEX, S.FAILED)
    assert "Nothing was switched" in op.error_message
    assert "builtin/hashed-lexical-384" in op.error_message
    asset = Asset.objects.get(pk=indexed.pk)
    assert (asset.index_provider, asset.index_dimensions) == ("builtin", 384)
    assert (asset.embedding_model, asset.embedding_dimensions) == (
        "test-embedding-768", 768,
    )  # the target stays: the next refresh continues the re-index  # fmt: skip
    assert current_ids(indexed) == old
    assert search_ids(editor_member, indexed) == old_hits and old_hits
    consistent()
