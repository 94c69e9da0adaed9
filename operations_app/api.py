"""DRF views of operations: parse, call a selector or service, render."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from assets_app.selectors import asset_get
from config.api import TenantAPIView
from config.errors import ValidationFailed
from config.openapi import PAGE_PARAMETERS, TENANT_ERRORS, page_of, problems, uuid_path
from config.pagination import paginate

from . import selectors, services
from .models import OperationStatus, OperationType
from .serializers import CancelRequestSerializer, OperationSerializer

ORDER = ["-created_at", "-id"]

ASSET = uuid_path("asset_id", "asset")
OPERATION = uuid_path("operation_id", "operation")
FILTERS = [
    OpenApiParameter(
        "status",
        str,
        enum=OperationStatus.values,
        description="Only operations in this status.",
    ),
    OpenApiParameter(
        "type",
        str,
        enum=OperationType.values,
        description="Only operations of this type.",
    ),
]
PAGE = page_of(OperationSerializer, "OperationPage")


def _filters(query) -> dict:
    errors = {}
    status, type_ = query.get("status"), query.get("type")
    if status and status not in OperationStatus.values:
        errors["status"] = [f"One of {', '.join(OperationStatus.values)}."]
    if type_ and type_ not in OperationType.values:
        errors["type"] = [f"One of {', '.join(OperationType.values)}."]
    if errors:
        raise ValidationFailed("The filters are invalid.", errors=errors)
    return {"status": status or None, "type": type_ or None}


def _render(op):
    return OperationSerializer(op).data


def _page(tenant, asset, query) -> Response:
    """One keyset page of the tenant's (or asset's) operations, filtered by the query."""
    rows = selectors.operation_rows(
        tenant=tenant,
        asset=asset,
        columns=OperationSerializer.COLUMNS,
        **_filters(query),
    )
    return Response(paginate(rows, query, ORDER, OperationSerializer))


class TenantOperationListAPI(TenantAPIView):
    """GET /v1/tenants/{tenant}/operations — newest first; filters status, type,
    assetId; keyset-paged."""

    @extend_schema(
        operation_id="operations_list",
        tags=["operations"],
        parameters=[
            *FILTERS,
            OpenApiParameter(
                "assetId",
                OpenApiTypes.UUID,
                description="Only this asset's operations.",
            ),
            *PAGE_PARAMETERS,
        ],
        responses={200: PAGE, **problems(400, *TENANT_ERRORS)},
    )
    def get(self, request, tenant):
        asset = None
        if request.query_params.get("assetId"):
            asset = asset_get(
                tenant=self.tenant, asset_id=request.query_params["assetId"]
            )
        return _page(self.tenant, asset, request.query_params)


class AssetOperationListAPI(TenantAPIView):
    """GET /v1/tenants/{tenant}/assets/{asset}/operations."""

    @extend_schema(
        operation_id="asset_operations_list",
        tags=["operations"],
        parameters=[ASSET, *FILTERS, *PAGE_PARAMETERS],
        responses={200: PAGE, **problems(400, *TENANT_ERRORS)},
    )
    def get(self, request, tenant, asset_id):
        asset = asset_get(tenant=self.tenant, asset_id=asset_id)
        return _page(self.tenant, asset, request.query_params)


class OperationDetailAPI(TenantAPIView):
    """GET /v1/tenants/{tenant}/assets/{asset}/operations/{operation}."""

    @extend_schema(
        operation_id="operations_get",
        tags=["operations"],
        parameters=[ASSET, OPERATION],
        responses={200: OperationSerializer, **problems(*TENANT_ERRORS)},
    )
    def get(self, request, tenant, asset_id, operation_id):
        asset = asset_get(tenant=self.tenant, asset_id=asset_id)
        op = selectors.operation_get(
            tenant=self.tenant, operation_id=operation_id, asset=asset
        )
        return Response(_render(op))


class OperationCancelAPI(TenantAPIView):
    """POST …/operations/{operation}:cancel — API.md "Cancel semantics"; 200 with the
    operation as it is after the signal."""

    @extend_schema(
        operation_id="operations_cancel",
        tags=["operations"],
        parameters=[ASSET, OPERATION],
        request=CancelRequestSerializer,
        responses={200: OperationSerializer, **problems(400, *TENANT_ERRORS)},
        description="EDITOR. PENDING → CANCELLED at once; RUNNING → cancelRequested "
        "true, the worker stops at its next check; a finished operation is returned "
        "unchanged. Idempotent. The body is empty or {}.",
    )
    def post(self, request, tenant, asset_id, operation_id):
        body = CancelRequestSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        asset = asset_get(tenant=self.tenant, asset_id=asset_id)
        op = selectors.operation_get(
            tenant=self.tenant, operation_id=operation_id, asset=asset
        )
        op = services.operation_cancel(actor=self.membership, operation=op)
        return Response(_render(op))
