"""Every assets API route (assets, documents, chunks, catalogues), walked across tenants
and roles (API.md "Conventions": another tenant's objects are 404, never 403, and never
leak their existence; VIEWER reads, EDITOR writes, ADMIN deletes).

- A member of tenant A asks, under A's slug, for tenant B's asset, document and
  chunks (also B's document under A's own asset): 404 with the same body as for an id
  that does not exist, and nothing of B changes — not even with an Idempotency-Key.
- A VIEWER of A sends every write (and search, an EDITOR action in API.md), with a
  body that is otherwise valid, to A's own objects: 403, and nothing changes.
- Under B's slug every route is 403 for A's member (not a member of B)."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms.models import model_to_dict
from django_q.models import Schedule
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from assets_app.models import (
    Asset,
    BudgetUsage,
    AssetAutoUpdate,
    AssetWebhook,
    Chunk,
    Document,
    Role,
    UploadedFile,
)
from assets_app.services import asset_create_from_uploads
from operations_app.models import IdempotencyRecord, Operation, OperationEvent
from tests.conftest import upload
from tests.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def api(member) -> APIClient:
    client = APIClient()
    token = RefreshToken.for_user(member.user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def world(run_queued, tmp_path, settings):
    """Tenants A and B, each with an ingested upload asset (documents and chunks); A has
    an ADMIN (alice) and a VIEWER (vera), B an ADMIN (bob)."""
    settings.RAGDESK_FOLDER_ROOTS = [tmp_path.resolve()]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "x.md").write_text("# X\n")
    tenant_a, tenant_b = TenantFactory(slug="tenant-a"), TenantFactory(slug="tenant-b")
    alice = MembershipFactory(
        tenant=tenant_a, role=Role.ADMIN, user=UserFactory(username="alice")
    )
    vera = MembershipFactory(
        tenant=tenant_a, role=Role.VIEWER, user=UserFactory(username="vera")
    )
    bob = MembershipFactory(
        tenant=tenant_b, role=Role.ADMIN, user=UserFactory(username="bob")
    )
    made = {}
    for key, member in (("a", alice), ("b", bob)):
        asset, _ = asset_create_from_uploads(
            actor=member,
            display_name=f"{key.upper()}'s asset",
            files=[
                upload("one.md", "# One\n\n" + "words " * 300),
                upload("two.txt", "two"),
            ],
            chunk_size=32,
            chunk_overlap=4,
        )
        made[key] = asset
    assert run_queued() == ["COMPLETED", "COMPLETED"]
    return {
        "alice": alice, "vera": vera, "bob": bob, "a": tenant_a, "b": tenant_b,
        "asset_a": made["a"], "asset_b": made["b"],
        "doc_a": Document.objects.get(asset=made["a"], file_name="one.md"),
        "doc_b": Document.objects.get(asset=made["b"], file_name="one.md"),
        "folder": str(tmp_path / "docs"),
    }  # fmt: skip


def snapshot(tenant) -> dict:
    """Everything of ``tenant`` an API request could change, comparable with ==."""
    return {
        "assets": [
            model_to_dict(a) for a in Asset.objects.filter(tenant=tenant).order_by("id")
        ],
        "documents": list(
            Document.objects.filter(asset__tenant=tenant).order_by("id").values()
        ),
        "chunks": sorted(
            str(i)
            for i in Chunk.objects.filter(asset__tenant=tenant).values_list(
                "id", flat=True
            )
        ),
        "uploads": UploadedFile.objects.filter(asset__tenant=tenant).count(),
        "operations": list(
            Operation.objects.filter(tenant=tenant).order_by("id").values()
        ),
        "events": OperationEvent.objects.filter(operation__tenant=tenant).count(),
        "idempotency": IdempotencyRecord.objects.filter(tenant=tenant).count(),
        "usage": list(
            BudgetUsage.objects.filter(tenant=tenant).order_by("id").values()
        ),
        "auto_update": list(
            AssetAutoUpdate.objects.filter(asset__tenant=tenant).values()
        ),
        "webhooks": list(AssetWebhook.objects.filter(asset__tenant=tenant).values()),
        "schedules": Schedule.objects.filter(name__startswith="ragdesk: poll").count(),
    }


def a_file():
    return SimpleUploadedFile("new.txt", b"new text", content_type="text/plain")


def id_routes(slug: str, asset_id, doc_id, folder: str) -> list[tuple]:
    """(label, method, path, body, format) of every assets API route that takes an id;
    write bodies are valid, so that only the ids (or the role) decide."""
    a = f"/v1/tenants/{slug}/assets/{asset_id}"
    d = f"{a}/documents/{doc_id}"
    return [
        ("get asset", "get", a, None, None),
        ("patch asset", "patch", a, {"displayName": "Taken over"}, "json"),
        ("delete asset", "delete", a, None, None),
        ("refresh", "post", f"{a}:refresh", {"force": True}, "json"),
        ("estimate", "post", f"{a}:estimate", {"force": True}, "json"),
        ("regenerate webhook", "post", f"{a}:regenerateWebhook", {}, "json"),
        ("patch auto-update", "patch", a,
         {"autoUpdate": {"strategy": "POLL", "pollFrequency": "DAILY"}}, "json"),
        ("search asset", "post", f"{a}:search", {"query": "words"}, "json"),
        ("usage", "get", f"{a}/usage", None, None),
        ("patch budget", "patch", a, {"budget": {"dailyTokenBudget": 1}}, "json"),
        ("list documents", "get", f"{a}/documents", None, None),
        ("search documents", "get", f"{a}/documents?search=one", None, None),
        ("get document", "get", d, None, None),
        ("delete document", "delete", d, None, None),
        ("list chunks", "get", f"{d}/chunks", None, None),
    ]


def write_routes(slug: str, asset_id, doc_id, folder: str) -> list[tuple]:
    """Every route a VIEWER may not use: the writes, and the searches (API.md
    "Roles": EDITOR … search; a search spends query-embedding tokens)."""
    base = f"/v1/tenants/{slug}"
    creates = [
        ("create folder asset", "post", f"{base}/assets",
         {"config": {"sourceType": "folder", "parameters": {"path": folder}}}, "json"),
        ("create by upload", "post", f"{base}/assets:file", {"file": a_file()},
         "multipart"),
        # Public address literals: valid without a DNS look-up.
        ("create web asset", "post", f"{base}/assets",
         {"config": {"sourceType": "web", "parameters": {"url": "http://93.184.215.14/"}}},
         "json"),
        ("create git asset", "post", f"{base}/assets",
         {"config": {"sourceType": "git",
                     "parameters": {"url": "https://93.184.215.14/r.git"}}}, "json"),
        ("search all assets", "post", f"{base}/assets:search", {"query": "words"},
         "json"),
    ]  # fmt: skip
    return creates + [
        r for r in id_routes(slug, asset_id, doc_id, folder) if r[1] != "get"
    ]


def read_routes(slug: str, asset_id, doc_id, folder: str) -> list[tuple]:
    base = f"/v1/tenants/{slug}"
    catalogues = [
        (name, "get", f"{base}/{path}", None, None)
        for name, path in (
            ("list assets", "assets"),
            ("source types", "assets:sourceTypes"),
            ("embedding models", "assets:embeddingModels"),
            ("supported types", "assets:supportedTypes"),
        )
    ]
    return catalogues + [
        r for r in id_routes(slug, asset_id, doc_id, folder) if r[1] == "get"
    ]


def send(client, method, path, body, fmt, **headers):
    if body is None:
        return getattr(client, method)(path, **headers)
    return getattr(client, method)(path, body, format=fmt, **headers)


def problem_of(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    return {k: body[k] for k in ("type", "title", "status", "detail")}


def test_another_tenants_ids_are_404_like_unknown_ids_and_change_nothing(world):
    client = api(world["alice"])
    before = snapshot(world["b"])
    foreign = id_routes(
        "tenant-a", world["asset_b"].id, world["doc_b"].id, world["folder"]
    )
    # B's document under A's own asset, too.
    foreign += [
        r for r in id_routes("tenant-a", world["asset_a"].id, world["doc_b"].id, "")
        if "/documents/" in r[2]
    ]  # fmt: skip
    unknown = id_routes("tenant-a", uuid.uuid4(), uuid.uuid4(), world["folder"])
    unknown += [
        r for r in id_routes("tenant-a", world["asset_a"].id, uuid.uuid4(), "")
        if "/documents/" in r[2]
    ]  # fmt: skip
    for (label, method, path, body, fmt), twin in zip(foreign, unknown, strict=True):
        response = send(client, method, path, body, fmt, HTTP_IDEMPOTENCY_KEY=label)
        assert problem_of(response, 404) == problem_of(
            send(client, *twin[1:], HTTP_IDEMPOTENCY_KEY=f"{label}-twin"), 404
        ), label
    assert snapshot(world["b"]) == before


def test_refresh_naming_another_tenants_document_is_refused_like_an_unknown_id(world):
    client = api(world["alice"])
    url = f"/v1/tenants/tenant-a/assets/{world['asset_a'].id}:refresh"
    foreign = client.post(url, {"documentIds": [str(world["doc_b"].id)]}, format="json")
    unknown = client.post(url, {"documentIds": [str(uuid.uuid4())]}, format="json")
    assert problem_of(foreign, 400) == problem_of(unknown, 400)


def test_another_tenants_page_token_is_refused_with_400(world):
    """Tokens are signed for one tenant's list (they carry its totalCount)."""
    b_page = api(world["bob"]).get(
        f"/v1/tenants/tenant-b/assets/{world['asset_b'].id}/documents?pageSize=1"
    )
    token = b_page.json()["nextPageToken"]
    assert token
    response = api(world["alice"]).get(
        f"/v1/tenants/tenant-a/assets/{world['asset_a'].id}/documents?pageToken={token}"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert set(response.json()["errors"]) == {"pageToken"}


def test_every_write_with_a_viewer_token_is_403_and_changes_nothing(world):
    client = api(world["vera"])
    before = snapshot(world["a"])
    routes = write_routes(
        "tenant-a", world["asset_a"].id, world["doc_a"].id, world["folder"]
    )
    # create folder/web/git, create by upload, search all, patch, delete, refresh,
    # estimate, regenerate webhook, patch auto-update, search, patch budget, delete doc
    assert len(routes) == 14
    for label, method, path, body, fmt in routes:
        response = send(client, method, path, body, fmt, HTTP_IDEMPOTENCY_KEY=label)
        problem = problem_of(response, 403)
        assert "VIEWER" in problem["detail"], label
    assert snapshot(world["a"]) == before


def test_every_read_with_a_viewer_token_is_200(world):
    client = api(world["vera"])
    for label, method, path, body, fmt in read_routes(
        "tenant-a", world["asset_a"].id, world["doc_a"].id, world["folder"]
    ):
        assert send(client, method, path, body, fmt).status_code == 200, label


def test_every_route_under_another_tenants_slug_is_403_for_a_non_member(world):
    client = api(world["alice"])
    before = snapshot(world["b"])
    args = ("tenant-b", world["asset_b"].id, world["doc_b"].id, world["folder"])
    for label, method, path, body, fmt in read_routes(*args) + write_routes(*args):
        problem = problem_of(send(client, method, path, body, fmt), 403)
        assert "not a member" in problem["detail"], label
    assert snapshot(world["b"]) == before


def operation_routes(slug: str, asset_id, operation_id) -> list[tuple]:
    """(label, method, path, body, format) of the routes of one operation's failed
    documents (issue 4), read and write."""
    o = f"/v1/tenants/{slug}/assets/{asset_id}/operations/{operation_id}"
    return [
        ("failed documents", "get", f"{o}/failedDocuments", None, None),
        ("retry failed documents", "post", f"{o}:retryFailedDocuments", {}, "json"),
    ]


def test_failed_document_routes_of_another_tenant_are_404_like_unknown_ids(world):
    client = api(world["alice"])
    before = snapshot(world["b"])
    op_b = Operation.objects.get(asset=world["asset_b"])
    op_a = Operation.objects.get(asset=world["asset_a"])
    foreign = operation_routes("tenant-a", world["asset_b"].id, op_b.id)
    foreign += operation_routes("tenant-a", world["asset_a"].id, op_b.id)
    unknown = operation_routes("tenant-a", uuid.uuid4(), uuid.uuid4())
    unknown += operation_routes("tenant-a", world["asset_a"].id, uuid.uuid4())
    for (label, method, path, body, fmt), twin in zip(foreign, unknown, strict=True):
        response = send(client, method, path, body, fmt, HTTP_IDEMPOTENCY_KEY=label)
        assert problem_of(response, 404) == problem_of(
            send(client, *twin[1:], HTTP_IDEMPOTENCY_KEY=f"{label}-twin"), 404
        ), label
    assert snapshot(world["b"]) == before
    own = operation_routes("tenant-a", world["asset_a"].id, op_a.id)[0]
    assert send(client, *own[1:]).status_code == 200


def test_failed_document_routes_for_a_viewer_and_a_non_member(world):
    op_a = Operation.objects.get(asset=world["asset_a"])
    (read, write) = operation_routes("tenant-a", world["asset_a"].id, op_a.id)
    before = snapshot(world["a"])
    vera = api(world["vera"])
    assert send(vera, *read[1:]).status_code == 200
    assert "VIEWER" in problem_of(send(vera, *write[1:]), 403)["detail"]
    assert snapshot(world["a"]) == before
    op_b = Operation.objects.get(asset=world["asset_b"])
    alice = api(world["alice"])
    for label, *request in operation_routes("tenant-b", world["asset_b"].id, op_b.id):
        assert "not a member" in problem_of(send(alice, *request), 403)["detail"], label


def test_searches_with_an_editor_token_are_200_and_change_only_usage(world):
    """A search writes nothing but the query tokens the asset's budget counts."""
    editor = MembershipFactory(
        tenant=world["a"], role=Role.EDITOR, user=UserFactory(username="eddie")
    )
    before = snapshot(world["a"])
    before.pop("usage")
    base = "/v1/tenants/tenant-a/assets"
    for path in (f"{base}/{world['asset_a'].id}:search", f"{base}:search"):
        for mode in ("VECTOR", "FULL_TEXT", "HYBRID"):
            response = api(editor).post(
                path, {"query": "words", "searchMode": mode}, format="json"
            )
            assert response.status_code == 200, (path, mode, response.content)
            assert response.json()["results"], (path, mode)
    after = snapshot(world["a"])
    after.pop("usage")
    assert after == before
