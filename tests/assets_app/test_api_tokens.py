"""Personal API tokens: the services (stored only as a hash, shown once, revocable,
last use recorded) and the dashboard page /account/tokens/ (create, list, revoke by
htmx or plain form post)."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from assets_app import api_tokens
from assets_app.api_tokens import (
    api_token_authenticate,
    api_token_create,
    api_token_revoke,
    api_tokens_of,
)
from assets_app.models import ApiToken
from config.errors import NotFound, ValidationFailed
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/account/tokens/"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def user(admin_member):
    return admin_member.user


def health(tenant, plain):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client.get(f"/v1/tenants/{tenant.slug}/auth/health")


# -- services --------------------------------------------------------------------------
def test_create_returns_the_plain_token_and_stores_only_its_hash(user):
    token, plain = api_token_create(user=user, name="  CI pipeline  ")
    assert re.fullmatch(r"rdk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", plain)
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.name == "CI pipeline"
    assert plain.startswith(f"rdk_{stored.prefix}_")
    assert stored.token_hash == hashlib.sha256(plain.encode()).hexdigest()
    secret = plain.split("_", 2)[2]
    row = [str(v) for v in ApiToken.objects.filter(pk=token.pk).values().get().values()]
    assert not any(secret in value for value in row)


def test_each_token_is_different(user):
    plains = {api_token_create(user=user, name="t")[1] for _ in range(5)}
    assert len(plains) == 5


@pytest.mark.parametrize("name", ["", "   ", None, "x" * 101])
def test_create_refuses_an_empty_or_overlong_name(user, name):
    with pytest.raises(ValidationFailed) as exc:
        api_token_create(user=user, name=name)
    assert "name" in exc.value.errors
    assert not ApiToken.objects.exists()


def test_create_draws_again_when_the_prefix_is_taken(user, monkeypatch):
    taken, _ = api_token_create(user=user, name="first")
    prefixes = iter([taken.prefix, "0badcafe"])
    monkeypatch.setattr(api_tokens.secrets, "token_hex", lambda n: next(prefixes))
    token, plain = api_token_create(user=user, name="second")
    assert token.prefix == "0badcafe" and plain.startswith("rdk_0badcafe_")
    assert api_token_authenticate(plain) == token


def test_authenticate_finds_the_token_and_records_its_last_use(user):
    token, plain = api_token_create(user=user, name="t")
    assert token.last_used_at is None
    found = api_token_authenticate(plain)
    assert found == token and found.user == user
    first_use = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first_use is not None
    # Within a minute, a use writes nothing (one write per token per minute at most).
    api_token_authenticate(plain)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first_use
    ApiToken.objects.filter(pk=token.pk).update(
        last_used_at=first_use - timedelta(minutes=5)
    )
    api_token_authenticate(plain)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first_use


def test_an_api_call_updates_last_used(admin_member, user):
    token, plain = api_token_create(user=user, name="t")
    before = timezone.now()
    assert health(admin_member.tenant, plain).status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at >= before


@pytest.mark.parametrize(
    "plain",
    [
        "",
        "rdk_",
        "rdk_deadbeef",
        "rdk_deadbeef_" + "x" * 43,
        "not-a-token",
    ],
)
def test_authenticate_refuses_unknown_tokens(user, plain):
    api_token_create(user=user, name="t")
    assert api_token_authenticate(plain) is None


def test_authenticate_refuses_a_right_prefix_with_a_wrong_secret(user):
    token, plain = api_token_create(user=user, name="t")
    assert api_token_authenticate(f"rdk_{token.prefix}_" + "A" * 43) is None


def test_revoked_token_is_refused_at_once_with_401(admin_member, user):
    token, plain = api_token_create(user=user, name="t")
    assert health(admin_member.tenant, plain).status_code == 200
    revoked = api_token_revoke(user=user, token_id=token.id)
    assert revoked.revoked_at is not None
    assert api_token_authenticate(plain) is None
    response = health(admin_member.tenant, plain)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_revoke_is_idempotent(user):
    token, _ = api_token_create(user=user, name="t")
    first = api_token_revoke(user=user, token_id=token.id).revoked_at
    assert api_token_revoke(user=user, token_id=token.id).revoked_at == first


def test_another_users_token_cannot_be_revoked(user, admin_member):
    token, plain = api_token_create(user=user, name="t")
    with pytest.raises(NotFound):
        api_token_revoke(user=UserFactory(), token_id=token.id)
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert health(admin_member.tenant, plain).status_code == 200


@pytest.mark.parametrize("token_id", ["abc", None, 10**30, -1])
def test_revoke_of_a_malformed_or_unknown_id_is_not_found(user, token_id):
    with pytest.raises(NotFound):
        api_token_revoke(user=user, token_id=token_id)


def test_tokens_of_lists_only_the_users_tokens_newest_first(user):
    a, _ = api_token_create(user=user, name="a")
    b, _ = api_token_create(user=user, name="b")
    api_token_create(user=UserFactory(), name="theirs")
    assert list(api_tokens_of(user=user)) == [b, a]


def test_a_deactivated_users_token_is_refused(admin_member, user):
    _, plain = api_token_create(user=user, name="t")
    user.is_active = False
    user.save()
    assert health(admin_member.tenant, plain).status_code == 401


# -- the page --------------------------------------------------------------------------
@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def test_page_requires_login(client, db):
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_create_shows_the_token_once_and_the_list_never_again(logged_in, user):
    response = logged_in.post(URL, {"name": "CI pipeline"}, follow=True)
    assert response.redirect_chain == [(URL, 302)]  # POST-redirect-GET
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=user)
    html = response.content.decode()
    box = html[html.index('id="token-created"') :]
    plain = re.search(r'value="(rdk_[^"]+)"', box).group(1)
    assert "only time it is shown" in box
    assert api_token_authenticate(plain) == token
    secret = plain.split("_", 2)[2]

    later = logged_in.get(URL).content.decode()
    assert "CI pipeline" in later and f"rdk_{token.prefix}…" in later
    assert secret not in later and token.token_hash not in later
    assert 'id="token-created"' not in later


def test_reloading_the_page_after_a_create_makes_no_second_token(logged_in, user):
    response = logged_in.post(URL, {"name": "CI pipeline"})
    assert response.status_code == 302 and response["Location"] == URL
    assert 'id="token-created"' in logged_in.get(URL).content.decode()
    reloaded = logged_in.get(URL)  # what a browser's reload repeats: the GET
    assert 'id="token-created"' not in reloaded.content.decode()
    assert ApiToken.objects.filter(user=user).count() == 1


def test_a_long_token_name_is_cut_in_the_list_and_a_too_long_one_refused(
    logged_in, user
):
    api_token_create(user=user, name="n" * 100)
    html = logged_in.get(URL).content.decode()
    assert "n" * 100 not in html.replace(f'title="{"n" * 100}"', "")
    assert "n" * 39 + "…" in html
    response = logged_in.post(URL, {"name": "x" * 300})
    assert response.status_code == 400 and "at most 100 characters" in (
        response.content.decode()
    )
    assert ApiToken.objects.filter(user=user).count() == 1


def test_create_with_an_empty_name_is_400_and_creates_nothing(logged_in):
    response = logged_in.post(URL, {"name": "  "})
    assert response.status_code == 400
    assert 'id="token-created"' not in response.content.decode()
    assert 'class="field has-error"' in response.content.decode()
    assert not ApiToken.objects.exists()


def test_list_shows_name_prefix_created_last_used_and_status(logged_in, user):
    used, used_plain = api_token_create(user=user, name="used one")
    api_token_authenticate(used_plain)
    idle, _ = api_token_create(user=user, name="idle one")
    gone, _ = api_token_create(user=user, name="gone one")
    api_token_revoke(user=user, token_id=gone.id)
    api_token_create(user=UserFactory(), name="someone else's")

    html = logged_in.get(URL).content.decode()

    def row(token):
        start = html.index(f'<tr id="token-{token.id}"')
        return html[start : html.index("</tr>", start)]

    assert "someone else" not in html
    assert f"rdk_{used.prefix}…" in row(used) and "used one" in row(used)
    def last_used_cell(token):
        return re.findall(r"<td[^>]*>(.*?)</td>", row(token), re.S)[3]

    last_used = ApiToken.objects.get(pk=used.pk).last_used_at
    assert last_used.strftime("%Y-%m-%d %H:%M UTC") in last_used_cell(used)
    assert "never" in last_used_cell(idle)
    assert used.created_at.strftime("%Y-%m-%d") in row(used)
    assert 'data-status="ACTIVE"' in row(idle) and "Revoke" in row(idle)
    assert 'data-status="REVOKED"' in row(gone) and "Revoke" not in row(gone)


def test_page_says_in_which_tenants_tokens_work(logged_in, admin_member):
    assert admin_member.tenant.slug in logged_in.get(URL).content.decode()


def test_revoke_with_htmx_swaps_the_row(logged_in, user):
    token, plain = api_token_create(user=user, name="t")
    response = logged_in.post(f"{URL}{token.id}/revoke/", **HTMX)
    assert response.status_code == 200
    html = response.content.decode().strip()
    assert html.startswith(f'<tr id="token-{token.id}"') and "<html" not in html
    assert 'data-status="REVOKED"' in html and "Revoke</button>" not in html
    assert api_token_authenticate(plain) is None


def test_revoke_without_js_redirects_back_with_a_message(logged_in, user):
    token, _ = api_token_create(user=user, name="nightly job")
    response = logged_in.post(f"{URL}{token.id}/revoke/")
    assert response.status_code == 302 and response["Location"] == URL
    page = logged_in.get(URL).content.decode()
    assert "nightly job" in page and "is revoked" in page
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


def test_revoke_of_another_users_token_is_404_and_changes_nothing(logged_in):
    theirs, _ = api_token_create(user=UserFactory(), name="theirs")
    assert logged_in.post(f"{URL}{theirs.id}/revoke/").status_code == 404
    assert logged_in.post(f"{URL}{theirs.id}/revoke/", **HTMX).status_code == 404
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None


def test_revoke_of_an_unknown_id_is_404(logged_in):
    assert logged_in.post(f"{URL}999999999/revoke/").status_code == 404
    assert logged_in.post(f"{URL}{10**30}/revoke/").status_code == 404


def test_revoke_needs_post(logged_in, user):
    token, _ = api_token_create(user=user, name="t")
    assert logged_in.get(f"{URL}{token.id}/revoke/").status_code == 405
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


def test_revoke_needs_the_csrf_token(client, user):
    from django.test import Client

    token, _ = api_token_create(user=user, name="t")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post(f"{URL}{token.id}/revoke/").status_code == 403
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


def test_every_page_links_to_the_tokens_page(logged_in, admin_member):
    html = logged_in.get(f"/t/{admin_member.tenant.slug}/").content.decode()
    assert f'href="{URL}"' in html
