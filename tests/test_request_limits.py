"""Bodies over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (10 MB; files of a multipart upload
aside): 413 Problem Details ``payload-too-large`` on every /v1/ route (docs/api.md),
a plain 413 page in the dashboard; JSON nested too deeply for the parser: 400
``malformed-request`` — never a 500."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from assets_app.models import Asset
from tests.assets_app.test_api import api, assert_problem, asset_url, base, file_part
from tests.assets_app.test_views import create_url, login
from tests.factories import AssetFactory

pytestmark = pytest.mark.django_db

LIMIT = 1_000  # bytes, instead of 10 MB: the same code path, a faster test


@pytest.fixture
def small_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT


def big_json() -> str:
    return json.dumps({"name": "x" * LIMIT, "config": {"sourceType": "web"}})


def test_a_json_body_over_10_mb_is_413_problem_details(editor_member):
    body = json.dumps({"name": "x" * (10 * 1024 * 1024 + 1)})
    response = api(editor_member).post(
        f"{base(editor_member.tenant)}/assets", body, content_type="application/json"
    )
    problem = assert_problem(response, 413, "payload-too-large")
    assert "10 MB" in problem["detail"]
    assert not Asset.objects.exists()


@pytest.mark.parametrize(("method", "suffix"), [("post", ":refresh"), ("patch", "")])
def test_a_too_large_body_on_an_asset_is_413(
    editor_member, small_limit, method, suffix
):
    asset = AssetFactory(tenant=editor_member.tenant)
    response = getattr(api(editor_member), method)(
        asset_url(asset, suffix), big_json(), content_type="application/json"
    )
    assert_problem(response, 413, "payload-too-large")


def test_a_too_large_body_for_a_token_is_413_also_unauthenticated(db, small_limit):
    response = APIClient().post(
        "/v1/auth/token", big_json(), content_type="application/json"
    )
    assert_problem(response, 413, "payload-too-large")


def test_a_too_large_payload_part_of_an_upload_is_413(editor_member, small_limit):
    response = api(editor_member).post(
        f"{base(editor_member.tenant)}/assets:file",
        {"file": file_part("a.txt", "text"), "payload": big_json()},
        format="multipart",
    )
    assert_problem(response, 413, "payload-too-large")
    assert not Asset.objects.exists()


def test_a_too_large_dashboard_form_is_a_plain_413(client, editor_member, small_limit):
    response = login(client, editor_member).post(
        create_url(editor_member.tenant),
        {"kind": "web", "web-display_name": "x" * LIMIT, "web-url": "http://a.b/"},
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/plain")
    assert b"larger than" in response.content
    assert not Asset.objects.exists()


NESTED = "[" * 100_000  # deeper than Python's recursion limit


@pytest.mark.parametrize("path", ["/assets", "/assets:search-on-asset", "/auth/token"])
def test_json_nested_too_deeply_is_400_malformed_request(editor_member, path):
    if path == "/auth/token":
        url = "/v1/auth/token"
    elif path == "/assets":
        url = f"{base(editor_member.tenant)}/assets"
    else:
        url = asset_url(AssetFactory(tenant=editor_member.tenant), ":search")
    response = api(editor_member).post(url, NESTED, content_type="application/json")
    problem = assert_problem(response, 400, "malformed-request")
    assert "nested too deeply" in problem["detail"]


def test_a_payload_part_nested_too_deeply_is_400_naming_it(editor_member):
    response = api(editor_member).post(
        f"{base(editor_member.tenant)}/assets:file",
        {"file": file_part("a.txt", "text"), "payload": NESTED},
        format="multipart",
    )
    assert list(assert_problem(response, 400)["errors"]) == ["payload"]
    assert not Asset.objects.exists()
