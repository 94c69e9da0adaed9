"""``GET …/assets/{asset}/usage`` (API.md): billed tokens and cost of an asset, with
a per-day series of the last 30 UTC days (assets_app.usage.asset_usage)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from config.api import TenantAPIView
from config.openapi import TENANT_ERRORS, problems, uuid_path
from operations_app.serializers import UsdField

from .. import selectors
from ..usage import asset_usage
from . import examples

ASSET = uuid_path("asset_id", "asset")


class UsageDaySerializer(serializers.Serializer):
    date = serializers.DateField(help_text="A UTC day, YYYY-MM-DD.")
    tokens = serializers.IntegerField(help_text="Billed tokens: ingestion + search.")
    cost = UsdField(help_text="USD at the model's current price.")


class UsageSerializer(serializers.Serializer):
    assetId = serializers.UUIDField()
    totalTokenCount = serializers.IntegerField(
        help_text="Ingestion tokens billed, ever (what tokenBudget limits)."
    )
    totalChunkCount = serializers.IntegerField(help_text="Chunks stored now.")
    documentCount = serializers.IntegerField()
    operationCount = serializers.IntegerField()
    totalCost = UsdField(help_text="USD: totalTokenCount × the current price.")
    daily = UsageDaySerializer(
        many=True, help_text="The last 30 UTC days, oldest first, zero days included."
    )


class AssetUsageAPI(TenantAPIView):
    """GET …/assets/{asset}/usage — VIEWER."""

    @extend_schema(
        operation_id="assets_usage",
        tags=["assets"],
        parameters=[ASSET],
        responses={200: UsageSerializer, **problems(*TENANT_ERRORS)},
        examples=[examples.USAGE],
        description="VIEWER. Tokens billed and their cost (USD, current price); "
        "daily: the last 30 UTC days, ingestion and search query tokens.",
    )
    def get(self, request, tenant, asset_id):
        asset = selectors.asset_get(tenant=self.tenant, asset_id=asset_id)
        return Response(UsageSerializer(asset_usage(asset)).data)
