"""The Django admin of tenants, members, model prices, assets and their documents.

Plain reference data (tenants, members, model prices) is edited directly: no service
owns it and it carries no rule beyond its constraints. Assets, documents and uploads
are read-only here, since their writes belong to ``assets_app.services``, except an
asset's budget limits (through ``budget_limits.asset_set_budget``); an asset is
deleted only through ``asset_delete`` so its active operations end FAILED."""

from __future__ import annotations

import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from .budget_limits import asset_set_budget
from .forms import BUDGET_FIELDS
from .models import (
    Asset,
    AssetAutoUpdate,
    AssetWebhook,
    Chunk,
    Document,
    Membership,
    ModelPrice,
    Role,
    Tenant,
    UploadedFile,
)
from .services import asset_delete
from .sources.descriptors import parameters_public


def admin_actor(user, tenant_id) -> Membership | None:
    """The membership ``user`` acts with in the admin on objects of the tenant.

    Services take the acting Membership and check its role. A superuser administers
    the whole site and often belongs to no tenant, so, member or not, they act as an
    unsaved ADMIN membership of the object's tenant: a "system actor" that exists only
    for this call (never stored, so it grants nothing in the dashboard or the API) and
    still passes the service's own role check. This needs no change to the services
    and no bypass flag in them. Everyone else acts with their stored membership, so
    their tenant role limits them exactly as it does in the dashboard. ``None`` when
    a non-superuser is no member of the tenant."""
    if user.is_superuser:
        return Membership(user=user, tenant_id=tenant_id, role=Role.ADMIN)
    return (
        Membership.objects.filter(user=user, tenant_id=tenant_id)
        .select_related("user")
        .first()
    )


def admin_actor_allows(user, tenant_id, role: str) -> bool:
    actor = admin_actor(user, tenant_id)
    return actor is not None and actor.allows(role)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Listed and viewed only: written by the services, never by a form."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "member_count", "asset_count", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["id", "created_at"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_members=Count("memberships", distinct=True),
                n_assets=Count("assets", distinct=True),
            )
        )

    @admin.display(description="members", ordering="n_members")
    def member_count(self, obj):
        return obj.n_members

    @admin.display(description="assets", ordering="n_assets")
    def asset_count(self, obj):
        return obj.n_assets

    def has_delete_permission(self, request, obj=None):
        # Deleting a tenant cascades over its assets without asset_delete and over
        # its operations' history; there is no tenant_delete service to do it right.
        return False


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "tenant__slug"]
    list_select_related = ["user", "tenant"]
    autocomplete_fields = ["user", "tenant"]
    readonly_fields = ["created_at"]


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = [
        "provider",
        "model",
        "price_per_million_tokens",
        "dimensions",
        "max_input_tokens",
        "modified_at",
    ]
    list_editable = ["price_per_million_tokens", "dimensions", "max_input_tokens"]
    list_filter = ["provider"]
    search_fields = ["provider", "model"]
    readonly_fields = ["modified_at"]

    def get_readonly_fields(self, request, obj=None):
        # Assets find their price by (provider, model): renaming would unprice them.
        if obj is not None:
            return ["provider", "model", *self.readonly_fields]
        return self.readonly_fields


class ReadOnlyInline:
    can_delete = False
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


AUTO_UPDATE_FIELDS = [
    "strategy", "poll_frequency", "poll_day", "poll_day_of_month", "poll_hour",
    "poll_minute", "timezone", "filter", "webhook_auth_mode", "schedule_link",
    "next_run", "last_polled_at", "modified_at",
]  # fmt: skip


class AutoUpdateInline(ReadOnlyInline, admin.StackedInline):
    """The asset's auto-update settings with its django-q2 schedule and next run
    (computed in the asset's time zone, shown in UTC)."""

    model = AssetAutoUpdate
    fields = readonly_fields = AUTO_UPDATE_FIELDS

    @admin.display(description="django-q2 schedule")
    def schedule_link(self, obj):
        if obj.schedule_id is None:
            return "—"
        url = reverse("admin:django_q_schedule_change", args=[obj.schedule_id])
        return format_html('<a href="{}">{}</a>', url, obj.schedule.name)

    @admin.display(description="next run (UTC)")
    def next_run(self, obj):
        return obj.schedule.next_run if obj.schedule_id else "—"


WEBHOOK_FIELDS = [
    "id", "asset", "provider", "auth_mode", "status", "secret_hash", "created_by",
    "created_at", "modified_at", "last_delivery_at",
]  # fmt: skip


class WebhookInline(ReadOnlyInline, admin.TabularInline):
    """The asset's webhooks, newest first, revoked ones too: the SHA-256 of the
    secret only (``signing_salt`` is left out: with the server's key it would give
    the signing secret back)."""

    model = AssetWebhook
    fields = readonly_fields = [f for f in WEBHOOK_FIELDS if f != "asset"]


