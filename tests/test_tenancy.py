"""Every dashboard URL, walked with another tenant's ids: 404, and nothing changes.

A member of tenant A asks, under A's slug, for tenant B's asset and operation. The
answer is the same 404 as for an id that does not exist (so ids of other tenants are
not even confirmed), and B's rows are exactly as before. Malformed ids are 404 too,
never 500. Under B's slug, every URL is 403 for A's member."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms.models import model_to_dict

from assets_app.models import Asset, Membership, Role
from operations_app.models import Operation, OperationEvent, OperationStatus
from operations_app.services import operation_create, operation_start
from tests.factories import (
    AssetFactory,
    DocumentFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def world(no_enqueue):
    """Tenant A with an admin member and an asset; tenant B with an asset, one PENDING
    and one RUNNING operation (both cancellable, so a leak would show)."""
    tenant_a, tenant_b = TenantFactory(slug="tenant-a"), TenantFactory(slug="tenant-b")
    member = MembershipFactory(
        tenant=tenant_a, role=Role.ADMIN, user=UserFactory(username="alice")
    )
    asset_a = AssetFactory(tenant=tenant_a, display_name="A's asset")
    asset_b = AssetFactory(tenant=tenant_b, display_name="B's asset")
    running_b = operation_create(asset=asset_b, type="INGEST", created_by="bob")
    operation_start(operation_id=running_b.id)
    pending_b = operation_create(asset=asset_b, type="REFRESH", created_by="bob")
    return {
        "member": member,
        "a": tenant_a,
        "b": tenant_b,
        "asset_a": asset_a,
        "asset_b": asset_b,
        "pending_b": pending_b,
        "running_b": running_b,
    }


def snapshot(tenant):
    """Everything of ``tenant`` the dashboard could change, comparable with ==."""
    return {
        "assets": [
            model_to_dict(a) for a in Asset.objects.filter(tenant=tenant).order_by("id")
        ],
        "operations": list(
            Operation.objects.filter(tenant=tenant).order_by("id").values()
        ),
        "events": OperationEvent.objects.filter(operation__tenant=tenant).count(),
    }


def settings_data(**changes):
    data = {
        "display_name": "Taken over",
        "chunk_size": 256,
        "chunk_overlap": 32,
        "confirm_reindex": "on",
    }
    data.update(changes)
    return data


def requests_with(slug: str, asset_id, operation_id):
    """(label, method, path, data, headers) for every dashboard URL that takes an id."""
    base = f"/t/{slug}"
    return [
        ("asset detail", "get", f"{base}/assets/{asset_id}/", None, {}),
        ("asset detail htmx", "get", f"{base}/assets/{asset_id}/", None, HTMX),
        ("settings GET", "get", f"{base}/assets/{asset_id}/settings/", None, {}),
        (
            "settings POST name",
            "post",
            f"{base}/assets/{asset_id}/settings/",
            settings_data(chunk_size=512, chunk_overlap=64),
            {},
        ),
        (
            "settings POST reindex",
            "post",
            f"{base}/assets/{asset_id}/settings/",
            settings_data(),
            {},
        ),
        (
            "refresh POST",
            "post",
            f"{base}/assets/{asset_id}/refresh/",
            {"force": "on"},
            {},
        ),
        ("estimate POST", "post", f"{base}/assets/{asset_id}/estimate/", {}, {}),
        ("estimate POST htmx", "post", f"{base}/assets/{asset_id}/estimate/", {}, HTMX),
        (
            "settings POST auto-update",
            "post",
            f"{base}/assets/{asset_id}/settings/",
            settings_data(**{"au-strategy": "POLL", "au-poll_frequency": "HOURLY",
                             "au-poll_minute": 5, "au-timezone": "UTC"}),
            {},
        ),  # fmt: skip
        (
            "regenerate webhook POST",
            "post",
            f"{base}/assets/{asset_id}/webhook/regenerate/",
            {},
            {},
        ),
        (
            "operations of asset",
            "get",
            f"{base}/operations/?asset={asset_id}",
            None,
            {},
        ),
        (
            "operations of asset htmx",
            "get",
            f"{base}/operations/?asset={asset_id}",
            None,
            HTMX,
        ),
        ("search", "get", f"{base}/assets/{asset_id}/search/?query=asset", None, {}),
        (
            "search htmx",
            "get",
            f"{base}/assets/{asset_id}/search/?query=asset",
            None,
            HTMX,
        ),
        (
            "document page",
            "get",
            f"{base}/assets/{asset_id}/documents/{operation_id}/",
            None,
            {},
        ),
        ("notification endpoint", "get", f"{base}/notifications/{operation_id}/", None, {}),
        (
            "notification endpoint delete",
            "post",
            f"{base}/notifications/{operation_id}/delete/",
            {},
            {},
        ),
        ("cancel POST", "post", f"{base}/operations/{operation_id}/cancel/", {}, {}),
        (
            "cancel POST htmx",
            "post",
            f"{base}/operations/{operation_id}/cancel/",
            {},
            HTMX,
        ),
        (
            "retry failed documents POST",
            "post",
            f"{base}/operations/{operation_id}/retry-failed/",
            {},
            {},
        ),
    ]


def call(client, method, path, data, headers):
    if method == "get":
        return client.get(path, headers=headers)
    return client.post(path, data or {}, headers=headers)


@pytest.mark.parametrize("which_op", ["pending_b", "running_b"])
def test_every_url_with_another_tenants_ids_is_404_and_changes_nothing(
    client, world, which_op
):
    client.force_login(world["member"].user)
    before = snapshot(world["b"])
    for label, method, path, data, headers in requests_with(
        world["a"].slug, world["asset_b"].id, world[which_op].id
    ):
        response = call(client, method, path, data, headers)
        assert response.status_code == 404, f"{label}: {path} → {response.status_code}"
        assert "B&#x27;s asset" not in response.content.decode(), label
    assert snapshot(world["b"]) == before
    assert (
        Operation.objects.get(pk=world["pending_b"].pk).status
        == OperationStatus.PENDING
    )


def test_other_tenants_ids_answer_like_ids_that_do_not_exist(client, world):
    client.force_login(world["member"].user)
    missing = uuid.uuid4()
    for (label, method, path, data, headers), (_, _, path_missing, _, _) in zip(
        requests_with(world["a"].slug, world["asset_b"].id, world["pending_b"].id),
        requests_with(world["a"].slug, missing, missing),
        strict=True,
    ):
        theirs = call(client, method, path, data, headers)
        nobodys = call(client, method, path_missing, data, headers)
        assert theirs.status_code == nobodys.status_code == 404, label


@pytest.mark.parametrize(
    "bad_id",
    [
        "not-a-uuid",
        "1",
        "0" * 33,
        "12345678-1234-1234-1234-12345678901z",
        "%20",
        "null",
    ],
)
def test_malformed_ids_are_404_never_500(client, world, bad_id):
    client.force_login(world["member"].user)
    before = snapshot(world["a"])
    for label, method, path, data, headers in requests_with(
        world["a"].slug, bad_id, bad_id
    ):
        response = call(client, method, path, data, headers)
        assert response.status_code == 404, f"{label}: {path} → {response.status_code}"
    assert snapshot(world["a"]) == before


def test_the_other_tenants_assets_and_operations_are_not_listed(client, world):
    operation_create(asset=world["asset_a"], type="REFRESH", created_by="alice")
    client.force_login(world["member"].user)
    for path in (
        "/t/tenant-a/",
        "/t/tenant-a/?search=asset",
        "/t/tenant-a/operations/",
    ):
        html = client.get(path).content.decode()
        assert "A&#x27;s asset" in html, path
        assert "B&#x27;s asset" not in html, path
        for op in (world["pending_b"], world["running_b"]):
            assert str(op.id) not in html, path


def test_every_url_under_another_tenants_slug_is_403_for_a_non_member(client, world):
    client.force_login(world["member"].user)
    before = snapshot(world["b"])
    b = world["b"].slug
    requests = requests_with(b, world["asset_b"].id, world["pending_b"].id) + [
        ("asset list", "get", f"/t/{b}/", None, {}),
        ("operations", "get", f"/t/{b}/operations/", None, {}),
        ("tenant search", "get", f"/t/{b}/search/?query=asset", None, {}),
        ("create GET", "get", f"/t/{b}/assets/new/", None, {}),
        (
            "create POST",
            "post",
            f"/t/{b}/assets/new/",
            {
                "kind": "upload",
                "up-files": [SimpleUploadedFile("x.txt", b"text")],
                "up-chunk_size": 512,
                "up-chunk_overlap": 64,
            },
            {},
        ),
    ]
    for label, method, path, data, headers in requests:
        response = call(client, method, path, data, headers)
        assert response.status_code == 403, f"{label}: {path} → {response.status_code}"
    assert snapshot(world["b"]) == before


def test_create_under_own_slug_puts_the_asset_in_own_tenant_only(client, world):
    client.force_login(world["member"].user)
    before_b = snapshot(world["b"])
    response = client.post(
        "/t/tenant-a/assets/new/",
        {
            "kind": "upload",
            "up-files": [SimpleUploadedFile("x.txt", b"text")],
            "up-chunk_size": 512,
            "up-chunk_overlap": 64,
        },
    )
    assert response.status_code == 302
    created = Asset.objects.get(display_name="x.txt")
    assert created.tenant == world["a"]
    assert Operation.objects.get(asset=created).tenant == world["a"]
    assert snapshot(world["b"]) == before_b


def test_membership_in_both_tenants_does_not_mix_them_up(client, world):
    """A member of A and B still gets 404 for B's ids under A's slug: the URL's
    tenant, not the user's, scopes every lookup."""
    Membership.objects.create(
        user=world["member"].user, tenant=world["b"], role=Role.ADMIN
    )
    client.force_login(world["member"].user)
    before = snapshot(world["b"])
    for label, method, path, data, headers in requests_with(
        world["a"].slug, world["asset_b"].id, world["pending_b"].id
    ):
        response = call(client, method, path, data, headers)
        assert response.status_code == 404, f"{label}: {path} → {response.status_code}"
    assert snapshot(world["b"]) == before
    # Under B's own slug the same ids are found.
    assert client.get(f"/t/tenant-b/assets/{world['asset_b'].id}/").status_code == 200


def test_another_tenants_document_is_404_under_ones_own_asset(client, world):
    theirs = DocumentFactory(asset=world["asset_b"])
    client.force_login(world["member"].user)
    for asset in (world["asset_a"], world["asset_b"]):
        path = f"/t/tenant-a/assets/{asset.id}/documents/{theirs.id}/"
        assert client.get(path).status_code == 404, path


def test_tenant_search_finds_nothing_of_another_tenant(client, world):
    from tests.search_corpus import add_document

    add_document(world["asset_b"], "secret.md", ["B's secret roadmap"])
    add_document(world["asset_a"], "plan.md", ["A's public roadmap"])
    client.force_login(world["member"].user)
    for mode in ("VECTOR", "FULL_TEXT", "HYBRID"):
        html = client.get(
            f"/t/tenant-a/search/?query=roadmap&searchMode={mode}"
        ).content.decode()
        assert "plan.md" in html and "secret" not in html, mode
