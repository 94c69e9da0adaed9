"""Reads of operations, always within a tenant."""

from __future__ import annotations

from django.db.models import QuerySet

from assets_app.models import Asset, Tenant
from assets_app.selectors import _uuid
from config.errors import NotFound

from .models import ACTIVE_STATUSES, Operation


def operation_list(
    *,
    tenant: Tenant,
    asset: Asset | None = None,
    status: str | None = None,
    type: str | None = None,
) -> QuerySet[Operation]:
    """The tenant's operations, newest first, optionally of one asset, status or type."""
    qs = Operation.objects.filter(tenant=tenant).select_related("asset")
    if asset is not None:
        qs = qs.filter(asset=asset)
    if status:
        qs = qs.filter(status=status)
    if type:
        qs = qs.filter(type=type)
    return qs.order_by("-created_at", "-id")


def operation_get(*, tenant: Tenant, operation_id, asset: Asset | None = None) -> Operation:
    """Raises NotFound when missing, of another tenant, or not of ``asset``."""
    qs = Operation.objects.filter(tenant=tenant, id=_uuid(operation_id)).select_related("asset")
    if asset is not None:
        qs = qs.filter(asset=asset)
    op = qs.first()
    if op is None:
        raise NotFound("No such operation in this tenant.")
    return op


def operations_any_active(operations) -> bool:
    return any(op.status in ACTIVE_STATUSES for op in operations)
