"""``POST …/assets/{asset}:search`` and ``POST …/assets:search`` over the wire: the
shapes of API.md, Problem Details for bad input, roles and tenancy, and a tenant of
two embedding models."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from assets_app.ingestion.chunking import count_tokens
from assets_app.models import Role
from tests.embedding_server import EmbeddingServer, server_token_count, vector_for
from tests.factories import AssetFactory, MembershipFactory, TenantFactory
from tests.search_corpus import add_document

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
TEXTS = [
    "Holidays: every employee gets thirty vacation days per year.",
    "The deployment pipeline builds containers and deploys them to Kubernetes.",
    "We write the engine in C++ and bind it to Python.",
]
RESULT_FIELDS = {
    "chunkId", "documentId", "assetId", "content", "score", "chunkIndex", "source",
    "sourceUrl", "headingPath", "pageNumber", "startLine", "endLine", "tokenCount",
}  # fmt: skip


def api(member) -> APIClient:
    client = APIClient()
    token = RefreshToken.for_user(member.user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def asset(editor_member):
    asset = AssetFactory(tenant=editor_member.tenant, display_name="Handbook")
    add_document(asset, "handbook.md", TEXTS)
    return asset


def url(member, asset) -> str:
    return f"/v1/tenants/{member.tenant.slug}/assets/{asset.id}:search"


def post(member, path, body):
    return api(member).post(path, body, format="json")


@pytest.mark.parametrize("mode", ["VECTOR", "FULL_TEXT", "HYBRID"])
def test_search_answers_results_and_usage_in_each_mode(editor_member, asset, mode):
    response = post(
        editor_member, url(editor_member, asset),
        {"query": "vacation days", "searchMode": mode, "topK": 2},
    )  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"results", "usage"}
    first = body["results"][0]
    assert set(first) == RESULT_FIELDS
    assert first["content"] == TEXTS[0]
    assert first["assetId"] == str(asset.id)
    assert first["source"] == "docs/handbook.md"
    assert first["sourceUrl"] == "file:///srv/docs/handbook.md"
    assert (first["headingPath"], first["startLine"], first["pageNumber"]) == (
        ["Guide"], 1, None,
    )  # fmt: skip
    assert body["usage"]["cost"] == 0.0
    assert (body["usage"]["queryTokens"] > 0) == (mode != "FULL_TEXT")


def test_defaults_are_vector_and_ten_results(editor_member, asset):
    body = post(editor_member, url(editor_member, asset), {"query": "days"}).json()
    assert len(body["results"]) == 3  # all there are; their vectors share a word
    assert body["usage"]["queryTokens"] == 1


def test_max_tokens_caps_the_summed_token_count(editor_member, asset):
    body = post(
        editor_member, url(editor_member, asset),
        {"query": "days containers engine", "topK": 3, "maxTokens": 30},
    ).json()  # fmt: skip
    assert sum(r["tokenCount"] for r in body["results"]) <= 30
    assert 0 < len(body["results"]) < 3


@pytest.mark.parametrize(
    "query", ["C++ & (", "'", "!!", '"unbalanced', "-", "x" * 10_240, "ünïcödé ✓"]
)
@pytest.mark.parametrize("mode", ["VECTOR", "FULL_TEXT", "HYBRID"])
def test_hostile_queries_answer_200(editor_member, asset, query, mode):
    response = post(
        editor_member, url(editor_member, asset), {"query": query, "searchMode": mode}
    )
    assert response.status_code == 200, response.content
    assert isinstance(response.json()["results"], list)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "query"),
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "nul\x00byte"}, "query"),
        ({"query": "x" * 16_385}, "query"),
        ({"query": None}, "query"),
        ({"query": 42, "topK": 0}, "topK"),
        ({"query": "x", "topK": 101}, "topK"),
        ({"query": "x", "topK": "many"}, "topK"),
        ({"query": "x", "searchMode": "FUZZY"}, "searchMode"),
        ({"query": "x", "rrfK": -1}, "rrfK"),
        ({"query": "x", "maxTokens": 0}, "maxTokens"),
        ({"query": "x", "vectorWeight": -1}, "vectorWeight"),
        ({"query": "x", "scoreThreshold": "high"}, "scoreThreshold"),
        ({"query": "x", "colour": "blue"}, "colour"),
        ({"query": "x", "searchMode": "HYBRID", "vectorWeight": 0, "ftsWeight": 0},
         "ftsWeight"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_problem_naming_the_field(editor_member, asset, body, field):
    response = post(editor_member, url(editor_member, asset), body)
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["type"] == "/v1/problems/validation-failed"
    assert field in problem["errors"], problem


def test_a_body_that_is_not_json_is_a_400_problem(editor_member, asset):
    response = api(editor_member).post(
        url(editor_member, asset), "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["type"] == "/v1/problems/malformed-request"


def test_a_query_over_the_models_token_limit_is_a_400(editor_member, asset):
    response = post(editor_member, url(editor_member, asset), {"query": "€" * 9000})
    assert response.status_code == 400
    assert "tokens" in response.json()["errors"]["query"][0]


def test_viewer_is_403_as_api_md_gives_search_to_editors(editor_member, asset):
    viewer = MembershipFactory(tenant=editor_member.tenant, role=Role.VIEWER)
    for path in (url(viewer, asset), f"/v1/tenants/{viewer.tenant.slug}/assets:search"):
        response = post(viewer, path, {"query": "days"})
        assert response.status_code == 403
        assert "VIEWER" in response.json()["detail"]


def test_another_tenants_asset_is_404_like_an_unknown_one(editor_member, asset):
    stranger = MembershipFactory(tenant=TenantFactory(), role=Role.ADMIN)
    theirs = post(stranger, url(stranger, asset), {"query": "days"})
    unknown = post(
        stranger, url(stranger, AssetFactory.build(id=uuid.uuid4())), {"query": "days"}
    )
    assert theirs.status_code == unknown.status_code == 404
    assert {k: theirs.json()[k] for k in ("type", "title", "detail")} == {
        k: unknown.json()[k] for k in ("type", "title", "detail")
    }
    own = post(stranger, f"/v1/tenants/{stranger.tenant.slug}/assets:search",
               {"query": "vacation days"})  # fmt: skip
    assert own.status_code == 200 and own.json()["results"] == []


def test_wrong_method_is_405_and_unknown_verb_404(editor_member, asset):
    client = api(editor_member)
    assert client.get(url(editor_member, asset)).status_code == 405
    other = url(editor_member, asset).replace(":search", ":searchAll")
    assert client.post(other, {"query": "x"}, format="json").status_code == 404


@pytest.fixture
def embedding_server(monkeypatch):
    with EmbeddingServer() as server:
        monkeypatch.setenv("RAGDESK_OPENAI_BASE_URL", server.base_url)
        yield server


def test_tenant_search_embeds_once_per_model_and_searches_each_dimension(
    editor_member, asset, embedding_server
):
    openai_asset = AssetFactory(
        tenant=editor_member.tenant, display_name="Specs",
        embedding_provider="openai", embedding_model="text-embedding-3-small",
        embedding_dimensions=1536,
    )  # fmt: skip
    query = "kubernetes deployment pipeline"
    add_document(
        openai_asset, "specs.md", [query, "Unrelated text about gardening."],
        embed=lambda text: vector_for(text, 1536),
    )  # fmt: skip
    AssetFactory(  # a second asset of the same model: still one request
        tenant=editor_member.tenant, embedding_provider="openai",
        embedding_model="text-embedding-3-small", embedding_dimensions=1536,
    )  # fmt: skip
    path = f"/v1/tenants/{editor_member.tenant.slug}/assets:search"
    body = post(editor_member, path, {"query": query, "topK": 3}).json()
    assert len(embedding_server.requests) == 1
    assert body["results"][0]["assetId"] == str(openai_asset.id)
    assert body["results"][0]["score"] == pytest.approx(1.0)
    assert str(asset.id) in {r["assetId"] for r in body["results"]}
    billed = server_token_count(query)
    builtin = count_tokens(query)  # the built-in embedder bills cl100k_base tokens
    assert body["usage"]["queryTokens"] == billed + builtin
    assert body["usage"]["cost"] == pytest.approx(billed * 0.02 / 1_000_000)
    hybrid = post(editor_member, path, {"query": query, "searchMode": "HYBRID"}).json()
    assert {r["assetId"] for r in hybrid["results"][:2]} == {
        str(asset.id),
        str(openai_asset.id),
    }


def test_a_failing_embedding_provider_is_a_502_problem(editor_member, monkeypatch):
    monkeypatch.setenv("RAGDESK_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    asset = AssetFactory(
        tenant=editor_member.tenant, embedding_provider="openai",
        embedding_model="text-embedding-3-small", embedding_dimensions=1536,
    )  # fmt: skip
    response = post(editor_member, url(editor_member, asset), {"query": "days"})
    assert response.status_code == 502
    assert response.json()["type"] == "/v1/problems/embedding-failed"
    fts = post(
        editor_member,
        url(editor_member, asset),
        {"query": "x", "searchMode": "FULL_TEXT"},
    )
    assert fts.status_code == 200  # full text needs no embedding


def test_a_search_retries_a_failing_provider_only_briefly_then_502s(
    editor_member, embedding_server, settings
):
    settings.RAGDESK_EMBED_MAX_ATTEMPTS = 5  # ingestion's; a search takes fewer
    settings.RAGDESK_EMBED_SEARCH_MAX_ATTEMPTS = 2
    embedding_server.status = 503
    asset = AssetFactory(
        tenant=editor_member.tenant, embedding_provider="openai",
        embedding_model="text-embedding-3-small", embedding_dimensions=1536,
    )  # fmt: skip
    response = post(editor_member, url(editor_member, asset), {"query": "days"})
    assert response.status_code == 502
    assert "gave up after 2 attempt(s)" in response.json()["detail"]
    assert len(embedding_server.requests) == 2
