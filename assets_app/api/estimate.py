"""``POST …/assets/{asset}:estimate`` — the dry run of a refresh (API.md "Endpoints";
assets_app/estimates.py). Nothing is written, so no Idempotency-Key is needed."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from config.api import TenantAPIView
from config.openapi import TENANT_ERRORS, problems, uuid_path
from operations_app.serializers import UsdField

from .. import selectors
from ..estimates import asset_estimate
from .common import _chunking, _parse, _wire_names
from .inputs import EmbeddingInput, RefreshInput


class EstimateInput(RefreshInput):
    embedding = EmbeddingInput(
        required=False,
        help_text="Proposed provider/model and/or chunkSize/chunkOverlap: estimate "
        "the REINDEX they start, priced with the proposed model.",
    )


class EstimateStats(serializers.Serializer):
    documentsAdded = serializers.IntegerField(source="added")
    documentsUpdated = serializers.IntegerField(source="updated")
    documentsDeleted = serializers.IntegerField(
        source="deleted", allow_null=True,
        help_text="null when the estimate stopped before the listing ended.",
    )  # fmt: skip
    documentsUnchanged = serializers.IntegerField(source="unchanged")
    documentsFailed = serializers.IntegerField(source="failed")


class EstimateFailure(serializers.Serializer):
    fileName = serializers.CharField()
    reason = serializers.CharField()


class EstimateSerializer(serializers.Serializer):
    assetId = serializers.UUIDField(source="asset_id")
    reindex = serializers.BooleanField(
        help_text="The proposed embedding model or chunking is a change."
    )
    provider = serializers.CharField(help_text="The model the run embeds with.")
    model = serializers.CharField()
    force = serializers.BooleanField(source="estimate.force")
    chunkSize = serializers.IntegerField(source="estimate.chunk_size")
    chunkOverlap = serializers.IntegerField(source="estimate.chunk_overlap")
    complete = serializers.BooleanField(
        source="estimate.complete",
        help_text="false: stopped at the time or document bound; counts are partial.",
    )
    stats = EstimateStats(source="estimate")
    tokenCount = serializers.IntegerField(source="estimate.tokens")
    chunkCount = serializers.IntegerField(source="estimate.chunks")
    bytesRead = serializers.IntegerField(source="estimate.bytes_read")
    pricePerMillionTokens = UsdField(source="price_per_million")
    cost = UsdField()
    budgetLeft = serializers.IntegerField(
        source="budget_left", allow_null=True,
        help_text="Tokens the asset's tightest limit (total, monthly or daily; a "
        "currencyBudget is stored as tokens) leaves before this run: limit − used − "
        "reserved, at least 0. null: no limit.",
    )  # fmt: skip
    budgetLimit = serializers.CharField(
        source="budget_limit", allow_null=True,
        help_text="Which limit budgetLeft is (tokenBudget, monthlyTokenBudget, "
        "dailyTokenBudget), as a 429's limit; null: no limit.",
    )  # fmt: skip
    fitsBudget = serializers.BooleanField(
        source="fits_budget",
        help_text="tokenCount <= budgetLeft (true without a limit). false: the "
        "refresh stores what fits, then ends FAILED naming budgetLimit.",
    )  # fmt: skip
    elapsedMs = serializers.IntegerField(source="estimate.elapsed_ms")
    failures = EstimateFailure(source="estimate.failures", many=True)


EXAMPLE = OpenApiExample(
    "Two changed files",
    response_only=True,
    value={
        "assetId": "54b65d74-963a-43f0-b63d-0ded6073580b", "reindex": False,
        "provider": "openai", "model": "text-embedding-3-small", "force": False,
        "chunkSize": 512, "chunkOverlap": 64, "complete": True,
        "stats": {"documentsAdded": 1, "documentsUpdated": 1, "documentsDeleted": 0,
                  "documentsUnchanged": 12, "documentsFailed": 0},
        "tokenCount": 1840, "chunkCount": 5, "bytesRead": 48213,
        "pricePerMillionTokens": 0.02, "cost": 0.0000368, "budgetLeft": 48160,
        "budgetLimit": "dailyTokenBudget", "fitsBudget": True, "elapsedMs": 412,
        "failures": [],
    },
)  # fmt: skip
MODEL_EXAMPLE = OpenApiExample(
    "What a re-index with another model costs",
    request_only=True,
    value={"embedding": {"provider": "openai", "model": "text-embedding-3-large"}},
)
REINDEX_EXAMPLE = OpenApiExample(
    "What a re-index to 256-token chunks costs",
    request_only=True,
    value={"embedding": {"chunkSize": 256, "chunkOverlap": 32}},
)


class AssetEstimateAPI(TenantAPIView):
    """POST …/assets/{asset}:estimate — ``{documentIds?, force?, embedding?}``."""

    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="assets_estimate",
        tags=["assets"],
        parameters=[uuid_path("asset_id", "asset")],
        request=EstimateInput,
        responses={200: EstimateSerializer, **problems(400, *TENANT_ERRORS, 422)},
        examples=[EXAMPLE, REINDEX_EXAMPLE, MODEL_EXAMPLE],
        description=(
            "EDITOR. Dry run of a refresh (or, with embedding.provider/model or "
            "chunkSize/chunkOverlap, of the REINDEX they start, priced with that "
            "model; checked as PATCH checks them): documents that would be added, "
            "updated, deleted, unchanged or fail, tokens, chunks and cost; nothing "
            "is written. Reads the source as a refresh does (conditional requests "
            "for web pages). Stops after RAGDESK_ESTIMATE_MAX_SECONDS (30 s) or "
            "RAGDESK_ESTIMATE_MAX_DOCUMENTS (2000) with complete=false. "
            "budgetLeft: tokens the tightest budget limit (budgetLimit) leaves; "
            "fitsBudget: whether tokenCount fits in it. 422: the source cannot be "
            "read."
        ),
    )
    def post(self, request, tenant, asset_id):
        asset = selectors.asset_get(tenant=self.tenant, asset_id=asset_id)
        data = _parse(EstimateInput, request.data)
        with _wire_names():
            chunking = _chunking(data.get("embedding"), asset)
            result = asset_estimate(
                actor=self.membership, asset=asset, force=data["force"],
                document_ids=data.get("documentIds"), **chunking,
            )  # fmt: skip
        return Response(EstimateSerializer(result).data)
