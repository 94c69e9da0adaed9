"""The API's documentation (issue 3 "Documentation"): the OpenAPI 3 schema at
``/v1/openapi.json`` documents every route of config.api_urls with its responses and
Problem Details errors, and Swagger UI at ``/v1/docs`` loads nothing from a CDN."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.contrib.staticfiles import finders
from django.urls import URLPattern, URLResolver
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient
from rest_framework.views import APIView

from config import api_urls
from config.openapi import PROBLEM_MEDIA_TYPE

pytestmark = pytest.mark.django_db

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
NOT_DOCUMENTED = {"openapi.json", "docs"}  # the documentation itself


def _routes(patterns, prefix: str = ""):
    """``(openapi_path, view_class)`` of every route under /v1/ but the catch-all."""
    for p in patterns:
        route = str(p.pattern)
        if isinstance(p, URLResolver):
            yield from _routes(p.url_patterns, prefix + route)
        elif isinstance(p, URLPattern) and not route.startswith("^"):
            if prefix + route in NOT_DOCUMENTED:
                continue
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", prefix + route)
            yield f"/v1/{path}", p.callback.view_class


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        response = APIClient().get("/v1/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def test_openapi_json_is_a_valid_openapi_3_schema(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on an invalid document


def test_every_api_route_and_method_is_documented(schema):
    routes = dict(_routes(api_urls.urlpatterns))
    assert set(schema["paths"]) == set(routes)
    for path, view in routes.items():
        assert issubclass(view, APIView)
        methods = {m for m in HTTP_METHODS if hasattr(view, m)}
        assert set(schema["paths"][path]) == methods, path


def test_every_operation_documents_its_success_and_its_errors_as_problem_details(
    schema,
):
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            codes = {int(c) for c in op["responses"]}
            assert any(200 <= c < 300 for c in codes), (method, path)
            # No credential to refuse: the token endpoints, and a webhook URL that
            # is its own credential (a wrong one is a 404).
            assert {401, 429} <= codes or path.startswith("/v1/auth/token") or (
                path == "/v1/webhooks/{webhook_id}/{secret}" and 429 in codes
            )
            for code in (c for c in codes if c >= 400):
                content = op["responses"][str(code)]["content"]
                assert set(content) == {PROBLEM_MEDIA_TYPE}, (method, path, code)
                ref = content[PROBLEM_MEDIA_TYPE]["schema"]["$ref"]
                assert ref == "#/components/schemas/ProblemDetails"
            if "/tenants/" in path:
                assert op["security"] == [{"bearerAuth": []}]
                assert {403, 404} <= codes


def test_schema_declares_bearer_auth_paged_envelopes_and_examples(schema):
    components = schema["components"]
    assert components["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    page = components["schemas"]["DocumentPage"]
    assert set(page["properties"]) == {"items", "nextPageToken", "totalCount"}
    list_params = {
        p["name"]
        for p in schema["paths"]["/v1/tenants/{tenant}/operations"]["get"]["parameters"]
    }
    assert {"pageSize", "pageToken", "PageSize", "PageToken.Cursor"} <= list_params
    assert {"PageToken.Skip", "status", "type", "assetId"} <= list_params
    create = schema["paths"]["/v1/tenants/{tenant}/assets"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}
    assert create["requestBody"]["content"]["application/json"]["examples"]
    assert create["responses"]["200"]["content"]["application/json"]["examples"]
    patch = schema["paths"]["/v1/tenants/{tenant}/assets/{asset_id}"]["patch"]
    assert "If-Match" in {p["name"] for p in patch["parameters"]}
    assert "ETag" in patch["responses"]["200"]["headers"]
    # Unknown body members are a 400: request bodies say so.
    assert (
        components["schemas"]["AssetCreateInputRequest"]["additionalProperties"]
        is False
    )


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])


def test_swagger_ui_loads_only_local_static_files_no_cdn():
    response = APIClient().get("/v1/docs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    parser = _Assets()
    parser.feed(html)
    assert parser.urls, html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    for url in parser.urls:
        if url.startswith("/static/"):
            # A file the staticfiles finders serve (runserver; collectstatic).
            assert finders.find(url.removeprefix("/static/")), url
        else:
            assert url.startswith("/v1/docs"), url  # the UI's own init script
    script = APIClient().get("/v1/docs?script=")
    assert script.status_code == 200
    assert "/v1/openapi.json" in script.content.decode()
