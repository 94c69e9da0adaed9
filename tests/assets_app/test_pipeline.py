"""The ingestion pipeline run in-process (``run_queued``) on real PostgreSQL: ingest,
refresh by content hash, force, reindex, folder sources, bad documents, interruption."""

from __future__ import annotations

import hashlib

import pytest
from django.db.models import Count, Sum

from assets_app.ingestion.chunking import count_tokens
from assets_app.models import Chunk, Document, UploadedFile
from assets_app.services import (
    asset_create_from_folder,
    asset_create_from_uploads,
    asset_refresh,
    asset_update_settings,
)
from operations_app.models import Operation, OperationStatus, OperationType
from tests.assets_app.test_parsing import pdf_bytes
from tests.conftest import upload

S = OperationStatus
ALPHA = "\n\n".join(
    f"Alpha paragraph {i} talks about apples and orchards in some detail."
    for i in range(30)
)
BETA = "# Beta\n\n" + "\n\n".join(
    f"## Part {i}\n\nBeta section {i} is about bees and honey." for i in range(10)
)


def stored(asset) -> dict:
    return Chunk.objects.filter(asset=asset).aggregate(
        chunks=Count("id"), tokens=Sum("token_count")
    )


def chunk_ids(document) -> set:
    return set(Chunk.objects.filter(document=document).values_list("id", flat=True))


def assert_one_generation(document):
    """The document's chunks are one version, indexed 0..n-1, counted on the row."""
    document.refresh_from_db()
    rows = list(
        Chunk.objects.filter(document=document).values_list(
            "document_version", "chunk_index"
        )
    )
    assert {v for v, _ in rows} == {document.version}
    assert sorted(i for _, i in rows) == list(range(len(rows)))
    assert document.chunk_count == len(rows)


def run_one(run_queued) -> Operation:
    """Run what is queued; exactly one operation is expected."""
    (status,) = run_queued()
    op = Operation.objects.order_by("-created_at").first()
    assert op.status == status
    return op


@pytest.fixture
def ingested(editor_member, run_queued):
    asset, op = asset_create_from_uploads(
        actor=editor_member,
        display_name="Docs",
        files=[upload("alpha.txt", ALPHA), upload("beta.md", BETA)],
        chunk_size=40,
        chunk_overlap=8,
    )
    assert run_queued() == [S.COMPLETED]
    return asset


def doc(asset, key) -> Document:
    return Document.objects.get(asset=asset, source_key=key)


# -- ingest -------------------------------------------------------------------------


def test_ingest_completes_with_counters_equal_to_stored_chunks(ingested):
    op = Operation.objects.get(asset=ingested, type=OperationType.INGEST)
    totals = stored(ingested)
    assert op.status == S.COMPLETED and op.done
    assert op.completed_at is not None and op.error_message == ""
    assert totals["chunks"] > 2
    assert (op.chunk_count, op.token_count) == (totals["chunks"], totals["tokens"])
    assert (op.items_total, op.items_processed, op.documents_added) == (2, 2, 2)
    assert (op.documents_updated, op.documents_failed) == (0, 0)


def test_ingest_stores_completed_documents_with_hash_and_counts(ingested):
    for key, text in (("alpha.txt", ALPHA), ("beta.md", BETA)):
        document = doc(ingested, key)
        assert document.status == "COMPLETED"
        assert document.content_hash == hashlib.sha256(text.encode()).hexdigest()
        assert document.processed_at is not None
        assert document.token_count == sum(
            Chunk.objects.filter(document=document).values_list(
                "token_count", flat=True
            )
        )
        assert_one_generation(document)


def test_ingested_chunks_locate_their_text_and_fit_the_chunk_size(ingested):
    for key, text in (("alpha.txt", ALPHA), ("beta.md", BETA)):
        for c in Chunk.objects.filter(document=doc(ingested, key)):
            assert text[c.start_char_idx : c.end_char_idx] == c.content
            assert c.token_count == count_tokens(c.content) <= 40
            assert c.embedding_dimensions == 384 and len(c.embedding) == 384


def test_ingested_markdown_chunks_keep_heading_paths(ingested):
    chunks = list(Chunk.objects.filter(document=doc(ingested, "beta.md")))
    under_part = [c for c in chunks if c.content.startswith("## Part ")]
    assert len(under_part) > 1
    for c in under_part:
        part = c.content.splitlines()[0].removeprefix("## ")
        assert c.heading_path == ["Beta", part]
    assert chunks[0].heading_path == ["Beta"]


