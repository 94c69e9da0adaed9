"""The dashboard's budget: set in the settings form (applies at once, no operation),
shown on the asset page with the 30-day SVG chart, and the tenant's totals on the
asset list."""

from __future__ import annotations

import re

import pytest

from assets_app.budgets import budget_reserve, budget_settle
from operations_app.models import Operation
from tests.assets_app.test_views import detail_url, list_url, login, settings_url
from tests.factories import AssetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def asset(admin_member, no_enqueue):
    return AssetFactory(tenant=admin_member.tenant, display_name="Handbook")


def form(asset, **changes) -> dict:
    data = {
        "display_name": asset.display_name,
        "chunk_size": asset.chunk_size,
        "chunk_overlap": asset.chunk_overlap,
        "token_budget": "", "monthly_token_budget": "", "daily_token_budget": "",
    }  # fmt: skip
    return {**data, **changes}


def test_budget_set_in_settings_applies_at_once_without_operation(
    client, editor_member, asset
):
    response = login(client, editor_member).post(
        settings_url(asset), form(asset, daily_token_budget="2500")
    )
    assert response.status_code == 302
    asset.refresh_from_db()
    assert (asset.daily_token_budget, asset.token_budget) == (2500, None)
    assert not Operation.objects.exists()
    html = client.get(detail_url(asset)).content.decode()
    assert re.search(
        r"<td>Today</td><td class=\"num\">0</td><td class=\"num\">2500</td>", html
    )


def test_negative_budget_is_an_inline_error_and_saves_nothing(
    client, editor_member, asset
):
    response = login(client, editor_member).post(
        settings_url(asset), form(asset, token_budget="-1", display_name="Other")
    )
    assert response.status_code == 400
    asset.refresh_from_db()
    assert (asset.token_budget, asset.display_name) == (None, "Handbook")


def test_asset_page_and_list_show_usage_and_a_30_day_svg_chart(
    client, admin_member, asset
):
    budget_settle(budget_reserve(asset_id=asset.id, tokens=1234), billed=1234)
    login(client, admin_member)
    page = client.get(detail_url(asset)).content.decode()
    assert page.count("<rect ") == 30 and '<svg class="usage-chart"' in page
    assert "1,234 tokens" in page  # a bar's tooltip
    listing = client.get(list_url(asset.tenant)).content.decode()
    assert re.search(r"Today \(UTC\)</dt><dd>1234 tokens", listing)
    assert listing.count("<rect ") == 30


def test_usd_budget_in_settings_is_stored_as_tokens(client, editor_member):
    asset = AssetFactory(
        tenant=editor_member.tenant, embedding_provider="openai",
        embedding_model="text-embedding-3-large", embedding_dimensions=3072,
    )  # fmt: skip
    response = login(client, editor_member).post(
        settings_url(asset), form(asset, monthly_token_budget_usd="0.39")
    )
    assert response.status_code == 302
    asset.refresh_from_db()
    assert asset.monthly_token_budget == 3_000_000  # 0.39 USD at 0.13 per 1M


def test_usd_budget_of_a_free_model_is_an_inline_error(client, editor_member, asset):
    response = login(client, editor_member).post(
        settings_url(asset),
        form(asset, daily_token_budget_usd="1", display_name="Other"),
    )
    assert response.status_code == 400
    assert "has no price" in response.content.decode()
    assert response.context["form"].errors["daily_token_budget_usd"]
    asset.refresh_from_db()
    assert (asset.daily_token_budget, asset.display_name) == (None, "Handbook")
