"""DRF views of operations: parse, call a selector or service, render."""

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from assets_app.api.assets import WITH_OPERATION
from assets_app.api.common import _asset_and_operation
from assets_app.api.examples import FAILED_DOCUMENTS
from assets_app.selectors import asset_get
from assets_app.services import asset_retry_failed_documents
from config.api import TenantAPIView
from config.errors import ValidationFailed
from config.idempotency import idempotent
from config.openapi import (
    IDEMPOTENCY_KEY,
    PAGE_PARAMETERS,
    REPLAYED,
    TENANT_ERRORS,
    page_of,
    problems,
    uuid_path,
)
from config.pagination import paginate

from . import selectors, services
from .models import OperationStatus, OperationType
from .serializers import (
    CancelRequestSerializer,
    FailedDocumentSerializer,
    OperationSerializer,
    RetryFailedRequestSerializer,
)

ORDER = ["-created_at", "-id"]
FAILURE_ORDER = ["created_at", "id"]

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


def _filter_uuid(value: str) -> uuid.UUID:
    """The ``assetId`` filter as a UUID. Raises ValidationFailed naming it: a
    malformed id is a bad query (400); a well-formed unknown one stays a 404."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed(
            "The filters are invalid.", errors={"assetId": ["Not a valid UUID."]}
        ) from None


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
        if asset_id := request.query_params.get("assetId"):
            asset = asset_get(tenant=self.tenant, asset_id=_filter_uuid(asset_id))
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


def _operation_of_asset(tenant, asset_id, operation_id):
    asset = asset_get(tenant=tenant, asset_id=asset_id)
    return selectors.operation_get(
        tenant=tenant, operation_id=operation_id, asset=asset
    )


class OperationFailedDocumentsAPI(TenantAPIView):
    """GET …/operations/{operation}/failedDocuments — the documents this operation
    failed, with the reason, in the order they failed; keyset-paged."""

    @extend_schema(
        operation_id="operations_failed_documents",
        tags=["operations"],
        parameters=[ASSET, OPERATION, *PAGE_PARAMETERS],
        responses={
            200: page_of(FailedDocumentSerializer, "FailedDocumentPage"),
            **problems(400, *TENANT_ERRORS),
        },
        examples=[FAILED_DOCUMENTS],
        description="VIEWER. Documents that could not be read, parsed or embedded in "
        "this operation (their count is stats.documentsFailed). documentStatus is the "
        "document's status now. Deleted documents are not listed.",
    )
    def get(self, request, tenant, asset_id, operation_id):
        op = _operation_of_asset(self.tenant, asset_id, operation_id)
        return Response(
            paginate(
                selectors.operation_failed_documents(operation=op),
                request.query_params,
                FAILURE_ORDER,
                FailedDocumentSerializer,
            )
        )


class OperationRetryFailedAPI(TenantAPIView):
    """POST …/operations/{operation}:retryFailedDocuments — a REFRESH of the asset
    limited to the documents this operation failed that are still FAILED."""

    @extend_schema(
        operation_id="operations_retry_failed_documents",
        tags=["operations"],
        parameters=[ASSET, OPERATION, IDEMPOTENCY_KEY, REPLAYED],
        request=RetryFailedRequestSerializer,
        responses={200: WITH_OPERATION, **problems(400, *TENANT_ERRORS, 409, 422)},
        description="EDITOR. Same as POST …/assets/{asset}:refresh with documentIds = "
        "the documents this operation failed that are still FAILED: starts a REFRESH "
        "or joins the queued one (merging the ids). 409 when none is still FAILED. "
        "The body is empty or {}.",
    )
    @idempotent
    def post(self, request, tenant, asset_id, operation_id):
        body = RetryFailedRequestSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        op = _operation_of_asset(self.tenant, asset_id, operation_id)
        refresh = asset_retry_failed_documents(actor=self.membership, operation=op)
        return _asset_and_operation(op.asset, refresh)