def test_ingested_pdf_chunks_keep_page_numbers(editor_member, run_queued):
    asset, _ = asset_create_from_uploads(
        actor=editor_member,
        display_name="Paper",
        files=[upload("paper.pdf", pdf_bytes(["Apples grow.", None, "Bees buzz."]))],
    )
    assert run_queued() == [S.COMPLETED]
    pages = {
        c.content.strip(): c.page_number for c in Chunk.objects.filter(asset=asset)
    }
    assert pages == {"Apples grow.": 1, "Bees buzz.": 3}


# -- refresh ------------------------------------------------------------------------


def test_refresh_without_changes_bills_nothing_and_reports_unchanged(
    ingested, editor_member, run_queued
):
    before = set(Chunk.objects.filter(asset=ingested).values_list("id", flat=True))
    asset_refresh(actor=editor_member, asset=ingested)
    op = run_one(run_queued)
    assert (op.type, op.status) == (OperationType.REFRESH, S.COMPLETED)
    assert (op.token_count, op.chunk_count) == (0, 0)
    assert (op.documents_unchanged, op.items_processed) == (2, 2)
    assert op.documents_added == op.documents_updated == op.documents_deleted == 0
    assert (
        set(Chunk.objects.filter(asset=ingested).values_list("id", flat=True)) == before
    )


def test_refresh_re_embeds_only_the_changed_file(ingested, editor_member, run_queued):
    alpha, beta = doc(ingested, "alpha.txt"), doc(ingested, "beta.md")
    old_alpha, old_beta = chunk_ids(alpha), chunk_ids(beta)
    new_text = "Completely new text about cherries. " * 30
    UploadedFile.objects.filter(asset=ingested, file_name="alpha.txt").update(
        data=new_text.encode(), size=len(new_text)
    )

    asset_refresh(actor=editor_member, asset=ingested)
    op = run_one(run_queued)

    assert (op.documents_updated, op.documents_unchanged, op.documents_added) == (
        1,
        1,
        0,
    )
    assert not chunk_ids(alpha) & old_alpha, "old chunks of the changed file remain"
    assert chunk_ids(beta) == old_beta
    assert_one_generation(alpha)
    alpha.refresh_from_db()
    assert alpha.content_hash == hashlib.sha256(new_text.encode()).hexdigest()
    new_chunks = Chunk.objects.filter(document=alpha)
    assert all("cherries" in c.content for c in new_chunks)
    assert op.token_count == sum(c.token_count for c in new_chunks)
    assert op.chunk_count == new_chunks.count()


def test_refresh_removes_a_vanished_file(ingested, editor_member, run_queued):
    beta = doc(ingested, "beta.md")
    UploadedFile.objects.filter(asset=ingested, file_name="beta.md").delete()
    asset_refresh(actor=editor_member, asset=ingested)
    op = run_one(run_queued)
    assert (op.documents_deleted, op.documents_unchanged, op.items_total) == (1, 1, 2)
    assert not Document.objects.filter(pk=beta.pk).exists()
    assert not Chunk.objects.filter(document_id=beta.pk).exists()
    assert op.token_count == 0


def test_refresh_adds_a_new_file(ingested, editor_member, run_queued):
    UploadedFile.objects.create(
        asset=ingested,
        file_name="gamma.txt",
        content_type="text/plain",
        size=5,
        data=b"Gamma",
    )
    asset_refresh(actor=editor_member, asset=ingested)
    op = run_one(run_queued)
    assert (op.documents_added, op.documents_unchanged) == (1, 2)
    assert doc(ingested, "gamma.txt").status == "COMPLETED"


def test_force_refresh_re_embeds_every_document(ingested, editor_member, run_queued):
    before = set(Chunk.objects.filter(asset=ingested).values_list("id", flat=True))
    asset_refresh(actor=editor_member, asset=ingested, force=True)
    op = run_one(run_queued)
    totals = stored(ingested)
    assert (op.documents_updated, op.documents_unchanged) == (2, 0)
    assert (op.chunk_count, op.token_count) == (totals["chunks"], totals["tokens"])
    assert (
        not set(Chunk.objects.filter(asset=ingested).values_list("id", flat=True))
        & before
    )
    for key in ("alpha.txt", "beta.md"):
        assert_one_generation(doc(ingested, key))


def test_refresh_of_chosen_documents_leaves_the_others_alone(
    ingested, editor_member, run_queued
):
    alpha, beta = doc(ingested, "alpha.txt"), doc(ingested, "beta.md")
    old_beta = chunk_ids(beta)
    UploadedFile.objects.filter(asset=ingested, file_name="beta.md").update(
        data=b"# Changed"
    )
    asset_refresh(
        actor=editor_member, asset=ingested, document_ids=[alpha.id], force=True
    )
    op = run_one(run_queued)
    assert (op.items_total, op.documents_updated, op.documents_deleted) == (1, 1, 0)
    assert chunk_ids(beta) == old_beta


