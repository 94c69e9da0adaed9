"""The usage chart and budget table in a real browser: the SVG renders (no script
needed) on the asset page and the tenant's asset list (screenshots in
tests/artifacts/)."""

from __future__ import annotations

import datetime as dt

import pytest

from assets_app.budgets import EPOCH
from assets_app.models import BudgetUsage, UsagePeriod
from tests.browser.conftest import ARTIFACTS
from tests.factories import AssetFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_asset_page_and_list_draw_the_usage_chart(page, member):
    asset = AssetFactory(
        tenant=member.tenant, display_name="Handbook", embedding_provider="openai",
        embedding_model="text-embedding-3-small", embedding_dimensions=1536,
        daily_token_budget=60_000,
    )  # fmt: skip
    today = dt.datetime.now(dt.UTC).date()
    rows = [(UsagePeriod.TOTAL, EPOCH, 900_000)]
    rows += [
        (UsagePeriod.DAY, today - dt.timedelta(days=d), 1000 * ((d * 37) % 50 + 5))
        for d in range(0, 30, 2)
    ]
    rows.append((UsagePeriod.MONTH, today.replace(day=1), 120_000))
    BudgetUsage.objects.bulk_create(
        BudgetUsage(tenant=member.tenant, asset=asset, period=p, start=s, used=u)
        for p, s, u in rows
    )
    page.goto(f"{page.base}/t/acme/assets/{asset.id}/")
    chart = page.locator("svg.usage-chart")
    assert chart.locator("rect").count() == 30
    assert chart.bounding_box()["width"] > 600
    assert page.locator("#asset-budget").inner_text().count("unlimited") == 4
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "budget_asset_page.png"), full_page=True)
    page.goto(f"{page.base}/t/acme/assets/{asset.id}/settings/")
    assert page.locator("#id_daily_token_budget").input_value() == "60000"
    assert page.locator("#id_daily_token_budget_usd").is_visible()
    page.screenshot(path=str(ARTIFACTS / "budget_settings.png"), full_page=True)
    page.goto(f"{page.base}/t/acme/")
    assert page.locator("svg.usage-chart rect").count() == 30
    assert "900000 tokens" in page.locator("#tenant-usage").inner_text()
