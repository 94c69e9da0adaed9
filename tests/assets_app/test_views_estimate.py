"""The dashboard's "Estimate" button and the tokens and cost in the re-index
confirmation (issue 5)."""

from __future__ import annotations

import pytest

from assets_app.budget_limits import asset_set_budget
from assets_app.models import BudgetUsage
from assets_app.services import asset_create_from_uploads
from operations_app.models import Operation
from tests.assets_app.test_estimate import table_counts
from tests.conftest import upload

HTMX = {"HX-Request": "true"}
TEXT = "\n\n".join(f"Sentence {i} is about lanterns and lakes." for i in range(80))


@pytest.fixture
def asset(editor_member, run_queued):
    asset, _ = asset_create_from_uploads(
        actor=editor_member, display_name="Lanterns", files=[upload("a.txt", TEXT)]
    )
    run_queued()
    return asset


def estimate_url(asset):
    return f"/t/{asset.tenant.slug}/assets/{asset.id}/estimate/"


def test_detail_page_has_an_estimate_button_next_to_refresh(
    client, editor_member, asset
):
    client.force_login(editor_member.user)
    html = client.get(f"/t/{asset.tenant.slug}/assets/{asset.id}/").content.decode()
    assert 'id="refresh-button"' in html and 'id="estimate-button"' in html
    assert html.index("refresh-button") < html.index("estimate-button")


def test_estimate_fragment_shows_counts_tokens_and_cost_and_writes_nothing(
    client, editor_member, asset
):
    client.force_login(editor_member.user)
    before = table_counts()
    response = client.post(estimate_url(asset), {"force": "on"}, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="estimate-result"')
    assert "re-embed 1 document" in html and 'id="estimate-cost">$0.000000' in html
    assert table_counts() == before


def test_estimate_fragment_shows_the_budget_left_and_warns_when_it_does_not_fit(
    client, editor_member, asset
):
    client.force_login(editor_member.user)
    html = client.post(estimate_url(asset), headers=HTMX).content.decode()
    assert 'id="estimate-budget-left">unlimited' in html
    assert "estimate-over-budget" not in html
    used = BudgetUsage.objects.get(asset=asset, period="DAY").used
    asset = asset_set_budget(
        actor=editor_member, asset=asset, limits={"daily_token_budget": used + 7}
    )
    html = client.post(estimate_url(asset), {"force": "on"}, headers=HTMX)
    html = html.content.decode()
    assert "7 tokens (daily)" in html and 'id="estimate-over-budget"' in html
    assert "daily token budget (dailyTokenBudget) leaves 7" in html
    assert "resets at" in html


def test_estimate_without_htmx_is_a_full_page(client, editor_member, asset):
    client.force_login(editor_member.user)
    response = client.post(estimate_url(asset))
    assert response.status_code == 200
    assert b"<html" in response.content and b"Unchanged</th><td>1" in response.content


def test_viewer_cannot_estimate(client, viewer_member, asset):
    client.force_login(viewer_member.user)
    assert client.post(estimate_url(asset)).status_code == 403
    html = client.get(f"/t/{asset.tenant.slug}/assets/{asset.id}/").content.decode()
    assert "estimate-button" not in html


def test_reindex_confirmation_shows_tokens_and_cost_and_starts_nothing(
    client, editor_member, asset
):
    client.force_login(editor_member.user)
    response = client.post(
        f"/t/{asset.tenant.slug}/assets/{asset.id}/settings/",
        {"display_name": "Lanterns", "chunk_size": 64, "chunk_overlap": 8},
    )
    html = response.content.decode()
    assert 'id="reindex-confirm"' in html and 'id="estimate-tokens"' in html
    tokens = int(html.split('id="estimate-tokens">')[1].split("<")[0])
    assert tokens > 0 and Operation.objects.filter(asset=asset).count() == 1
