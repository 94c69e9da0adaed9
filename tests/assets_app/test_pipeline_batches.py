"""Batches that hold the chunks of several documents, in-process and deterministic:
such a batch stores its documents, their chunks and the operation's counters all
together or not at all; a cancel leaves no row for a document none of whose chunks
were stored; unchanged documents are counted with a batch, or on their own while a
long step runs, and every document is counted by the end."""

from __future__ import annotations

import time

import pytest
from django.db.models import Sum

from assets_app.embedding import EmbeddingError
from assets_app.embedding.builtin import HashedLexicalEmbedder
from assets_app.models import Chunk, Document, UploadedFile
from assets_app.services import asset_create_from_uploads, asset_refresh
from operations_app import services as op_services
from operations_app import worker as op_worker
from operations_app.models import Operation, OperationStatus
from tests.assets_app.test_pipeline import assert_one_generation, run_one
from tests.conftest import upload

S = OperationStatus


def paragraphs(name: str, n: int) -> str:
    """``n`` paragraphs of about 12 tokens: one chunk each at chunk size 20."""
    return "\n\n".join(
        f"{name} paragraph {i} is about lanterns and maps." for i in range(n)
    )


def _create(member, files):
    asset, _ = asset_create_from_uploads(
        actor=member, display_name="Maps", files=files, chunk_size=20, chunk_overlap=0
    )
    return asset


def _record(monkeypatch, *, before_embed=None):
    """Record each embedding request's size and each progress increment the batch
    commits; ``before_embed(n)`` runs before the n-th request (1-based)."""
    embed, add = HashedLexicalEmbedder.embed, op_worker.operation_add_progress
    calls: dict[str, list] = {"embed": [], "progress": []}

    def recording_embed(self, texts):
        calls["embed"].append(len(texts))
        if before_embed:
            before_embed(len(calls["embed"]))
        return embed(self, texts)

    def recording_add(*, operation_id, progress, **kw):
        add(operation_id=operation_id, progress=progress, **kw)
        calls["progress"].append((time.monotonic(), progress))

    monkeypatch.setattr(HashedLexicalEmbedder, "embed", recording_embed)
    monkeypatch.setattr(
        "assets_app.ingestion.batch.operation_add_progress", recording_add
    )
    return calls


def _cancel_running():
    op = Operation.objects.get(status=S.RUNNING)
    op_services.operation_request_cancel(operation=op, actor="eddie")


def _assert_counters_equal_stored(op, asset):
    stored = Chunk.objects.filter(asset=asset)
    assert op.chunk_count == stored.count()
    assert op.token_count == (stored.aggregate(t=Sum("token_count"))["t"] or 0)
    documents = Document.objects.filter(asset=asset)
    assert (documents.aggregate(n=Sum("chunk_count"))["n"] or 0) == stored.count()


def test_one_batch_stores_several_documents_and_their_counters_together(
    editor_member, run_queued, monkeypatch
):
    calls = _record(monkeypatch)
    names = [f"{c}.txt" for c in "abcde"]
    asset = _create(
        editor_member, [upload(n, f"Map {n} shows a river.") for n in names]
    )

    op = run_one(run_queued)

    assert op.status == S.COMPLETED
    assert calls["embed"] == [5], "one request for the five documents"
    ((_, progress),) = calls["progress"]  # one transaction
    assert (progress.items, progress.added, progress.chunks) == (5, 5, 5)
    assert progress.tokens == op.token_count > 0
    _assert_counters_equal_stored(op, asset)
    for document in Document.objects.filter(asset=asset):
        assert (document.status, document.version) == ("COMPLETED", 1)
        assert document.content_hash and document.processed_at
        assert_one_generation(document)


def test_cancel_in_a_batch_of_several_documents_stores_none_of_them(
    editor_member, run_queued, monkeypatch
):
    calls = _record(monkeypatch, before_embed=lambda n: n == 1 and _cancel_running())
    asset = _create(
        editor_member, [upload(f"{c}.txt", f"Map {c} shows a river.") for c in "abc"]
    )

    op = run_one(run_queued)

    assert op.status == S.CANCELLED
    assert calls["embed"] == [3] and calls["progress"] == []
    assert (op.items_processed, op.chunk_count, op.token_count) == (0, 0, 0)
    assert not Document.objects.filter(asset=asset).exists()
    assert not Chunk.objects.filter(asset=asset).exists()


def test_cancel_mid_multi_document_batch_keeps_counters_equal_to_stored_and_no_orphan_rows(  # noqa: E501
    editor_member, run_queued, monkeypatch, settings
):
    settings.RAGDESK_EMBED_BATCH_SIZE = 4
    # a.txt: 6 chunks. Batch 1 = a0..a3 (stored); batch 2 = a4, a5, b0, c0, during
    # whose request the cancel comes: rolled back.
    calls = _record(monkeypatch, before_embed=lambda n: n == 2 and _cancel_running())
    files = [
        upload("a.txt", paragraphs("A", 6)),
        upload("b.txt", paragraphs("B", 1)),
        upload("c.txt", paragraphs("C", 1)),
    ]
    asset = _create(editor_member, files)

    op = run_one(run_queued)

    assert op.status == S.CANCELLED
    assert calls["embed"] == [4, 4]
    _assert_counters_equal_stored(op, asset)
    assert (op.chunk_count, op.items_processed, op.items_total) == (4, 0, 3)
    (document,) = Document.objects.filter(asset=asset)  # no row for b.txt, c.txt
    assert document.source_key == "a.txt"
    assert (document.status, document.content_hash) == ("PENDING", "")
    assert "next refresh" in document.error_message
    assert_one_generation(document)

    asset_refresh(actor=editor_member, asset=asset)
    op = run_one(run_queued)
    # a.txt never completed, so it is added too (not "updated")
    assert (op.status, op.documents_updated, op.documents_added) == (S.COMPLETED, 0, 3)
    # The refresh continued a.txt after its 4 stored chunks: it embedded and billed
    # only a4, a5, b0, c0; the cancelled operation keeps what it stored.
    cancelled = Operation.objects.get(status=S.CANCELLED)
    stored = Chunk.objects.filter(asset=asset)
    assert op.chunk_count == stored.filter(operation=op).count() == 4
    assert cancelled.chunk_count == stored.filter(operation=cancelled).count() == 4
    assert op.token_count + cancelled.token_count == stored.aggregate(t=Sum("token_count"))["t"]
    assert Document.objects.filter(asset=asset).aggregate(n=Sum("chunk_count"))["n"] == 8
    for document in Document.objects.filter(asset=asset):
        assert document.status == "COMPLETED"
        assert_one_generation(document)


