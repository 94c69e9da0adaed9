"""Contract tests of the operations API (API.md "LongOperation", "Cancel semantics",
"Pagination"): the tenant-wide and per-asset lists, one operation, and ``:cancel``.

Operations that a test moves through their lifecycle are made through the services
with ``no_enqueue`` (nothing runs unless the test says so); lists that only need many
rows use the factory."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from assets_app.models import ModelPrice, Role
from assets_app.services import asset_delete
from operations_app.consistency import consistency_check
from operations_app.models import (
    Operation,
    OperationEvent,
    OperationStatus,
    OperationType,
)
from operations_app.serializers import OperationSerializer
from operations_app.services import (
    operation_create,
    operation_finish,
    operation_request_cancel,
    operation_start,
)
from operations_app.worker import Progress, operation_add_progress, operation_set_total
from tests.factories import (
    AssetFactory,
    MembershipFactory,
    OperationFactory,
    TenantFactory,
)

pytestmark = pytest.mark.django_db

S = OperationStatus
T = OperationType
PROBLEM = "application/problem+json"
FIELDS = {
    "id",
    "assetId",
    "tenantId",
    "type",
    "status",
    "done",
    "startedAt",
    "completedAt",
    "createdAt",
    "itemsProcessed",
    "itemsTotal",
    "tokenCount",
    "chunkCount",
    "cost",
    "errorMessage",
    "createdBy",
    "cancelRequested",
    "stats",
}
STATS = {
    "documentsAdded",
    "documentsUpdated",
    "documentsDeleted",
    "documentsUnchanged",
    "documentsFailed",
}


def api(member) -> APIClient:
    client = APIClient()
    token = RefreshToken.for_user(member.user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def ops_url(tenant, query=""):
    return f"/v1/tenants/{tenant.slug}/operations" + (f"?{query}" if query else "")


def asset_ops_url(asset, query=""):
    return f"/v1/tenants/{asset.tenant.slug}/assets/{asset.id}/operations" + (
        f"?{query}" if query else ""
    )


def op_url(op, asset=None, tenant=None):
    asset_id = asset.id if asset is not None else op.asset_id
    slug = (tenant or (asset.tenant if asset is not None else op.tenant)).slug
    return f"/v1/tenants/{slug}/assets/{asset_id}/operations/{op.id}"


def make_op(asset, status=S.PENDING, type=T.REFRESH) -> Operation:
    """An operation of ``asset`` brought to ``status`` through the services."""
    op = operation_create(asset=asset, type=type, created_by="tester")
    if status == S.CANCELLED:
        return operation_request_cancel(operation=op, actor="tester")
    if status != S.PENDING:
        op = operation_start(operation_id=op.id)
        if status != S.RUNNING:
            op = operation_finish(operation_id=op.id, status=status)
    return op


def make_ops(asset, n, **kwargs) -> list[Operation]:
    """``n`` operations of ``asset``, one millisecond apart, returned newest first."""
    ops = [OperationFactory(asset=asset, **kwargs) for _ in range(n)]
    for i, op in enumerate(ops):  # deterministic order without sleeping
        Operation.objects.filter(pk=op.pk).update(
            created_at=op.created_at + timedelta(milliseconds=i)
        )
    return sorted(
        Operation.objects.filter(pk__in=[o.pk for o in ops]),
        key=lambda o: (o.created_at, o.id),
        reverse=True,
    )


def ids(body) -> list[str]:
    return [item["id"] for item in body["items"]]


def assert_problem(response, status, type_suffix=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert {"type", "title", "status", "detail", "instance", "requestId"} <= set(body)
    assert body["status"] == status
    assert body["instance"] == response.wsgi_request.path
    assert body["requestId"] == response["X-Request-ID"]
    if type_suffix:
        assert body["type"] == f"/v1/problems/{type_suffix}"
    return body


def token_of(values: list) -> str:
    raw = json.dumps(values).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
def asset(tenant):
    return AssetFactory(tenant=tenant)


@pytest.fixture
def other_tenant_op(db):
    return OperationFactory(asset=AssetFactory(tenant=TenantFactory()))


# -- the LongOperation shape -----------------------------------------------------------
def test_operation_has_every_field_of_api_md_with_its_type_and_unit(
    admin_member, asset, no_enqueue
):
    ModelPrice.objects.update_or_create(
        provider=asset.embedding_provider,
        model=asset.embedding_model,
        defaults={
            "dimensions": 384,
            "max_input_tokens": 8191,
            "price_per_million_tokens": Decimal("0.130000"),
        },
    )
    before_ms = int(time.time() * 1000) - 1
    op = operation_create(asset=asset, type=T.REFRESH, created_by="alice")
    operation_start(operation_id=op.id)
    operation_set_total(operation_id=op.id, items_total=5)
    operation_add_progress(
        operation_id=op.id,
        progress=Progress(
            items=4, chunks=9, tokens=1_234_567, added=2, updated=1, unchanged=1
        ),
    )
    op = operation_finish(operation_id=op.id, status=S.COMPLETED)
    after_ms = int(time.time() * 1000) + 1

    response = api(admin_member).get(op_url(op))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == FIELDS
    assert body["id"] == str(op.id) and body["assetId"] == str(asset.id)
    assert body["tenantId"] == str(asset.tenant_id)
    assert (body["type"], body["status"], body["done"]) == (
        "REFRESH",
        "COMPLETED",
        True,
    )
    for key in ("createdAt", "startedAt", "completedAt"):  # epoch ms, integers
        assert type(body[key]) is int
        assert before_ms <= body[key] <= after_ms
    assert body["createdAt"] <= body["startedAt"] <= body["completedAt"]
    assert body["createdAt"] == (
        op.created_at
        - op.created_at.replace(
            year=1970, month=1, day=1, hour=0, minute=0, second=0, microsecond=0
        )
    ) // timedelta(milliseconds=1)
    assert (body["itemsProcessed"], body["itemsTotal"]) == (4, 5)
    assert (body["tokenCount"], body["chunkCount"]) == (1_234_567, 9)
    assert all(
        type(body[k]) is int
        for k in ("itemsProcessed", "itemsTotal", "tokenCount", "chunkCount")
    )
    # cost = billed tokens × the model's USD price per million tokens.
    assert isinstance(body["cost"], (int, float)) and not isinstance(body["cost"], bool)
    assert (
        Decimal(str(body["cost"])) == Decimal("1234567") * Decimal("0.13") / 1_000_000
    )
    assert body["errorMessage"] is None
    assert body["createdBy"] == "alice"
    assert body["cancelRequested"] is False
    assert body["stats"] == {
        "documentsAdded": 2,
        "documentsUpdated": 1,
        "documentsDeleted": 0,
        "documentsUnchanged": 1,
        "documentsFailed": 0,
    }


def test_cost_follows_the_assets_current_price(admin_member, asset):
    price, _ = ModelPrice.objects.update_or_create(
        provider=asset.embedding_provider,
        model=asset.embedding_model,
        defaults={
            "dimensions": 384,
            "max_input_tokens": 8191,
            "price_per_million_tokens": Decimal("0.020000"),
        },
    )
    op = OperationFactory(asset=asset, token_count=2_000_000)
    client = api(admin_member)
    assert client.get(op_url(op)).json()["cost"] == 0.04
    price.price_per_million_tokens = Decimal("0.100000")
    price.save()
    assert client.get(op_url(op)).json()["cost"] == 0.2
    assert client.get(ops_url(asset.tenant)).json()["items"][0]["cost"] == 0.2


def test_list_items_are_rendered_exactly_like_the_operation_itself(
    admin_member, tenant, no_enqueue
):
    """Lists render rows fetched as dicts with the price from a subquery; the
    detail renders the Operation. Priced, unpriced and asset-less rows agree."""
    priced, unpriced, gone = (
        AssetFactory(tenant=tenant, embedding_model=m)
        for m in ("priced-model", "unpriced-model", "priced-model")
    )
    ModelPrice.objects.create(
        provider=priced.embedding_provider,
        model="priced-model",
        dimensions=384,
        max_input_tokens=8191,
        price_per_million_tokens=Decimal("0.130000"),
    )
    failed = make_op(priced, S.FAILED)
    Operation.objects.filter(pk=failed.pk).update(
        token_count=1_234_567, error_message="Embedding provider timed out."
    )
    OperationFactory(asset=unpriced, token_count=5_000)
    OperationFactory(asset=gone, token_count=7_000, status=S.COMPLETED)
    make_op(priced, S.RUNNING)
    gone.delete()  # SET_NULL: the operation stays, without an asset
    items = api(admin_member).get(ops_url(tenant)).json()["items"]
    expected = [
        OperationSerializer(op).data
        for op in Operation.objects.filter(tenant=tenant).select_related("asset")
    ]
    assert len(items) == 4 and items == expected
    costs = {item["tokenCount"]: item["cost"] for item in items}
    assert costs[5_000] == 0  # unpriced
    assert costs[7_000] == float(Decimal("7000") * Decimal("0.13") / 10**6)  # gone
    assert costs[1_234_567] == float(Decimal("1234567") * Decimal("0.13") / 10**6)


def test_an_operation_of_a_deleted_asset_keeps_its_models_current_price(
    admin_member, asset, no_enqueue
):
    price, _ = ModelPrice.objects.update_or_create(
        provider=asset.embedding_provider, model=asset.embedding_model,
        defaults={"dimensions": 384, "max_input_tokens": 8191,
                  "price_per_million_tokens": Decimal("20.000000")},
    )  # fmt: skip
    op = make_op(asset, S.COMPLETED)
    Operation.objects.filter(pk=op.pk).update(token_count=15_877)
    asset_delete(actor=admin_member, asset=asset)
    client = api(admin_member)
    listed = client.get(ops_url(admin_member.tenant)).json()["items"][0]
    assert listed["assetId"] is None and listed["tokenCount"] == 15_877
    assert listed["cost"] == 0.31754  # 15,877 tokens × $20 / 1M
    op = Operation.objects.get(pk=op.pk)  # the dashboard's and the detail's path
    assert OperationSerializer(op).data["cost"] == 0.31754
    price.price_per_million_tokens = Decimal("10.000000")  # the current price counts
    price.save()
    assert client.get(ops_url(admin_member.tenant)).json()["items"][0]["cost"] == 0.15877
    report = consistency_check(stale_after_seconds=120)
    assert report.ok, report.violations


def test_unset_times_are_null_and_a_pending_operation_is_not_done(admin_member, asset):
    op = OperationFactory(asset=asset)
    body = api(admin_member).get(op_url(op)).json()
    assert (body["status"], body["done"]) == ("PENDING", False)
    assert body["startedAt"] is None and body["completedAt"] is None
    assert type(body["createdAt"]) is int


def test_failed_operation_carries_its_error_message(admin_member, asset, no_enqueue):
    op = make_op(asset, S.RUNNING)
    operation_finish(
        operation_id=op.id, status=S.FAILED, error_message="token budget hit"
    )
    body = api(admin_member).get(op_url(op)).json()
    assert (body["status"], body["done"], body["errorMessage"]) == (
        "FAILED",
        True,
        "token budget hit",
    )


def test_enum_values_are_upper_snake(admin_member, asset):
    for type_ in T.values:
        OperationFactory(asset=asset, type=type_)
    items = api(admin_member).get(ops_url(asset.tenant)).json()["items"]
    assert {i["type"] for i in items} == set(T.values)
    for item in items:
        assert item["type"] == item["type"].upper() and item["status"] == "PENDING"


# -- GET one ---------------------------------------------------------------------------
def test_get_of_an_operation_under_another_asset_of_the_tenant_is_404(
    admin_member, tenant
):
    op = OperationFactory(asset=AssetFactory(tenant=tenant))
    other_asset = AssetFactory(tenant=tenant)
    assert_problem(
        api(admin_member).get(op_url(op, asset=other_asset)), 404, "not-found"
    )


def test_get_of_another_tenants_operation_is_404(admin_member, asset, other_tenant_op):
    client = api(admin_member)
    assert_problem(client.get(op_url(other_tenant_op, tenant=asset.tenant)), 404)
    assert_problem(client.get(op_url(other_tenant_op, asset=asset)), 404)


@pytest.mark.parametrize("bad", ["nope", "1", str(uuid.uuid4())])
def test_get_of_a_malformed_or_unknown_operation_id_is_404(admin_member, asset, bad):
    url = f"/v1/tenants/{asset.tenant.slug}/assets/{asset.id}/operations/{bad}"
    assert_problem(api(admin_member).get(url), 404, "not-found")


def test_viewer_can_read_operations(viewer_member, asset):
    op = OperationFactory(asset=asset)
    client = api(viewer_member)
    assert client.get(op_url(op)).status_code == 200
    assert client.get(ops_url(asset.tenant)).status_code == 200
    assert client.get(asset_ops_url(asset)).status_code == 200


# -- :cancel ---------------------------------------------------------------------------
def cancel(client, op, **kwargs):
    return client.post(op_url(op) + ":cancel", **kwargs)


def test_cancel_of_pending_operation_cancels_it_at_once(
    editor_member, asset, no_enqueue
):
    op = make_op(asset, S.PENDING)
    response = cancel(api(editor_member), op)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["done"]) == ("CANCELLED", True)
    assert type(body["completedAt"]) is int
    assert Operation.objects.get(pk=op.pk).status == S.CANCELLED


def test_cancel_of_running_operation_requests_it_and_returns_it_running(
    editor_member, asset, no_enqueue
):
    op = make_op(asset, S.RUNNING)
    body = cancel(api(editor_member), op).json()
    assert (body["status"], body["done"], body["cancelRequested"]) == (
        "RUNNING",
        False,
        True,
    )
    assert body["completedAt"] is None
    stored = Operation.objects.get(pk=op.pk)
    assert (stored.status, stored.cancel_requested) == (S.RUNNING, True)


@pytest.mark.parametrize("status", [S.COMPLETED, S.FAILED, S.CANCELLED])
def test_cancel_of_terminal_operation_returns_it_unchanged(
    admin_member, asset, no_enqueue, status
):
    op = make_op(asset, status)
    client = api(admin_member)
    before = client.get(op_url(op)).json()
    events = OperationEvent.objects.filter(operation=op).count()
    response = cancel(client, op)
    assert response.status_code == 200
    assert response.json() == before
    assert OperationEvent.objects.filter(operation=op).count() == events


@pytest.mark.parametrize("status", [S.PENDING, S.RUNNING])
def test_cancel_is_idempotent(admin_member, asset, no_enqueue, status):
    op = make_op(asset, status)
    client = api(admin_member)
    first = cancel(client, op)
    events = OperationEvent.objects.filter(operation=op).count()
    second = cancel(client, op)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert OperationEvent.objects.filter(operation=op).count() == events


def test_viewer_cannot_cancel(viewer_member, asset, no_enqueue):
    op = make_op(asset, S.PENDING)
    body = assert_problem(cancel(api(viewer_member), op), 403, "forbidden")
    assert "VIEWER" in body["detail"]
    assert Operation.objects.get(pk=op.pk).status == S.PENDING


def test_viewer_cancel_of_another_tenants_operation_is_404_not_403(
    viewer_member, asset, other_tenant_op
):
    url = op_url(other_tenant_op, asset=asset) + ":cancel"
    assert_problem(api(viewer_member).post(url), 404)


def test_cancel_of_another_tenants_operation_is_404_and_changes_nothing(
    admin_member, asset, other_tenant_op
):
    client = api(admin_member)
    assert_problem(client.post(op_url(other_tenant_op, asset=asset) + ":cancel"), 404)
    assert_problem(
        client.post(op_url(other_tenant_op, tenant=asset.tenant) + ":cancel"), 404
    )
    assert Operation.objects.get(pk=other_tenant_op.pk).status == S.PENDING


def test_get_on_cancel_is_405_problem(admin_member, asset):
    op = OperationFactory(asset=asset)
    response = api(admin_member).get(op_url(op) + ":cancel")
    assert_problem(response, 405, "method-not-allowed")
    assert "POST" in response["Allow"]


@pytest.mark.parametrize("method", ["get", "post"])
def test_unknown_verb_is_404_problem(admin_member, asset, method):
    op = OperationFactory(asset=asset)
    response = getattr(api(admin_member), method)(op_url(op) + ":frob")
    body = assert_problem(response, 404, "not-found")
    assert ":verb" in body["detail"]


def test_cancel_with_unknown_body_fields_is_400_naming_them(admin_member, asset):
    op = OperationFactory(asset=asset)
    response = cancel(
        api(admin_member), op, data={"force": True, "why": "x"}, format="json"
    )
    body = assert_problem(response, 400, "validation-failed")
    assert set(body["errors"]) == {"force", "why"}
    assert "force" in body["detail"] and "why" in body["detail"]
    assert Operation.objects.get(pk=op.pk).status == S.PENDING


def test_cancel_with_an_empty_json_body_works(admin_member, asset, no_enqueue):
    op = make_op(asset, S.PENDING)
    response = cancel(api(admin_member), op, data={}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "CANCELLED"


# -- lists -----------------------------------------------------------------------------
def test_tenant_list_is_newest_first_across_assets(admin_member, tenant):
    a, b = AssetFactory(tenant=tenant), AssetFactory(tenant=tenant)
    ops = make_ops(a, 2) + make_ops(b, 2)  # b's are newer
    expected = [
        str(o.id) for o in sorted(ops, key=lambda o: o.created_at, reverse=True)
    ]
    body = api(admin_member).get(ops_url(tenant)).json()
    assert set(body) == {"items", "nextPageToken", "totalCount"}
    assert ids(body) == expected
    assert body["totalCount"] == 4 and body["nextPageToken"] is None
    created = [i["createdAt"] for i in body["items"]]
    assert created == sorted(created, reverse=True)


def test_tenant_list_filters_by_status_type_and_asset(admin_member, tenant):
    a, b = AssetFactory(tenant=tenant), AssetFactory(tenant=tenant)
    done = OperationFactory(asset=a, status=S.COMPLETED, type=T.INGEST)
    refresh = OperationFactory(asset=a, status=S.PENDING, type=T.REFRESH)
    other = OperationFactory(asset=b, status=S.COMPLETED, type=T.REFRESH)
    client = api(admin_member)

    def listed(query):
        body = client.get(ops_url(tenant, query)).json()
        assert body["totalCount"] == len(body["items"])
        return set(ids(body))

    assert listed("status=COMPLETED") == {str(done.id), str(other.id)}
    assert listed("type=REFRESH") == {str(refresh.id), str(other.id)}
    assert listed(f"assetId={a.id}") == {str(done.id), str(refresh.id)}
    assert listed(f"assetId={a.id}&status=COMPLETED&type=INGEST") == {str(done.id)}
    assert listed("status=RUNNING") == set()


def test_invalid_filters_are_400_naming_them(admin_member, tenant):
    response = api(admin_member).get(ops_url(tenant, "status=done&type=refresh"))
    body = assert_problem(response, 400, "validation-failed")
    assert set(body["errors"]) == {"status", "type"}


def test_asset_id_filter_of_another_tenant_is_404_like_an_unknown_one(
    admin_member, tenant, other_tenant_op
):
    client = api(admin_member)
    foreign = client.get(ops_url(tenant, f"assetId={other_tenant_op.asset_id}"))
    unknown = client.get(ops_url(tenant, f"assetId={uuid.uuid4()}"))
    assert_problem(foreign, 404)
    assert_problem(unknown, 404)
    assert foreign.json()["detail"] == unknown.json()["detail"]


def test_a_malformed_asset_id_filter_is_400_naming_it(admin_member, tenant):
    response = api(admin_member).get(ops_url(tenant, "assetId=not-a-uuid"))
    body = assert_problem(response, 400, "validation-failed")
    assert body["errors"] == {"assetId": ["Not a valid UUID."]}


def test_a_body_field_on_a_verb_that_takes_none_says_so(
    editor_member, asset, no_enqueue
):
    op = make_op(asset)
    response = cancel(api(editor_member), op, data={"foo": 1}, format="json")
    body = assert_problem(response, 400, "validation-failed")
    assert body["detail"] == "Unknown field foo; this request takes no fields."


def test_tenant_list_never_shows_another_tenants_operations(
    admin_member, asset, other_tenant_op
):
    mine = OperationFactory(asset=asset)
    body = api(admin_member).get(ops_url(asset.tenant)).json()
    assert ids(body) == [str(mine.id)] and body["totalCount"] == 1


def test_asset_list_has_only_that_assets_operations_with_filters(admin_member, tenant):
    a, b = AssetFactory(tenant=tenant), AssetFactory(tenant=tenant)
    mine = make_ops(a, 3, status=S.COMPLETED)
    failed = OperationFactory(asset=a, status=S.FAILED, type=T.REINDEX)
    OperationFactory(asset=b)
    client = api(admin_member)
    body = client.get(asset_ops_url(a)).json()
    assert ids(body) == [str(failed.id)] + [str(o.id) for o in mine]
    assert body["totalCount"] == 4
    assert ids(client.get(asset_ops_url(a, "status=FAILED")).json()) == [str(failed.id)]
    assert ids(client.get(asset_ops_url(a, "type=REINDEX")).json()) == [str(failed.id)]
    assert (
        client.get(asset_ops_url(a, "type=INGEST&status=FAILED")).json()["items"] == []
    )


def test_asset_list_of_another_tenants_asset_is_404(
    admin_member, tenant, other_tenant_op
):
    url = f"/v1/tenants/{tenant.slug}/assets/{other_tenant_op.asset_id}/operations"
    assert_problem(api(admin_member).get(url), 404)


def test_lists_answer_403_to_a_non_member_and_404_for_an_unknown_tenant(admin_member):
    stranger_tenant = TenantFactory()
    client = api(admin_member)
    assert_problem(client.get(ops_url(stranger_tenant)), 403, "forbidden")
    assert_problem(client.get("/v1/tenants/no-such-tenant/operations"), 404)


# -- pagination ------------------------------------------------------------------------
def test_pages_walk_every_operation_once_in_order(admin_member, asset):
    ops = make_ops(asset, 7)
    client = api(admin_member)
    seen, token, pages = [], None, 0
    while True:
        body = client.get(
            ops_url(
                asset.tenant, "pageSize=3" + (f"&pageToken={token}" if token else "")
            )
        ).json()
        assert body["totalCount"] == 7
        seen += ids(body)
        pages += 1
        token = body["nextPageToken"]
        if token is None:
            break
        assert isinstance(token, str)
    assert seen == [str(o.id) for o in ops] and pages == 3


def test_last_full_page_has_no_next_token(admin_member, asset):
    make_ops(asset, 4)
    body = api(admin_member).get(ops_url(asset.tenant, "pageSize=4")).json()
    assert len(body["items"]) == 4 and body["nextPageToken"] is None


def test_default_page_size_is_50_and_max_is_500(admin_member, asset):
    Operation.objects.bulk_create(
        [
            Operation(
                tenant=asset.tenant,
                asset=asset,
                asset_name="x",
                type=T.REFRESH,
                created_by="tester",
            )
            for _ in range(501)
        ]
    )
    client = api(admin_member)
    first = client.get(ops_url(asset.tenant)).json()
    assert len(first["items"]) == 50 and first["totalCount"] == 501
    biggest = client.get(ops_url(asset.tenant, "pageSize=500")).json()
    assert len(biggest["items"]) == 500 and biggest["nextPageToken"]
    rest = client.get(
        ops_url(asset.tenant, f"pageSize=500&pageToken={biggest['nextPageToken']}")
    ).json()
    assert len(rest["items"]) == 1 and rest["nextPageToken"] is None
    assert_problem(client.get(ops_url(asset.tenant, "pageSize=501")), 400)


@pytest.mark.parametrize("size", ["0", "-1", "abc", "", "2.5", "²", "1e3"])
def test_invalid_page_size_is_400(admin_member, tenant, size):
    body = assert_problem(
        api(admin_member).get(ops_url(tenant, f"pageSize={size}")),
        400,
        "validation-failed",
    )
    assert "pageSize" in body["errors"]


@pytest.mark.parametrize("skip", ["-1", "x", "99999999999999999999"])
def test_invalid_skip_is_400(admin_member, tenant, skip):
    body = assert_problem(
        api(admin_member).get(ops_url(tenant, f"PageToken.Skip={skip}")), 400
    )
    assert "PageToken.Skip" in body["errors"]


def test_page_size_and_cursor_aliases(admin_member, asset):
    ops = [str(o.id) for o in make_ops(asset, 5)]
    client = api(admin_member)
    first = client.get(ops_url(asset.tenant, "PageSize=2")).json()
    assert ids(first) == ops[:2]
    by_alias = client.get(
        ops_url(asset.tenant, f"PageSize=2&PageToken.Cursor={first['nextPageToken']}")
    ).json()
    by_name = client.get(
        ops_url(asset.tenant, f"pageSize=2&pageToken={first['nextPageToken']}")
    ).json()
    assert ids(by_alias) == ids(by_name) == ops[2:4]


def test_skip_alias_is_an_offset_that_continues_with_a_cursor(admin_member, asset):
    ops = [str(o.id) for o in make_ops(asset, 6)]
    client = api(admin_member)
    body = client.get(ops_url(asset.tenant, "pageSize=2&PageToken.Skip=3")).json()
    assert ids(body) == ops[3:5] and body["totalCount"] == 6
    rest = client.get(
        ops_url(asset.tenant, f"pageSize=2&pageToken={body['nextPageToken']}")
    ).json()
    assert ids(rest) == ops[5:] and rest["nextPageToken"] is None
    beyond = client.get(ops_url(asset.tenant, "PageToken.Skip=60")).json()
    assert beyond["items"] == [] and beyond["nextPageToken"] is None


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token!",
        "AAAA",
        token_of(["x", "y"]),
        token_of([None, None]),
        token_of(["2026-01-01T00:00:00+00:00"]),
        token_of({"a": 1}),
        token_of(["2026-01-01T00:00:00+00:00", "not-a-uuid"]),
        token_of([1, 2]),
        "%ff%fe",
    ],
)
def test_invalid_page_token_is_400_problem(admin_member, asset, token):
    make_ops(asset, 2)
    body = assert_problem(
        api(admin_member).get(ops_url(asset.tenant, f"pageToken={token}")),
        400,
        "validation-failed",
    )
    assert "pageToken" in body["errors"]


def test_pages_are_stable_while_newer_operations_are_inserted(admin_member, asset):
    """Keyset cursors: operations created between page fetches sort before the cursor,
    so the walk neither misses nor repeats one of the original rows."""
    original = [str(o.id) for o in make_ops(asset, 9)]
    client = api(admin_member)
    seen, token, inserted = [], None, []
    while True:
        query = "pageSize=4" + (f"&pageToken={token}" if token else "")
        body = client.get(ops_url(asset.tenant, query)).json()
        seen += ids(body)
        token = body["nextPageToken"]
        if token is None:
            break
        # Another client starts operations meanwhile (newer than everything listed).
        inserted += [str(OperationFactory(asset=asset).id) for _ in range(3)]
    assert seen == original
    assert len(seen) == len(set(seen))
    fresh = client.get(ops_url(asset.tenant, "pageSize=500")).json()
    assert fresh["totalCount"] == len(original) + len(inserted)
    assert ids(fresh)[: len(inserted)] == list(reversed(inserted))


def test_pages_are_stable_with_identical_creation_times(admin_member, asset):
    """Rows created in the same microsecond are ordered (and cut) by id."""
    ops = [OperationFactory(asset=asset) for _ in range(5)]
    Operation.objects.filter(pk__in=[o.pk for o in ops]).update(
        created_at=ops[0].created_at
    )
    client = api(admin_member)
    seen, token = [], None
    while True:
        body = client.get(
            ops_url(
                asset.tenant, "pageSize=2" + (f"&pageToken={token}" if token else "")
            )
        ).json()
        seen += ids(body)
        token = body["nextPageToken"]
        if token is None:
            break
    assert seen == sorted((str(o.id) for o in ops), reverse=True)


def test_a_page_costs_a_constant_number_of_queries(admin_member, tenant):
    client = api(admin_member)
    counts = []
    for n in (2, 12):
        for _ in range(n):
            OperationFactory(asset=AssetFactory(tenant=tenant))
        client.get(ops_url(tenant))  # throttle history row exists from here on
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(ops_url(tenant, "pageSize=500")).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_a_token_from_another_tenants_list_is_400_and_reveals_nothing(
    admin_member, tenant
):
    """A token carries its list's totalCount, so it is signed for one tenant's list:
    in another tenant it is refused, and neither rows nor the count come back."""
    outsider = MembershipFactory(tenant=TenantFactory(), role=Role.ADMIN)
    make_ops(AssetFactory(tenant=outsider.tenant), 3)
    make_ops(AssetFactory(tenant=tenant), 3)
    token = (
        api(outsider)
        .get(ops_url(outsider.tenant, "pageSize=1"))
        .json()["nextPageToken"]
    )
    response = api(admin_member).get(ops_url(tenant, f"pageToken={token}"))
    body = assert_problem(response, 400, "validation-failed")
    assert set(body["errors"]) == {"pageToken"}
    assert "items" not in body and "totalCount" not in body
