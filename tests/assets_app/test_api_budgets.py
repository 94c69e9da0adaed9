"""The budget on the wire (API.md "Asset.budget", "PATCH semantics", "Budgets",
``GET …/usage``): set on create and PATCH (USD converted with the model price), applied
at once without re-ingestion, search 429 with Retry-After when a limit is exhausted,
and the usage shape with its per-day series."""

# ruff: noqa: F811 - pytest fixtures imported from test_api are redefined as arguments
from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets_app.budgets import budget_split
from assets_app.ingestion.chunking import count_tokens
from assets_app.models import Asset, BudgetReservation, BudgetUsage
from assets_app.search import SearchParams, search_tenant
from operations_app.models import Operation
from tests.assets_app.test_api import (
    api,
    assert_problem,
    asset_url,
    base,
    folder_body,
    folder_root,  # noqa: F401 - fixture
    ingested,  # noqa: F401 - fixture
)
from tests.factories import AssetFactory
from tests.search_corpus import add_document

pytestmark = pytest.mark.django_db
BUDGET_FIELDS = {
    "tokenBudget", "monthlyTokenBudget", "dailyTokenBudget", "totalTokenCount",
    "monthlyTokensUsed", "dailyTokensUsed", "costBudget", "monthlyCostBudget",
    "dailyCostBudget", "totalCost", "monthlyCostUsed", "dailyCostUsed",
    "pricePerMillionTokens",
}  # fmt: skip


def test_patch_budget_applies_at_once_without_an_operation(editor_member, ingested):
    used = ingested.operations.get().token_count
    client = api(editor_member)
    response = client.patch(
        asset_url(ingested), {"budget": {"tokenBudget": used + 5}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["operation"] is None
    budget = client.get(asset_url(ingested)).json()["budget"]
    assert set(budget) == BUDGET_FIELDS
    assert (budget["tokenBudget"], budget["totalTokenCount"]) == (used + 5, used)
    assert budget["dailyTokensUsed"] == budget["monthlyTokensUsed"] == used
    assert Operation.objects.filter(asset=ingested).count() == 1
    # null: unlimited again; a member not sent keeps its value.
    for budget in ({"dailyTokenBudget": 9}, {"tokenBudget": None}):
        client.patch(asset_url(ingested), {"budget": budget}, format="json")
    ingested.refresh_from_db()
    assert (ingested.token_budget, ingested.daily_token_budget) == (None, 9)


def test_patch_currency_budget_is_stored_as_tokens_at_the_model_price(editor_member):
    asset = AssetFactory(
        tenant=editor_member.tenant, embedding_provider="openai",
        embedding_model="text-embedding-3-small", embedding_dimensions=1536,
    )  # fmt: skip
    response = api(editor_member).patch(
        asset_url(asset), {"currencyBudget": {"dailyCostBudget": 0.5}}, format="json"
    )
    assert response.status_code == 200, response.content
    budget = response.json()["asset"]["budget"]
    # 0.5 USD at 0.02 USD per 1M tokens
    assert (budget["dailyTokenBudget"], budget["dailyCostBudget"]) == (25_000_000, 0.5)
    assert budget["pricePerMillionTokens"] == 0.02


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currencyBudget": {"costBudget": 1}}, "currencyBudget.costBudget"),
        ({"budget": {"tokenBudget": -1}}, "budget.tokenBudget"),
        ({"budget": {"tokenBudget": "many"}}, "budget.tokenBudget"),
        ({"budget": {"weeklyTokenBudget": 5}}, "budget.weeklyTokenBudget"),
    ],
)
def test_bad_budget_is_400_naming_it_and_changes_nothing(editor_member, body, field):
    asset = AssetFactory(tenant=editor_member.tenant, display_name="Same")
    response = api(editor_member).patch(
        asset_url(asset), {"displayName": "Changed", **body}, format="json"
    )
    assert field in assert_problem(response, 400, "validation-failed")["errors"]
    asset.refresh_from_db()
    assert (asset.display_name, asset.token_budget) == ("Same", None)


