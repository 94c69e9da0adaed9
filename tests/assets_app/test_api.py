"""Contract tests of the assets API (API.md "Asset", "Document", "Chunk", "Endpoints",
"PATCH semantics", "Conventions"): the catalogues, assets (list, create, create by
upload, get, patch, delete, refresh), documents, chunks, and the Idempotency-Key,
ETag / If-Match and pagination behaviour.

Assets with documents and chunks are made through the services and ingested
in-process with ``run_queued`` (the built-in embedder is offline and deterministic);
nothing needs a worker."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from assets_app.embedding import provider_available
from assets_app.models import Asset, Chunk, Document, ModelPrice, UploadedFile
from assets_app.services import asset_create_from_uploads
from operations_app.models import (
    IdempotencyRecord,
    Operation,
    OperationStatus,
    OperationType,
)
from operations_app.services import operation_create, operation_start
from tests.conftest import upload
from tests.factories import (
    AssetFactory,
    DocumentFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
ASSET_FIELDS = {
    "id", "displayName", "type", "vectorized", "config", "assetLink", "createdAt",
    "modifiedAt", "autoUpdate", "autoUpdateConfig", "lastPolledAt",
    "supportsAutoUpdate",
    "supportsWebhookRegistration", "supportsPollSchedule", "embedding",
    "indexEmbedding", "budget", "documentCount", "chunkCount", "lastOperation",
}  # fmt: skip
DOCUMENT_FIELDS = {
    "id", "assetId", "fileName", "contentType", "sourceUrl", "fileSize", "contentHash",
    "chunkCount", "tokenCount", "status", "errorMessage", "createdAt", "modifiedAt",
    "processedAt",
}  # fmt: skip
CHUNK_FIELDS = {
    "chunkId", "chunkIndex", "content", "headingPath", "pageNumber", "startCharIdx",
    "endCharIdx", "startLine", "endLine", "tokenCount",
}  # fmt: skip
OPERATION_FIELDS = {
    "id", "assetId", "tenantId", "type", "status", "done", "startedAt", "completedAt",
    "createdAt", "itemsProcessed", "itemsTotal", "tokenCount", "chunkCount", "cost",
    "errorMessage", "createdBy", "cancelRequested", "stats",
}  # fmt: skip
MB = 1024 * 1024


def api(member) -> APIClient:
    client = APIClient()
    token = RefreshToken.for_user(member.user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def base(tenant) -> str:
    return f"/v1/tenants/{tenant.slug}"


def asset_url(asset, suffix="") -> str:
    return f"{base(asset.tenant)}/assets/{asset.id}{suffix}"


def doc_url(document, suffix="") -> str:
    return asset_url(document.asset, f"/documents/{document.id}{suffix}")


def assert_problem(response, status: int, code: str | None = None) -> dict:
    """Problem Details (RFC 9457) with ``status``; returns the body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["status"] == status
    assert body["instance"] == response.wsgi_request.path
    assert body["detail"] and isinstance(body["detail"], str)
    if code is not None:
        assert body["type"] == f"/v1/problems/{code}"
    return body


def now_ms() -> int:
    return int(time.time() * 1000)


def is_uuid(value) -> bool:
    return isinstance(value, str) and str(uuid.UUID(value)) == value


@pytest.fixture
def ingested(admin_member, run_queued):
    """An upload asset of ``admin_member``'s tenant, ingested: two documents with
    chunks, the INGEST COMPLETED."""
    text = "\n\n".join(f"Paragraph {i} about alpha and beta. " * 8 for i in range(30))
    asset, _ = asset_create_from_uploads(
        actor=admin_member,
        display_name="Handbook",
        files=[upload("a.md", "# Title\n\n" + text), upload("b.txt", "short text")],
        chunk_size=64,
        chunk_overlap=8,
    )
    assert run_queued() == [OperationStatus.COMPLETED]
    return asset


@pytest.fixture
def folder_root(tmp_path, settings):
    root = (tmp_path / "allowed").resolve()
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.md").write_text("# A\n\nAlpha text.\n")
    (root / "docs" / "b.txt").write_text("Beta text.\n")
    settings.RAGDESK_FOLDER_ROOTS = [root]
    return root


def folder_body(root, **extra) -> dict:
    body = {
        "config": {"sourceType": "folder", "parameters": {"path": str(root / "docs")}}
    }
    body.update(extra)
    return body


# -- catalogues ---------------------------------------------------------------------