def test_reindex_after_chunk_size_change_rechunks_everything(
    ingested, editor_member, run_queued
):
    before = stored(ingested)["chunks"]
    _, op = asset_update_settings(
        actor=editor_member, asset=ingested, chunk_size=20, chunk_overlap=0
    )
    assert op.type == OperationType.REINDEX
    op = run_one(run_queued)
    assert (op.type, op.status, op.documents_updated) == (
        OperationType.REINDEX,
        S.COMPLETED,
        2,
    )
    chunks = Chunk.objects.filter(asset=ingested)
    assert chunks.count() > before
    assert max(c.token_count for c in chunks) <= 20
    assert op.chunk_count == chunks.count()
    for key in ("alpha.txt", "beta.md"):
        assert_one_generation(doc(ingested, key))


# -- folder sources -----------------------------------------------------------------


@pytest.fixture
def folder(tmp_path, settings):
    root = (tmp_path / "kb").resolve()
    (root / "sub").mkdir(parents=True)
    (root / "one.md").write_text("# One\n\nFirst file.")
    (root / "sub" / "two.txt").write_text("Second file.")
    (root / "skip.exe").write_bytes(b"MZ\x90\x00")
    settings.RAGDESK_FOLDER_ROOTS = [root]
    return root


def test_folder_asset_follows_changes_on_disk(folder, admin_member, run_queued):
    asset, _ = asset_create_from_folder(
        actor=admin_member, display_name="KB", path=str(folder)
    )
    op = run_one(run_queued)
    assert (op.status, op.documents_added) == (S.COMPLETED, 2)
    assert set(asset.documents.values_list("source_key", flat=True)) == {
        "one.md",
        "sub/two.txt",
    }
    assert doc(asset, "one.md").source_url == (folder / "one.md").as_uri()

    (folder / "one.md").write_text("# One\n\nFirst file, edited.")
    (folder / "sub" / "two.txt").unlink()
    (folder / "three.txt").write_text("Third file.")
    asset_refresh(actor=admin_member, asset=asset)
    op = run_one(run_queued)

    assert (op.documents_updated, op.documents_deleted, op.documents_added) == (1, 1, 1)
    assert set(asset.documents.values_list("source_key", flat=True)) == {
        "one.md",
        "three.txt",
    }
    assert "edited" in Chunk.objects.get(document=doc(asset, "one.md")).content
    assert op.chunk_count == Chunk.objects.filter(operation=op).count() == 2


def test_folder_removed_from_allowed_roots_fails_the_refresh(
    folder, admin_member, run_queued, settings, tmp_path
):
    asset, _ = asset_create_from_folder(
        actor=admin_member, display_name="KB", path=str(folder)
    )
    run_queued()
    settings.RAGDESK_FOLDER_ROOTS = [tmp_path / "elsewhere"]
    asset_refresh(actor=admin_member, asset=asset)
    op = run_one(run_queued)
    assert op.status == S.FAILED
    assert "outside the allowed folder roots" in op.error_message
    assert asset.documents.count() == 2  # nothing deleted because the listing failed


# -- bad documents ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (pdf_bytes([None]), "no text layer"),
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage", "corrupt"),
    ],
    ids=["no-text-layer", "corrupt"],
)
def test_unreadable_pdf_fails_only_that_document(
    editor_member, run_queued, bad, reason
):
    asset, _ = asset_create_from_uploads(
        actor=editor_member,
        display_name="Mixed",
        files=[upload("good.txt", "Readable text."), upload("bad.pdf", bad)],
    )
    op = run_one(run_queued)
    assert op.status == S.COMPLETED
    assert (op.documents_failed, op.documents_added, op.items_processed) == (1, 1, 2)
    failed = doc(asset, "bad.pdf")
    assert failed.status == "FAILED"
    assert reason in failed.error_message
    assert not Chunk.objects.filter(document=failed).exists()
    assert doc(asset, "good.txt").status == "COMPLETED"
    assert op.chunk_count == Chunk.objects.filter(asset=asset).count() == 1


def test_failed_document_is_retried_by_the_next_refresh(editor_member, run_queued):
    asset, _ = asset_create_from_uploads(
        actor=editor_member,
        display_name="x",
        files=[upload("scan.pdf", pdf_bytes([None]))],
    )
    run_queued()
    UploadedFile.objects.filter(asset=asset).update(data=pdf_bytes(["Now with text."]))
    asset_refresh(actor=editor_member, asset=asset)
    op = run_one(run_queued)
    assert (op.documents_updated, op.documents_failed) == (1, 0)
    assert doc(asset, "scan.pdf").status == "COMPLETED"
    assert doc(asset, "scan.pdf").error_message == ""
