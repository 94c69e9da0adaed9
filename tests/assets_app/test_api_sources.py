"""The API for web and git assets: their descriptors in ``assets:sourceTypes``,
``POST …/assets`` with validated parameters (400 Problem Details naming the parameter,
also for a refused address), the secret token read back masked, PATCH
``sourceConfig`` (a REFRESH)."""

from __future__ import annotations

import pytest

from assets_app.models import Asset
from operations_app.models import Operation, OperationStatus, OperationType
from tests.assets_app.test_api import api, assert_problem, asset_url, base

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.215.14"  # an address literal: checked without a DNS look-up


def create(member, source_type, **parameters):
    body = {"config": {"sourceType": source_type, "parameters": parameters}}
    return api(member).post(f"{base(member.tenant)}/assets", body, format="json")


def test_source_types_list_web_and_git_parameters(viewer_member):
    items = api(viewer_member).get(f"{base(viewer_member.tenant)}/assets:sourceTypes")
    by_key = {d["key"]: d for d in items.json()["items"]}
    web = {p["name"]: p for p in by_key["web"]["parameters"]}
    assert list(web) == ["url", "mode", "maxDepth", "maxPages", "include", "exclude"]
    assert web["url"]["required"] and web["mode"]["options"] == [
        "PAGE",
        "CRAWL",
        "SITEMAP",
    ]
    assert (web["maxPages"]["type"], web["maxPages"]["default"]) == ("integer", 100)
    assert (web["include"]["type"], web["include"]["default"]) == ("array", [])
    git = {p["name"]: p for p in by_key["git"]["parameters"]}
    assert list(git) == ["url", "branch", "include", "exclude", "token"]
    assert git["token"]["secret"] and not git["url"]["secret"]
    assert by_key["web"]["createWith"] == by_key["git"]["createWith"] == "assets"


def test_create_web_asset_returns_it_with_defaults_and_an_ingest(
    editor_member, no_enqueue
):
    response = create(editor_member, "WEB", url=f"http://{PUBLIC}/docs/", mode="CRAWL")
    assert response.status_code == 200, response.content
    asset = response.json()["asset"]
    assert asset["type"] == "WEB" and asset["displayName"] == f"http://{PUBLIC}/docs/"
    assert asset["config"] == {"sourceType": "web", "parameters": {
        "url": f"http://{PUBLIC}/docs/", "mode": "CRAWL", "maxDepth": 2,
        "maxPages": 100, "include": [], "exclude": []}}  # fmt: skip
    assert response.json()["operation"]["type"] == "INGEST"


def test_create_git_asset_masks_the_token(editor_member, no_enqueue):
    response = create(
        editor_member, "git", url=f"https://{PUBLIC}/r.git", token="s3cret"
    )
    assert response.status_code == 200, response.content
    params = response.json()["asset"]["config"]["parameters"]
    assert params["token"] == "********" and params["branch"] == ""
    again = api(editor_member).get(asset_url(Asset.objects.get())).json()
    assert again["config"]["parameters"]["token"] == "********"
    assert Asset.objects.get().source_parameters["token"] == "s3cret"