def test_source_types_describe_each_type_with_parameters_and_capabilities(
    viewer_member,
):
    response = api(viewer_member).get(
        f"{base(viewer_member.tenant)}/assets:sourceTypes"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["nextPageToken"] is None and body["totalCount"] == 4
    by_key = {d["key"]: d for d in body["items"]}
    assert set(by_key) == {"upload", "folder", "web", "git"}
    for d in body["items"]:
        assert set(d) == {
            "key",
            "displayName",
            "parameters",
            "capabilities",
            "createWith",
        }
        assert isinstance(d["displayName"], str) and d["displayName"]
    capabilities = {k: d["capabilities"] for k, d in by_key.items()}
    assert capabilities == {
        "upload": {"autoUpdate": False, "webhookRegistration": False,
                   "pollSchedule": False},
        "folder": {"autoUpdate": True, "webhookRegistration": False,
                   "pollSchedule": True},
        "web": {"autoUpdate": True, "webhookRegistration": False,
                "pollSchedule": True},
        "git": {"autoUpdate": True, "webhookRegistration": True,
                "pollSchedule": True},
    }  # fmt: skip
    assert by_key["upload"]["parameters"] == []
    assert by_key["upload"]["createWith"] == "assets:file"
    assert by_key["folder"]["createWith"] == "assets"
    path, glob = by_key["folder"]["parameters"]
    assert set(path) == {
        "name",
        "type",
        "required",
        "secret",
        "default",
        "options",
        "help",
    }
    assert (path["name"], path["type"], path["required"], path["secret"]) == (
        "path", "string", True, False,
    )  # fmt: skip
    assert (glob["name"], glob["required"], glob["default"]) == ("glob", False, "**/*")
    assert path["options"] is None and path["help"]


def test_embedding_models_list_prices_in_usd_per_million_tokens_as_numbers(
    viewer_member,
):
    ModelPrice.objects.filter(model="text-embedding-3-small").update(
        price_per_million_tokens="0.020001"
    )
    response = api(viewer_member).get(
        f"{base(viewer_member.tenant)}/assets:embeddingModels"
    )
    assert response.status_code == 200
    body = response.json()
    usable = [m for m in ModelPrice.objects.all() if provider_available(m.provider)]
    assert body["totalCount"] == len(usable) == len(body["items"])
    local = any(m["provider"] == "local" for m in body["items"])
    assert local == provider_available("local")  # listed only with its extra
    small = next(m for m in body["items"] if m["model"] == "text-embedding-3-small")
    assert small == {
        "provider": "openai", "model": "text-embedding-3-small", "dimensions": 1536,
        "maxInputTokens": 8191, "pricePerMillionTokens": 0.020001,
    }  # fmt: skip
    builtin = next(m for m in body["items"] if m["provider"] == "builtin")
    assert builtin["pricePerMillionTokens"] == 0 and builtin["dimensions"] == 384


def test_supported_types_list_content_types_extensions_and_size_limit(viewer_member):
    response = api(viewer_member).get(
        f"{base(viewer_member.tenant)}/assets:supportedTypes"
    )
    assert response.status_code == 200
    items = {i["contentType"]: i for i in response.json()["items"]}
    assert set(items) == {
        "text/plain", "text/markdown", "text/html", "application/pdf", "text/csv",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }  # fmt: skip
    assert items["text/csv"]["extensions"] == [".csv"]
    assert items["text/markdown"]["extensions"] == [".md", ".markdown"]
    assert items["application/pdf"] == {
        "contentType": "application/pdf", "extensions": [".pdf"],
        "maxFileSize": 50 * MB,
    }  # fmt: skip


# -- the asset shape, list and search -----------------------------------------------


def test_asset_renders_every_field_with_its_type_and_unit(admin_member, ingested):
    response = api(admin_member).get(asset_url(ingested))
    assert response.status_code == 200
    a = response.json()
    assert set(a) == ASSET_FIELDS
    ingested.refresh_from_db()
    assert a["id"] == str(ingested.id) and is_uuid(a["id"])
    assert (a["displayName"], a["type"], a["vectorized"]) == (
        "Handbook",
        "UPLOAD",
        True,
    )
    assert a["config"] == {"sourceType": "upload", "parameters": {}}
    # Epoch milliseconds (UTC), integers.
    assert isinstance(a["createdAt"], int) and isinstance(a["modifiedAt"], int)
    assert a["createdAt"] == int(ingested.created_at.timestamp() * 1000)
    assert now_ms() - 60_000 < a["createdAt"] <= a["modifiedAt"] <= now_ms()
    # Capabilities of later issues: the values that are true today.
    assert a["assetLink"] is None and a["autoUpdate"] is False
    assert a["autoUpdateConfig"] is None and a["lastPolledAt"] is None
    assert not (
        a["supportsAutoUpdate"]
        or a["supportsWebhookRegistration"]
        or a["supportsPollSchedule"]
    )
    assert a["budget"]["tokenBudget"] is None and a["budget"]["costBudget"] is None
    assert a["embedding"] == {
        "provider": "builtin", "model": "hashed-lexical-384", "dimensions": 384,
        "chunkSize": 64, "chunkOverlap": 8,
    }  # fmt: skip
    assert a["indexEmbedding"] == a["embedding"]  # no re-index pending
    assert a["documentCount"] == 2
    assert a["chunkCount"] == Chunk.objects.filter(asset=ingested).count() > 2
    op = a["lastOperation"]
    assert set(op) == OPERATION_FIELDS
    assert (op["type"], op["status"], op["done"]) == ("INGEST", "COMPLETED", True)
    assert op["assetId"] == a["id"] and op["chunkCount"] == a["chunkCount"]
    assert op["cost"] == 0 and isinstance(op["completedAt"], int)


def test_secret_source_parameters_read_back_masked(admin_member, monkeypatch):
    from assets_app.sources import descriptors

    folder = descriptors.SOURCE_TYPES["folder"]
    token = descriptors.ParameterDescriptor(name="token", type="string", secret=True)
    monkeypatch.setitem(
        descriptors.SOURCE_TYPES,
        "folder",
        dataclasses.replace(folder, parameters=(*folder.parameters, token)),
    )
    asset = AssetFactory(
        tenant=admin_member.tenant,
        source_type="folder",
        source_parameters={"path": "/srv/docs", "token": "s3cr3t"},
    )
    body = api(admin_member).get(asset_url(asset)).json()
    assert body["config"]["parameters"] == {"path": "/srv/docs", "token": "********"}


def test_asset_list_renders_assets_newest_first_with_counts(admin_member, ingested):
    empty = AssetFactory(tenant=admin_member.tenant, display_name="Empty")
    AssetFactory(display_name="Another tenant's")  # never listed
    # A chunk of a generation that is not current (an interrupted re-embed): not
    # counted, in the list as in GET.
    doc = Document.objects.get(file_name="b.txt")
    current = Chunk.objects.filter(asset=ingested).count()
    Chunk.objects.create(
        asset=ingested, document=doc, document_version=doc.version + 1, chunk_index=0,
        content="next", token_count=1, start_char_idx=0, end_char_idx=4, start_line=1,
        end_line=1, embedding_dimensions=384,
    )  # fmt: skip
    response = api(admin_member).get(f"{base(admin_member.tenant)}/assets")
    assert response.status_code == 200
    body = response.json()
    assert body["totalCount"] == 2 and body["nextPageToken"] is None
    first, second = body["items"]
    assert first["id"] == str(empty.id) and second["id"] == str(ingested.id)
    assert set(first) == set(second) == ASSET_FIELDS
    assert (first["documentCount"], first["chunkCount"], first["lastOperation"]) == (
        0, 0, None,
    )  # fmt: skip
    assert second["chunkCount"] == current
    single = api(admin_member).get(asset_url(ingested)).json()
    assert second == single  # the list renders an asset as GET does


def test_asset_list_search_filters_by_name_case_insensitively(admin_member):
    for name in ("Handbook 2024", "handbook drafts", "Wiki"):
        AssetFactory(tenant=admin_member.tenant, display_name=name)
    response = api(admin_member).get(
        f"{base(admin_member.tenant)}/assets?search=HANDBOOK"
    )
    names = sorted(a["displayName"] for a in response.json()["items"])
    assert names == ["Handbook 2024", "handbook drafts"]
    assert response.json()["totalCount"] == 2


def test_asset_list_queries_do_not_grow_with_page_size(admin_member):
    client = api(admin_member)
    url = f"{base(admin_member.tenant)}/assets?pageSize=500"
    for asset in AssetFactory.create_batch(3, tenant=admin_member.tenant):
        operation_create(asset=asset, type=OperationType.INGEST, created_by="t")
    client.get(url)  # warm caches (content types, …)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for asset in AssetFactory.create_batch(30, tenant=admin_member.tenant):
        operation_create(asset=asset, type=OperationType.INGEST, created_by="t")
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(url).json()["items"]) == 33
    assert len(many) == len(few)


