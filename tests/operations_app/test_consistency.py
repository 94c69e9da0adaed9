"""``manage.py check_consistency`` (operations_app/consistency/): real ingestions
leave every invariant holding (exit 0, one line); each invariant, broken with a
direct UPDATE, makes it exit 1 with a report naming it."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from assets_app.models import Chunk, Document, UploadedFile
from assets_app.services import (
    asset_create_from_uploads,
    asset_refresh,
    asset_update_settings,
    document_delete,
)
from operations_app.models import Operation, OperationStatus
from operations_app.services import operation_request_cancel
from tests.conftest import upload
from tests.factories import MembershipFactory, TenantFactory

pytestmark = pytest.mark.django_db
S = OperationStatus
TEXT = "\n\n".join(
    f"Paragraph {i} is about apples and pears and plums." for i in range(40)
)
MD = "# Bees\n\n" + "\n\n".join(
    f"## Part {i}\n\nBees make honey {i}." for i in range(12)
)
CORRUPT_PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage"


def check(*args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("check_consistency", *args, stdout=out)
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def world(editor_member, admin_member, run_queued):
    """Asset A: an INGEST (one corrupt PDF failed) then a REFRESH re-embedding a
    changed file (its last writer), and a cancelled queued refresh. Asset B: an
    INGEST then a REINDEX. Asset C: an INGEST, then one document deleted by a user.
    Another tenant: one ingested asset."""
    a, ingest_a = asset_create_from_uploads(
        actor=editor_member, display_name="A", chunk_size=32, chunk_overlap=4,
        files=[upload("alpha.txt", TEXT), upload("beta.md", MD),
               upload("bad.pdf", CORRUPT_PDF)],
    )  # fmt: skip
    b, _ = asset_create_from_uploads(
        actor=editor_member, display_name="B", files=[upload("b.txt", TEXT)],
        chunk_size=64, chunk_overlap=8,
    )  # fmt: skip
    c, _ = asset_create_from_uploads(
        actor=editor_member, display_name="C",
        files=[upload("c1.txt", TEXT), upload("c2.md", MD)], chunk_size=32,
        chunk_overlap=4,
    )  # fmt: skip
    other = MembershipFactory(tenant=TenantFactory(slug="other"), role="EDITOR")
    asset_create_from_uploads(
        actor=other, display_name="O", files=[upload("o.txt", TEXT)]
    )
    assert run_queued() == [S.COMPLETED] * 4
    UploadedFile.objects.filter(asset=a, file_name="alpha.txt").update(
        data=b"Cherries now. " * 200
    )
    refresh_a = asset_refresh(actor=editor_member, asset=a)
    asset_update_settings(actor=editor_member, asset=b, chunk_size=48, chunk_overlap=8)
    assert run_queued() == [S.COMPLETED, S.COMPLETED]
    queued = asset_refresh(actor=editor_member, asset=a)
    operation_request_cancel(operation=queued, actor="eddie")
    assert run_queued() == ["SKIPPED"], "a cancelled queued refresh never runs"
    document_delete(
        actor=admin_member, document=Document.objects.get(source_key="c2.md")
    )
    ingest_a.refresh_from_db()
    refresh_a.refresh_from_db()
    assert ingest_a.documents_failed == 1 and refresh_a.documents_updated == 1
    assert Chunk.objects.filter(operation=ingest_a).exists(), "beta.md's chunks stay"
    return {"a": a, "b": b, "c": c, "ingest_a": ingest_a, "refresh_a": refresh_a}


def test_real_ingestions_pass_with_exit_0_and_a_one_line_summary(world):
    code, out = check()
    assert code == 0, out
    assert out.startswith("OK: 15 invariants hold") and out.count("\n") == 1


def test_a_user_deleting_a_document_is_tracked_not_reported(world):
    op = Operation.objects.get(asset=world["c"])
    assert op.events.filter(kind="CHUNKS_REMOVED").exists()
    assert Chunk.objects.filter(operation=op).count() < op.chunk_count
    assert check()[0] == 0


def _drop_constraint(table: str, like: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND pg_get_constraintdef(oid) LIKE %s",
            [table, f"%{like}%"],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')


def _ops(world, key):
    return Operation.objects.filter(pk=world[key].pk)


def corrupt_negative(world):
    _drop_constraint("operations_app_operation", "documents_deleted")
    _ops(world, "refresh_a").update(documents_deleted=-1, documents_unchanged=2)


def corrupt_items(world):
    op = world["refresh_a"]
    _ops(world, "refresh_a").update(items_total=op.items_processed - 1)


def corrupt_completed_at(world):
    _ops(world, "ingest_a").update(completed_at=None)


def corrupt_stale(world):
    _ops(world, "refresh_a").update(
        status=S.RUNNING, completed_at=None,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip


def corrupt_within(world):
    stored = Chunk.objects.filter(operation=world["ingest_a"]).count()
    _ops(world, "ingest_a").update(chunk_count=stored - 1)


def corrupt_equal_chunks(world):
    op = world["refresh_a"]
    _ops(world, "refresh_a").update(chunk_count=op.chunk_count + 1)


def corrupt_equal_tokens(world):
    op = world["refresh_a"]
    _ops(world, "refresh_a").update(token_count=op.token_count + 7)


def corrupt_stats(world):
    op = world["refresh_a"]
    _ops(world, "refresh_a").update(documents_unchanged=op.documents_unchanged + 1)


def corrupt_failures(world):
    _ops(world, "ingest_a").update(documents_failed=0, documents_added=3)


def corrupt_document(world):
    Document.objects.filter(source_key="beta.md").update(token_count=1)


def corrupt_chunk_version(world):
    chunk = Chunk.objects.filter(asset=world["b"]).first()
    Chunk.objects.filter(pk=chunk.pk).update(document_version=99)


def corrupt_chunk_asset(world):
    chunk = Chunk.objects.filter(asset=world["a"]).first()
    Chunk.objects.filter(pk=chunk.pk).update(asset=world["b"])


def corrupt_duplicate(world):
    _drop_constraint("assets_app_chunk", "UNIQUE")
    first, second = Chunk.objects.filter(asset=world["b"]).order_by("chunk_index")[:2]
    Chunk.objects.filter(pk=second.pk).update(chunk_index=first.chunk_index)


@pytest.mark.parametrize(
    "corrupt, invariant",
    [
        (corrupt_negative, "counters-non-negative"),
        (corrupt_items, "items-within-total"),
        (corrupt_completed_at, "completed-at-iff-terminal"),
        (corrupt_stale, "no-stale-running"),
        (corrupt_within, "chunks-within-count"),
        (corrupt_equal_chunks, "chunks-equal-count"),
        (corrupt_equal_tokens, "chunks-equal-count"),
        (corrupt_stats, "stats-add-up"),
        (corrupt_failures, "failures-recorded"),
        (corrupt_document, "document-counts"),
        (corrupt_document, "asset-totals"),
        (corrupt_chunk_version, "document-counts"),
        (corrupt_chunk_asset, "chunk-asset-matches-document"),
        (corrupt_chunk_asset, "asset-totals"),
        (corrupt_duplicate, "chunk-position-unique"),
    ],
)
def test_each_broken_invariant_exits_1_and_is_named(world, corrupt, invariant):
    corrupt(world)
    code, out = check()
    assert code == 1
    assert f"[{invariant}]" in out, out
    assert out.splitlines()[-1].startswith("FAILED:")


def test_cost_other_than_tokens_times_price_is_reported(world, monkeypatch):
    monkeypatch.setattr(Operation, "cost", property(lambda op: op.token_count))
    code, out = check()
    assert code == 1 and "[cost-is-tokens-times-price]" in out


def test_tenant_filter_checks_only_that_tenant(world):
    corrupt_equal_chunks(world)
    assert check("--tenant", "other")[0] == 0
    assert check("--tenant", world["a"].tenant.slug)[0] == 1


def test_unknown_tenant_is_an_error(world):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("check_consistency", "--tenant", "nope")


def test_json_report_lists_each_violation(world):
    corrupt_stats(world)
    code, out = check("--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    assert {v["invariant"] for v in report["violations"]} == {"stats-add-up"}
    assert report["violations"][0]["subject"] == f"operation {world['refresh_a'].id}"
    assert report["checked"]["operations"] == Operation.objects.count()
