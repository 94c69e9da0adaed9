"""Auth endpoints and the API's error framework (API.md "Conventions"): JWTs from
``POST /v1/auth/token`` and ``:refresh``, personal API tokens, ``auth/health``, Problem
Details on every 4xx and on a 500 (with the request id of the logs), and per-token
throttling."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from assets_app.api_tokens import api_token_create, api_token_revoke
from config.api_auth import PerTokenThrottle
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
PASSWORD = "pw-test-123"  # tests.factories.UserFactory


def health_url(tenant) -> str:
    return f"/v1/tenants/{tenant.slug}/auth/health"


def bearer(token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def jwt(user) -> str:
    return str(RefreshToken.for_user(user).access_token)


def assert_problem(response, status, type_suffix=None) -> dict:
    """``response`` is RFC 9457 Problem Details with every member API.md names."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert {"type", "title", "status", "detail", "instance", "requestId"} <= set(body)
    assert body["type"].startswith("/v1/problems/")
    assert body["status"] == status
    assert body["instance"] == response.wsgi_request.path
    assert body["requestId"] == response["X-Request-ID"]
    assert isinstance(body["detail"], str) and "ErrorDetail" not in body["detail"]
    if type_suffix:
        assert body["type"] == f"/v1/problems/{type_suffix}"
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
    return body


