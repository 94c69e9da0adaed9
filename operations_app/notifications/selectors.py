"""Reads of outbound notifications, always tenant-scoped; ADMIN only (the URLs and
their deliveries are tenant configuration, like webhooks in API.md "Roles")."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from assets_app.models import Membership
from assets_app.selectors import _uuid
from config.errors import NotFound

from .models import NotificationAttempt, NotificationDelivery, NotificationEndpoint
from .services import _require_admin


def endpoint_list(*, actor: Membership) -> QuerySet[NotificationEndpoint]:
    """The tenant's endpoints, newest first. Raises PermissionDenied below ADMIN."""
    _require_admin(actor)
    return NotificationEndpoint.objects.filter(tenant=actor.tenant)


def endpoint_get(*, actor: Membership, endpoint_id) -> NotificationEndpoint:
    """Raises NotFound (unknown, malformed or another tenant's id) or
    PermissionDenied (below ADMIN)."""
    _require_admin(actor)
    endpoint = NotificationEndpoint.objects.filter(
        tenant=actor.tenant, pk=_uuid(endpoint_id)
    ).first()
    if endpoint is None:
        raise NotFound("No such notification endpoint in this tenant.")
    return endpoint


def delivery_list(*, endpoint: NotificationEndpoint) -> QuerySet[NotificationDelivery]:
    """The endpoint's deliveries, newest first, each with its attempts in order."""
    return NotificationDelivery.objects.filter(endpoint=endpoint).prefetch_related(
        Prefetch(
            "attempt_rows", queryset=NotificationAttempt.objects.order_by("number")
        )
    )