@pytest.mark.parametrize(
    ("source_type", "parameters", "name"),
    [
        ("web", {"url": "http://127.0.0.1:8000/"}, "url"),
        ("web", {"url": "http://169.254.169.254/latest/meta-data/"}, "url"),
        ("web", {"url": "http://[::1]/"}, "url"),
        ("web", {"url": "file:///etc/passwd"}, "url"),
        ("web", {"url": f"http://{PUBLIC}/", "maxPages": 0}, "maxPages"),
        ("web", {"url": f"http://{PUBLIC}/", "mode": "ALL"}, "mode"),
        ("web", {"url": f"http://{PUBLIC}/", "include": "/docs/*"}, "include"),
        ("web", {"mode": "PAGE"}, "url"),
        ("web", {"url": f"http://{PUBLIC}/", "colour": "blue"}, "colour"),
        ("git", {"url": "https://127.0.0.1/r.git"}, "url"),
        ("git", {"url": "https://169.254.169.254/r.git"}, "url"),
        ("git", {"url": f"https://{PUBLIC}/r.git", "branch": "a..b"}, "branch"),
        ("web", {"url": "http://1.1.1.1:99999/"}, "url"),
        ("web", {"url": "http://1.1.1.1:0/"}, "url"),
        ("git", {"url": "https://1.1.1.1:70000/r.git"}, "url"),
        ("git", {"url": "ssh://git@1.1.1.1:99999/r.git"}, "url"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_parameter(
    editor_member, source_type, parameters, name
):
    body = assert_problem(create(editor_member, source_type, **parameters), 400)
    assert list(body["errors"]) == [f"config.parameters.{name}"]
    assert not Asset.objects.exists() and not Operation.objects.exists()


@pytest.mark.parametrize(
    ("source_type", "parameters", "name"),
    [
        ("web", {"url": f"http://{PUBLIC}/", "include": ["/a\x00"]}, "include"),
        ("web", {"url": f"http://{PUBLIC}/\x00"}, "url"),
        ("git", {"url": f"https://{PUBLIC}/r.git", "branch": "ma\x00in"}, "branch"),
        ("git", {"url": f"https://{PUBLIC}/r.git", "token": "a\x00b"}, "token"),
        ("folder", {"path": "/srv/\x00"}, "path"),
    ],
)
def test_a_nul_character_in_a_parameter_is_a_400_naming_it(
    admin_member, source_type, parameters, name
):
    body = assert_problem(create(admin_member, source_type, **parameters), 400)
    assert body["errors"] == {f"config.parameters.{name}": [
        "Null characters are not allowed."]}  # fmt: skip
    assert not Asset.objects.exists()


def test_a_nul_character_in_a_patched_parameter_is_a_400(editor_member, no_enqueue):
    create(editor_member, "git", url=f"https://{PUBLIC}/r.git")
    parameters = {"url": f"https://{PUBLIC}/r.git", "exclude": ["x\x00"]}
    response = api(editor_member).patch(
        asset_url(Asset.objects.get()),
        {"sourceConfig": {"parameters": parameters}},
        format="json",
    )
    body = assert_problem(response, 400, "validation-failed")
    assert list(body["errors"]) == ["sourceConfig.parameters.exclude"]


@pytest.mark.parametrize(
    ("source_type", "url", "limit"),
    [
        ("web", f"http://{PUBLIC}/" + "a" * 1024, 1024),  # Document.source_key
        ("git", f"https://{PUBLIC}/" + "a" * 2048, 2048),
    ],
)
def test_a_url_too_long_to_store_is_a_400_naming_it(
    editor_member, source_type, url, limit
):
    body = assert_problem(create(editor_member, source_type, url=url), 400)
    assert body["errors"] == {"config.parameters.url": [
        f"At most {limit} characters (this one has {len(url)})."]}  # fmt: skip
    assert not Asset.objects.exists()


def test_an_unknown_parameter_names_the_source_type_by_its_key(editor_member):
    body = assert_problem(
        create(editor_member, "web", url=f"http://{PUBLIC}/", colour="blue"), 400
    )
    assert body["errors"] == {
        "config.parameters.colour": ["Unknown parameter of source type 'web'."]
    }


def test_refused_address_says_why(editor_member):
    body = assert_problem(
        create(editor_member, "web", url="http://169.254.169.254/"), 400
    )
    assert (
        "link-local" in body["detail"]
        and "RAGDESK_FETCH_ALLOW_NETWORKS" in body["detail"]
    )


@pytest.mark.parametrize("url", ["/srv/repo", "file:///srv/repo"])
def test_an_editor_naming_a_repository_on_the_server_is_403(editor_member, url):
    body = assert_problem(create(editor_member, "git", url=url), 403, "forbidden")
    assert "Only tenant admins" in body["detail"]
    assert list(body["errors"]) == ["config.parameters.url"]
    assert not Asset.objects.exists()


def test_an_editor_patching_in_a_repository_on_the_server_is_403(
    editor_member, no_enqueue
):
    create(editor_member, "git", url=f"https://{PUBLIC}/r.git")
    response = api(editor_member).patch(
        asset_url(Asset.objects.get()),
        {"sourceConfig": {"parameters": {"url": "/srv/repo"}}},
        format="json",
    )
    assert_problem(response, 403, "forbidden")
    assert Asset.objects.get().source_parameters["url"] == f"https://{PUBLIC}/r.git"


def test_viewer_cannot_create_a_web_asset(viewer_member):
    assert_problem(create(viewer_member, "web", url=f"http://{PUBLIC}/"), 403)


def test_patch_source_config_starts_a_refresh_and_keeps_the_token(
    editor_member, no_enqueue
):
    create(editor_member, "git", url=f"https://{PUBLIC}/r.git", token="s3cret")
    asset = Asset.objects.get()
    # The INGEST ended (a queued one would be joined, API.md "Refresh and concurrency").
    Operation.objects.update(status=OperationStatus.COMPLETED)
    response = api(editor_member).patch(asset_url(asset), {"sourceConfig": {
        "parameters": {"url": f"https://{PUBLIC}/r.git", "branch": "release"}}},
        format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["operation"]["type"] == "REFRESH"
    asset.refresh_from_db()
    assert (asset.source_parameters["branch"], asset.source_parameters["token"]) == (
        "release", "s3cret")  # fmt: skip


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (
            {"parameters": {"url": "https://127.0.0.1/r.git"}},
            "sourceConfig.parameters.url",
        ),
        ({"parameters": {"url": 5}}, "sourceConfig.parameters.url"),
        ({"sourceType": "web", "parameters": {"url": "x"}}, "sourceConfig.sourceType"),
    ],
)
def test_patch_with_a_bad_source_config_is_400_and_changes_nothing(
    editor_member, no_enqueue, config, field
):
    create(editor_member, "git", url=f"https://{PUBLIC}/r.git")
    asset = Asset.objects.get()
    before = asset.source_parameters
    body = assert_problem(
        api(editor_member).patch(
            asset_url(asset), {"sourceConfig": config}, format="json"
        ),
        400,
    )
    assert list(body["errors"]) == [field]
    asset.refresh_from_db()
    assert asset.source_parameters == before
    assert Operation.objects.filter(type=OperationType.REFRESH).count() == 0
