"""The Django admin of operations: list, search, filters, the read-only change form
and the "Cancel selected operations" action (operation_request_cancel)."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assets_app.models import ModelPrice, Role
from operations_app.models import (
    Operation,
    OperationEvent,
    OperationStatus,
    OperationType,
)
from operations_app.services import operation_finish, operation_start
from tests.factories import (
    AssetFactory,
    MembershipFactory,
    OperationFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:operations_app_operation_changelist"


def rows(client, **params) -> list[Operation]:
    response = client.get(reverse(CHANGELIST), params)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def cancel(client, *operations) -> tuple[int, list[str]]:
    response = client.post(
        reverse(CHANGELIST),
        {
            "action": "cancel_operations",
            "_selected_action": [str(op.pk) for op in operations],
            "index": "0",
        },
    )
    return response.status_code, [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def running(tenant, no_enqueue) -> Operation:
    op = OperationFactory(asset=AssetFactory(tenant=tenant, display_name="Runbook"))
    return operation_start(operation_id=op.id)


def test_changelist_shows_progress_counts_and_cost(admin_client, tenant):
    ModelPrice.objects.filter(model="text-embedding-3-small").update(
        price_per_million_tokens=Decimal("0.02")
    )
    asset = AssetFactory(
        tenant=tenant,
        embedding_provider="openai",
        embedding_model="text-embedding-3-small",
    )
    OperationFactory(
        asset=asset,
        items_processed=3,
        items_total=10,
        chunk_count=42,
        token_count=2_000_000,
        created_by="alice",
    )

    response = admin_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    html = response.content.decode()
    for text in ("3/10", "42", "2000000", "0.040000", "alice", asset.display_name):
        assert text in html


def test_changelist_query_count_does_not_grow_with_rows(admin_client, tenant):
    url = reverse(CHANGELIST)
    OperationFactory(asset=AssetFactory(tenant=tenant))
    admin_client.get(url)
    with CaptureQueriesContext(connection) as one:
        admin_client.get(url)
    for model in ("text-embedding-3-small", "text-embedding-3-large", "nope", None):
        provider = "openai" if model else "builtin"
        extra = {"embedding_model": model} if model else {}
        OperationFactory(
            asset=AssetFactory(tenant=tenant, embedding_provider=provider, **extra)
        )
    with CaptureQueriesContext(connection) as five:
        admin_client.get(url)

    assert len(five) == len(one)


def test_changelist_searches_asset_name_and_creator(admin_client, tenant):
    handbook = OperationFactory(
        asset=AssetFactory(tenant=tenant, display_name="Handbook")
    )
    by_bob = OperationFactory(asset=AssetFactory(tenant=tenant), created_by="bob")

    assert rows(admin_client, q="handbo") == [handbook]
    assert rows(admin_client, q="bob") == [by_bob]


def test_changelist_filters_status_type_and_tenant(admin_client, tenant, running):
    pending = OperationFactory(
        asset=AssetFactory(tenant=tenant), type=OperationType.REFRESH
    )
    elsewhere = OperationFactory()

    assert rows(admin_client, status__exact="RUNNING") == [running]
    assert rows(admin_client, type__exact="REFRESH") == [pending]
    assert rows(admin_client, tenant__id__exact=elsewhere.tenant_id) == [elsewhere]


def test_cancel_action_cancels_pending_and_signals_running(
    admin_client, tenant, running
):
    pending = OperationFactory(asset=AssetFactory(tenant=tenant))

    status, msgs = cancel(admin_client, pending, running)

    assert status == 302
    pending.refresh_from_db()
    running.refresh_from_db()
    assert pending.status == OperationStatus.CANCELLED
    assert (running.status, running.cancel_requested) == (OperationStatus.RUNNING, True)
    assert msgs == [
        "1 operation cancelled; 1 running operation asked to stop (the worker ends it "
        "CANCELLED at its next check)."
    ]
    assert {
        e.actor for e in OperationEvent.objects.filter(kind__startswith="CANCEL")
    } == {"admin"}


def test_cancel_action_leaves_finished_operations_unchanged(admin_client, running):
    operation_finish(operation_id=running.id, status=OperationStatus.COMPLETED)

    status, msgs = cancel(admin_client, running)

    running.refresh_from_db()
    assert running.status == OperationStatus.COMPLETED
    assert not running.cancel_requested
    assert msgs == [
        "0 operations cancelled; 1 operation already finished, left unchanged."
    ]


def test_cancel_action_skips_operations_of_tenants_where_staff_is_viewer(
    tenant, running
):
    user = UserFactory(username="vic", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_operation", "change_operation"])
    )
    MembershipFactory(user=user, tenant=tenant, role=Role.VIEWER)
    client = Client()
    client.force_login(user)

    status, msgs = cancel(client, running)

    running.refresh_from_db()
    assert not running.cancel_requested
    assert "skipped: cancelling needs the EDITOR role" in msgs[0]


def test_change_form_shows_status_read_only_and_ignores_posts(admin_client, running):
    url = reverse("admin:operations_app_operation_change", args=[running.pk])

    page = admin_client.get(url)
    post = admin_client.post(url, {"status": "COMPLETED", "items_processed": "99"})

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="status"' not in html and "RUNNING" in html
    assert "STARTED" in html  # the event inline
    assert post.status_code == 403
    running.refresh_from_db()
    assert (running.status, running.items_processed) == (OperationStatus.RUNNING, 0)


def test_operations_cannot_be_added_or_deleted_in_admin(admin_client, running):
    add = admin_client.get(reverse("admin:operations_app_operation_add"))
    delete = admin_client.post(
        reverse("admin:operations_app_operation_delete", args=[running.pk]),
        {"post": "yes"},
    )

    assert (add.status_code, delete.status_code) == (403, 403)
    assert Operation.objects.filter(pk=running.pk).exists()


def test_changelist_keeps_operations_of_deleted_assets(admin_client, tenant):
    op = OperationFactory(asset=AssetFactory(tenant=tenant, display_name="Gone"))
    op.asset.delete()

    assert rows(admin_client, q="Gone") == [op]
    page = admin_client.get(
        reverse("admin:operations_app_operation_change", args=[op.pk])
    )
    assert page.status_code == 200
