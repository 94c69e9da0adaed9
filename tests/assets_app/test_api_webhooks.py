"""Auto-update over the API (issue 5): ``autoUpdate`` on create and PATCH, the
webhook shown once, ``:regenerateWebhook``, and deliveries to
``/v1/webhooks/{webhookId}[/{secret}]`` — signed (HMAC over "<timestamp>.<body>",
GitHub's X-Hub-Signature-256), stale, replayed, rotated, URL_SECRET, a GitHub push
naming the changed files of a real repository, a burst of deliveries, tenancy."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from assets_app.models import AssetAutoUpdate, AssetWebhook, Document, Role
from operations_app.models import (
    IdempotencyRecord,
    Operation,
    OperationStatus,
    OperationType,
)
from operations_app.services import operation_finish, operation_start
from tests.assets_app.test_source_git import Repo, text
from tests.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db
S = OperationStatus
PROBLEM = "application/problem+json"
GIT = {"sourceType": "git", "parameters": {"url": "https://93.184.215.14/r.git"}}
WEB = {"sourceType": "web", "parameters": {"url": "http://93.184.215.14/"}}


def api(member) -> APIClient:
    client = APIClient()
    token = RefreshToken.for_user(member.user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def assets_url(member) -> str:
    return f"/v1/tenants/{member.tenant.slug}/assets"


def create(member, config=GIT, **body):
    response = api(member).post(
        assets_url(member), {"config": config, **body}, format="json"
    )
    assert response.status_code == 200, response.content
    return response


def with_webhook(member, mode="HMAC_SHA256", config=GIT, **auto):
    """A new asset with a webhook; ``(asset id, webhook as shown once)``."""
    body = create(member, config, autoUpdate={
        "strategy": "WEBHOOK", "webhookAuthMode": mode, **auto}).json()  # fmt: skip
    return body["asset"]["id"], body["webhook"]


def signed(secret: str, body: bytes, *, at: int | None = None, delivery=None) -> dict:
    stamp = str(int(time.time()) if at is None else at)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    headers = {
        "HTTP_X_SIGNATURE_256": f"sha256={digest.hexdigest()}",
        "HTTP_X_SIGNATURE_TIMESTAMP": stamp,
    }
    if delivery:
        headers["HTTP_X_DELIVERY_ID"] = delivery
    return headers


def github(secret: str, body: bytes, *, event="push", delivery=None) -> dict:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "HTTP_X_HUB_SIGNATURE_256": f"sha256={digest}",
        "HTTP_X_GITHUB_EVENT": event,
        "HTTP_X_GITHUB_DELIVERY": delivery or str(uuid.uuid4()),
    }


def deliver(url: str, body: bytes = b"{}", **headers):
    return APIClient().post(url, data=body, content_type="application/json", **headers)


def problem(response, status: int, kind: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"] == f"/v1/problems/{kind}", body
    return body


# -- minting and showing once -------------------------------------------------------
def test_create_with_a_webhook_shows_url_and_secret_once(admin_member, no_enqueue):
    response = create(admin_member, autoUpdate={"strategy": "WEBHOOK"})
    body = response.json()
    hook = body["webhook"]
    assert response["Cache-Control"] == "no-store"
    assert hook["webhookUrl"] == f"http://testserver/v1/webhooks/{hook['id']}"
    assert hook["signingSecret"].startswith("whsec_")
    assert (hook["authMode"], hook["status"], hook["provider"]) == (
        "HMAC_SHA256", "ACTIVE", "GITHUB")  # fmt: skip
    asset = body["asset"]
    assert asset["autoUpdate"] is True and asset["lastPolledAt"] is None
    assert asset["autoUpdateConfig"] == {
        "strategy": "WEBHOOK", "pollFrequency": None, "pollDay": None,
        "pollDayOfMonth": None, "pollHour": None, "pollMinute": None,
        "timezone": None, "filter": None, "webhookAuthMode": "HMAC_SHA256",
    }  # fmt: skip
    read = api(admin_member).get(f"{assets_url(admin_member)}/{asset['id']}").json()
    assert "webhook" not in read and hook["signingSecret"] not in json.dumps(read)
    assert read["supportsWebhookRegistration"] is True


def test_an_idempotent_replay_of_the_create_does_not_show_the_secret_again(
    admin_member, no_enqueue
):
    client = api(admin_member)
    body = {"config": GIT, "autoUpdate": {"strategy": "WEBHOOK"}}
    first = client.post(assets_url(admin_member), body, format="json",
                        HTTP_IDEMPOTENCY_KEY="k1")  # fmt: skip
    again = client.post(assets_url(admin_member), body, format="json",
                        HTTP_IDEMPOTENCY_KEY="k1")  # fmt: skip
    assert again["Idempotent-Replayed"] == "true"
    shown = first.json()["webhook"]
    replayed = again.json()["webhook"]
    assert replayed["id"] == shown["id"]
    assert replayed["webhookUrl"] is None and replayed["signingSecret"] is None
    stored = json.dumps(list(IdempotencyRecord.objects.values("response_body")))
    assert shown["signingSecret"] not in stored and shown["webhookUrl"] not in stored


def test_an_editor_cannot_create_a_webhook_and_nothing_is_created(
    editor_member, no_enqueue
):
    response = api(editor_member).post(
        assets_url(editor_member),
        {"config": GIT, "autoUpdate": {"strategy": "WEBHOOK"}}, format="json",
    )  # fmt: skip
    problem(response, 403, "forbidden")
    assert not Operation.objects.exists() and not AssetWebhook.objects.exists()


def test_create_with_a_poll_schedule_answers_without_webhook(editor_member, no_enqueue):
    body = create(editor_member, WEB, autoUpdate={
        "strategy": "POLL", "pollFrequency": "MONTHLY", "pollDayOfMonth": 1,
        "pollHour": 4, "timezone": "Europe/Berlin"}).json()  # fmt: skip
    assert set(body) == {"asset", "operation"}
    config = body["asset"]["autoUpdateConfig"]
    assert (config["pollFrequency"], config["pollDayOfMonth"], config["pollHour"],
            config["pollMinute"], config["timezone"]) == (
        "MONTHLY", 1, 4, 0, "Europe/Berlin")  # fmt: skip


@pytest.mark.parametrize(
    ("auto_update", "field"),
    [
        ({"strategy": "POLL", "pollFrequency": "DAILY", "timezone": "Berlin"},
         "autoUpdate.timezone"),
        ({"strategy": "POLL", "pollFrequency": "YEARLY"}, "autoUpdate.pollFrequency"),
        ({"strategy": "POLL", "pollFrequency": "DAILY", "pollHour": 24},
         "autoUpdate.pollHour"),
        ({"strategy": "POLL", "pollFrequency": "MONTHLY", "pollDayOfMonth": 31},
         "autoUpdate.pollDayOfMonth"),
        ({"strategy": "WEBHOOK"}, "autoUpdate.strategy"),  # web: no webhook
        ({"strategy": "POLL", "every": "day"}, "autoUpdate.every"),
    ],
)  # fmt: skip
def test_invalid_auto_update_is_400_naming_the_field_and_creates_nothing(
    admin_member, no_enqueue, auto_update, field
):
    response = api(admin_member).post(
        assets_url(admin_member), {"config": WEB, "autoUpdate": auto_update},
        format="json",
    )  # fmt: skip
    assert field in problem(response, 400, "validation-failed")["errors"]
    assert not Operation.objects.exists() and not AssetAutoUpdate.objects.exists()


def test_upload_assets_refuse_auto_update(editor_member, no_enqueue):
    from django.core.files.uploadedfile import SimpleUploadedFile

    payload = json.dumps({"autoUpdate": {"strategy": "POLL", "pollFrequency": "DAILY"}})
    response = api(editor_member).post(
        f"{assets_url(editor_member)}:file",
        {"file": SimpleUploadedFile("a.txt", b"text"), "payload": payload},
        format="multipart",
    )
    errors = problem(response, 400, "validation-failed")["errors"]
    assert "cannot update themselves" in errors["autoUpdate"][0]


# -- PATCH ------------------------------------------------------------------------
def test_patch_replaces_the_settings_and_disable_wins(admin_member, no_enqueue):
    asset_id, hook = with_webhook(admin_member)
    url = f"{assets_url(admin_member)}/{asset_id}"
    client = api(admin_member)
    poll = {"strategy": "POLL", "pollFrequency": "HOURLY", "pollMinute": 15}
    response = client.patch(url, {"autoUpdate": poll}, format="json")
    assert response.status_code == 200 and "webhook" not in response.json()
    assert response.json()["asset"]["autoUpdateConfig"]["pollFrequency"] == "HOURLY"
    assert AssetWebhook.objects.get(pk=hook["id"]).status == "REVOKED"
    back = client.patch(url, {"autoUpdate": {"strategy": "WEBHOOK",
                        "webhookAuthMode": "URL_SECRET"}}, format="json")  # fmt: skip
    minted = back.json()["webhook"]
    assert minted["authMode"] == "URL_SECRET" and minted["signingSecret"] is None
    assert minted["webhookUrl"].startswith(f"http://testserver/v1/webhooks/{minted['id']}/")
    off = client.patch(
        url, {"autoUpdate": poll, "disableAutoUpdate": True}, format="json"
    )
    assert off.status_code == 200
    assert off.json()["asset"]["autoUpdate"] is False
    assert off.json()["asset"]["autoUpdateConfig"] is None
    assert not AssetWebhook.objects.filter(status="ACTIVE").exists()


def test_patch_may_send_back_the_config_it_read(admin_member, no_enqueue):
    asset_id, _ = with_webhook(admin_member, filter="docs/**")
    url = f"{assets_url(admin_member)}/{asset_id}"
    read = api(admin_member).get(url).json()["autoUpdateConfig"]
    response = api(admin_member).patch(url, {"autoUpdate": read}, format="json")
    assert response.status_code == 200 and "webhook" not in response.json()


def test_a_patch_whose_auto_update_fails_changes_nothing(editor_member, no_enqueue):
    asset_id = create(editor_member, WEB, name="Same").json()["asset"]["id"]
    response = api(editor_member).patch(
        f"{assets_url(editor_member)}/{asset_id}",
        {"displayName": "Changed", "autoUpdate": {"strategy": "WEBHOOK"}},
        format="json",
    )
    problem(response, 400, "validation-failed")
    read = api(editor_member).get(f"{assets_url(editor_member)}/{asset_id}").json()
    assert read["displayName"] == "Same" and read["autoUpdate"] is False


# -- deliveries -------------------------------------------------------------------
def test_a_signed_delivery_is_202_with_a_webhook_update(admin_member, no_enqueue):
    asset_id, hook = with_webhook(admin_member)
    body = b'{"event": "published"}'
    response = deliver(hook["webhookUrl"], body, **signed(hook["signingSecret"], body))
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["operationId"])
    # The INGEST is still queued: the delivery joins it (API.md "coalescing").
    assert response.json() == {"operationId": str(op.id), "type": op.type,
                               "status": "PENDING"}  # fmt: skip
    assert AssetWebhook.objects.get(pk=hook["id"]).last_delivery_at is not None


def test_a_delivery_starts_a_webhook_update_created_by_the_webhook(
    admin_member, run_queued
):
    asset_id, hook = with_webhook(admin_member)
    run_queued()  # the INGEST ends (FAILED: nothing answers at that address)
    headers = signed(hook["signingSecret"], b"{}")
    response = deliver(hook["webhookUrl"], b"{}", **headers)
    op = Operation.objects.get(pk=response.json()["operationId"])
    assert (op.type, op.created_by, op.document_ids) == (
        OperationType.WEBHOOK_UPDATE, f"webhook:{hook['id']}", None)  # fmt: skip


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: ({**h, "HTTP_X_SIGNATURE_256": "sha256=" + "0" * 64}, b),
        lambda h, b: (h, b + b" "),  # the body changed after signing
        lambda h, b: ({**h, "HTTP_X_SIGNATURE_TIMESTAMP": str(int(time.time()) + 1)},
                      b),  # the timestamp is signed too
        lambda h, b: ({k: v for k, v in h.items() if "SIGNATURE_256" not in k}, b),
        lambda h, b: ({k: v for k, v in h.items() if "TIMESTAMP" not in k}, b),
    ],
    ids=["wrong digest", "body", "timestamp", "no signature", "no timestamp"],
)  # fmt: skip
def test_a_bad_signature_is_401_problem_details(admin_member, no_enqueue, tamper):
    _, hook = with_webhook(admin_member)
    good = signed(hook["signingSecret"], b"{}", at=int(time.time()) - 5)
    headers, body = tamper(good, b"{}")
    before = Operation.objects.count()
    body = problem(deliver(hook["webhookUrl"], body, **headers), 401,
                   "invalid-signature")  # fmt: skip
    assert body["instance"] == f"/v1/webhooks/{hook['id']}"
    assert Operation.objects.count() == before


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_timestamp_more_than_5_minutes_off_is_401(admin_member, no_enqueue, offset):
    _, hook = with_webhook(admin_member)
    headers = signed(hook["signingSecret"], b"{}", at=int(time.time()) + offset)
    body = problem(deliver(hook["webhookUrl"], b"{}", **headers), 401,
                   "invalid-signature")  # fmt: skip
    assert "5 minutes" in body["detail"]
    fresh = signed(hook["signingSecret"], b"{}", at=int(time.time()) - 290)
    assert deliver(hook["webhookUrl"], b"{}", **fresh).status_code == 202


def test_a_replayed_delivery_is_409(admin_member, no_enqueue):
    _, hook = with_webhook(admin_member)
    headers = signed(hook["signingSecret"], b"{}", delivery="d-1")
    assert deliver(hook["webhookUrl"], b"{}", **headers).status_code == 202
    problem(deliver(hook["webhookUrl"], b"{}", **headers), 409, "webhook-replayed")
    # The same delivery id, signed anew a second later: still a replay.
    later = signed(hook["signingSecret"], b"{}", at=int(time.time()) + 1,
                   delivery="d-1")  # fmt: skip
    problem(deliver(hook["webhookUrl"], b"{}", **later), 409, "webhook-replayed")
    # A captured delivery with another id header: the signature gives it away.
    renamed = {**headers, "HTTP_X_DELIVERY_ID": "d-2"}
    problem(deliver(hook["webhookUrl"], b"{}", **renamed), 409, "webhook-replayed")
    new = signed(hook["signingSecret"], b'{"n": 2}', delivery="d-3")
    assert deliver(hook["webhookUrl"], b'{"n": 2}', **new).status_code == 202


def test_regenerate_rotates_the_webhook_and_the_old_url_is_404_at_once(
    admin_member, no_enqueue
):
    asset_id, old = with_webhook(admin_member)
    response = api(admin_member).post(
        f"{assets_url(admin_member)}/{asset_id}:regenerateWebhook"
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    new = response.json()
    assert new["id"] != old["id"] and new["signingSecret"] != old["signingSecret"]
    assert new["webhookUrl"].endswith(new["id"]) and new["status"] == "ACTIVE"
    stale = deliver(old["webhookUrl"], b"{}", **signed(old["signingSecret"], b"{}"))
    problem(stale, 404, "not-found")
    # The old secret does not open the new URL either.
    problem(deliver(new["webhookUrl"], b"{}", **signed(old["signingSecret"], b"{}")),
            401, "invalid-signature")  # fmt: skip
    fresh = deliver(new["webhookUrl"], b"{}", **signed(new["signingSecret"], b"{}"))
    assert fresh.status_code == 202


def test_regenerate_needs_admin_and_a_webhook(admin_member, editor_member, no_enqueue):
    asset_id, _ = with_webhook(admin_member)
    url = f"{assets_url(admin_member)}/{asset_id}:regenerateWebhook"
    problem(api(editor_member).post(url), 403, "forbidden")
    poll = {"strategy": "POLL", "pollFrequency": "DAILY"}
    poll_only = create(admin_member, WEB, autoUpdate=poll).json()["asset"]["id"]
    body = problem(
        api(admin_member).post(f"{assets_url(admin_member)}/{poll_only}:regenerateWebhook"),
        400, "bad-request",
    )  # fmt: skip
    assert "no webhook" in body["detail"]


def test_url_secret_mode(admin_member, no_enqueue):
    _, hook = with_webhook(admin_member, mode="URL_SECRET")
    url = hook["webhookUrl"]
    assert deliver(url).status_code == 202  # no signature needed
    webhook_id, secret = url.rsplit("/", 2)[1:]
    problem(deliver(url[: -len(secret)] + "x" + secret[1:]), 404, "not-found")
    problem(deliver(f"http://testserver/v1/webhooks/{webhook_id}"), 404, "not-found")
    problem(deliver(f"http://testserver/v1/webhooks/{uuid.uuid4()}/{secret}"), 404,
            "not-found")  # fmt: skip
    assert deliver(url, HTTP_X_DELIVERY_ID="once").status_code == 202
    problem(deliver(url, HTTP_X_DELIVERY_ID="once"), 409, "webhook-replayed")


def test_the_hmac_route_refuses_a_url_secret_and_vice_versa(admin_member, no_enqueue):
    _, hook = with_webhook(admin_member)
    problem(deliver(f"{hook['webhookUrl']}/anything"), 404, "not-found")
    problem(deliver("http://testserver/v1/webhooks/not-a-uuid"), 404, "not-found")


def test_a_delivery_after_the_asset_was_deleted_is_404(admin_member, no_enqueue):
    asset_id, hook = with_webhook(admin_member)
    assert api(admin_member).delete(
        f"{assets_url(admin_member)}/{asset_id}").status_code == 204  # fmt: skip
    problem(deliver(hook["webhookUrl"], b"{}", **signed(hook["signingSecret"], b"{}")),
            404, "not-found")  # fmt: skip


# -- GitHub pushes to a real repository ------------------------------------------
@pytest.fixture
def repo_asset(tmp_path, settings, admin_member, run_queued):
    """An ingested git asset of a local repository (a.md, b.txt, c.md, docs/d.md)
    with a webhook; ``(repo, asset id, webhook shown once)``."""
    settings.RAGDESK_FOLDER_ROOTS = [tmp_path.resolve()]
    settings.RAGDESK_GIT_CACHE_DIR = tmp_path / "cache"
    repo = Repo(tmp_path / "repo")
    for name in ("a.md", "b.txt", "c.md", "docs/d.md"):
        repo.write(name, text(name))
    repo.commit("first")
    config = {"sourceType": "git", "parameters": {"url": str(repo.path)}}
    asset_id, hook = with_webhook(admin_member, config=config)
    assert run_queued() == [S.COMPLETED]
    return repo, asset_id, hook


def push(*commits, ref="refs/heads/main", **extra) -> bytes:
    return json.dumps({
        "ref": ref, "repository": {"default_branch": "main"},
        "commits": [{"added": [], "modified": [], "removed": [], **c}
                    for c in commits], **extra,
    }).encode()  # fmt: skip


def doc_ids(asset_id, *keys) -> list[str]:
    return sorted(
        str(i)
        for i in Document.objects.filter(asset_id=asset_id, source_key__in=keys)
        .values_list("id", flat=True)
    )  # fmt: skip


def test_a_github_push_updates_only_the_files_it_changed(repo_asset, run_queued):
    repo, asset_id, hook = repo_asset
    repo.write("a.md", text("a.md was changed"))
    (repo.path / "c.md").unlink()
    repo.commit("change a, remove c")
    body = push({"modified": ["a.md", "logo.png"]}, {"removed": ["c.md", "gone.md"]})
    response = deliver(hook["webhookUrl"], body, **github(hook["signingSecret"], body))
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["operationId"])
    assert op.type == OperationType.WEBHOOK_UPDATE
    assert op.document_ids == doc_ids(asset_id, "a.md", "c.md")
    assert run_queued() == [S.COMPLETED]
    op.refresh_from_db()
    assert (op.documents_updated, op.documents_deleted, op.items_total) == (1, 1, 2)
    assert set(Document.objects.filter(asset_id=asset_id).values_list(
        "source_key", flat=True)) == {"a.md", "b.txt", "docs/d.md"}  # fmt: skip


def test_a_push_adding_a_file_refreshes_the_whole_source(repo_asset, run_queued):
    repo, asset_id, hook = repo_asset
    repo.write("e.md", text("e.md is new"))
    repo.commit("add e")
    body = push({"added": ["e.md"]}, {"modified": ["b.txt"]})
    response = deliver(hook["webhookUrl"], body, **github(hook["signingSecret"], body))
    op = Operation.objects.get(pk=response.json()["operationId"])
    assert op.document_ids is None  # a new file has no document id yet
    assert run_queued() == [S.COMPLETED]
    op.refresh_from_db()
    assert (op.documents_added, op.documents_unchanged) == (1, 4)


@pytest.mark.parametrize(
    ("body", "event", "detail"),
    [
        (push({"modified": ["a.md"]}, ref="refs/heads/feature"), "push",
         "this asset reads the branch main"),
        (push({"modified": ["logo.png", "README"]}), "push", "No file this asset"),
        (push({"removed": ["never-ingested.md"]}), "push", "No file this asset"),
        (push({"modified": ["a.md"]}, deleted=True), "push", "branch was deleted"),
        (b'{"zen": "Keep it logically awesome."}', "ping", "Ping received"),
        (b'{"action": "opened"}', "issues", "only push events"),
    ],
)  # fmt: skip
def test_deliveries_that_change_nothing_the_asset_reads_start_nothing(
    repo_asset, body, event, detail
):
    _, asset_id, hook = repo_asset
    before = Operation.objects.count()
    response = deliver(hook["webhookUrl"], body,
                       **github(hook["signingSecret"], body, event=event))  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["operationId"] is None
    assert detail in response.json()["detail"]
    assert Operation.objects.count() == before


def test_the_filter_limits_which_pushes_count(repo_asset, admin_member):
    _, asset_id, hook = repo_asset
    AssetAutoUpdate.objects.filter(asset_id=asset_id).update(filter="docs/**")
    outside = push({"modified": ["a.md"]})
    response = deliver(hook["webhookUrl"], outside,
                       **github(hook["signingSecret"], outside))  # fmt: skip
    assert response.status_code == 200 and response.json()["operationId"] is None
    inside = push({"modified": ["a.md", "docs/d.md"]})
    response = deliver(hook["webhookUrl"], inside,
                       **github(hook["signingSecret"], inside))  # fmt: skip
    op = Operation.objects.get(pk=response.json()["operationId"])
    assert op.document_ids == doc_ids(asset_id, "docs/d.md")


def test_a_forced_push_refreshes_the_whole_source(repo_asset):
    _, _, hook = repo_asset
    body = push({"modified": ["a.md"]}, forced=True)
    response = deliver(hook["webhookUrl"], body, **github(hook["signingSecret"], body))
    assert Operation.objects.get(pk=response.json()["operationId"]).document_ids is None


def test_a_bad_github_signature_is_401_and_a_redelivery_409(repo_asset):
    _, _, hook = repo_asset
    body = push({"modified": ["a.md"]})
    headers = github("whsec_wrong", body)
    problem(deliver(hook["webhookUrl"], body, **headers), 401, "invalid-signature")
    good = github(hook["signingSecret"], body, delivery="gh-1")
    assert deliver(hook["webhookUrl"], body, **good).status_code == 202
    problem(deliver(hook["webhookUrl"], body, **good), 409, "webhook-replayed")


def test_github_signatures_are_not_accepted_for_a_web_asset(admin_member, no_enqueue):
    # Web assets take no webhook; a git asset's webhook is GITHUB. A webhook of
    # another provider would need the timestamped signature (no X-Hub-…).
    _, hook = with_webhook(admin_member)
    AssetWebhook.objects.filter(pk=hook["id"]).update(provider="GENERIC")
    body = b"{}"
    problem(deliver(hook["webhookUrl"], body, **github(hook["signingSecret"], body)),
            401, "invalid-signature")  # fmt: skip


# -- a burst --------------------------------------------------------------------
BURST, THREADS = 20, 8


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_burst_of_20_deliveries_leaves_one_running_and_one_queued(
    admin_member, no_enqueue
):
    asset_id, hook = with_webhook(admin_member)
    ingest = Operation.objects.get(asset_id=asset_id)
    assert operation_start(operation_id=ingest.id).status == S.RUNNING
    no_enqueue.clear()  # its task: taken by the "worker" above
    start = threading.Barrier(THREADS)

    def one(i: int) -> tuple[int, str]:
        if i < THREADS:
            start.wait()  # the first wave leaves together
        try:
            body = json.dumps({"n": i}).encode()
            response = deliver(hook["webhookUrl"], body,
                               **signed(hook["signingSecret"], body))  # fmt: skip
            return response.status_code, response.json()["operationId"]
        finally:
            connection.close()

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(one, range(BURST)))
    assert {status for status, _ in results} == {202}
    assert len({op_id for _, op_id in results}) == 1
    ops = Operation.objects.filter(asset_id=asset_id)
    assert sorted(ops.values_list("status", flat=True)) == [S.PENDING, S.RUNNING]
    queued = ops.get(status=S.PENDING)
    assert str(queued.id) == results[0][1]
    assert queued.type == OperationType.WEBHOOK_UPDATE
    assert queued.events.filter(kind="COALESCED").count() == BURST - 1
    # When the running one ends, the queued one is enqueued (once).
    operation_finish(operation_id=ingest.id, status=S.COMPLETED)
    assert no_enqueue == [str(queued.id)]


# -- tenancy ----------------------------------------------------------------------
def test_another_tenants_regenerate_is_404_and_deliveries_stay_with_their_asset(
    admin_member, no_enqueue
):
    bob = MembershipFactory(tenant=TenantFactory(slug="tenant-b"), role=Role.ADMIN,
                            user=UserFactory(username="bob"))  # fmt: skip
    b_asset, b_hook = with_webhook(bob)
    a_asset, a_hook = with_webhook(admin_member)
    client = api(admin_member)
    base = assets_url(admin_member)
    foreign = client.post(f"{base}/{b_asset}:regenerateWebhook")
    unknown = client.post(f"{base}/{uuid.uuid4()}:regenerateWebhook")
    assert {k: v for k, v in problem(foreign, 404, "not-found").items()
            if k not in ("instance", "requestId")} == {
        k: v for k, v in problem(unknown, 404, "not-found").items()
        if k not in ("instance", "requestId")}  # fmt: skip
    assert AssetWebhook.objects.get(pk=b_hook["id"]).status == "ACTIVE"
    # A's secret does not sign for B's webhook; B's delivery touches only B.
    a_signed = signed(a_hook["signingSecret"], b"{}")
    wrong = deliver(b_hook["webhookUrl"], b"{}", **a_signed)
    problem(wrong, 401, "invalid-signature")
    ok = deliver(b_hook["webhookUrl"], b"{}", **signed(b_hook["signingSecret"], b"{}"))
    assert str(Operation.objects.get(pk=ok.json()["operationId"]).asset_id) == b_asset
    assert not Operation.objects.filter(asset_id=a_asset).exclude(
        type=OperationType.INGEST).exists()  # fmt: skip
    # Under B's slug, A's admin is no member: 403.
    response = client.post(f"/v1/tenants/tenant-b/assets/{b_asset}:regenerateWebhook")
    problem(response, 403, "forbidden")
