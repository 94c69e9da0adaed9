"""The search playground and a document's chunk page through Django's test client:
results with escaped, highlighted matches linking to the chunk, the htmx fragment,
errors shown inline, roles."""

from __future__ import annotations

import pytest

from assets_app.models import Role
from tests.factories import AssetFactory, MembershipFactory
from tests.search_corpus import add_document

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
TEXTS = [
    "Holidays: every employee gets thirty vacation days <b>per</b> year.",
    "The deployment pipeline builds containers and deploys them to Kubernetes.",
]


@pytest.fixture
def asset(editor_member):
    asset = AssetFactory(tenant=editor_member.tenant, display_name="Handbook")
    add_document(asset, "handbook.md", TEXTS)
    return asset


def search_url(asset, **query) -> str:
    from urllib.parse import urlencode

    base = f"/t/{asset.tenant.slug}/assets/{asset.id}/search/"
    return base + (f"?{urlencode(query)}" if query else "")


def test_playground_shows_the_form_without_searching(client, editor_member, asset):
    client.force_login(editor_member.user)
    response = client.get(search_url(asset))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="search-form"' in html and 'class="result"' not in html


@pytest.mark.parametrize("mode", ["VECTOR", "FULL_TEXT", "HYBRID"])
def test_results_highlight_matches_escaped_and_link_to_the_chunk(
    client, editor_member, asset, mode
):
    client.force_login(editor_member.user)
    response = client.get(search_url(asset, query="vacation days", searchMode=mode))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<mark>vacation</mark>" in html
    assert "&lt;b&gt;per" in html and "<b>per" not in html
    document = asset.documents.get()
    chunk = document.chunks.get(chunk_index=0)
    link = f"/t/{asset.tenant.slug}/assets/{asset.id}/documents/{document.id}/"
    assert f'href="{link}#chunk-{chunk.id}"' in html
    page = client.get(link).content.decode()
    assert f'id="chunk-{chunk.id}"' in page and "&lt;b&gt;per" in page


def test_htmx_gets_only_the_results_fragment(client, editor_member, asset):
    client.force_login(editor_member.user)
    response = client.get(search_url(asset, query="kubernetes"), headers=HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="search-results"')
    assert "deployment pipeline" in html and "<h1>" not in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"query": ""}, "required"),
        ({"query": "x\x00y"}, "Null characters"),
        ({"query": "x", "topK": "0"}, "greater than or equal to 1"),
        ({"query": "x", "searchMode": "HYBRID", "vectorWeight": "0", "ftsWeight": "0"},
         "Both weights are 0"),
    ],
)  # fmt: skip
def test_bad_input_is_shown_inline(client, editor_member, asset, query, message):
    client.force_login(editor_member.user)
    response = client.get(search_url(asset, **query))
    assert response.status_code == 400
    assert message in response.content.decode()
    fragment = client.get(search_url(asset, **query), headers=HTMX)
    assert fragment.status_code == 200 and message in fragment.content.decode()


@pytest.mark.parametrize("query", ["C++ & (", "'", "!!"])
def test_hostile_queries_render(client, editor_member, asset, query):
    client.force_login(editor_member.user)
    for mode in ("VECTOR", "FULL_TEXT", "HYBRID"):
        response = client.get(search_url(asset, query=query, searchMode=mode))
        assert response.status_code == 200, (query, mode)


def test_viewer_sees_why_it_cannot_search(client, editor_member, asset):
    viewer = MembershipFactory(tenant=editor_member.tenant, role=Role.VIEWER)
    client.force_login(viewer.user)
    assert 'id="read-only-notice"' in client.get(search_url(asset)).content.decode()
    response = client.get(search_url(asset, query="vacation"))
    assert response.status_code == 403
    assert "cannot search" in response.content.decode()


def test_tenant_playground_searches_every_asset(client, editor_member, asset):
    other = AssetFactory(tenant=editor_member.tenant, display_name="Runbook")
    add_document(other, "runbook.md", ["Restart the Kubernetes deployment."])
    client.force_login(editor_member.user)
    html = client.get(
        f"/t/{asset.tenant.slug}/search/?query=kubernetes+deployment&searchMode=HYBRID"
    ).content.decode()
    assert "handbook.md" in html and "runbook.md" in html and "Runbook" in html


def test_tenant_playground_says_which_assets_a_spent_budget_left_out(
    client, editor_member, asset
):
    spent = AssetFactory(
        tenant=editor_member.tenant, display_name="Runbook", daily_token_budget=0
    )
    add_document(spent, "runbook.md", ["Restart the Kubernetes deployment."])
    client.force_login(editor_member.user)
    html = client.get(
        f"/t/{asset.tenant.slug}/search/?query=kubernetes+deployment"
    ).content.decode()
    assert "runbook.md" not in html and 'id="search-skipped"' in html
    assert "Runbook: The daily token budget (dailyTokenBudget) is exhausted" in html


def test_document_page_pages_through_chunks(client, editor_member, asset):
    document = add_document(asset, "long.md", [f"part {i}" for i in range(130)])
    client.force_login(editor_member.user)
    url = f"/t/{asset.tenant.slug}/assets/{asset.id}/documents/{document.id}/"
    first = client.get(url).content.decode()
    assert "part 99<" in first and "part 100<" not in first and "?start=100" in first
    second = client.get(url + "?start=100").content.decode()
    assert "part 100<" in second and "part 129<" in second and "?start=0" in second
    assert client.get(url + "?start=-1").status_code == 200
