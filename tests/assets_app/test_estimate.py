"""The pre-run estimate (issue 5): its counts and tokens are what the following
refresh then bills, it writes nothing, a web page's 304 costs nothing, and the API's
roles, tenancy and bad input."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.apps import apps

from assets_app.budget_limits import asset_set_budget
from assets_app.budgets import budget_reserve
from assets_app.estimates import asset_estimate
from assets_app.models import BudgetUsage, Document, ModelPrice, UsagePeriod
from assets_app.services import (
    asset_create_from_folder,
    asset_refresh,
    asset_update_settings,
)
from operations_app.models import Operation, OperationStatus
from tests.assets_app.test_api import api, asset_url
from tests.assets_app.test_source_web import create as create_web
from tests.assets_app.test_source_web import page
from tests.site_server import Site

S = OperationStatus
PARAGRAPHS = "\n\n".join(
    f"Paragraph {i} speaks of rivers and bridges." for i in range(60)
)


def table_counts() -> dict[str, int]:
    """Rows of every table of the project's apps and django-q2's queue."""
    labels = ("assets_app", "operations_app", "django_q")
    return {
        m._meta.label: m.objects.count()
        for m in apps.get_models()
        if m._meta.app_label in labels and not m._meta.proxy
    }


@pytest.fixture
def folder(tmp_path, settings):
    root = (tmp_path / "kb").resolve()
    root.mkdir()
    (root / "keep.md").write_text("# Keep\n\n" + PARAGRAPHS)
    (root / "change.txt").write_text("To be changed. " + PARAGRAPHS)
    (root / "gone.txt").write_text("To be deleted.")
    settings.RAGDESK_FOLDER_ROOTS = [root]
    return root


@pytest.fixture
def asset(folder, admin_member, run_queued):
    asset, _ = asset_create_from_folder(
        actor=admin_member, display_name="KB", path=str(folder)
    )
    assert run_queued() == [S.COMPLETED]
    return asset


def stats(est) -> tuple:
    e = est.estimate
    return (e.added, e.updated, e.deleted, e.unchanged, e.failed, e.tokens, e.chunks)


def op_stats(op) -> tuple:
    return (
        op.documents_added, op.documents_updated, op.documents_deleted,
        op.documents_unchanged, op.documents_failed, op.token_count, op.chunk_count,
    )  # fmt: skip


def test_estimate_of_a_refresh_equals_what_the_refresh_bills_and_writes_nothing(
    asset, folder, admin_member, run_queued
):
    (folder / "change.txt").write_text("Changed now. " + PARAGRAPHS * 2)
    (folder / "gone.txt").unlink()
    (folder / "new.md").write_text("# New\n\n" + PARAGRAPHS)
    (folder / "broken.pdf").write_bytes(b"not a pdf")
    before = table_counts()
    est = asset_estimate(actor=admin_member, asset=asset)
    assert table_counts() == before
    assert est.estimate.complete and est.budget_left is None and est.fits_budget
    assert stats(est)[:5] == (1, 1, 1, 1, 1)  # new, change, gone, keep, broken
    assert est.estimate.failures == [
        {"fileName": "broken.pdf", "reason": "The file is not a PDF (no %PDF header)."}
    ]
    asset_refresh(actor=admin_member, asset=asset)
    assert run_queued() == [S.COMPLETED]
    op = Operation.objects.filter(asset=asset).latest("created_at")
    assert op_stats(op) == stats(est) and est.estimate.tokens > 0
    assert est.cost == op.cost == Decimal(0)  # the built-in embedder is free


def test_estimate_without_changes_is_all_unchanged_and_free(asset, admin_member):
    est = asset_estimate(actor=admin_member, asset=asset)
    assert stats(est) == (0, 0, 0, 3, 0, 0, 0)


def test_forced_estimate_counts_every_document_as_updated(
    asset, admin_member, run_queued
):
    est = asset_estimate(actor=admin_member, asset=asset, force=True)
    asset_refresh(actor=admin_member, asset=asset, force=True)
    run_queued()
    op = Operation.objects.filter(asset=asset).latest("created_at")
    assert stats(est) == op_stats(op) and est.estimate.updated == 3


def test_estimate_of_chosen_documents_ignores_the_others(
    asset, folder, admin_member, run_queued
):
    (folder / "keep.md").write_text("# Keep\n\nRewritten.")
    (folder / "change.txt").write_text("Rewritten too.")
    keep = Document.objects.get(asset=asset, source_key="keep.md")
    est = asset_estimate(actor=admin_member, asset=asset, document_ids=[str(keep.id)])
    asset_refresh(actor=admin_member, asset=asset, document_ids=[str(keep.id)])
    run_queued()
    op = Operation.objects.filter(asset=asset).latest("created_at")
    assert stats(est) == op_stats(op) and est.estimate.updated == 1


def test_estimate_of_new_chunking_equals_the_reindex_it_starts(
    asset, admin_member, run_queued
):
    est = asset_estimate(
        actor=admin_member, asset=asset, chunk_size=64, chunk_overlap=8
    )
    assert est.reindex and est.estimate.chunk_size == 64
    asset_update_settings(
        actor=admin_member, asset=asset, chunk_size=64, chunk_overlap=8
    )
    assert run_queued() == [S.COMPLETED]
    op = Operation.objects.filter(asset=asset).latest("created_at")
    assert stats(est) == op_stats(op) and est.estimate.chunks > 3


def test_cost_is_tokens_times_the_models_price(asset, admin_member):
    ModelPrice.objects.filter(provider="builtin").update(
        price_per_million_tokens=Decimal("0.130000")
    )
    est = asset_estimate(actor=admin_member, asset=asset, force=True)
    assert est.cost == Decimal(est.estimate.tokens) * Decimal("0.13") / 1_000_000 > 0


def test_estimate_stops_at_the_document_bound_and_says_so(
    asset, admin_member, settings
):
    settings.RAGDESK_ESTIMATE_MAX_DOCUMENTS = 1
    est = asset_estimate(actor=admin_member, asset=asset, force=True)
    assert not est.estimate.complete and est.estimate.deleted is None
    assert est.estimate.updated == 1


def test_estimate_stops_at_the_time_bound_and_says_so(asset, admin_member, settings):
    settings.RAGDESK_ESTIMATE_MAX_SECONDS = 0
    est = asset_estimate(actor=admin_member, asset=asset, force=True)
    assert not est.estimate.complete and est.estimate.deleted is None


# -- git: blob ids ---------------------------------------------------------------------


def test_git_estimate_reads_only_changed_blobs_and_matches_the_refresh(
    admin_member, run_queued, tmp_path, settings
):
    from tests.assets_app.test_source_git import Repo, text
    from tests.assets_app.test_source_git import create as create_git

    settings.RAGDESK_FOLDER_ROOTS = [tmp_path.resolve()]
    settings.RAGDESK_GIT_CACHE_DIR = tmp_path / "cache"
    repo = Repo(tmp_path / "repo")
    for name in ("a.md", "b.md", "c.md"):
        repo.write(name, text(name))
    repo.commit("first")
    asset = create_git(admin_member, repo.path)
    run_queued()
    repo.write("b.md", text("b changed"))
    (repo.path / "c.md").unlink()
    repo.commit("second")
    before = table_counts()
    est = asset_estimate(actor=admin_member, asset=asset)
    assert table_counts() == before
    assert stats(est)[:5] == (0, 1, 1, 1, 0)
    assert est.estimate.bytes_read == len(text("b changed"))  # a.md: same blob, unread
    asset_refresh(actor=admin_member, asset=asset)
    run_queued()
    op = Operation.objects.filter(asset=asset).latest("created_at")
    assert stats(est) == op_stats(op)


# -- web: conditional requests ----------------------------------------------------


def test_web_estimate_asks_conditionally_and_unchanged_pages_cost_nothing(
    editor_member, run_queued, settings
):
    settings.RAGDESK_FETCH_ALLOW_NETWORKS = ["127.0.0.0/8"]
    with Site({"/": page("Home", "/a"), "/a": page("Alpha")}) as site:
        asset = create_web(editor_member, site.url("/"), mode="CRAWL", maxDepth=1)
        run_queued()
        site.log.clear()
        est = asset_estimate(actor=editor_member, asset=asset)
        assert stats(est) == (0, 0, 0, 2, 0, 0, 0) and est.estimate.bytes_read == 0
        assert site.requested("/") == [(304, True)] and site.requested("/a") == [
            (304, True)
        ]
        site.set("/a", page("Alpha", text="Alpha was rewritten at length. " * 20))
        est = asset_estimate(actor=editor_member, asset=asset)
        asset_refresh(actor=editor_member, asset=asset)
        run_queued()
    op = Operation.objects.filter(asset=asset).latest("created_at")
    assert stats(est) == op_stats(op) and est.estimate.updated == 1


# -- budget left ----------------------------------------------------------------------


def used_now(asset, period) -> int:
    return BudgetUsage.objects.get(asset=asset, period=period).used


def test_budget_left_is_the_tightest_limit_less_used_and_reserved(
    asset, folder, admin_member
):
    (folder / "new.md").write_text("# New\n\n" + PARAGRAPHS)
    day = used_now(asset, UsagePeriod.DAY)  # the ingestion's tokens, today (UTC)
    assert day > 0
    asset = asset_set_budget(
        actor=admin_member, asset=asset,
        limits={"token_budget": day + 10**6, "daily_token_budget": day + 5000},
    )  # fmt: skip
    # A search query in flight holds 300 tokens of the day and the month.
    budget_reserve(
        asset_id=asset.id, tokens=300, periods=(UsagePeriod.MONTH, UsagePeriod.DAY)
    )
    est = asset_estimate(actor=admin_member, asset=asset)
    assert (est.budget_left, est.budget_limit) == (4700, "dailyTokenBudget")
    assert 0 < est.estimate.tokens <= 4700 and est.fits_budget
    # A limit lowered below what is used leaves 0, not a negative count.
    asset = asset_set_budget(
        actor=admin_member, asset=asset, limits={"token_budget": 1}
    )
    est = asset_estimate(actor=admin_member, asset=asset)
    assert (est.budget_left, est.budget_limit, est.fits_budget) == (
        0, "tokenBudget", False,
    )  # fmt: skip


def test_estimate_over_the_budget_says_so_and_the_refresh_fails_on_that_limit(
    asset, folder, admin_member, run_queued
):
    (folder / "new.md").write_text("# New\n\n" + PARAGRAPHS)
    month = used_now(asset, UsagePeriod.MONTH)
    asset = asset_set_budget(
        actor=admin_member, asset=asset, limits={"monthly_token_budget": month + 10}
    )
    est = asset_estimate(actor=admin_member, asset=asset)
    assert (est.budget_left, est.budget_limit) == (10, "monthlyTokenBudget")
    assert est.estimate.tokens > 10 and not est.fits_budget
    asset_refresh(actor=admin_member, asset=asset)
    assert run_queued() == [S.FAILED]
    op = Operation.objects.filter(asset=asset).latest("created_at")
    assert "(monthlyTokenBudget) is exhausted" in op.error_message


# -- API ------------------------------------------------------------------------------


def test_api_estimate_renders_counts_tokens_cost_and_null_budget(
    asset, folder, editor_member
):
    (folder / "new.md").write_text("# New\n\n" + PARAGRAPHS)
    before = table_counts()
    response = api(editor_member).post(asset_url(asset, ":estimate"), {}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert table_counts() == before
    assert body["stats"] == {
        "documentsAdded": 1, "documentsUpdated": 0, "documentsDeleted": 0,
        "documentsUnchanged": 3, "documentsFailed": 0,
    }  # fmt: skip
    assert body["tokenCount"] > 0 and body["cost"] == 0 and body["budgetLeft"] is None
    assert body["budgetLimit"] is None and body["fitsBudget"] is True
    assert body["complete"] is True and body["reindex"] is False


def test_api_estimate_counts_a_usd_limit_as_tokens_at_the_models_price(
    asset, folder, editor_member
):
    ModelPrice.objects.filter(provider="builtin").update(
        price_per_million_tokens=Decimal("1.000000")
    )
    client = api(editor_member)
    response = client.patch(
        asset_url(asset), {"currencyBudget": {"dailyCostBudget": 0.05}}, format="json"
    )  # 0.05 USD at 1 USD per million: 50,000 tokens
    assert response.status_code == 200, response.content
    (folder / "new.md").write_text("# New\n\n" + PARAGRAPHS)
    body = client.post(asset_url(asset, ":estimate"), {}, format="json").json()
    assert body["budgetLeft"] == 50_000 - used_now(asset, UsagePeriod.DAY)
    assert body["budgetLimit"] == "dailyTokenBudget" and body["fitsBudget"] is True


def test_api_estimate_of_a_reindex_takes_the_proposed_embedding(asset, editor_member):
    response = api(editor_member).post(
        asset_url(asset, ":estimate"),
        {"embedding": {"chunkSize": 64, "chunkOverlap": 8}},
        format="json",
    )
    body = response.json()
    assert body["reindex"] is True and body["chunkSize"] == 64
    assert body["stats"]["documentsUpdated"] == 3


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"documentIds": ["nope"]}, "documentIds"),
        ({"documentIds": [str(uuid.uuid4())]}, "documentIds"),
        (
            {"embedding": {"chunkSize": 64, "chunkOverlap": 64}},
            "embedding.chunkOverlap",
        ),
        ({"forse": True}, "forse"),
    ],
)
def test_api_estimate_with_bad_input_is_400_naming_the_field(
    asset, editor_member, payload, field
):
    response = api(editor_member).post(
        asset_url(asset, ":estimate"), payload, format="json"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"]


def test_api_estimate_is_403_for_a_viewer(asset, viewer_member):
    response = api(viewer_member).post(asset_url(asset, ":estimate"), {}, format="json")
    assert response.status_code == 403


def test_api_estimate_of_an_unreadable_source_is_422(
    asset, folder, editor_member, settings, tmp_path
):
    settings.RAGDESK_FOLDER_ROOTS = [tmp_path / "elsewhere"]
    response = api(editor_member).post(asset_url(asset, ":estimate"), {}, format="json")
    assert response.status_code == 422
    assert response.json()["type"].endswith("source-unreadable")
