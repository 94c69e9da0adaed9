"""The Django admin of operations: find, filter and inspect them, and cancel them
through the same service as the dashboard's button.

Nothing here writes an operation's status or counters (STYLE.md: only
``operations_app.services`` does). Operations are created by the asset services,
so there is no add; the change form is view-only, since a saved form would write
every column back, a stale status included; and an operation's history is never
deleted from here."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList

from assets_app.admin import ReadOnlyAdmin, admin_actor_allows
from assets_app.models import Role

from .models import Operation, OperationEvent, OperationStatus
from .selectors import operations_load_prices
from .services import operation_request_cancel


class OperationEventInline(admin.TabularInline):
    model = OperationEvent
    extra = 0
    fields = ["created_at", "kind", "from_status", "to_status", "actor", "message"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


IDENTITY_FIELDS = (
    "id type status cancel_requested tenant asset asset_name created_by force "
    "document_ids"
).split()
PROGRESS_FIELDS = (
    "progress chunk_count token_count cost_usd documents_added documents_updated "
    "documents_deleted documents_unchanged documents_failed error_message"
).split()
TIME_FIELDS = ["created_at", "started_at", "completed_at", "heartbeat_at"]


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class PricedChangeList(ChangeList):
    """Loads the page's asset prices in one query (operations_load_prices), so the cost
    column does not query ModelPrice once per operation."""

    def get_results(self, request):
        super().get_results(request)
        operations_load_prices(self.result_list)


@admin.register(Operation)
class OperationAdmin(ReadOnlyAdmin):
    list_display = [
        "type",
        "status",
        "cancel_requested",
        "asset_name",
        "tenant",
        "progress",
        "chunk_count",
        "token_count",
        "cost_usd",
        "created_by",
        "created_at",
        "started_at",
        "completed_at",
    ]
    list_filter = ["status", "type", "tenant"]
    search_fields = ["asset_name", "created_by"]
    list_select_related = ["tenant", "asset"]
    date_hierarchy = "created_at"
    actions = ["cancel_operations"]
    inlines = [OperationEventInline]
    fieldsets = [
        (None, {"fields": IDENTITY_FIELDS}),
        ("Progress", {"fields": PROGRESS_FIELDS}),
        ("Times", {"fields": TIME_FIELDS}),
    ]
    # Read-only even for someone granted "change": the form must never save.
    readonly_fields = [f for _, options in fieldsets for f in options["fields"]]

    def get_changelist(self, request, **kwargs):
        return PricedChangeList

    @admin.display(description="progress", ordering="items_processed")
    def progress(self, obj):
        return f"{obj.items_processed}/{obj.items_total}"

    @admin.display(description="cost (USD)")
    def cost_usd(self, obj):
        return f"{obj.cost:.6f}"

    def has_cancel_permission(self, request):
        # No field is editable, so Django's "change operation" permission means
        # "may request cancellation"; the tenant role is checked per operation.
        return request.user.has_perm(f"{self.opts.app_label}.change_operation")

    @admin.action(description="Cancel selected operations", permissions=["cancel"])
    def cancel_operations(self, request, queryset):
        """operation_request_cancel for each: PENDING ends CANCELLED at once, RUNNING
        gets cancel_requested (its worker ends it CANCELLED), terminal is unchanged.
        As in the API, cancelling needs the EDITOR role in the operation's tenant."""
        actor = request.user.get_username()
        cancelled = stopping = finished = forbidden = 0
        for op in queryset:
            if not admin_actor_allows(request.user, op.tenant_id, Role.EDITOR):
                forbidden += 1
                continue
            was_done = op.done
            result = operation_request_cancel(operation=op, actor=actor)
            if result.status == OperationStatus.RUNNING:
                stopping += 1
            elif result.status == OperationStatus.CANCELLED and not was_done:
                cancelled += 1
            else:
                finished += 1
        parts = [f"{_n(cancelled, 'operation')} cancelled"]
        if stopping:
            parts.append(
                f"{_n(stopping, 'running operation')} asked to stop (the worker ends "
                "it CANCELLED at its next check)"
            )
        if finished:
            parts.append(
                f"{_n(finished, 'operation')} already finished, left unchanged"
            )
        if forbidden:
            parts.append(
                f"{_n(forbidden, 'operation')} skipped: cancelling needs the EDITOR "
                "role in its tenant"
            )
        level = messages.WARNING if forbidden else messages.SUCCESS
        self.message_user(request, "; ".join(parts) + ".", level)


from .notifications import admin as _notification_admin  # noqa: E402, F401 - registers