def test_embedding_refused_for_one_document_of_a_batch_fails_only_that_document(
    editor_member, run_queued, monkeypatch
):
    original = HashedLexicalEmbedder.embed
    requests = []

    def embed(self, texts):
        requests.append(len(texts))
        if any("POISON" in t for t in texts):
            raise EmbeddingError("The provider refused an input.")
        return original(self, texts)

    monkeypatch.setattr(HashedLexicalEmbedder, "embed", embed)
    files = [
        upload("a.txt", "Map a shows a river."),
        upload("b.txt", "Map b is POISON."),
        upload("c.txt", "Map c shows a hill."),
    ]
    asset = _create(editor_member, files)

    op = run_one(run_queued)

    assert op.status == S.COMPLETED
    assert requests == [3, 1, 1, 1], "the batch, then each document on its own"
    assert (op.documents_added, op.documents_failed, op.items_processed) == (2, 1, 3)
    _assert_counters_equal_stored(op, asset)
    failed = Document.objects.get(asset=asset, source_key="b.txt")
    assert (failed.status, failed.error_message) == (
        "FAILED",
        "The provider refused an input.",
    )
    assert not Chunk.objects.filter(document=failed).exists()
    for key in ("a.txt", "c.txt"):
        assert Document.objects.get(asset=asset, source_key=key).status == "COMPLETED"


def test_unchanged_documents_are_counted_with_the_next_batch_and_reach_items_total(
    editor_member, run_queued, monkeypatch
):
    asset = _create(
        editor_member, [upload(f"{c}.txt", f"Map {c} shows a river.") for c in "abcd"]
    )
    run_queued()
    UploadedFile.objects.filter(asset=asset, file_name="c.txt").update(
        data=b"Map c now shows a lake."
    )
    calls = _record(monkeypatch)

    asset_refresh(actor=editor_member, asset=asset)
    op = run_one(run_queued)

    assert op.status == S.COMPLETED
    ((_, progress),) = calls["progress"]  # counted with c.txt's batch
    assert (progress.items, progress.unchanged, progress.updated) == (4, 3, 1)
    assert op.items_processed == op.items_total == 4
    assert (op.documents_unchanged, op.documents_updated) == (3, 1)
    changed = Document.objects.get(asset=asset, source_key="c.txt")
    assert op.token_count == changed.token_count  # unchanged ones bill nothing
    assert op.chunk_count == 1


def test_unchanged_counts_are_committed_while_a_long_chunking_step_runs(
    editor_member, run_queued, monkeypatch, settings
):
    settings.RAGDESK_CANCEL_CHECK_SECONDS = 0.2
    asset = _create(
        editor_member,
        [upload(f"{c}.txt", f"Map {c} shows a river.") for c in "ab"]
        + [upload("c.txt", "Slow map.")],
    )
    run_queued()
    UploadedFile.objects.filter(asset=asset, file_name="c.txt").update(
        data=b"Slow map, changed."
    )
    from assets_app.ingestion import run as run_module

    split, spans = run_module._split, []

    def slow_split(chunker, section):
        started = time.monotonic()
        time.sleep(1.0)  # the chunking of a very large section
        spans.append((started, time.monotonic()))
        return split(chunker, section)

    monkeypatch.setattr(run_module, "_split", slow_split)
    calls = _record(monkeypatch)

    asset_refresh(actor=editor_member, asset=asset)
    op = run_one(run_queued)

    assert op.status == S.COMPLETED
    ((split_start, split_end),) = spans
    (at, early), (_, last) = calls["progress"]
    assert split_start < at < split_end, "counted while the chunking ran"
    assert (early.items, early.unchanged, early.chunks) == (2, 2, 0)
    assert (last.items, last.updated, last.chunks) == (1, 1, 1)
    assert op.items_processed == op.items_total == 3


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_documents_split_across_batches_each_keep_one_complete_generation(
    editor_member, run_queued, settings, batch_size
):
    settings.RAGDESK_EMBED_BATCH_SIZE = batch_size
    sizes = {"a": 3, "b": 1, "c": 5, "d": 2}  # chunks
    texts = {f"{c}.txt": paragraphs(c.upper(), n) for c, n in sizes.items()}
    asset = _create(editor_member, [upload(k, v) for k, v in texts.items()])

    op = run_one(run_queued)

    assert op.status == S.COMPLETED
    assert op.items_processed == op.documents_added == 4
    _assert_counters_equal_stored(op, asset)
    for key, text in texts.items():
        document = Document.objects.get(asset=asset, source_key=key)
        assert document.status == "COMPLETED"
        assert_one_generation(document)
        chunks = Chunk.objects.filter(document=document)
        assert "\n\n".join(c.content for c in chunks) == text
