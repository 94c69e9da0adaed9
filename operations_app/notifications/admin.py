"""Read-only admin of notification endpoints and deliveries: endpoints are registered
through the dashboard or the API (where the signing secret is shown once), and
deliveries are written by their worker only."""

from __future__ import annotations

from django.contrib import admin

from assets_app.admin import ReadOnlyAdmin

from .models import NotificationAttempt, NotificationDelivery, NotificationEndpoint


@admin.register(NotificationEndpoint)
class NotificationEndpointAdmin(ReadOnlyAdmin):
    list_display = ["url", "tenant", "description", "secret_prefix", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["url", "description"]
    exclude = ["secret_sealed"]


class AttemptInline(admin.TabularInline):
    model = NotificationAttempt
    extra = 0
    fields = ["number", "attempted_at", "status_code", "duration_ms", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["event_type", "endpoint", "status", "attempts", "created_at"]
    list_filter = ["status", "event_type"]
    exclude = ["body"]
    readonly_fields = ["body_json"]
    inlines = [AttemptInline]

    @admin.display(description="body")
    def body_json(self, obj):
        return obj.body
