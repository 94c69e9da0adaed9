"""The dashboard as a person uses it, in headless Chromium, with a real worker."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from assets_app.models import Chunk, ModelPrice
from assets_app.services import asset_create_from_uploads
from operations_app.models import Operation, OperationStatus
from tests.browser.conftest import ARTIFACTS
from tests.conftest import upload

pytestmark = [
    pytest.mark.browser,
    pytest.mark.cluster,
    # The seeded model prices and content types come back after each test (see
    # tests/operations_app/test_tasks.py); without it later serialized tests collide.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

MARKDOWN = "# Guide\n\n## Install\n\nRun make run.\n\n## Use\n\nUpload files and watch.\n"


def _mark_page(page):
    """Flag the window; the flag survives only if the page is never reloaded."""
    page.evaluate("window.__noReload = true")


def _not_reloaded(page) -> bool:
    return page.evaluate("window.__noReload === true")


def test_uploaded_files_reach_completed_live_without_reload(page, cluster, tmp_path):
    (tmp_path / "guide.md").write_text(MARKDOWN)
    (tmp_path / "notes.txt").write_text("Plain notes about retrieval.\n" * 200)
    page.goto(f"{page.base}/t/acme/assets/new/")
    page.fill("#id_up-display_name", "Handbook")
    page.set_input_files("#id_up-files", [str(tmp_path / "guide.md"), str(tmp_path / "notes.txt")])
    page.click("text=Upload and ingest")
    page.wait_for_selector("h1:has-text('Handbook')")
    _mark_page(page)
    row = page.locator("#operation-rows tr").first
    assert row.get_attribute("data-status") in {"PENDING", "RUNNING", "COMPLETED"}
    page.wait_for_selector("#operation-rows tr[data-status=COMPLETED]", timeout=30_000)
    assert _not_reloaded(page)
    op = Operation.objects.get(asset__display_name="Handbook")
    assert op.status == OperationStatus.COMPLETED
    assert row.locator(".chunks").inner_text() == str(op.chunk_count) != "0"
    assert row.locator(".tokens").inner_text() == str(op.token_count)
    assert "2 / 2 docs" in row.inner_text()
    # The documents section reloads itself once nothing is active.
    page.wait_for_selector("#asset-contents:has-text('guide.md')")
    assert "COMPLETED" in page.locator("#asset-contents").inner_text()


def test_cancel_of_running_operation_shows_cancelling_then_cancelled(
    page, cluster, embedding_server, member
):
    embedding_server.delay = 0.4  # each embedding request takes 0.4 s
    asset, op = asset_create_from_uploads(
        actor=member, display_name="Slow", files=[upload("long.txt", "word " * 60_000)],
        embedding_provider="openai", embedding_model="text-embedding-3-small",
        embedding_dimensions=1536, chunk_size=64, chunk_overlap=0,
    )
    page.goto(f"{page.base}/t/acme/assets/{asset.id}/")
    page.wait_for_selector("#operation-rows tr[data-status=RUNNING]")
    page.wait_for_function(
        "Number(document.querySelector('#operation-rows .chunks').innerText) > 0"
    )
    _mark_page(page)
    clicked = time.monotonic()
    page.click("#operation-rows button.danger")
    page.wait_for_selector("#operation-rows .badge-cancelling", timeout=2_000)
    page.wait_for_selector("#operation-rows tr[data-status=CANCELLED]", timeout=5_000)
    assert time.monotonic() - clicked < 3.5  # 2 s to cancel plus at most one 1 s poll
    assert _not_reloaded(page)
    op.refresh_from_db()
    assert op.status == OperationStatus.CANCELLED
    stored = Chunk.objects.filter(asset=asset).count()
    assert stored == op.chunk_count > 0
    assert page.locator("#operation-rows button.danger").count() == 0


def test_settings_form_shows_errors_inline_then_confirms_reindex(page, cluster, member):
    asset, _ = asset_create_from_uploads(
        actor=member, display_name="Docs", files=[upload("a.md", MARKDOWN)]
    )
    page.goto(f"{page.base}/t/acme/assets/{asset.id}/")
    page.wait_for_selector("#operation-rows tr[data-status=COMPLETED]")
    page.click("text=Settings")
    page.fill("#id_chunk_size", "100")
    page.fill("#id_chunk_overlap", "100")
    page.click("text=Save")
    assert "smaller than the chunk size" in page.locator("#settings-form").inner_text()
    asset.refresh_from_db()
    assert (asset.chunk_size, asset.chunk_overlap) == (512, 64)
    page.fill("#id_display_name", "Docs v2")
    page.fill("#id_chunk_overlap", "10")
    page.click("text=Save")
    assert "This re-embeds 1 document" in page.locator("#reindex-confirm").inner_text()
    page.click("#confirm-reindex")
    page.wait_for_selector("h1:has-text('Docs v2')")
    page.wait_for_selector("#operation-rows tr:has-text('REINDEX')[data-status=COMPLETED]")
    asset.refresh_from_db()
    assert (asset.display_name, asset.chunk_size, asset.chunk_overlap) == ("Docs v2", 100, 10)


def test_settings_model_change_confirms_with_the_new_price_then_reindexes(
    page, cluster, member
):
    # Browser tests get no restored copy of the seeded prices (tests/conftest.py).
    for provider, model, dims, price in (
        ("builtin", "hashed-lexical-384", 384, "0"),
        ("openai", "text-embedding-3-small", 1536, "0.02"),
    ):
        ModelPrice.objects.get_or_create(
            provider=provider, model=model, defaults={
                "dimensions": dims, "max_input_tokens": 8191,
                "price_per_million_tokens": Decimal(price),
            },
        )  # fmt: skip
    asset, _ = asset_create_from_uploads(
        actor=member, display_name="Docs", files=[upload("a.md", MARKDOWN * 40)]
    )
    page.goto(f"{page.base}/t/acme/assets/{asset.id}/")
    page.wait_for_selector("#operation-rows tr[data-status=COMPLETED]")
    page.goto(f"{page.base}/t/acme/assets/{asset.id}/settings/")
    page.select_option("#id_embedding_model", "openai/text-embedding-3-small")
    page.click("text=Save")
    confirm = page.locator("#reindex-confirm")
    assert "openai/text-embedding-3-small" in confirm.inner_text()
    assert "priced with the new model" in confirm.inner_text()
    assert float(page.locator("#estimate-cost").inner_text().lstrip("$")) > 0
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "settings_model_change_confirm.png"
    page.screenshot(path=str(shot), full_page=True)
    asset.refresh_from_db()
    assert asset.embedding_model == "hashed-lexical-384"  # nothing saved yet
    page.click("#confirm-reindex")
    reindexed = "#operation-rows tr:has-text('REINDEX')[data-status=COMPLETED]"
    page.wait_for_selector(reindexed)
    asset.refresh_from_db()
    assert (asset.embedding_model, asset.embedding_dimensions) == (
        "text-embedding-3-small", 1536,
    )  # fmt: skip
    stored = Chunk.objects.filter(asset=asset)
    assert set(stored.values_list("embedding_dimensions", flat=True)) == {1536}


def test_tenant_switcher_moves_to_other_tenant(page, member):
    page.click("#tenant-switcher summary")
    page.click("#tenant-switcher a:has-text('Globex')")
    page.wait_for_url(f"{page.base}/t/globex/")
    assert "Assets of Globex" in page.locator("h1").inner_text()
    assert page.locator("text=New asset").count() == 0  # a VIEWER there
