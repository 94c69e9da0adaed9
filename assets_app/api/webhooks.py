"""``…/assets/{asset}:regenerateWebhook`` and the webhook deliveries
``/v1/webhooks/{webhookId}[/{secret}]`` (API.md; no tenant, no bearer: the URL's
secret or the signature authenticates). docs/api.md has a delivery with curl."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import TenantAPIView
from config.errors import PayloadTooLarge
from config.openapi import TENANT_ERRORS, problems, uuid_path

from .. import autoupdate, selectors
from ..serializers import AssetWebhookSerializer
from . import examples
from .common import NO_STORE, _webhook


class RegenerateWebhookAPI(TenantAPIView):
    """POST …/assets/{asset}:regenerateWebhook — rotate the asset's webhook."""

    @extend_schema(
        operation_id="assets_regenerate_webhook",
        tags=["assets"],
        parameters=[uuid_path("asset_id", "asset")],
        request=None,
        responses={200: AssetWebhookSerializer, **problems(400, *TENANT_ERRORS)},
        examples=[examples.REGENERATED],
        description="ADMIN. Revokes the asset's webhook (its URL answers 404 at once) "
        "and mints a new one of the same authMode: the new webhookUrl and "
        "signingSecret are shown in this response only. 400 when the asset has no "
        "webhook auto-update.",
    )
    def post(self, request, tenant, asset_id):
        asset = selectors.asset_get(tenant=self.tenant, asset_id=asset_id)
        minted = autoupdate.asset_regenerate_webhook(actor=self.membership, asset=asset)
        return Response(_webhook(request, minted), headers=NO_STORE)


DELIVERED = inline_serializer(
    name="WebhookDeliveryQueued",
    fields={
        "operationId": serializers.UUIDField(),
        "type": serializers.CharField(help_text="WEBHOOK_UPDATE, or the type of "
                                      "the queued operation it joined."),
        "status": serializers.CharField(),
    },
)  # fmt: skip
IGNORED = inline_serializer(
    name="WebhookDeliveryIgnored",
    fields={
        "operationId": serializers.UUIDField(allow_null=True),
        "detail": serializers.CharField(help_text="Why nothing was started."),
    },
)
SIGNATURE_HEADERS = [
    OpenApiParameter(
        name, str, OpenApiParameter.HEADER, required=False, description=text
    )
    for name, text in (
        ("X-Signature-256", "sha256=<hex HMAC-SHA256 of '<timestamp>.<raw body>'> "
         "under the signing secret."),
        ("X-Signature-Timestamp", "Unix seconds; more than 5 minutes off → 401."),
        ("X-Hub-Signature-256", "Git assets: GitHub's sha256=<hex HMAC of the raw "
         "body>, instead of the two above."),
        ("X-Delivery-Id", "A unique id per delivery (or X-GitHub-Delivery): a "
         "repeated one is refused (409) for 24 hours."),
        ("X-GitHub-Event", "push names the changed files; ping and other events "
         "start nothing."),
    )
]  # fmt: skip


class WebhookDeliveryAPI(APIView):
    """POST /v1/webhooks/{webhook_id} (HMAC_SHA256) and …/{secret} (URL_SECRET):
    the raw body is read as sent (no parser), for the signature."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes: list = []

    @extend_schema(
        operation_id="webhooks_deliver",
        tags=["webhooks"],
        auth=[],
        parameters=[uuid_path("webhook_id", "webhook"), *SIGNATURE_HEADERS],
        request={"application/json": {"type": "object", "additionalProperties": True}},
        responses={
            202: DELIVERED, 200: IGNORED, **problems(401, 404, 409, 413, 429),
        },  # fmt: skip
        examples=[examples.DELIVERY_QUEUED, examples.DELIVERY_IGNORED],
        description="A delivery in HMAC_SHA256 mode (no bearer token). Starts a "
        "WEBHOOK_UPDATE of the webhook's asset, or joins the one already queued "
        "(202); a GitHub push limits it to the files it changed. 401: signature or "
        "timestamp; 404: unknown or regenerated webhook; 409: a replayed delivery.",
    )
    def post(self, request, webhook_id, secret=None):
        try:
            body = request.body
        except RequestDataTooBig:
            raise PayloadTooLarge("The delivery's body is too large.") from None
        outcome = autoupdate.webhook_deliver(
            webhook_id=webhook_id, url_secret=secret, headers=request.headers, body=body
        )
        op = outcome.operation
        if op is None:
            return Response({"operationId": None, "detail": outcome.detail})
        return Response(
            {"operationId": str(op.id), "type": op.type, "status": op.status},
            status=202,
        )


class WebhookUrlSecretDeliveryAPI(WebhookDeliveryAPI):
    @extend_schema(
        operation_id="webhooks_deliver_url_secret",
        tags=["webhooks"],
        auth=[],
        parameters=[
            uuid_path("webhook_id", "webhook"),
            OpenApiParameter("secret", str, OpenApiParameter.PATH,
                             description="The secret of the webhook's URL."),
            *SIGNATURE_HEADERS[3:],
        ],  # fmt: skip
        request={"application/json": {"type": "object", "additionalProperties": True}},
        responses={202: DELIVERED, 200: IGNORED, **problems(404, 409, 413, 429)},
        examples=[examples.DELIVERY_QUEUED, examples.DELIVERY_IGNORED],
        description="A delivery in URL_SECRET mode (no bearer token, no signature: "
        "the URL is the credential). 404: unknown or regenerated webhook, or a "
        "wrong secret.",
    )
    def post(self, request, webhook_id, secret):
        return super().post(request, webhook_id, secret)
