"""DRF views of outbound notification endpoints (tenant ADMIN):

- ``GET|POST /v1/tenants/{tenant}/notificationEndpoints`` — list (paged) / register
  ``{url, description?}``; the answer to POST carries ``signingSecret`` once.
- ``GET|DELETE …/notificationEndpoints/{endpoint}``
- ``GET …/notificationEndpoints/{endpoint}/deliveries`` — newest first, paged, each
  with its attempts.

Routes follow API.md's style: a tenant-level collection in camelCase, like
``operations``; deleting and re-registering replaces an endpoint (no PATCH)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from assets_app.api.inputs import StrictSerializer
from config.api import TenantAPIView
from config.openapi import PAGE_PARAMETERS, TENANT_ERRORS, page_of, problems, uuid_path
from config.pagination import paginate
from operations_app.serializers import EpochMsField

from . import selectors, services
from .models import DeliveryStatus

ORDER = ["-created_at", "-id"]
ENDPOINT = uuid_path("endpoint_id", "notification endpoint")


class EndpointInput(StrictSerializer):
    url = serializers.CharField(max_length=2000, help_text="https:// URL to POST to.")
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True
    )


class EndpointSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField()
    description = serializers.CharField()
    secretPrefix = serializers.CharField(source="secret_prefix")
    createdBy = serializers.CharField(source="created_by")
    createdAt = EpochMsField(source="created_at")
    modifiedAt = EpochMsField(source="modified_at")
    signingSecret = serializers.SerializerMethodField(
        help_text="Only in the answer that registered it; null afterwards."
    )

    def get_signingSecret(self, obj) -> str | None:  # noqa: N802 - wire name
        return getattr(obj, "minted_secret", None)


class AttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    attemptedAt = EpochMsField(source="attempted_at")
    statusCode = serializers.IntegerField(source="status_code", allow_null=True)
    error = serializers.CharField()
    durationMs = serializers.IntegerField(source="duration_ms")


class DeliverySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    eventId = serializers.UUIDField(source="event_id")
    eventType = serializers.CharField(source="event_type")
    operationId = serializers.UUIDField(source="operation_id", allow_null=True)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    attempts = AttemptSerializer(source="attempt_rows", many=True)
    nextAttemptAt = EpochMsField(source="next_attempt_at")
    createdAt = EpochMsField(source="created_at")
    completedAt = EpochMsField(source="completed_at")


CREATED = OpenApiExample(
    "Registered (the secret is shown once)",
    response_only=True,
    value={
        "id": "0b7e3f5c-8d7a-4a35-9a0e-6f1c2d3e4f50",
        "url": "https://hooks.example.com/ragdesk", "description": "Ops channel",
        "secretPrefix": "whsec_3q2+7w", "createdBy": "alice",
        "createdAt": 1795954463079, "modifiedAt": 1795954463079,
        "signingSecret": "whsec_3q2-7wX0c1Hq2mYh8d0y5kQ1rVb6Zx9tL4pN2sA7eUo",
    },
)  # fmt: skip
REGISTER = OpenApiExample(
    "Register", request_only=True,
    value={"url": "https://hooks.example.com/ragdesk", "description": "Ops channel"},
)  # fmt: skip


class EndpointListAPI(TenantAPIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="notification_endpoints_list", tags=["notifications"],
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(EndpointSerializer, "NotificationEndpointPage"),
                   **problems(400, *TENANT_ERRORS)},
        description="ADMIN. The tenant's notification endpoints, newest first.",
    )  # fmt: skip
    def get(self, request, tenant):
        rows = selectors.endpoint_list(actor=self.membership)
        return Response(paginate(rows, request.query_params, ORDER, EndpointSerializer))

    @extend_schema(
        operation_id="notification_endpoints_create", tags=["notifications"],
        request=EndpointInput, responses={201: EndpointSerializer,
                                          **problems(400, *TENANT_ERRORS)},
        examples=[REGISTER, CREATED],
        description=(
            "ADMIN. Registers an https URL (http only to networks in "
            "RAGDESK_FETCH_ALLOW_NETWORKS; private addresses refused) that receives "
            "a signed POST when an operation ends. The signing secret is in this "
            "answer only."
        ),
    )  # fmt: skip
    def post(self, request, tenant):
        from assets_app.api.common import _parse

        data = _parse(EndpointInput, request.data)
        endpoint, secret = services.endpoint_create(
            actor=self.membership, url=data["url"],
            description=data.get("description", ""),
        )  # fmt: skip
        endpoint.minted_secret = secret
        return Response(EndpointSerializer(endpoint).data, status=201)


class EndpointDetailAPI(TenantAPIView):
    @extend_schema(
        operation_id="notification_endpoints_get", tags=["notifications"],
        parameters=[ENDPOINT],
        responses={200: EndpointSerializer, **problems(*TENANT_ERRORS)},
        description="ADMIN. One endpoint (its secret is not shown again).",
    )  # fmt: skip
    def get(self, request, tenant, endpoint_id):
        endpoint = selectors.endpoint_get(
            actor=self.membership, endpoint_id=endpoint_id
        )
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="notification_endpoints_delete", tags=["notifications"],
        parameters=[ENDPOINT], responses={204: None, **problems(*TENANT_ERRORS)},
        description="ADMIN. Deletes it and its deliveries; pending ones are not sent.",
    )  # fmt: skip
    def delete(self, request, tenant, endpoint_id):
        endpoint = selectors.endpoint_get(
            actor=self.membership, endpoint_id=endpoint_id
        )
        services.endpoint_delete(actor=self.membership, endpoint=endpoint)
        return Response(status=204)


class DeliveryListAPI(TenantAPIView):
    @extend_schema(
        operation_id="notification_deliveries_list", tags=["notifications"],
        parameters=[ENDPOINT, *PAGE_PARAMETERS],
        responses={200: page_of(DeliverySerializer, "NotificationDeliveryPage"),
                   **problems(400, *TENANT_ERRORS)},
        description="ADMIN. Deliveries to the endpoint, newest first, with attempts "
        "(time, status code, error, duration in ms).",
    )  # fmt: skip
    def get(self, request, tenant, endpoint_id):
        endpoint = selectors.endpoint_get(
            actor=self.membership, endpoint_id=endpoint_id
        )
        rows = selectors.delivery_list(endpoint=endpoint)
        return Response(paginate(rows, request.query_params, ORDER, DeliverySerializer))