# -- POST /v1/auth/token ---------------------------------------------------------------
def test_token_with_good_credentials_returns_access_and_refresh(admin_member):
    response = APIClient().post(
        "/v1/auth/token", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert (
        bearer(body["access"]).get(health_url(admin_member.tenant)).status_code == 200
    )


@pytest.mark.parametrize(
    "username, password", [("alice", "wrong"), ("nobody", PASSWORD)]
)
def test_token_with_bad_credentials_is_401_problem(admin_member, username, password):
    response = APIClient().post(
        "/v1/auth/token", {"username": username, "password": password}, format="json"
    )
    body = assert_problem(response, 401, "unauthenticated")
    assert "password" in body["detail"]


def test_token_for_an_inactive_user_is_401(admin_member):
    admin_member.user.is_active = False
    admin_member.user.save()
    response = APIClient().post(
        "/v1/auth/token", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert_problem(response, 401)


def test_token_without_fields_is_400_naming_them(db):
    body = assert_problem(
        APIClient().post("/v1/auth/token", {}, format="json"), 400, "validation-failed"
    )
    assert set(body["errors"]) == {"username", "password"}


def test_token_with_unknown_fields_is_400_naming_them(admin_member):
    response = APIClient().post(
        "/v1/auth/token",
        {"username": "alice", "password": PASSWORD, "tenant": "x", "otp": "1"},
        format="json",
    )
    body = assert_problem(response, 400, "validation-failed")
    assert set(body["errors"]) == {"tenant", "otp"}
    assert "tenant" in body["detail"] and "otp" in body["detail"]


def test_token_with_malformed_json_is_400_problem(db):
    response = APIClient().post(
        "/v1/auth/token", '{"username": ', content_type="application/json"
    )
    assert_problem(response, 400, "malformed-request")


def test_token_with_an_unsupported_media_type_is_415_problem(db):
    response = APIClient().post(
        "/v1/auth/token", "username=alice", content_type="text/plain"
    )
    assert_problem(response, 415, "unsupported-media-type")


def test_get_on_token_is_405_problem(db):
    response = APIClient().get("/v1/auth/token")
    assert_problem(response, 405, "method-not-allowed")
    assert "POST" in response["Allow"]


# -- POST /v1/auth/token:refresh -------------------------------------------------------
def test_refresh_returns_a_working_access_token(admin_member):
    refresh = RefreshToken.for_user(admin_member.user)
    response = APIClient().post(
        "/v1/auth/token:refresh", {"refresh": str(refresh)}, format="json"
    )
    assert response.status_code == 200
    access = response.json()["access"]
    assert bearer(access).get(health_url(admin_member.tenant)).status_code == 200


@pytest.mark.parametrize("kind", ["garbage", "access-token", "expired"])
def test_refresh_with_a_bad_token_is_401_problem(admin_member, kind):
    refresh = RefreshToken.for_user(admin_member.user)
    if kind == "expired":
        refresh.set_exp(lifetime=-timedelta(seconds=1))
    token = {
        "garbage": "abc.def.ghi",
        "access-token": str(refresh.access_token),
        "expired": str(refresh),
    }[kind]
    response = APIClient().post(
        "/v1/auth/token:refresh", {"refresh": token}, format="json"
    )
    assert_problem(response, 401, "unauthenticated")


@pytest.mark.parametrize("change", ["deleted", "inactive", "password"])
def test_refresh_for_a_deleted_inactive_or_repassworded_user_is_401(
    admin_member, change
):
    user = admin_member.user
    refresh = str(RefreshToken.for_user(user))
    if change == "deleted":
        user.delete()
    elif change == "inactive":
        user.is_active = False
        user.save()
    else:
        user.set_password("a-new-password-1")
        user.save()
    response = APIClient().post(
        "/v1/auth/token:refresh", {"refresh": refresh}, format="json"
    )
    assert_problem(response, 401, "unauthenticated")


def test_refresh_with_unknown_fields_is_400_naming_them(admin_member):
    refresh = str(RefreshToken.for_user(admin_member.user))
    response = APIClient().post(
        "/v1/auth/token:refresh",
        {"refresh": refresh, "access": "x", "scope": "all"},
        format="json",
    )
    body = assert_problem(response, 400, "validation-failed")
    assert set(body["errors"]) == {"access", "scope"}


# -- GET /v1/tenants/{tenant}/auth/health ----------------------------------------------
def test_health_with_a_jwt_names_user_role_and_expiry(viewer_member):
    access = RefreshToken.for_user(viewer_member.user).access_token
    response = bearer(access).get(health_url(viewer_member.tenant))
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "user": "vera",
        "tenant": viewer_member.tenant.slug,
        "tenantId": str(viewer_member.tenant.id),
        "role": "VIEWER",
        "credential": "JWT",
        "expiresAt": access["exp"] * 1000,
    }
    fifteen_minutes_ms = 15 * 60 * 1000
    assert abs(body["expiresAt"] - (time.time() * 1000 + fifteen_minutes_ms)) < 60_000


def test_health_with_an_api_token_works_in_every_tenant_of_the_user(admin_member):
    second = TenantFactory()
    admin_member.user.memberships.create(tenant=second, role="EDITOR")
    _, plain = api_token_create(user=admin_member.user, name="ci")
    client = bearer(plain)
    first = client.get(health_url(admin_member.tenant)).json()
    assert (first["role"], first["credential"], first["expiresAt"]) == (
        "ADMIN",
        "API_TOKEN",
        None,
    )
    assert client.get(health_url(second)).json()["role"] == "EDITOR"


def _credential(kind, user):
    if kind == "jwt-garbage":
        return "abc.def.ghi"
    if kind == "jwt-expired":
        token = AccessToken.for_user(user)
        token.set_exp(lifetime=-timedelta(seconds=1))
        return str(token)
    if kind == "jwt-refresh-as-access":
        return str(RefreshToken.for_user(user))
    if kind == "jwt-revoked":  # a password change revokes every JWT of the user
        token = jwt(user)
        user.set_password("a-new-password-1")
        user.save()
        return token
    if kind == "jwt-inactive-user":
        token = jwt(user)
        user.is_active = False
        user.save()
        return token
    if kind == "api-unknown":
        return "rdk_deadbeef_" + "x" * 43
    token, plain = api_token_create(user=user, name="t")
    if kind == "api-revoked":
        api_token_revoke(user=user, token_id=token.id)
        return plain
    if kind == "api-wrong-secret":
        return plain[:-4] + ("aaaa" if not plain.endswith("aaaa") else "bbbb")
    if kind == "api-inactive-user":
        user.is_active = False
        user.save()
        return plain
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "jwt-garbage",
        "jwt-expired",
        "jwt-refresh-as-access",
        "jwt-revoked",
        "jwt-inactive-user",
        "api-unknown",
        "api-revoked",
        "api-wrong-secret",
        "api-inactive-user",
    ],
)
def test_health_with_a_bad_credential_is_401_problem(admin_member, kind):
    token = _credential(kind, admin_member.user)
    assert_problem(
        bearer(token).get(health_url(admin_member.tenant)), 401, "unauthenticated"
    )