def test_asset_pages_miss_and_repeat_nothing_while_assets_are_inserted(admin_member):
    client = api(admin_member)
    originals = {
        str(a.id) for a in AssetFactory.create_batch(7, tenant=admin_member.tenant)
    }
    seen: list[str] = []
    url = f"{base(admin_member.tenant)}/assets?pageSize=3"
    while url:
        body = client.get(url).json()
        seen += [a["id"] for a in body["items"]]
        # Rows inserted between page fetches (newer, so they sort first).
        AssetFactory.create_batch(2, tenant=admin_member.tenant)
        token = body["nextPageToken"]
        url = (
            f"{base(admin_member.tenant)}/assets?pageSize=3&pageToken={token}"
            if token
            else None
        )
    assert len(seen) == len(set(seen))
    assert set(seen) == originals


def test_asset_list_accepts_the_page_aliases(admin_member):
    AssetFactory.create_batch(5, tenant=admin_member.tenant)
    client = api(admin_member)
    url = f"{base(admin_member.tenant)}/assets"
    first = client.get(f"{url}?PageSize=2").json()
    assert len(first["items"]) == 2
    second = client.get(f"{url}?PageSize=2&PageToken.Cursor={first['nextPageToken']}")
    skipped = client.get(f"{url}?PageSize=2&PageToken.Skip=2")
    assert second.json()["items"] == skipped.json()["items"]
    assert_problem(client.get(f"{url}?pageSize=501"), 400, "validation-failed")
    assert_problem(client.get(f"{url}?pageToken=garbage"), 400, "validation-failed")


# -- create from a folder (JSON) ----------------------------------------------------


def test_create_folder_asset_returns_asset_and_pending_ingest(
    admin_member, folder_root, run_queued
):
    body = folder_body(
        folder_root, name="Docs", embedding={"chunkSize": 100, "chunkOverlap": 10}
    )
    body["config"]["parameters"]["glob"] = "**/*.md"
    response = api(admin_member).post(
        f"{base(admin_member.tenant)}/assets", body, format="json"
    )
    assert response.status_code == 200, response.json()
    data = response.json()
    assert set(data) == {"asset", "operation"}
    asset, op = data["asset"], data["operation"]
    assert set(asset) == ASSET_FIELDS and set(op) == OPERATION_FIELDS
    assert (asset["displayName"], asset["type"]) == ("Docs", "FOLDER")
    assert asset["config"] == {
        "sourceType": "folder",
        "parameters": {"path": str(folder_root / "docs"), "glob": "**/*.md"},
    }
    assert (asset["embedding"]["chunkSize"], asset["embedding"]["chunkOverlap"]) == (
        100,
        10,
    )
    assert (op["type"], op["status"], op["done"], op["createdBy"]) == (
        "INGEST", "PENDING", False, "alice",
    )  # fmt: skip
    assert asset["lastOperation"] == op
    assert run_queued() == ["COMPLETED"]
    assert list(Document.objects.values_list("file_name", flat=True)) == ["a.md"]


def test_create_upload_asset_with_json_is_400_pointing_to_the_file_endpoint(
    editor_member,
):
    response = api(editor_member).post(
        f"{base(editor_member.tenant)}/assets",
        {"config": {"sourceType": "upload", "parameters": {}}},
        format="json",
    )
    body = assert_problem(response, 400, "validation-failed")
    assert "assets:file" in body["detail"]
    assert "config.sourceType" in body["errors"]
    assert not Asset.objects.exists()


@pytest.mark.parametrize(
    ("body_changes", "named"),
    [
        ({"colour": "red"}, "colour"),
        ({"embedding": {"chunkSise": 100}}, "embedding.chunkSise"),
        ({"config": {"sourceType": "folder", "parameters": {}, "x": 1}}, "config.x"),
    ],
)
def test_create_with_unknown_field_is_400_naming_it(
    admin_member, folder_root, body_changes, named
):
    body = folder_body(folder_root, **body_changes)
    response = api(admin_member).post(
        f"{base(admin_member.tenant)}/assets", body, format="json"
    )
    problem = assert_problem(response, 400, "validation-failed")
    assert named in problem["detail"]
    assert problem["errors"] == {named: ["Unknown field."]}
    assert not Asset.objects.exists()


def test_create_with_unknown_or_missing_source_parameter_is_400_naming_it(
    admin_member, folder_root
):
    client, url = api(admin_member), f"{base(admin_member.tenant)}/assets"
    body = folder_body(folder_root)
    body["config"]["parameters"]["depth"] = 3
    errors = assert_problem(client.post(url, body, format="json"), 400)["errors"]
    assert list(errors) == ["config.parameters.depth"]
    body = {"config": {"sourceType": "folder", "parameters": {"glob": 5}}}
    errors = assert_problem(client.post(url, body, format="json"), 400)["errors"]
    assert set(errors) == {"config.parameters.path", "config.parameters.glob"}
    body = {"config": {"sourceType": "git", "parameters": {}}}
    errors = assert_problem(client.post(url, body, format="json"), 400)["errors"]
    assert list(errors) == ["config.parameters.url"]
    body = {"config": {"sourceType": "sharepoint", "parameters": {}}}
    errors = assert_problem(client.post(url, body, format="json"), 400)["errors"]
    assert list(errors) == ["config.sourceType"]