def test_budget_on_a_non_vectorized_asset_is_400(editor_member):
    asset = AssetFactory(tenant=editor_member.tenant, vectorized=False)
    response = api(editor_member).patch(
        asset_url(asset), {"budget": {"tokenBudget": 1}}, format="json"
    )
    assert "budget" in assert_problem(response, 400)["errors"]
    assert api(editor_member).get(asset_url(asset)).json()["budget"] is None


def test_create_with_a_budget_stores_it(admin_member, folder_root, no_enqueue):
    body = folder_body(folder_root, budget={"dailyTokenBudget": 1000})
    response = api(admin_member).post(
        f"{base(admin_member.tenant)}/assets", body, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["asset"]["budget"]["dailyTokenBudget"] == 1000
    assert Asset.objects.get().daily_token_budget == 1000


def test_create_with_a_bad_budget_creates_nothing(admin_member, folder_root):
    body = folder_body(folder_root, currencyBudget={"costBudget": 1})  # free model
    response = api(admin_member).post(
        f"{base(admin_member.tenant)}/assets", body, format="json"
    )
    assert "currencyBudget.costBudget" in assert_problem(response, 400)["errors"]
    assert not Asset.objects.exists()


def test_search_counts_query_tokens_and_is_429_once_the_day_is_spent(
    editor_member, ingested
):
    client = api(editor_member)
    used = ingested.operations.get().token_count
    url = asset_url(ingested, ":search")
    first = client.post(url, {"query": "alpha beta"}, format="json").json()
    spent = used + first["usage"]["queryTokens"]
    assert client.get(asset_url(ingested)).json()["budget"]["dailyTokensUsed"] == spent
    client.patch(
        asset_url(ingested), {"budget": {"dailyTokenBudget": spent}}, format="json"
    )
    response = client.post(url, {"query": "alpha beta"}, format="json")
    problem = assert_problem(response, 429, "budget-exhausted")
    tomorrow = dt.datetime.combine(
        dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1), dt.time(), dt.UTC
    )
    assert problem["limit"] == "dailyTokenBudget"
    assert problem["resetsAt"] == int(tomorrow.timestamp() * 1000)
    assert "dailyTokenBudget" in problem["detail"] and "resets at" in problem["detail"]
    assert int(response["Retry-After"]) == problem["retryAfter"] > 0
    # FULL_TEXT embeds nothing, so it still answers; usage did not move.
    body = {"query": "alpha", "searchMode": "FULL_TEXT"}
    assert client.post(url, body, format="json").status_code == 200
    day = BudgetUsage.objects.get(asset=ingested, period="DAY")
    assert (day.used, day.reserved) == (spent, 0)


def test_usage_has_totals_and_thirty_utc_days(viewer_member, ingested):
    op = ingested.operations.get()
    response = api(viewer_member).get(asset_url(ingested, "/usage"))
    assert response.status_code == 200, response.content
    usage = response.json()
    assert set(usage) == {
        "assetId", "totalTokenCount", "totalChunkCount", "documentCount",
        "operationCount", "totalCost", "daily",
    }  # fmt: skip
    assert usage["assetId"] == str(ingested.id)
    assert (usage["totalTokenCount"], usage["operationCount"]) == (op.token_count, 1)
    assert usage["documentCount"] == 2 and usage["totalChunkCount"] > 0
    days = [d["date"] for d in usage["daily"]]
    today = dt.datetime.now(dt.UTC).date()
    assert days[0] == (today - dt.timedelta(days=29)).isoformat()
    assert days[-1] == today.isoformat() and len(days) == 30
    assert usage["daily"][-1] == {"date": today.isoformat(), "tokens": op.token_count,
                                  "cost": 0.0}  # fmt: skip
    assert all(d["tokens"] == 0 for d in usage["daily"][:-1])


# -- tenant-wide search (docs/api.md "Budgets") ---------------------------------------

QUERY = "kubernetes deployment pipeline"


def tenant_search(member, **body):
    path = f"/v1/tenants/{member.tenant.slug}/assets:search"
    return api(member).post(path, {"query": QUERY, **body}, format="json")


def corpus_asset(member, name, **limits):
    asset = AssetFactory(tenant=member.tenant, display_name=name, **limits)
    add_document(asset, f"{name}.md", [f"{name}: {QUERY}", "gardening and roses"])
    return asset


