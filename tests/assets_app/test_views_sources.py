"""The dashboard's web and git forms, built from the source-type descriptors: create
(inline errors, nothing written on error), settings (parameters change → REFRESH,
secrets never shown again)."""

from __future__ import annotations

import re

import pytest

from assets_app.models import Asset
from operations_app.models import Operation, OperationType
from tests.assets_app.test_views import create_url, detail_url, login, settings_url
from tests.factories import AssetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def allow_loopback(settings):
    settings.RAGDESK_FETCH_ALLOW_NETWORKS = ["127.0.0.0/8"]


def web_post(url, **extra) -> dict:
    return {"kind": "web", "web-display_name": "", "web-url": url, "web-mode": "CRAWL",
            "web-maxDepth": 1, "web-maxPages": 20, "web-include": "/docs/*\n\n/guide/*",
            "web-exclude": "", "web-chunk_size": 512, "web-chunk_overlap": 64,
            **extra}  # fmt: skip


def test_the_web_tab_shows_fields_from_the_descriptor(client, editor_member):
    html = login(client, editor_member).get(create_url(editor_member.tenant, "web"))
    html = html.content.decode()
    assert 'id="web-form"' in html
    for name in ("web-url", "web-mode", "web-maxDepth", "web-maxPages", "web-include"):
        assert f'name="{name}"' in html
    assert '<option value="SITEMAP"' in html


def test_editor_creates_a_web_asset_with_its_parameters(
    client, editor_member, allow_loopback, no_enqueue
):
    response = login(client, editor_member).post(
        create_url(editor_member.tenant), web_post("http://127.0.0.1:8/")
    )
    asset = Asset.objects.get()
    assert response.status_code == 302 and response["Location"] == detail_url(asset)
    assert asset.source_type == "web" and asset.display_name == "http://127.0.0.1:8/"
    assert asset.source_parameters == {
        "url": "http://127.0.0.1:8/", "mode": "CRAWL", "maxDepth": 1, "maxPages": 20,
        "include": ["/docs/*", "/guide/*"], "exclude": [],
    }  # fmt: skip
    assert Operation.objects.get().type == OperationType.INGEST


def test_a_refused_address_is_an_inline_error_and_writes_nothing(client, editor_member):
    response = login(client, editor_member).post(
        create_url(editor_member.tenant), web_post("http://169.254.169.254/latest/")
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="web-url-error"' in html and "link-local" in html
    assert not Asset.objects.exists() and not Operation.objects.exists()


def test_a_bad_number_is_an_inline_error(client, editor_member, allow_loopback):
    response = login(client, editor_member).post(
        create_url(editor_member.tenant),
        web_post("http://127.0.0.1:8/", **{"web-maxPages": 0}),
    )
    assert (
        response.status_code == 400
        and 'id="web-maxPages-error"' in response.content.decode()
    )
    assert not Asset.objects.exists()


def test_a_nul_character_in_a_pattern_is_an_inline_error(
    client, editor_member, allow_loopback
):
    response = login(client, editor_member).post(
        create_url(editor_member.tenant),
        web_post("http://127.0.0.1:8/", **{"web-include": "/a\x00"}),
    )
    html = response.content.decode()
    assert response.status_code == 400 and 'id="web-include-error"' in html
    assert "Null characters are not allowed." in html
    assert not Asset.objects.exists()


def test_a_url_too_long_to_store_is_an_inline_error(client, editor_member):
    response = login(client, editor_member).post(
        create_url(editor_member.tenant), web_post("http://127.0.0.1/" + "a" * 1500)
    )
    html = response.content.decode()
    assert response.status_code == 400 and 'id="web-url-error"' in html
    assert "At most 1024 characters" in html
    assert not Asset.objects.exists()


def test_git_form_keeps_the_token_secret(
    client, editor_member, no_enqueue, monkeypatch
):
    monkeypatch.setattr("assets_app.sources.git.check_url", lambda *a, **k: None)
    response = login(client, editor_member).post(create_url(editor_member.tenant), {
        "kind": "git", "git-display_name": "Handbook",
        "git-url": "https://git.example.com/handbook.git", "git-branch": "main",
        "git-include": "*.md", "git-exclude": "", "git-token": "s3cret",
        "git-chunk_size": 512, "git-chunk_overlap": 64,
    })  # fmt: skip
    assert response.status_code == 302
    asset = Asset.objects.get()
    assert asset.source_parameters["token"] == "s3cret"
    html = client.get(settings_url(asset)).content.decode()
    assert "s3cret" not in html and 'name="token"' in html
    token_input = re.search(r'<input[^>]*name="token"[^>]*>', html).group(0)
    assert 'type="password"' in token_input and "value=" not in token_input


def test_settings_change_of_parameters_starts_a_refresh_and_keeps_the_secret(
    client, editor_member, no_enqueue, monkeypatch
):
    monkeypatch.setattr("assets_app.sources.git.check_url", lambda *a, **k: None)
    asset = AssetFactory(tenant=editor_member.tenant, source_type="git", source_parameters={
        "url": "https://git.example.com/r.git", "branch": "main", "include": [],
        "exclude": [], "token": "s3cret"})  # fmt: skip
    response = login(client, editor_member).post(settings_url(asset), {
        "display_name": asset.display_name, "chunk_size": asset.chunk_size,
        "chunk_overlap": asset.chunk_overlap, "url": "https://git.example.com/r.git",
        "branch": "release", "include": "docs/**", "exclude": "", "token": "",
    })  # fmt: skip
    assert response.status_code == 302
    asset.refresh_from_db()
    assert asset.source_parameters["branch"] == "release"
    assert asset.source_parameters["include"] == ["docs/**"]
    assert asset.source_parameters["token"] == "s3cret"
    assert Operation.objects.get(asset=asset).type == OperationType.REFRESH


def test_settings_with_a_refused_url_show_the_error_and_save_nothing(
    client, editor_member
):
    params = {"url": "http://93.184.215.14/", "mode": "PAGE", "maxDepth": 2,
              "maxPages": 100, "include": [], "exclude": []}  # fmt: skip
    asset = AssetFactory(tenant=editor_member.tenant, source_type="web",
                         source_parameters=params)  # fmt: skip
    response = login(client, editor_member).post(settings_url(asset), {
        "display_name": asset.display_name, "chunk_size": asset.chunk_size,
        "chunk_overlap": asset.chunk_overlap, "url": "http://127.0.0.1/",
        "mode": "PAGE", "maxDepth": 2, "maxPages": 100, "include": "", "exclude": "",
    })  # fmt: skip
    assert response.status_code == 400 and 'id="url-error"' in response.content.decode()
    asset.refresh_from_db()
    assert asset.source_parameters == params and not Operation.objects.exists()