@pytest.mark.parametrize("header", [None, "Bearer", "Basic YWxpY2U6cHc=", "Token abc"])
def test_health_without_a_bearer_credential_is_401_problem(admin_member, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    body = assert_problem(client.get(health_url(admin_member.tenant)), 401)
    if header is None:
        assert "Authorization: Bearer" in body["detail"]


@pytest.mark.parametrize("credential", ["jwt", "api"])
def test_health_for_a_non_member_is_403_problem(admin_member, credential):
    stranger = TenantFactory()
    token = (
        jwt(admin_member.user)
        if credential == "jwt"
        else api_token_create(user=admin_member.user, name="t")[1]
    )
    body = assert_problem(bearer(token).get(health_url(stranger)), 403, "forbidden")
    assert stranger.slug in body["detail"]


def test_health_of_an_unknown_tenant_is_404_problem(admin_member):
    response = bearer(jwt(admin_member.user)).get(
        "/v1/tenants/no-such-tenant/auth/health"
    )
    assert_problem(response, 404, "not-found")


def test_a_jwt_members_user_and_membership_are_read_in_one_query(admin_member):
    client = bearer(jwt(admin_member.user))
    with CaptureQueriesContext(connection) as ctx:
        body = client.get(health_url(admin_member.tenant)).json()
    reads = [q["sql"] for q in ctx.captured_queries]
    of_user = [sql for sql in reads if '"auth_user"' in sql]
    assert len(of_user) == 1 and '"assets_app_membership"' in of_user[0]
    assert not [s for s in reads if '"assets_app_membership"' in s and s != of_user[0]]
    assert body["role"] == admin_member.role


def test_unauthenticated_beats_unknown_tenant(db):
    assert_problem(APIClient().get("/v1/tenants/no-such-tenant/auth/health"), 401)


def test_unknown_api_path_is_404_problem(admin_member):
    client = bearer(jwt(admin_member.user))
    assert_problem(client.get("/v1/nothing/here"), 404, "not-found")
    assert_problem(
        client.post(f"/v1/tenants/{admin_member.tenant.slug}/auth/health:frob"),
        404,
        "not-found",
    )


# -- 500 -------------------------------------------------------------------------------
def test_an_unhandled_error_is_a_500_problem_with_the_logged_request_id(
    admin_member, monkeypatch, caplog
):
    def explode(**kwargs):
        raise RuntimeError("db password is hunter2")

    monkeypatch.setattr("operations_app.selectors.operation_list", explode)
    client = bearer(jwt(admin_member.user))
    with caplog.at_level(logging.ERROR, logger="ragdesk.api"):
        response = client.get(f"/v1/tenants/{admin_member.tenant.slug}/operations")

    body = assert_problem(response, 500, "internal-error")
    assert set(body) == {"type", "title", "status", "detail", "instance", "requestId"}
    raw = response.content.decode()
    for leak in ("hunter2", "Traceback", "RuntimeError", "explode", ".py"):
        assert leak not in raw
    logged = [r for r in caplog.records if r.name == "ragdesk.api"]
    assert len(logged) == 1
    assert body["requestId"] in logged[0].getMessage()
    assert logged[0].exc_info and "hunter2" in str(logged[0].exc_info[1])


def test_a_sane_incoming_request_id_is_kept(admin_member, monkeypatch):
    monkeypatch.setattr("operations_app.selectors.operation_list", lambda **kw: 1 / 0)
    client = bearer(jwt(admin_member.user))
    response = client.get(
        f"/v1/tenants/{admin_member.tenant.slug}/operations",
        HTTP_X_REQUEST_ID="client-req-0001",
    )
    assert response["X-Request-ID"] == "client-req-0001"
    assert assert_problem(response, 500)["requestId"] == "client-req-0001"
    odd = client.get(health_url(admin_member.tenant), HTTP_X_REQUEST_ID="<script>")
    assert odd["X-Request-ID"] != "<script>" and len(odd["X-Request-ID"]) == 32


# -- throttling ------------------------------------------------------------------------
@pytest.fixture
def rate_3_per_minute(monkeypatch):
    monkeypatch.setattr(PerTokenThrottle, "rate", "3/min", raising=False)


def test_fourth_request_in_a_minute_is_429_with_retry_after(
    admin_member, rate_3_per_minute
):
    _, plain = api_token_create(user=admin_member.user, name="ci")
    client = bearer(plain)
    for _ in range(3):
        assert client.get(health_url(admin_member.tenant)).status_code == 200
    response = client.get(health_url(admin_member.tenant))
    body = assert_problem(response, 429, "rate-limited")
    retry = int(response["Retry-After"])
    assert 1 <= retry <= 60
    assert body["retryAfter"] == retry


def test_throttling_is_per_token(admin_member, rate_3_per_minute):
    user = admin_member.user
    first, second = (bearer(api_token_create(user=user, name=n)[1]) for n in ("a", "b"))
    for _ in range(3):
        first.get(health_url(admin_member.tenant))
    assert first.get(health_url(admin_member.tenant)).status_code == 429
    assert second.get(health_url(admin_member.tenant)).status_code == 200
    assert bearer(jwt(user)).get(health_url(admin_member.tenant)).status_code == 200


def test_token_endpoint_is_throttled_per_client(admin_member, rate_3_per_minute):
    client = APIClient()
    for _ in range(3):
        client.post(
            "/v1/auth/token", {"username": "alice", "password": "x"}, format="json"
        )
    response = client.post(
        "/v1/auth/token", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert_problem(response, 429)
    assert int(response["Retry-After"]) >= 1