def query_usage(asset) -> list[tuple[str, int, int]]:
    return sorted(
        BudgetUsage.objects.filter(asset=asset).values_list(
            "period", "used", "reserved"
        )
    )


def test_tenant_search_splits_each_models_query_tokens_among_its_assets(
    editor_member,
):
    assets = sorted(
        (corpus_asset(editor_member, n) for n in ("a", "b", "c")), key=lambda a: a.id
    )
    body = tenant_search(editor_member).json()
    billed = count_tokens(QUERY)  # one request for the three: the built-in model
    assert body["usage"]["queryTokens"] == billed and body["skippedAssets"] == []
    shares = budget_split(billed, 3)
    for asset, share in zip(assets, shares, strict=True):
        assert query_usage(asset) == [("DAY", share, 0), ("MONTH", share, 0)]
    assert sum(shares) == billed  # the tenant's usage is what was billed
    # FULL_TEXT embeds nothing and counts nothing.
    tenant_search(editor_member, searchMode="FULL_TEXT")
    assert [query_usage(a)[0][1] for a in assets] == shares


def test_tenant_search_leaves_out_an_asset_whose_limit_is_exhausted_and_says_so(
    editor_member,
):
    spent = corpus_asset(editor_member, "spent", monthly_token_budget=0)
    open_ = corpus_asset(editor_member, "open")
    response = tenant_search(editor_member, topK=10)
    assert response.status_code == 200, response.content
    body = response.json()
    assert {r["assetId"] for r in body["results"]} == {str(open_.id)}
    [skipped] = body["skippedAssets"]
    month = dt.datetime.now(dt.UTC).date().replace(day=1)
    next_month = dt.datetime.combine(
        (month + dt.timedelta(days=32)).replace(day=1), dt.time(), dt.UTC
    )
    assert skipped == {
        "assetId": str(spent.id), "displayName": "spent",
        "limit": "monthlyTokenBudget",
        "resetsAt": int(next_month.timestamp() * 1000),
        "detail": skipped["detail"],
    }  # fmt: skip
    assert "(monthlyTokenBudget) is exhausted" in skipped["detail"]
    # The asset searched pays the whole query; the one left out pays nothing.
    billed = body["usage"]["queryTokens"]
    assert query_usage(open_) == [("DAY", billed, 0), ("MONTH", billed, 0)]
    assert all(used == reserved == 0 for _, used, reserved in query_usage(spent))
    # FULL_TEXT embeds nothing, so it still searches every asset.
    body = tenant_search(editor_member, searchMode="FULL_TEXT").json()
    assert {r["assetId"] for r in body["results"]} == {str(spent.id), str(open_.id)}
    assert body["skippedAssets"] == []


def test_tenant_search_is_429_when_every_asset_is_left_out(editor_member):
    corpus_asset(editor_member, "a", daily_token_budget=0)
    corpus_asset(editor_member, "b", daily_token_budget=count_tokens(QUERY) - 1)
    response = tenant_search(editor_member)
    problem = assert_problem(response, 429, "budget-exhausted")
    assert problem["limit"] == "dailyTokenBudget"
    assert problem["detail"].startswith("Every asset this search covers is over")
    assert int(response["Retry-After"]) == problem["retryAfter"] > 0
    assert not BudgetUsage.objects.filter(reserved__gt=0).exists()


def test_tenant_search_that_fails_releases_every_reservation(editor_member):
    corpus_asset(editor_member, "a", daily_token_budget=10**6)
    corpus_asset(editor_member, "b", daily_token_budget=10**6)
    response = tenant_search(editor_member, query="€" * 9000)  # over the input limit
    assert response.status_code == 400
    assert not BudgetUsage.objects.filter(reserved__gt=0).exists()
    assert not BudgetReservation.objects.exists()


def test_tenant_search_meters_any_number_of_assets_in_the_same_statements(
    editor_member,
):
    def budget_statements() -> int:
        with CaptureQueriesContext(connection) as ctx:
            search_tenant(actor=editor_member, params=SearchParams(query=QUERY))
        return sum("assets_app_budget" in q["sql"] for q in ctx.captured_queries)

    corpus_asset(editor_member, "first", daily_token_budget=10**6)
    one = budget_statements()
    for i in range(12):
        corpus_asset(editor_member, f"more{i}", daily_token_budget=10**6)
    # Reserve: insert, lock, add, record; settle: delete, lock, count.
    assert budget_statements() == one == 7
    day = BudgetUsage.objects.filter(period="DAY")
    assert day.count() == 13 and not day.filter(reserved__gt=0).exists()
    assert sum(day.values_list("used", flat=True)) == 2 * count_tokens(QUERY)


