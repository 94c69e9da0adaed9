"""The Django admin of tenants, members, model prices, assets, documents and uploads,
driven through the test client as a superuser (pytest-django's ``admin_client``)."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assets_app.models import (
    Asset,
    ModelPrice,
    Role,
    SourceType,
    Tenant,
    UploadedFile,
)
from assets_app.services import asset_create_from_uploads
from operations_app.models import OperationEvent, OperationStatus, OperationType
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


def changelist(client, model: str, **params):
    response = client.get(reverse(f"admin:assets_app_{model}_changelist"), params)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def test_tenant_changelist_shows_member_and_asset_counts(admin_client, admin_member):
    tenant = admin_member.tenant
    AssetFactory.create_batch(2, tenant=tenant)
    TenantFactory(slug="other")

    response = admin_client.get(reverse("admin:assets_app_tenant_changelist"))

    assert response.status_code == 200
    rows = {t.slug: t for t in response.context["cl"].result_list}
    assert (rows[tenant.slug].n_members, rows[tenant.slug].n_assets) == (1, 2)
    assert (rows["other"].n_members, rows["other"].n_assets) == (0, 0)


def test_tenant_search_finds_by_slug(admin_client, tenant):
    TenantFactory(slug="globex")

    assert [t.slug for t in changelist(admin_client, "tenant", q="glob")] == ["globex"]


def test_tenant_change_page_lists_members_inline(admin_client, admin_member):
    url = reverse("admin:assets_app_tenant_change", args=[admin_member.tenant_id])

    response = admin_client.get(url)

    assert response.status_code == 200
    assert "alice" in response.content.decode()


def test_tenant_cannot_be_deleted_past_asset_delete(admin_client, tenant):
    url = reverse("admin:assets_app_tenant_delete", args=[tenant.pk])

    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert Tenant.objects.filter(pk=tenant.pk).exists()


def test_membership_changelist_filters_by_role(
    admin_client, admin_member, viewer_member
):
    rows = changelist(admin_client, "membership", role__exact=Role.VIEWER)

    assert rows == [viewer_member]


def test_model_price_changelist_lists_seeded_prices(admin_client):
    rows = changelist(admin_client, "modelprice", q="text-embedding-3")

    assert {p.model for p in rows} == {
        "text-embedding-3-small",
        "text-embedding-3-large",
    }


def test_model_price_change_form_edits_price_dimensions_and_limit(admin_client):
    price = ModelPrice.objects.get(provider="openai", model="text-embedding-3-small")
    url = reverse("admin:assets_app_modelprice_change", args=[price.pk])

    response = admin_client.post(
        url,
        {
            "price_per_million_tokens": "0.025",
            "dimensions": "512",
            "max_input_tokens": "8000",
            "provider": "renamed",  # read-only on change: assets find prices by name
        },
    )

    assert response.status_code == 302
    price.refresh_from_db()
    assert (price.provider, price.price_per_million_tokens) == (
        "openai",
        Decimal("0.025"),
    )
    assert (price.dimensions, price.max_input_tokens) == (512, 8000)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("price_per_million_tokens", "-0.01", "greater than or equal to 0"),
        ("price_per_million_tokens", "1e9999", "no more than 12 digits"),
        ("dimensions", "0", "greater than or equal to 1"),
        ("max_input_tokens", "0", "greater than or equal to 1"),
    ],
)
def test_model_price_form_refuses_a_negative_price_and_zero_sizes(
    admin_client, field, value, message
):
    price = ModelPrice.objects.get(provider="openai", model="text-embedding-3-small")
    before = (price.price_per_million_tokens, price.dimensions, price.max_input_tokens)
    data = {"price_per_million_tokens": "0.02", "dimensions": "1536",
            "max_input_tokens": "8191", field: value}  # fmt: skip
    url = reverse("admin:assets_app_modelprice_change", args=[price.pk])
    response = admin_client.post(url, data)
    assert response.status_code == 200 and message in response.content.decode()
    price.refresh_from_db()
    assert (
        price.price_per_million_tokens, price.dimensions, price.max_input_tokens
    ) == before  # fmt: skip


def test_the_database_refuses_a_negative_price_written_past_the_form(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelPrice.objects.filter(model="text-embedding-3-small").update(
            price_per_million_tokens=Decimal("-1")
        )


def test_asset_changelist_shows_columns_and_document_count(admin_client, tenant):
    asset = AssetFactory(tenant=tenant, display_name="Handbook", chunk_size=300)
    DocumentFactory.create_batch(3, asset=asset)

    response = admin_client.get(reverse("admin:assets_app_asset_changelist"))

    assert response.status_code == 200
    [row] = response.context["cl"].result_list
    assert row.n_documents == 3
    html = response.content.decode()
    assert "Handbook" in html and "builtin/hashed-lexical-384" in html
    assert f"?asset__id__exact={asset.pk}" in html


def test_asset_changelist_query_count_does_not_grow_with_rows(admin_client, tenant):
    url = reverse("admin:assets_app_asset_changelist")
    DocumentFactory(asset=AssetFactory(tenant=tenant))
    admin_client.get(url)  # warm the session and content types
    with CaptureQueriesContext(connection) as one:
        admin_client.get(url)
    for _ in range(4):
        DocumentFactory.create_batch(2, asset=AssetFactory(tenant=tenant))
    with CaptureQueriesContext(connection) as five:
        admin_client.get(url)

    assert len(five) == len(one)


def test_asset_changelist_searches_name_and_tenant_slug(admin_client):
    acme = AssetFactory(tenant=TenantFactory(slug="acme"), display_name="Policies")
    manuals = AssetFactory(tenant=TenantFactory(slug="globex"), display_name="Manuals")

    assert changelist(admin_client, "asset", q="acme") == [acme]
    assert changelist(admin_client, "asset", q="manu") == [manuals]


def test_asset_changelist_filters_tenant_source_type_and_provider(admin_client, tenant):
    folder = AssetFactory(tenant=tenant, source_type=SourceType.FOLDER)
    openai = AssetFactory(tenant=tenant, embedding_provider="openai")
    elsewhere = AssetFactory()

    assert changelist(admin_client, "asset", tenant__id__exact=elsewhere.tenant_id) == [
        elsewhere
    ]
    assert changelist(admin_client, "asset", source_type__exact="folder") == [folder]
    assert changelist(admin_client, "asset", embedding_provider__exact="openai") == [
        openai
    ]


def test_asset_change_page_changes_only_the_budget(admin_client, tenant):
    asset = AssetFactory(tenant=tenant, chunk_size=300, display_name="Same")
    url = reverse("admin:assets_app_asset_change", args=[asset.pk])

    page = admin_client.get(url)
    assert page.status_code == 200
    management = {  # the read-only inlines' (auto-update, webhooks) formset counters
        f"{f.management_form.prefix}-{name}": f.management_form[name].value()
        for f in (i.formset for i in page.context["inline_admin_formsets"])
        for name in f.management_form.fields
    }
    response = admin_client.post(
        url,
        {"display_name": "x", "chunk_size": "100", "daily_token_budget": "5000",
         "monthly_token_budget": "", "token_budget": "", **management},
    )  # fmt: skip

    assert response.status_code == 302
    asset.refresh_from_db()
    assert (asset.chunk_size, asset.display_name) == (300, "Same")
    assert (asset.daily_token_budget, asset.token_budget) == (5000, None)
    assert not asset.operations.exists()  # applies at once, no re-ingestion


def test_asset_change_page_cannot_change_the_embedding_model(admin_client, tenant):
    asset = AssetFactory(tenant=tenant)
    url = reverse("admin:assets_app_asset_change", args=[asset.pk])

    page = admin_client.get(url)
    assert "it re-embeds every document (a REINDEX operation)" in page.content.decode()
    assert f"/assets/{asset.pk}/settings/" in page.content.decode()
    management = {
        f"{f.management_form.prefix}-{name}": f.management_form[name].value()
        for f in (i.formset for i in page.context["inline_admin_formsets"])
        for name in f.management_form.fields
    }
    response = admin_client.post(
        url,
        {"embedding_provider": "openai", "embedding_model": "text-embedding-3-small",
         "embedding_dimensions": "1536", "daily_token_budget": "", "token_budget": "",
         "monthly_token_budget": "", **management},
    )  # fmt: skip

    assert response.status_code == 302
    asset.refresh_from_db()
    assert (asset.embedding_provider, asset.embedding_dimensions) == ("builtin", 384)
    assert not asset.operations.exists()


def test_asset_budget_in_the_admin_needs_editor(client, tenant):
    viewer = MembershipFactory(tenant=tenant, role=Role.VIEWER)
    viewer.user.is_staff = True
    viewer.user.save()
    viewer.user.user_permissions.add(
        *Permission.objects.filter(codename__in=["change_asset", "view_asset"])
    )
    asset = AssetFactory(tenant=tenant)
    client.force_login(viewer.user)
    url = reverse("admin:assets_app_asset_change", args=[asset.pk])
    response = client.post(url, {"daily_token_budget": "5"})
    assert response.status_code == 403
    asset.refresh_from_db()
    assert asset.daily_token_budget is None


def test_admin_delete_of_asset_fails_its_running_operation(
    admin_client, admin_member, no_enqueue
):
    asset, op = asset_create_from_uploads(
        actor=admin_member, display_name="Docs", files=[upload("a.txt", "hello")]
    )
    DocumentFactory(asset=asset)
    operation_start(operation_id=op.id)
    url = reverse("admin:assets_app_asset_delete", args=[asset.pk])

    confirm = admin_client.get(url)
    response = admin_client.post(url, {"post": "yes"})

    assert confirm.status_code == 200
    assert dict(confirm.context["model_count"])["documents"] == 1
    assert response.status_code == 302
    assert not Asset.objects.filter(pk=asset.pk).exists()
    op.refresh_from_db()
    assert (op.status, op.error_message) == (OperationStatus.FAILED, "asset deleted")
    event = OperationEvent.objects.filter(operation=op).last()
    assert (event.to_status, event.actor) == (OperationStatus.FAILED, "admin")


def test_delete_selected_action_fails_pending_operations(
    admin_client, admin_member, no_enqueue
):
    created = [
        asset_create_from_uploads(
            actor=admin_member, display_name=name, files=[upload("a.txt", "hi")]
        )
        for name in ("One", "Two")
    ]

    response = admin_client.post(
        reverse("admin:assets_app_asset_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [str(asset.pk) for asset, _ in created],
            "index": "0",
            "post": "yes",
        },
    )

    assert response.status_code == 302
    assert not Asset.objects.exists()
    for _, op in created:
        op.refresh_from_db()
        assert (op.status, op.error_message) == (
            OperationStatus.FAILED,
            "asset deleted",
        )


def _staff_client(tenant, role) -> Client:
    user = UserFactory(username=f"staff-{role.lower()}", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_asset", "delete_asset"])
    )
    MembershipFactory(user=user, tenant=tenant, role=role)
    client = Client()
    client.force_login(user)
    return client


def test_staff_editor_cannot_delete_asset_in_admin(tenant):
    client = _staff_client(tenant, Role.EDITOR)
    asset = AssetFactory(tenant=tenant)

    single = client.post(
        reverse("admin:assets_app_asset_delete", args=[asset.pk]), {"post": "yes"}
    )
    bulk = client.post(
        reverse("admin:assets_app_asset_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [str(asset.pk)],
            "index": "0",
            "post": "yes",
        },
    )

    assert (single.status_code, bulk.status_code) == (403, 403)
    assert Asset.objects.filter(pk=asset.pk).exists()


def test_staff_tenant_admin_deletes_asset_as_themselves(tenant, no_enqueue):
    client = _staff_client(tenant, Role.ADMIN)
    asset = AssetFactory(tenant=tenant)
    op = operation_create(asset=asset, type=OperationType.INGEST, created_by="someone")

    response = client.post(
        reverse("admin:assets_app_asset_delete", args=[asset.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert OperationEvent.objects.filter(operation=op).last().actor == "staff-admin"


def test_document_changelist_filters_status_and_searches_file_name(
    admin_client, tenant
):
    asset = AssetFactory(tenant=tenant)
    done = DocumentFactory(
        asset=asset,
        file_name="guide.md",
        status="COMPLETED",
        chunk_count=4,
        token_count=900,
    )
    notes = DocumentFactory(asset=asset, file_name="notes.txt")
    DocumentFactory(file_name="elsewhere.txt")

    assert changelist(admin_client, "document", status__exact="COMPLETED") == [done]
    assert changelist(admin_client, "document", q="guide") == [done]
    assert changelist(admin_client, "document", asset__id__exact=asset.pk) == [
        done,
        notes,
    ]
    html = admin_client.get(reverse("admin:assets_app_document_changelist")).content
    assert b"900" in html


def test_document_change_page_is_read_only(admin_client, tenant):
    document = DocumentFactory(asset=AssetFactory(tenant=tenant))
    url = reverse("admin:assets_app_document_change", args=[document.pk])

    assert admin_client.get(url).status_code == 200
    assert admin_client.post(url, {"status": "FAILED"}).status_code == 403
    document.refresh_from_db()
    assert document.status == "PENDING"


def test_uploaded_file_pages_never_load_the_bytes(
    admin_client, admin_member, no_enqueue
):
    asset_create_from_uploads(
        actor=admin_member, display_name="Docs", files=[upload("big.txt", "x" * 10_000)]
    )
    uploaded = UploadedFile.objects.get()
    pages = [
        reverse("admin:assets_app_uploadedfile_changelist"),
        reverse("admin:assets_app_uploadedfile_change", args=[uploaded.pk]),
    ]

    with CaptureQueriesContext(connection) as queries:
        for url in pages:
            assert admin_client.get(url).status_code == 200

    assert not [q for q in queries if '"assets_app_uploadedfile"."data"' in q["sql"]]


@pytest.mark.parametrize("model", ["tenant", "membership", "modelprice"])
def test_reference_data_add_pages_render(admin_client, model):
    url = reverse(f"admin:assets_app_{model}_add")

    assert admin_client.get(url).status_code == 200


@pytest.mark.parametrize("model", ["asset", "document", "uploadedfile"])
def test_service_owned_objects_cannot_be_added(admin_client, model):
    url = reverse(f"admin:assets_app_{model}_add")

    assert admin_client.get(url).status_code == 403


def test_asset_admin_shows_web_and_git_sources_with_secrets_masked(
    admin_client, tenant
):
    git = AssetFactory(
        tenant=tenant,
        source_type=SourceType.GIT,
        source_parameters={
            "url": "https://git.example.com/r.git",
            "branch": "main",
            "token": "s3cret",
        },
    )
    AssetFactory(
        tenant=tenant,
        source_type=SourceType.WEB,
        source_parameters={"url": "https://docs.example.com/", "mode": "CRAWL"},
    )
    listing = admin_client.get(
        reverse("admin:assets_app_asset_changelist")
    ).content.decode()
    assert "https://git.example.com/r.git" in listing
    assert "https://docs.example.com/" in listing and "Web pages" in listing
    page = admin_client.get(reverse("admin:assets_app_asset_change", args=[git.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and "s3cret" not in html
    assert "********" in html and "https://git.example.com/r.git" in html