def test_create_takes_a_catalogue_model_and_refuses_unknown_ones_and_dimensions(
    admin_member, folder_root, no_enqueue
):
    client, url = api(admin_member), f"{base(admin_member.tenant)}/assets"
    same = {"provider": "builtin", "model": "hashed-lexical-384", "dimensions": 384}
    ok = client.post(url, folder_body(folder_root, embedding=same), format="json")
    assert ok.status_code == 200
    chosen = {"provider": "openai", "model": "text-embedding-3-large"}
    body = client.post(url, folder_body(folder_root, embedding=chosen), format="json")
    assert body.status_code == 200
    assert body.json()["asset"]["embedding"] == {
        **chosen, "dimensions": 3072, "chunkSize": 512, "chunkOverlap": 64
    }  # fmt: skip
    unknown = {"provider": "openai", "model": "text-embedding-4"}
    response = client.post(
        url, folder_body(folder_root, embedding=unknown), format="json"
    )
    problem = assert_problem(response, 400)
    assert set(problem["errors"]) == {"embedding.model"}
    assert "assets:embeddingModels" in problem["detail"]
    wrong = {**chosen, "dimensions": 1536}
    response = client.post(url, folder_body(folder_root, embedding=wrong), format="json")
    problem = assert_problem(response, 400)
    assert problem["errors"] == {"embedding.dimensions": ["Must be 3072."]}
    assert Asset.objects.count() == 2


def test_create_with_overlap_not_below_chunk_size_is_400(admin_member, folder_root):
    body = folder_body(folder_root, embedding={"chunkSize": 100, "chunkOverlap": 100})
    response = api(admin_member).post(
        f"{base(admin_member.tenant)}/assets", body, format="json"
    )
    assert list(assert_problem(response, 400)["errors"]) == ["embedding.chunkOverlap"]
    assert not Asset.objects.exists()


def test_create_folder_outside_the_allowed_roots_is_400_naming_path(
    admin_member, folder_root, tmp_path
):
    body = {"config": {"sourceType": "folder", "parameters": {"path": str(tmp_path)}}}
    response = api(admin_member).post(
        f"{base(admin_member.tenant)}/assets", body, format="json"
    )
    assert list(assert_problem(response, 400)["errors"]) == ["config.parameters.path"]


@pytest.mark.parametrize("role_fixture", ["editor_member", "viewer_member"])
def test_create_folder_asset_below_admin_is_403(request, folder_root, role_fixture):
    member = request.getfixturevalue(role_fixture)
    response = api(member).post(
        f"{base(member.tenant)}/assets", folder_body(folder_root), format="json"
    )
    assert_problem(response, 403, "forbidden")
    assert not Asset.objects.exists()


def test_create_with_malformed_json_is_400_problem_details(admin_member):
    response = api(admin_member).post(
        f"{base(admin_member.tenant)}/assets",
        '{"config": ',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="m",
    )
    assert_problem(response, 400, "malformed-request")
    assert not IdempotencyRecord.objects.exists()


def test_create_with_a_body_that_is_not_json_is_415(admin_member):
    response = api(admin_member).post(
        f"{base(admin_member.tenant)}/assets", "name=x", content_type="text/plain"
    )
    assert_problem(response, 415, "unsupported-media-type")


# -- create by upload (multipart) ---------------------------------------------------


def file_part(name: str, data: bytes | str, content_type="application/octet-stream"):
    raw = data.encode() if isinstance(data, str) else data
    return SimpleUploadedFile(name, raw, content_type=content_type)


def test_upload_of_several_files_creates_asset_and_ingest(editor_member, run_queued):
    payload = {"name": "Notes", "embedding": {"chunkSize": 200, "chunkOverlap": 20}}
    response = api(editor_member).post(
        f"{base(editor_member.tenant)}/assets:file",
        {
            "file": [file_part("a.md", "# A\n\nalpha"), file_part("b.txt", "beta")],
            "payload": json.dumps(payload),
        },
        format="multipart",
    )
    assert response.status_code == 200, response.json()
    asset, op = response.json()["asset"], response.json()["operation"]
    assert (asset["displayName"], asset["type"], asset["config"]) == (
        "Notes", "UPLOAD", {"sourceType": "upload", "parameters": {}},
    )  # fmt: skip
    assert asset["embedding"]["chunkSize"] == 200
    assert (op["type"], op["status"]) == ("INGEST", "PENDING")
    assert sorted(UploadedFile.objects.values_list("file_name", flat=True)) == [
        "a.md", "b.txt",
    ]  # fmt: skip
    assert run_queued() == ["COMPLETED"]
    listed = (
        api(editor_member).get(asset_url(Asset.objects.get()) + "/documents").json()
    )
    assert [d["fileName"] for d in listed["items"]] == ["a.md", "b.txt"]


def test_upload_without_payload_is_named_after_the_first_file(
    editor_member, no_enqueue
):
    response = api(editor_member).post(
        f"{base(editor_member.tenant)}/assets:file",
        {"file": file_part("guide.txt", "text")},
        format="multipart",
    )
    assert response.status_code == 200
    assert response.json()["asset"]["displayName"] == "guide.txt"


def test_upload_over_50_mb_is_413_problem_details(editor_member):
    big = file_part("big.txt", b"a" * (50 * MB + 1))
    response = api(editor_member).post(
        f"{base(editor_member.tenant)}/assets:file", {"file": big}, format="multipart"
    )
    problem = assert_problem(response, 413, "payload-too-large")
    assert "50 MB" in problem["detail"] and list(problem["errors"]) == ["file"]
    assert not Asset.objects.exists()


def test_upload_of_an_unsupported_type_is_415_problem_details(editor_member):
    response = api(editor_member).post(
        f"{base(editor_member.tenant)}/assets:file",
        {"file": [file_part("a.txt", "ok"), file_part("tool.exe", b"MZ")]},
        format="multipart",
    )
    problem = assert_problem(response, 415, "unsupported-media-type")
    assert "tool.exe" in problem["detail"] and ".pdf" in problem["detail"]
    assert not Asset.objects.exists()


def test_upload_with_unknown_part_or_payload_field_is_400_naming_it(editor_member):
    client, url = api(editor_member), f"{base(editor_member.tenant)}/assets:file"
    response = client.post(
        url, {"file": file_part("a.txt", "x"), "colour": "red"}, format="multipart"
    )
    assert assert_problem(response, 400)["errors"] == {"colour": ["Unknown part."]}
    response = client.post(
        url,
        {"file": file_part("a.txt", "x"), "payload": json.dumps({"nmae": "typo"})},
        format="multipart",
    )
    problem = assert_problem(response, 400)
    assert (
        problem["errors"] == {"nmae": ["Unknown field."]}
        and "nmae" in problem["detail"]
    )
    response = client.post(
        url,
        {"file": file_part("a.txt", "x"), "payload": "{not json"},
        format="multipart",
    )
    assert list(assert_problem(response, 400)["errors"]) == ["payload"]
    assert not Asset.objects.exists()


