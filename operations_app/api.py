"""DRF views of operations: parse, call a selector or service, render."""

from rest_framework.response import Response

from assets_app.selectors import asset_get
from config.api import TenantAPIView, paginate
from config.errors import ValidationFailed

from . import selectors, services
from .models import OperationStatus, OperationType
from .serializers import CancelRequestSerializer, OperationSerializer

ORDER = ["-created_at", "-id"]


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


class TenantOperationListAPI(TenantAPIView):
    """GET /v1/tenants/{tenant}/operations — newest first; filters status, type,
    assetId; keyset-paged."""

    def get(self, request, tenant):
        asset = None
        if request.query_params.get("assetId"):
            asset = asset_get(tenant=self.tenant, asset_id=request.query_params["assetId"])
        qs = selectors.operation_list(tenant=self.tenant, asset=asset,
                                      **_filters(request.query_params))
        return Response(paginate(qs, request.query_params, ORDER, _render,
                                 prepare=selectors.operations_load_prices))


class AssetOperationListAPI(TenantAPIView):
    """GET /v1/tenants/{tenant}/assets/{asset}/operations."""

    def get(self, request, tenant, asset_id):
        asset = asset_get(tenant=self.tenant, asset_id=asset_id)
        qs = selectors.operation_list(tenant=self.tenant, asset=asset,
                                      **_filters(request.query_params))
        return Response(paginate(qs, request.query_params, ORDER, _render,
                                 prepare=selectors.operations_load_prices))


class OperationDetailAPI(TenantAPIView):
    """GET /v1/tenants/{tenant}/assets/{asset}/operations/{operation}."""

    def get(self, request, tenant, asset_id, operation_id):
        asset = asset_get(tenant=self.tenant, asset_id=asset_id)
        op = selectors.operation_get(tenant=self.tenant, operation_id=operation_id, asset=asset)
        return Response(_render(op))


class OperationCancelAPI(TenantAPIView):
    """POST …/operations/{operation}:cancel — API.md "Cancel semantics"; 200 with the
    operation as it is after the signal."""

    def post(self, request, tenant, asset_id, operation_id):
        body = CancelRequestSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        asset = asset_get(tenant=self.tenant, asset_id=asset_id)
        op = selectors.operation_get(tenant=self.tenant, operation_id=operation_id, asset=asset)
        op = services.operation_cancel(actor=self.membership, operation=op)
        return Response(_render(op))
