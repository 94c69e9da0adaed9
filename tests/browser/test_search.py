"""The search playground in headless Chromium: type a query, see highlighted
results swapped in by htmx, follow one to its chunk."""

from __future__ import annotations

import pytest

from assets_app.models import Asset
from tests.browser.conftest import ARTIFACTS
from tests.search_corpus import add_document

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

HANDBOOK = [
    "# Holidays\n\nEvery employee gets thirty vacation days per year; unused "
    "vacation days carry over until March.",
    "# Expenses\n\nExpenses are reimbursed within two weeks when receipts are "
    "attached. Use the <expenses> form & keep copies.",
    "# Deployment\n\nThe pipeline builds containers and deploys them to Kubernetes "
    "every night.",
]


def test_typing_a_query_shows_highlighted_results_and_links_to_the_chunk(page, member):
    asset = Asset.objects.create(
        tenant=member.tenant, display_name="Handbook", source_type="upload"
    )
    document = add_document(asset, "handbook.md", HANDBOOK)
    page.goto(f"{page.base}/t/acme/assets/{asset.id}/")
    page.click("#search-button")
    page.wait_for_selector("#search-form")
    page.evaluate("window.__noReload = true")
    page.fill("#id_query", "vacation days")
    page.select_option("#id_searchMode", "HYBRID")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-results .result mark")
    assert page.evaluate("window.__noReload === true")  # swapped in, not reloaded
    assert "query=vacation%20days" in page.url  # hx-push-url: the search is a link
    first = page.locator("#search-results .result").first
    assert first.locator("mark").first.inner_text().lower() == "vacation"
    assert "handbook.md" in first.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(
        path=str(ARTIFACTS / "search_playground_results.png"), full_page=True
    )
    # Escaped, not interpreted: the "<expenses>" of a chunk stays text.
    page.fill("#id_query", "receipts")
    page.select_option("#id_searchMode", "FULL_TEXT")
    page.click("#search-form button[type=submit]")
    page.wait_for_url("**searchMode=FULL_TEXT**")
    page.wait_for_function(
        "document.querySelectorAll('#search-results .result').length === 1"
    )
    assert page.locator("#search-results expenses").count() == 0
    page.click("#search-results details summary")
    assert "<expenses>" in page.locator("#search-results pre").first.inner_text()
    # Follow the result to its chunk on the document's page.
    page.click("#search-results .result-link")
    chunk = document.chunks.get(chunk_index=1)
    page.wait_for_url(f"**/documents/{document.id}/#chunk-{chunk.id}")
    assert "reimbursed" in page.locator(f"#chunk-{chunk.id}").inner_text()