def test_upload_payload_for_another_source_type_or_with_parameters_is_400(
    editor_member,
):
    client, url = api(editor_member), f"{base(editor_member.tenant)}/assets:file"
    for config, field in (
        ({"sourceType": "folder", "parameters": {"path": "/"}}, "config.sourceType"),
        (
            {"sourceType": "upload", "parameters": {"path": "/"}},
            "config.parameters.path",
        ),
    ):
        response = client.post(
            url,
            {
                "file": file_part("a.txt", "x"),
                "payload": json.dumps({"config": config}),
            },
            format="multipart",
        )
        assert list(assert_problem(response, 400)["errors"]) == [field]
    assert not Asset.objects.exists()


def test_upload_without_a_file_is_400_and_json_body_is_415(editor_member):
    client, url = api(editor_member), f"{base(editor_member.tenant)}/assets:file"
    response = client.post(url, {"payload": "{}"}, format="multipart")
    assert list(assert_problem(response, 400)["errors"]) == ["file"]
    assert_problem(client.post(url, {"name": "x"}, format="json"), 415)


# -- get, ETag, patch, If-Match, delete ---------------------------------------------


def test_get_asset_sends_an_etag_that_changes_when_settings_change(
    admin_member, ingested
):
    client = api(admin_member)
    first = client.get(asset_url(ingested))
    assert first.status_code == 200
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
    assert client.get(asset_url(ingested))["ETag"] == etag  # stable while unchanged
    patched = client.patch(
        asset_url(ingested), {"displayName": "Renamed"}, format="json"
    )
    assert patched["ETag"] != etag
    assert client.get(asset_url(ingested))["ETag"] == patched["ETag"]