@admin.register(AssetWebhook)
class AssetWebhookAdmin(ReadOnlyAdmin):
    """Webhooks of every asset, listed for audit; rotated and revoked through the
    asset's settings (dashboard or API), never here."""

    list_display = ["id", "asset", "tenant", "auth_mode", "status", "created_at",
                    "last_delivery_at"]  # fmt: skip
    list_filter = ["status", "auth_mode", "asset__tenant"]
    search_fields = ["id", "asset__display_name"]
    list_select_related = ["asset__tenant"]
    fields = WEBHOOK_FIELDS

    @admin.display(ordering="asset__tenant__slug")
    def tenant(self, obj):
        return obj.asset.tenant


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    """Viewed and deleted here, and its budget limits changed (EDITOR; they apply at
    once, budget_limits.asset_set_budget); created and otherwise changed in the
    dashboard or the API, whose services validate chunking and start operations.
    The embedding model and chunking are read-only here: a change must start a
    REINDEX (services.asset_update_settings), so ``model_change`` links to the
    asset's settings page instead."""

    inlines = [AutoUpdateInline, WebhookInline]

    list_display = [
        "display_name",
        "tenant",
        "source_type",
        "source",
        "embedding",
        "chunk_size",
        "chunk_overlap",
        "document_count",
        "created_at",
    ]
    list_filter = ["tenant", "source_type", "embedding_provider"]
    search_fields = ["display_name", "tenant__slug"]
    list_select_related = ["tenant"]
    date_hierarchy = "created_at"
    exclude = ["source_parameters"]  # shown by ``parameters``, secrets masked
    readonly_fields = ["parameters", "model_change"]

    @admin.display(description="source")
    def source(self, obj):
        """Where it reads from: the URL (web, git) or folder path."""
        parameters = obj.source_parameters
        return parameters.get("url") or parameters.get("path") or "—"

    @admin.display(description="source parameters")
    def parameters(self, obj):
        shown = parameters_public(obj.source_type, obj.source_parameters)
        return json.dumps(shown, indent=2, ensure_ascii=False)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_documents=Count("documents"))

    @admin.display(description="embedding model", ordering="embedding_model")
    def embedding(self, obj):
        return f"{obj.embedding_provider}/{obj.embedding_model}"

    @admin.display(description="changing the model or chunking")
    def model_change(self, obj):
        url = reverse(
            "assets:settings", kwargs={"tenant": obj.tenant.slug, "asset_id": obj.pk}
        )
        return format_html(
            "Not here: it re-embeds every document (a REINDEX operation). Use "
            'the <a href="{}">asset\'s settings page</a> or '
            "<code>PATCH …/assets/{}</code>.",
            url, obj.pk,
        )  # fmt: skip

    @admin.display(description="documents", ordering="n_documents")
    def document_count(self, obj):
        url = reverse("admin:assets_app_document_changelist")
        return format_html(
            '<a href="{}?asset__id__exact={}">{}</a>', url, obj.pk, obj.n_documents
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or admin_actor_allows(
            request.user, obj.tenant_id, Role.EDITOR
        )

    def get_readonly_fields(self, request, obj=None):
        fixed = [f.name for f in Asset._meta.fields if f.name not in BUDGET_FIELDS]
        return ["parameters", "model_change",
                *(n for n in fixed if n != "source_parameters")]  # fmt: skip

    def save_model(self, request, obj, form, change):
        asset_set_budget(
            actor=admin_actor(request.user, obj.tenant_id),
            asset=Asset.objects.get(pk=obj.pk),
            limits={f: form.cleaned_data[f] for f in form.changed_data
                    if f in BUDGET_FIELDS},
        )  # fmt: skip

    def has_delete_permission(self, request, obj=None):
        if not super().has_delete_permission(request, obj):
            return False
        return obj is None or admin_actor_allows(
            request.user, obj.tenant_id, Role.ADMIN
        )

    def get_deleted_objects(self, objs, request):
        """Summarise what goes with the assets by counting instead of Django's
        default, which loads and lists every chunk (with its embedding). Permission
        is the tenant role ``asset_delete`` checks, not per-child model rights."""
        assets = list(objs)
        ids = [a.pk for a in assets]
        deleted = [
            format_html(
                '{}: <a href="{}">{}</a>',
                a.tenant.slug,
                reverse("admin:assets_app_asset_change", args=[a.pk]),
                a,
            )
            for a in assets
        ]
        model_count = {
            "assets": len(assets),
            "documents": Document.objects.filter(asset__in=ids).count(),
            "chunks": Chunk.objects.filter(asset__in=ids).count(),
            "uploaded files": UploadedFile.objects.filter(asset__in=ids).count(),
        }
        perms_needed = {
            f"assets of tenant {a.tenant.slug} (deleting needs the ADMIN role there)"
            for a in assets
            if not admin_actor_allows(request.user, a.tenant_id, Role.ADMIN)
        }
        return deleted, model_count, perms_needed, []

    def delete_model(self, request, obj):
        self._delete(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():  # all of the selection or none of it
            for asset in queryset:
                self._delete(request, asset)

    def _delete(self, request, asset):
        actor = admin_actor(request.user, asset.tenant_id)
        if actor is None:  # membership removed since the confirmation page
            raise PermissionDenied
        asset_delete(actor=actor, asset=asset)


@admin.register(Document)
class DocumentAdmin(ReadOnlyAdmin):
    list_display = [
        "file_name",
        "asset",
        "tenant",
        "status",
        "chunk_count",
        "token_count",
        "file_size",
        "processed_at",
    ]
    list_filter = ["status", "asset__tenant", "content_type"]
    search_fields = ["file_name", "source_key"]
    list_select_related = ["asset__tenant"]

    @admin.display(ordering="asset__tenant__slug")
    def tenant(self, obj):
        return obj.asset.tenant


@admin.register(UploadedFile)
class UploadedFileAdmin(ReadOnlyAdmin):
    """Names and sizes only: ``data`` (up to 50 MB a file) is never selected."""

    list_display = ["file_name", "asset", "content_type", "size", "created_at"]
    list_filter = ["content_type"]
    search_fields = ["file_name", "asset__display_name"]
    list_select_related = ["asset"]
    fields = ["asset", "file_name", "content_type", "size", "created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("data")
