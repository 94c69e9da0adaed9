"""The pipeline stopped part-way, in-process and deterministic: a cancel observed
between batches or in the batch that completes a document, a crash, a deleted
asset. Whatever stopped it, counters equal what is stored, a document keeps one
generation of chunks, and the next refresh completes it."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from assets_app.embedding.builtin import HashedLexicalEmbedder
from assets_app.ingestion import ingestion_run
from assets_app.models import Asset, Chunk, Document, UploadedFile
from assets_app.services import asset_create_from_uploads, asset_delete, asset_refresh
from operations_app import services as op_services
from operations_app import worker as op_worker
from operations_app.models import Operation, OperationStatus
from tests.assets_app.test_pipeline import assert_one_generation, run_one
from tests.conftest import upload

S = OperationStatus
LONG = "\n\n".join(
    f"Paragraph {i} is about lanterns, rivers and maps." for i in range(40)
)


@pytest.fixture(autouse=True)
def small_batches(settings):
    settings.RAGDESK_EMBED_BATCH_SIZE = 2


def _cancel_running(actor="alice"):
    op = Operation.objects.get(status=S.RUNNING)
    op_services.operation_request_cancel(operation=op, actor=actor)


def _on_embed_call(monkeypatch, call_number: int, action):
    """Run ``action`` during the ``call_number``-th embedding request (1-based), once;
    later requests (a following refresh) go through untouched."""
    original = HashedLexicalEmbedder.embed
    calls = []

    def embed(self, texts):
        calls.append(len(texts))
        if len(calls) == call_number:
            action()
        return original(self, texts)

    monkeypatch.setattr(HashedLexicalEmbedder, "embed", embed)
    return calls


def _create(member, files):
    asset, _ = asset_create_from_uploads(
        actor=member, display_name="Maps", files=files, chunk_size=20, chunk_overlap=0
    )
    return asset


def test_cancel_between_batches_keeps_only_the_batches_stored_before(
    editor_member, run_queued, monkeypatch
):
    calls = _on_embed_call(monkeypatch, 2, _cancel_running)
    asset = _create(editor_member, [upload("maps.txt", LONG)])

    op = run_one(run_queued)

    assert (op.status, op.cancel_requested) == (S.CANCELLED, True)
    assert op.completed_at is not None
    assert len(calls) == 2, "the worker embedded after it saw the cancel"
    stored = Chunk.objects.filter(asset=asset)
    assert stored.count() == calls[0] == op.chunk_count  # the 2nd batch was rolled back
    assert op.token_count == sum(c.token_count for c in stored)
    document = Document.objects.get(asset=asset)
    assert (document.status, document.content_hash) == ("PENDING", "")
    assert "next refresh" in document.error_message
    assert_one_generation(document)


def test_refresh_after_a_cancel_completes_the_interrupted_document(
    editor_member, run_queued, monkeypatch
):
    _on_embed_call(monkeypatch, 2, _cancel_running)
    asset = _create(editor_member, [upload("maps.txt", LONG)])
    run_one(run_queued)

    asset_refresh(actor=editor_member, asset=asset)
    op = run_one(run_queued)

    # it never completed before, so it counts as added
    assert (op.status, op.documents_added, op.documents_updated) == (S.COMPLETED, 1, 0)
    document = Document.objects.get(asset=asset)
    assert document.status == "COMPLETED" and document.content_hash
    assert_one_generation(document)
    assert [c.content for c in Chunk.objects.filter(document=document)][-1].startswith(
        "Paragraph 39"
    )


def _cancel_when_completing(monkeypatch):
    """Request the cancel just before the transaction that completes a document
    counts it, so that transaction is the one that observes it."""
    real = op_worker.operation_add_progress
    armed = [True]

    def cancel_then_add(*, operation_id, progress, **kw):
        if armed[0] and (progress.added or progress.updated):  # completing a document
            armed[0] = False
            _cancel_running()
        return real(operation_id=operation_id, progress=progress, **kw)

    monkeypatch.setattr(
        "assets_app.ingestion.batch.operation_add_progress", cancel_then_add
    )


@pytest.mark.parametrize(
    "changed", [False, True], ids=["new-document", "changed-document"]
)
def test_cancel_seen_while_completing_a_document_leaves_it_consistent(
    editor_member, run_queued, monkeypatch, changed
):
    asset = _create(editor_member, [upload("maps.txt", LONG)])
    text = LONG
    if changed:
        run_queued()
        text = LONG.replace("lanterns", "lamps")
        UploadedFile.objects.filter(asset=asset).update(data=text.encode())
        asset_refresh(actor=editor_member, asset=asset)
    _cancel_when_completing(monkeypatch)
    op = run_one(run_queued)

    assert op.status == S.CANCELLED
    document = Document.objects.get(asset=asset)
    new_chunks = list(Chunk.objects.filter(document=document, operation=op))
    assert 0 < len(new_chunks) == op.chunk_count  # counted as stored
    assert all(c.content in text for c in new_chunks)  # the new text's chunks
    assert not new_chunks[-1].content.startswith("Paragraph 39"), "last batch rolled back"
    current = Chunk.objects.filter(document=document, document_version=document.version)
    if changed:
        # The complete previous generation stays current and searchable; the partial
        # new one is stored but not current, and the hash is cleared for a redo.
        assert (document.status, document.content_hash) == ("COMPLETED", "")
        assert all("lanterns" in c.content for c in current if "Paragraph" in c.content)
        assert current.count() == document.chunk_count > 0
        assert {c.document_version for c in new_chunks} == {document.version + 1}
    else:
        assert (document.status, document.content_hash) == ("PENDING", "")
        assert_one_generation(document)  # not the old and the new chunks side by side
        assert len(new_chunks) == document.chunk_count

    asset_refresh(actor=editor_member, asset=asset)
    op = run_one(run_queued)
    assert op.status == S.COMPLETED
    document.refresh_from_db()
    assert document.status == "COMPLETED"
    assert_one_generation(document)
    assert (
        Chunk.objects.filter(document=document)
        .last()
        .content.startswith("Paragraph 39")
    )


@pytest.mark.parametrize(
    "changed", [False, True], ids=["new-document", "changed-document"]
)
def test_cancel_seen_in_the_only_batch_of_a_document_leaves_no_trace_of_the_run(
    editor_member, run_queued, monkeypatch, changed
):
    asset = _create(editor_member, [upload("maps.txt", "Short map text.")])
    if changed:
        run_queued()
        old = Document.objects.get(asset=asset)
        UploadedFile.objects.filter(asset=asset).update(data=b"Changed map text.")
        asset_refresh(actor=editor_member, asset=asset)
    _cancel_when_completing(monkeypatch)
    op = run_one(run_queued)

    assert op.status == S.CANCELLED
    assert (op.chunk_count, op.token_count, op.items_processed) == (0, 0, 0)
    if changed:  # as the previous run left it: its hash is not the new content's
        document = Document.objects.get(asset=asset)
        assert (document.status, document.content_hash) == (
            "COMPLETED",
            old.content_hash,
        )
        assert_one_generation(document)
        assert [c.content for c in Chunk.objects.filter(document=document)] == [
            "Short map text."
        ]
    else:  # the new document's row would have been made with its chunks
        assert not Document.objects.filter(asset=asset).exists()
        assert not Chunk.objects.filter(asset=asset).exists()

    asset_refresh(actor=editor_member, asset=asset)
    op = run_one(run_queued)
    assert op.status == S.COMPLETED
    document = Document.objects.get(asset=asset)
    assert document.status == "COMPLETED"
    assert_one_generation(document)
    assert [c.content for c in Chunk.objects.filter(document=document)] == [
        "Changed map text." if changed else "Short map text."
    ]


def test_crash_mid_document_fails_the_operation_and_next_refresh_recovers(
    editor_member, run_queued, monkeypatch
):
    def crash():
        raise RuntimeError("disk on fire")

    _on_embed_call(monkeypatch, 2, crash)
    asset = _create(editor_member, [upload("maps.txt", LONG)])
    op = run_one(run_queued)

    assert op.status == S.FAILED
    assert "disk on fire" in op.error_message
    document = Document.objects.get(asset=asset)
    assert document.status == "PENDING"
    assert_one_generation(document)
    assert op.chunk_count == Chunk.objects.filter(asset=asset).count()

    asset_refresh(actor=editor_member, asset=asset)
    op = run_one(run_queued)
    assert op.status == S.COMPLETED
    assert_one_generation(document)


def test_asset_deleted_mid_run_ends_the_operation_failed(
    admin_member, run_queued, monkeypatch
):
    _create(admin_member, [upload("maps.txt", LONG), upload("more.txt", LONG)])
    _on_embed_call(
        monkeypatch,
        2,
        lambda: asset_delete(actor=admin_member, asset=Asset.objects.get()),
    )
    (status,) = run_queued()
    op = Operation.objects.get()
    assert status == op.status == S.FAILED
    assert (op.error_message, op.asset_id) == ("asset deleted", None)
    assert not Chunk.objects.exists() and not Document.objects.exists()


# serialized_rollback like tests/operations_app/test_tasks.py: later tests get the
# seeded model prices back after this test's flush.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_deleting_an_asset_while_a_batch_is_being_stored_succeeds(
    admin_member, no_enqueue, monkeypatch
):
    """A worker's batch transaction and a delete from another connection: the delete
    must wait for the batch instead of deadlocking with it (PostgreSQL would abort one
    of them), and the worker ends FAILED "asset deleted" at its next batch."""
    asset = _create(admin_member, [upload("maps.txt", LONG)])
    (operation_id,) = no_enqueue
    real = op_worker.operation_add_progress
    in_batch, delete_started = threading.Event(), threading.Event()

    def add_then_hold(*, operation_id, progress, **kw):
        real(operation_id=operation_id, progress=progress, **kw)
        if progress.chunks and not in_batch.is_set():  # the first batch's transaction
            in_batch.set()
            delete_started.wait(10)
            time.sleep(0.3)  # let the delete reach its locks before this commits

    monkeypatch.setattr(
        "assets_app.ingestion.batch.operation_add_progress", add_then_hold
    )
    result: dict = {}

    def in_thread(name, work):
        def target():
            try:
                result[name] = work()
            except Exception as exc:
                result[name] = exc
            finally:
                connection.close()

        thread = threading.Thread(target=target)
        thread.start()
        return thread

    worker = in_thread("run", lambda: ingestion_run(operation_id=operation_id))
    assert in_batch.wait(10)
    deleter = in_thread("delete", lambda: asset_delete(actor=admin_member, asset=asset))
    delete_started.set()
    worker.join(30)
    deleter.join(30)

    assert result == {"run": S.FAILED, "delete": None}
    op = Operation.objects.get(pk=operation_id)
    assert (op.status, op.error_message) == (S.FAILED, "asset deleted")
    assert not Asset.objects.exists() and not Chunk.objects.exists()


def test_chunks_left_by_a_killed_worker_do_not_block_the_next_refresh(
    editor_member, run_queued
):
    """A worker killed with SIGKILL mid-document leaves chunks of version v + 1 while
    the row says v; the next run must write above them, not collide with them."""
    asset = _create(editor_member, [upload("maps.txt", "Short map notes.")])
    run_one(run_queued)
    document = Document.objects.get(asset=asset)
    leftover = Chunk.objects.filter(document=document).first()
    leftover.pk, leftover.document_version = None, document.version + 1
    leftover.save()  # as if stored by a run that died before ending the document
    UploadedFile.objects.filter(asset=asset).update(data=LONG.encode(), size=len(LONG))

    asset_refresh(actor=editor_member, asset=asset)
    op = run_one(run_queued)

    assert op.status == S.COMPLETED
    assert op.documents_updated == 1
    assert_one_generation(document)
    assert document.version == leftover.document_version + 1