def test_patch_display_name_applies_at_once_without_an_operation(editor_member):
    asset = AssetFactory(tenant=editor_member.tenant, display_name="Old")
    response = api(editor_member).patch(
        asset_url(asset), {"displayName": "New name"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"asset", "operation"}
    assert body["operation"] is None and body["asset"]["displayName"] == "New name"
    asset.refresh_from_db()
    assert asset.display_name == "New name"
    assert not Operation.objects.exists()


def test_patch_of_chunking_starts_a_reindex(editor_member, ingested, no_enqueue):
    response = api(editor_member).patch(
        asset_url(ingested),
        {"embedding": {"chunkSize": 128, "chunkOverlap": 16}},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["operation"]["type"], body["operation"]["status"]) == (
        "REINDEX",
        "PENDING",
    )
    assert body["asset"]["embedding"]["chunkSize"] == 128
    assert body["asset"]["lastOperation"]["id"] == body["operation"]["id"]
    assert no_enqueue == [body["operation"]["id"]]


def test_patch_with_overlap_not_below_chunk_size_is_400_and_changes_nothing(
    editor_member,
):
    asset = AssetFactory(tenant=editor_member.tenant, chunk_size=100, chunk_overlap=10)
    response = api(editor_member).patch(
        asset_url(asset),
        {"displayName": "X", "embedding": {"chunkOverlap": 100}},
        format="json",
    )
    errors = assert_problem(response, 400, "validation-failed")["errors"]
    assert list(errors) == ["embedding.chunkOverlap"]
    asset.refresh_from_db()
    assert (asset.display_name != "X", asset.chunk_overlap) == (True, 10)
    assert not Operation.objects.exists()


def test_patch_of_an_upload_assets_source_config_is_400_and_changes_nothing(
    editor_member,
):
    # (A model change is no longer refused: tests/assets_app/test_api_model_change.py.)
    asset = AssetFactory(tenant=editor_member.tenant, display_name="Same")
    response = api(editor_member).patch(
        asset_url(asset),
        {"displayName": "Changed", "sourceConfig": {"parameters": {}}},
        format="json",
    )
    problem = assert_problem(response, 400, "validation-failed")
    assert "not supported yet" in problem["errors"]["sourceConfig"][0]
    asset.refresh_from_db()
    assert asset.display_name == "Same"


def test_patch_may_send_back_the_embedding_it_read(editor_member, ingested, no_enqueue):
    client = api(editor_member)
    read = client.get(asset_url(ingested)).json()
    response = client.patch(
        asset_url(ingested), {"embedding": read["embedding"]}, format="json"
    )
    assert response.status_code == 200 and response.json()["operation"] is None


def test_patch_with_unknown_field_is_400_naming_it(editor_member):
    asset = AssetFactory(tenant=editor_member.tenant)
    response = api(editor_member).patch(asset_url(asset), {"name": "x"}, format="json")
    problem = assert_problem(response, 400, "validation-failed")
    assert (
        problem["errors"] == {"name": ["Unknown field."]}
        and "name" in problem["detail"]
    )


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(
    editor_member, admin_member
):
    asset = AssetFactory(tenant=editor_member.tenant, display_name="Original")
    alice, eddie = api(admin_member), api(editor_member)
    etag = alice.get(asset_url(asset))["ETag"]
    # Eddie changes it after Alice read it …
    assert eddie.patch(
        asset_url(asset), {"displayName": "Eddie's"}, format="json",
        HTTP_IF_MATCH=eddie.get(asset_url(asset))["ETag"],
    ).status_code == 200  # fmt: skip
    # … so Alice's write, based on what she read, is refused.
    response = alice.patch(
        asset_url(asset), {"displayName": "Alice's"}, format="json", HTTP_IF_MATCH=etag
    )
    assert (
        "GET it again" in assert_problem(response, 412, "precondition-failed")["detail"]
    )
    asset.refresh_from_db()
    assert asset.display_name == "Eddie's"


def test_patch_with_a_matching_if_match_or_star_succeeds(editor_member):
    asset = AssetFactory(tenant=editor_member.tenant)
    client = api(editor_member)
    etag = client.get(asset_url(asset))["ETag"]
    response = client.patch(
        asset_url(asset),
        {"displayName": "A"},
        format="json",
        HTTP_IF_MATCH=f'"other", {etag}',
    )
    assert response.status_code == 200
    response = client.patch(
        asset_url(asset), {"displayName": "B"}, format="json", HTTP_IF_MATCH="*"
    )
    assert response.status_code == 200
    # A weak tag never matches If-Match (strong comparison, RFC 9110 §13.1.1).
    etag = response["ETag"]
    response = client.patch(
        asset_url(asset), {"displayName": "C"}, format="json", HTTP_IF_MATCH=f"W/{etag}"
    )
    assert_problem(response, 412)


def test_delete_asset_is_204_then_404_and_fails_its_running_operation(
    admin_member, no_enqueue
):
    asset = AssetFactory(tenant=admin_member.tenant)
    DocumentFactory(asset=asset)
    running = operation_create(asset=asset, type=OperationType.INGEST, created_by="t")
    operation_start(operation_id=running.id)
    client = api(admin_member)
    response = client.delete(asset_url(asset))
    assert response.status_code == 204 and response.content == b""
    assert not Asset.objects.exists() and not Document.objects.exists()
    running.refresh_from_db()
    assert (running.status, running.error_message) == ("FAILED", "asset deleted")
    assert_problem(client.delete(asset_url(asset)), 404, "not-found")
    assert_problem(client.get(asset_url(asset)), 404, "not-found")


@pytest.mark.parametrize("role_fixture", ["editor_member", "viewer_member"])
def test_delete_asset_below_admin_is_403(request, role_fixture):
    member = request.getfixturevalue(role_fixture)
    asset = AssetFactory(tenant=member.tenant)
    assert_problem(api(member).delete(asset_url(asset)), 403, "forbidden")
    assert Asset.objects.filter(pk=asset.pk).exists()


# -- refresh ------------------------------------------------------------------------


def test_refresh_starts_a_refresh_for_documents_with_force(
    editor_member, ingested, no_enqueue
):
    doc = Document.objects.get(file_name="b.txt")
    response = api(editor_member).post(
        asset_url(ingested, ":refresh"),
        {"documentIds": [str(doc.id)], "force": True},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"asset", "operation"}
    assert (body["operation"]["type"], body["operation"]["status"]) == (
        "REFRESH",
        "PENDING",
    )
    op = Operation.objects.get(id=body["operation"]["id"])
    assert (op.document_ids, op.force) == ([str(doc.id)], True)
    assert body["asset"]["lastOperation"]["id"] == body["operation"]["id"]


def test_refresh_with_an_empty_body_refreshes_everything(editor_member, no_enqueue):
    asset = AssetFactory(tenant=editor_member.tenant)
    response = api(editor_member).post(asset_url(asset, ":refresh"), format="json")
    assert response.status_code == 200
    op = Operation.objects.get(id=response.json()["operation"]["id"])
    assert (op.document_ids, op.force) == (None, False)


def test_refresh_while_one_is_queued_returns_the_queued_one(editor_member, no_enqueue):
    asset = AssetFactory(tenant=editor_member.tenant)
    client = api(editor_member)
    first = client.post(asset_url(asset, ":refresh"), {}, format="json").json()
    again = client.post(
        asset_url(asset, ":refresh"), {"force": True}, format="json"
    ).json()
    assert again["operation"]["id"] == first["operation"]["id"]


def test_refresh_of_documents_not_in_the_asset_is_400_naming_them(editor_member):
    asset = AssetFactory(tenant=editor_member.tenant)
    other = DocumentFactory()  # of another tenant's asset
    response = api(editor_member).post(
        asset_url(asset, ":refresh"),
        {"documentIds": [str(other.id), "nope"]},
        format="json",
    )
    problem = assert_problem(response, 400)
    assert sorted(problem["errors"]["documentIds"]) == sorted([str(other.id), "nope"])


def test_refresh_with_unknown_field_is_400(editor_member):
    asset = AssetFactory(tenant=editor_member.tenant)
    response = api(editor_member).post(
        asset_url(asset, ":refresh"), {"forced": True}, format="json"
    )
    assert assert_problem(response, 400)["errors"] == {"forced": ["Unknown field."]}


# -- documents and chunks -----------------------------------------------------------


def test_document_renders_every_field_with_its_type_and_unit(
    viewer_member, admin_member, ingested
):
    doc = Document.objects.get(file_name="a.md")
    response = api(viewer_member).get(doc_url(doc))
    assert response.status_code == 200
    d = response.json()
    assert set(d) == DOCUMENT_FIELDS
    assert (d["id"], d["assetId"]) == (str(doc.id), str(ingested.id))
    assert (d["fileName"], d["contentType"], d["status"]) == (
        "a.md", "text/markdown", "COMPLETED",
    )  # fmt: skip
    assert d["sourceUrl"] == "upload://a.md"
    assert d["fileSize"] == UploadedFile.objects.get(file_name="a.md").size  # bytes
    assert len(d["contentHash"]) == 64 and d["errorMessage"] is None
    assert d["chunkCount"] == Chunk.objects.filter(document=doc).count() > 1
    assert d["tokenCount"] == sum(Chunk.objects.filter(document=doc).values_list(
        "token_count", flat=True))  # fmt: skip
    for name in ("createdAt", "modifiedAt", "processedAt"):
        assert isinstance(d[name], int) and now_ms() - 60_000 < d[name] <= now_ms()


def test_document_list_is_by_file_name_with_search(viewer_member, ingested):
    client = api(viewer_member)
    listed = client.get(asset_url(ingested, "/documents")).json()
    assert [d["fileName"] for d in listed["items"]] == ["a.md", "b.txt"]
    assert listed["totalCount"] == 2 and listed["nextPageToken"] is None
    assert all(set(d) == DOCUMENT_FIELDS for d in listed["items"])
    found = client.get(asset_url(ingested, "/documents?search=B.T")).json()
    assert [d["fileName"] for d in found["items"]] == ["b.txt"]


def test_document_pages_miss_and_repeat_nothing_while_documents_are_inserted(
    viewer_member,
):
    asset = AssetFactory(tenant=viewer_member.tenant)
    originals = {
        str(DocumentFactory(asset=asset, source_key=f"m{i}.txt").id) for i in range(7)
    }
    client, seen, n = api(viewer_member), [], 0
    url = asset_url(asset, "/documents?pageSize=3")
    while url:
        body = client.get(url).json()
        seen += [d["id"] for d in body["items"]]
        # Between page fetches, names sorting before and after the cursor.
        DocumentFactory(asset=asset, source_key=f"a{n}.txt")
        DocumentFactory(asset=asset, source_key=f"z{n}.txt")
        n += 1
        token = body["nextPageToken"]
        url = (
            asset_url(asset, f"/documents?pageSize=3&pageToken={token}")
            if token
            else None
        )
    assert len(seen) == len(set(seen))
    assert originals <= set(seen)


def test_chunks_are_listed_in_order_paged_with_every_field(viewer_member, ingested):
    doc = Document.objects.get(file_name="a.md")
    stored = list(Chunk.objects.filter(document=doc).order_by("chunk_index"))
    client, items = api(viewer_member), []
    url = doc_url(doc, "/chunks?pageSize=2")
    while url:
        body = client.get(url).json()
        assert body["totalCount"] == len(stored)
        items += body["items"]
        token = body["nextPageToken"]
        url = doc_url(doc, f"/chunks?pageSize=2&pageToken={token}") if token else None
    assert [c["chunkIndex"] for c in items] == list(range(len(stored)))
    for c, chunk in zip(items, stored, strict=True):
        assert set(c) == CHUNK_FIELDS
        assert c["chunkId"] == str(chunk.id) and c["content"] == chunk.content
        assert (c["startCharIdx"], c["endCharIdx"]) == (
            chunk.start_char_idx,
            chunk.end_char_idx,
        )
        assert (c["startLine"], c["endLine"]) == (chunk.start_line, chunk.end_line)
        assert c["tokenCount"] == chunk.token_count > 0
        assert c["pageNumber"] is None  # not a PDF
        assert isinstance(c["headingPath"], list)
    assert items[0]["headingPath"] == stored[0].heading_path
    assert items[0]["startLine"] == 1


def test_delete_document_removes_it_and_its_chunks_and_a_refresh_brings_it_back(
    admin_member, ingested, run_queued
):
    doc = Document.objects.get(file_name="a.md")
    client = api(admin_member)
    response = client.delete(doc_url(doc))
    assert response.status_code == 204
    assert not Document.objects.filter(pk=doc.pk).exists()
    assert not Chunk.objects.filter(document_id=doc.pk).exists()
    assert Chunk.objects.filter(asset=ingested).exists()  # b.txt's stay
    assert_problem(client.delete(doc_url(doc)), 404)
    assert_problem(client.get(doc_url(doc, "/chunks")), 404)
    assert (
        client.post(asset_url(ingested, ":refresh"), {}, format="json").status_code
        == 200
    )
    assert run_queued() == ["COMPLETED"]
    names = [
        d["fileName"]
        for d in client.get(asset_url(ingested, "/documents")).json()["items"]
    ]
    assert names == ["a.md", "b.txt"]


def test_delete_document_while_an_operation_runs_is_409_naming_it(
    admin_member, no_enqueue
):
    asset = AssetFactory(tenant=admin_member.tenant)
    doc = DocumentFactory(asset=asset)
    running = operation_create(asset=asset, type=OperationType.REFRESH, created_by="t")
    operation_start(operation_id=running.id)
    problem = assert_problem(api(admin_member).delete(doc_url(doc)), 409, "conflict")
    assert problem["operationId"] == str(running.id)
    assert Document.objects.filter(pk=doc.pk).exists()


@pytest.mark.parametrize("role_fixture", ["editor_member", "viewer_member"])
def test_delete_document_below_admin_is_403(request, role_fixture):
    member = request.getfixturevalue(role_fixture)
    doc = DocumentFactory(asset=AssetFactory(tenant=member.tenant))
    assert_problem(api(member).delete(doc_url(doc)), 403, "forbidden")
    assert Document.objects.filter(pk=doc.pk).exists()


def test_document_and_chunks_of_another_asset_of_the_tenant_are_404(viewer_member):
    mine = AssetFactory(tenant=viewer_member.tenant)
    sibling = DocumentFactory(asset=AssetFactory(tenant=viewer_member.tenant))
    url = f"{asset_url(mine)}/documents/{sibling.id}"
    assert_problem(api(viewer_member).get(url), 404)
    assert_problem(api(viewer_member).get(url + "/chunks"), 404)


# -- Idempotency-Key ----------------------------------------------------------------


def test_same_idempotency_key_and_body_replays_the_first_response_without_new_work(
    admin_member, folder_root, no_enqueue
):
    client, url = api(admin_member), f"{base(admin_member.tenant)}/assets"
    body = folder_body(folder_root, name="Once")
    first = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 200 and "Idempotent-Replayed" not in first
    # Same members in another order: the same request.
    reordered = {"name": "Once", "config": body["config"]}
    again = client.post(url, reordered, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Asset.objects.count() == 1 and Operation.objects.count() == 1
    assert len(no_enqueue) == 1
    # Without the key, the same body creates another asset.
    assert client.post(url, body, format="json").status_code == 200
    assert Asset.objects.count() == 2


def test_same_idempotency_key_with_another_body_is_422(
    admin_member, folder_root, no_enqueue
):
    client, url = api(admin_member), f"{base(admin_member.tenant)}/assets"
    client.post(
        url, folder_body(folder_root, name="A"), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    response = client.post(
        url, folder_body(folder_root, name="B"), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert (
        "new key" in assert_problem(response, 422, "idempotency-key-reused")["detail"]
    )
    assert list(Asset.objects.values_list("display_name", flat=True)) == ["A"]


def test_idempotency_keys_are_scoped_per_user_and_tenant(folder_root, no_enqueue):
    tenant, other_tenant = TenantFactory(), TenantFactory()
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    a1 = MembershipFactory(user=alice, tenant=tenant)
    a2 = MembershipFactory(user=alice, tenant=other_tenant)
    b1 = MembershipFactory(user=bob, tenant=tenant)
    for member in (a1, a2, b1):
        response = api(member).post(
            f"{base(member.tenant)}/assets", folder_body(folder_root), format="json",
            HTTP_IDEMPOTENCY_KEY="shared",
        )  # fmt: skip
        assert response.status_code == 200 and "Idempotent-Replayed" not in response
    assert Asset.objects.count() == 3


def test_upload_replay_needs_the_same_file_contents(editor_member, no_enqueue):
    client, url = api(editor_member), f"{base(editor_member.tenant)}/assets:file"

    def send(text):
        return client.post(
            url, {"file": file_part("a.txt", text)}, format="multipart",
            HTTP_IDEMPOTENCY_KEY="up-1",
        )  # fmt: skip

    first = send("version one")
    again = send("version one")
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert_problem(send("version two"), 422)
    assert UploadedFile.objects.count() == 1


def test_refresh_replay_does_not_request_the_refresh_again(editor_member, no_enqueue):
    asset = AssetFactory(tenant=editor_member.tenant)
    client, url = api(editor_member), asset_url(asset, ":refresh")
    first = client.post(url, {"force": True}, format="json", HTTP_IDEMPOTENCY_KEY="r")
    op = Operation.objects.get()
    events = op.events.count()
    again = client.post(url, {"force": True}, format="json", HTTP_IDEMPOTENCY_KEY="r")
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert op.events.count() == events  # not even coalesced into the queued one
    # The same key on another endpoint is another request.
    other = client.post(
        f"{base(asset.tenant)}/assets", {"config": {"sourceType": "upload"}},
        format="json", HTTP_IDEMPOTENCY_KEY="r",
    )  # fmt: skip
    assert_problem(other, 422)


def test_a_failed_request_is_not_kept_so_its_key_can_be_retried(
    admin_member, folder_root, no_enqueue
):
    client, url = api(admin_member), f"{base(admin_member.tenant)}/assets"
    (folder_root / "later").mkdir()
    body = {
        "config": {
            "sourceType": "folder",
            "parameters": {"path": str(folder_root / "later" / "x")},
        }
    }
    assert_problem(client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="f"), 400)
    assert not IdempotencyRecord.objects.exists()
    (folder_root / "later" / "x").mkdir()
    response = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="f")
    assert response.status_code == 200 and "Idempotent-Replayed" not in response


def test_an_idempotency_key_older_than_24_hours_runs_again(
    admin_member, folder_root, no_enqueue
):
    client, url = api(admin_member), f"{base(admin_member.tenant)}/assets"
    client.post(
        url, folder_body(folder_root), format="json", HTTP_IDEMPOTENCY_KEY="old"
    )
    IdempotencyRecord.objects.update(
        created_at=timezone.now() - timedelta(hours=24, seconds=1)
    )
    response = client.post(
        url,
        folder_body(folder_root, name="Other"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="old",
    )
    assert response.status_code == 200 and "Idempotent-Replayed" not in response
    assert Asset.objects.count() == 2 and IdempotencyRecord.objects.count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_retries_with_one_key_do_the_work_once(
    admin_member, folder_root, no_enqueue, monkeypatch
):
    """The retry arrives while the first request is still working: it waits for it
    and replays its response instead of creating a second asset."""
    from assets_app import services

    real, calls = services.asset_create_from_folder, []
    entered, release = threading.Event(), threading.Event()

    def slow_create(**kwargs):
        calls.append(kwargs["display_name"])
        entered.set()
        release.wait(10)
        return real(**kwargs)

    monkeypatch.setattr(services, "asset_create_from_folder", slow_create)
    url, responses = f"{base(admin_member.tenant)}/assets", {}

    def post(name):
        try:
            responses[name] = api(admin_member).post(
                url, folder_body(folder_root), format="json", HTTP_IDEMPOTENCY_KEY="c"
            )
        finally:
            connection.close()

    first = threading.Thread(target=post, args=("first",))
    first.start()
    assert entered.wait(10)
    retry = threading.Thread(target=post, args=("retry",))
    retry.start()
    retry.join(0.5)
    assert retry.is_alive()  # waits on the first request's key
    release.set()
    first.join(10)
    retry.join(10)
    assert responses["first"].status_code == responses["retry"].status_code == 200
    assert responses["retry"]["Idempotent-Replayed"] == "true"
    assert responses["retry"].json() == responses["first"].json()
    assert len(calls) == 1 and Asset.objects.count() == 1


def test_an_overlong_idempotency_key_is_400(admin_member, folder_root):
    response = api(admin_member).post(
        f"{base(admin_member.tenant)}/assets", folder_body(folder_root), format="json",
        HTTP_IDEMPOTENCY_KEY="k" * 256,
    )  # fmt: skip
    assert "Idempotency-Key" in assert_problem(response, 400)["errors"]


# -- auth, unknown routes, methods --------------------------------------------------


def test_without_a_token_every_route_is_401_problem_details(admin_member):
    asset = AssetFactory(tenant=admin_member.tenant)
    response = APIClient().get(asset_url(asset))
    assert_problem(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert_problem(
        bad.post(f"{base(admin_member.tenant)}/assets", {}, format="json"), 401
    )


def test_a_non_member_is_403_on_the_tenant(admin_member):
    outsider = MembershipFactory(user=UserFactory(username="mallory"))  # other tenant
    asset = AssetFactory(tenant=admin_member.tenant)
    for url in (
        f"{base(admin_member.tenant)}/assets",
        asset_url(asset),
        f"{base(admin_member.tenant)}/assets:sourceTypes",
    ):
        assert_problem(api(outsider).get(url), 403, "forbidden")


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("post", ":unknownVerb"),
        ("get", "/webhooks"),
    ],
)
def test_endpoints_of_later_capabilities_do_not_exist(admin_member, method, suffix):
    asset = AssetFactory(tenant=admin_member.tenant)
    response = getattr(api(admin_member), method)(
        asset_url(asset, suffix), {}, format="json"
    )
    assert_problem(response, 404, "not-found")


def test_webhook_delivery_endpoint_does_not_exist():
    assert_problem(APIClient().post("/v1/webhooks/abc/secret", {}, format="json"), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", ""),
        ("post", ""),
        ("get", ":refresh"),
        ("patch", "/documents"),
        ("post", "/documents"),
    ],
)
def test_a_wrong_method_is_405_problem_details(admin_member, method, path):
    asset = AssetFactory(tenant=admin_member.tenant)
    response = getattr(api(admin_member), method)(
        asset_url(asset, path), {}, format="json"
    )
    assert_problem(response, 405, "method-not-allowed")


def test_wrong_methods_on_collections_and_catalogues_are_405(admin_member):
    client, b = api(admin_member), base(admin_member.tenant)
    assert_problem(client.delete(f"{b}/assets"), 405)
    assert_problem(client.get(f"{b}/assets:file"), 405)
    assert_problem(client.post(f"{b}/assets:sourceTypes", {}, format="json"), 405)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1", str(uuid.uuid4())])
def test_malformed_or_unknown_ids_are_404(admin_member, bad_id):
    asset = AssetFactory(tenant=admin_member.tenant)
    client = api(admin_member)
    assert_problem(client.get(f"{base(admin_member.tenant)}/assets/{bad_id}"), 404)
    assert_problem(client.get(asset_url(asset, f"/documents/{bad_id}")), 404)
    assert_problem(client.get(asset_url(asset, f"/documents/{bad_id}/chunks")), 404)