def test_search_commits_its_query_accounting_without_waiting_for_the_disk(
    editor_member, ingested
):
    """The reservation and the settlement of a query each run in a transaction
    with synchronous_commit off (budgets.asynchronous_commit); the count is still
    exact."""
    Asset.objects.filter(pk=ingested.pk).update(daily_token_budget=10**9)
    url = asset_url(ingested, ":search")
    before = BudgetUsage.objects.get(asset=ingested, period="DAY").used
    with CaptureQueriesContext(connection) as queries:
        body = api(editor_member).post(url, {"query": "alpha"}, format="json").json()
    sql = [q["sql"] for q in queries.captured_queries]
    assert sql.count("SET LOCAL synchronous_commit = off") == 2
    assert any("INSERT INTO assets_app_budgetreservation" in q for q in sql)
    day = BudgetUsage.objects.get(asset=ingested, period="DAY")
    assert (day.used, day.reserved) == (before + body["usage"]["queryTokens"], 0)
    assert body["usage"]["queryTokens"] > 0


def test_search_of_an_asset_without_query_limits_counts_without_reserving(
    editor_member, ingested
):
    """No daily or monthly limit: nothing to check before the query, so no
    reservation; the billed tokens are still counted in the month and the day, in
    one asynchronous transaction."""
    Asset.objects.filter(pk=ingested.pk).update(
        daily_token_budget=None, monthly_token_budget=None, token_budget=5
    )
    usage = {u.period: u.used for u in BudgetUsage.objects.filter(asset=ingested)}
    url = asset_url(ingested, ":search")
    with CaptureQueriesContext(connection) as queries:
        body = api(editor_member).post(url, {"query": "alpha"}, format="json").json()
    sql = [q["sql"] for q in queries.captured_queries]
    assert not any("budgetreservation" in q for q in sql)
    assert sql.count("SET LOCAL synchronous_commit = off") == 1
    billed = body["usage"]["queryTokens"]
    assert billed > 0
    after = {u.period: u.used for u in BudgetUsage.objects.filter(asset=ingested)}
    assert after["DAY"] == usage.get("DAY", 0) + billed
    assert after["MONTH"] == usage.get("MONTH", 0) + billed
    assert after["TOTAL"] == usage["TOTAL"]  # queries count per day and month only


def test_tenant_search_leaves_out_assets_whose_model_fails_and_searches_the_rest(
    editor_member, monkeypatch, settings
):
    """Found by QA: one asset whose provider failed (no key, unreachable) made
    every tenant search 502. Its assets are left out and named; the others answer.
    When every model fails, the search is 502."""
    from tests.embedding_server import EmbeddingServer

    settings.RAGDESK_EMBED_SEARCH_MAX_ATTEMPTS = 1
    healthy = corpus_asset(editor_member, "healthy")
    broken = corpus_asset(
        editor_member, "broken", embedding_provider="openai",
        embedding_model="text-embedding-3-small", embedding_dimensions=1536,
    )  # fmt: skip
    with EmbeddingServer(status=500) as server:
        monkeypatch.setenv("RAGDESK_OPENAI_BASE_URL", server.base_url)
        response = tenant_search(editor_member, searchMode="VECTOR")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["results"]
        assert {r["assetId"] for r in body["results"]} == {str(healthy.id)}
        [skipped] = body["skippedAssets"]
        assert (skipped["assetId"], skipped["limit"], skipped["resetsAt"]) == (
            str(broken.id), None, None,
        )  # fmt: skip
        assert "Embedding the query failed" in skipped["detail"]
        Asset.objects.filter(pk=healthy.pk).delete()
        assert_problem(tenant_search(editor_member, searchMode="VECTOR"), 502,
                       "embedding-failed")  # fmt: skip
        assert server.snapshot()
