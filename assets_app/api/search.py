"""``POST …/assets/{asset}:search`` (API.md) and ``POST …/assets:search`` (all the
tenant's vectorized assets; docs/api.md "Decisions"). Parse, call assets_app.search,
render. The request and response serializers live here rather than in
assets_app/serializers.py, which is at its size limit; they are only these views'."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from config.api import TenantAPIView
from config.openapi import TENANT_ERRORS, budget_exhausted, problems, uuid_path
from config.parsers import JSONParser
from operations_app.serializers import UsdField

from .. import search, selectors
from .common import _parse
from .inputs import StrictSerializer

ASSET = uuid_path("asset_id", "asset")


class SearchInput(StrictSerializer):
    """API.md's ``:search`` body. ``query``: 1 to 16,384 characters, no NUL."""

    query = serializers.CharField(max_length=search.MAX_QUERY_CHARS)
    topK = serializers.IntegerField(
        required=False, default=search.DEFAULT_TOP_K, min_value=1,
        max_value=search.MAX_TOP_K,
    )  # fmt: skip
    scoreThreshold = serializers.FloatField(
        required=False, allow_null=True, default=None,
        help_text="Drop results scoring below it (the mode's score).",
    )  # fmt: skip
    searchMode = serializers.ChoiceField(
        choices=[m.value for m in search.SearchMode], required=False,
        default=search.SearchMode.VECTOR.value,
    )  # fmt: skip
    vectorWeight = serializers.FloatField(
        required=False, default=1.0, min_value=0, max_value=search.MAX_WEIGHT,
        help_text="HYBRID: weight of the VECTOR ranking in the fusion.",
    )  # fmt: skip
    ftsWeight = serializers.FloatField(
        required=False, default=1.0, min_value=0, max_value=search.MAX_WEIGHT,
        help_text="HYBRID: weight of the FULL_TEXT ranking in the fusion.",
    )  # fmt: skip
    rrfK = serializers.IntegerField(
        required=False, default=search.DEFAULT_RRF_K, min_value=0,
        max_value=search.MAX_RRF_K, help_text="HYBRID: RRF's k (Cormack et al. 2009).",
    )  # fmt: skip
    maxTokens = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1,
        max_value=search.MAX_TOKENS_LIMIT,
        help_text="Cap on the summed tokenCount of the results.",
    )  # fmt: skip


class SearchResultSerializer(serializers.Serializer):
    """One hit. ``source``: the document's path within its source; ``sourceUrl``
    null when the source has none; lines 1-based; ``tokenCount`` in the model's
    tokens; ``score`` the mode's (see docs/api.md)."""

    chunkId = serializers.UUIDField(source="chunk.id")
    documentId = serializers.UUIDField(source="chunk.document_id")
    assetId = serializers.UUIDField(source="chunk.asset_id")
    content = serializers.CharField(source="chunk.content")
    score = serializers.FloatField()
    chunkIndex = serializers.IntegerField(source="chunk.chunk_index")
    source = serializers.CharField(source="chunk.document.source_key")
    sourceUrl = serializers.CharField(
        source="chunk.document.source_url", allow_null=True
    )
    headingPath = serializers.ListField(
        source="chunk.heading_path", child=serializers.CharField()
    )
    pageNumber = serializers.IntegerField(source="chunk.page_number", allow_null=True)
    startLine = serializers.IntegerField(source="chunk.start_line")
    endLine = serializers.IntegerField(source="chunk.end_line")
    tokenCount = serializers.IntegerField(source="chunk.token_count")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["sourceUrl"] = data["sourceUrl"] or None
        return data


class SearchUsageSerializer(serializers.Serializer):
    queryTokens = serializers.IntegerField(
        source="query_tokens", help_text="Tokens billed for embedding the query."
    )
    cost = UsdField(help_text="USD, at the embedding models' current prices.")


class SearchResponseSerializer(serializers.Serializer):
    results = SearchResultSerializer(source="hits", many=True)
    usage = SearchUsageSerializer(source="*")


class SkippedAssetSerializer(serializers.Serializer):
    """An asset a tenant search left out: its own search would answer 429."""

    assetId = serializers.UUIDField(source="asset_id")
    displayName = serializers.CharField(source="display_name")
    limit = serializers.CharField(
        allow_null=True,
        help_text="The exhausted limit (dailyTokenBudget …); null when the asset "
        "was left out because embedding the query with its model failed.",
    )
    resetsAt = serializers.IntegerField(
        source="resets_at", allow_null=True, help_text="Epoch ms (UTC)."
    )
    detail = serializers.CharField()


class TenantSearchResponseSerializer(SearchResponseSerializer):
    skippedAssets = SkippedAssetSerializer(
        source="skipped", many=True,
        help_text="Assets left out because a daily or monthly budget limit of "
        "theirs is exhausted, or because embedding the query with their model "
        "failed while assets of other models were searched; empty when none was.",
    )  # fmt: skip


def _params(data: dict) -> search.SearchParams:
    return search.SearchParams(
        query=data["query"], mode=search.SearchMode(data["searchMode"]),
        top_k=data["topK"], score_threshold=data["scoreThreshold"],
        vector_weight=data["vectorWeight"], fts_weight=data["ftsWeight"],
        rrf_k=data["rrfK"], max_tokens=data["maxTokens"],
    )  # fmt: skip


EXAMPLE_REQUEST = OpenApiExample(
    "hybrid",
    request_only=True,
    value={"query": "how many vacation days", "topK": 3, "searchMode": "HYBRID"},
)
_SCHEMA = {
    "tags": ["search"],
    "request": SearchInput,
    "responses": {200: SearchResponseSerializer, **problems(400, *TENANT_ERRORS, 502)},
    "examples": [EXAMPLE_REQUEST],
}


class AssetSearchAPI(TenantAPIView):
    """POST …/assets/{asset}:search — the asset's current chunks, best first."""

    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="assets_search", parameters=[ASSET],
        **{**_SCHEMA, "responses": {**_SCHEMA["responses"], **budget_exhausted()}},
        description="EDITOR (API.md, Roles). VECTOR, FULL_TEXT or HYBRID search of "
        "the asset's chunks; 502 when the embedding provider fails; 429 "
        "budget-exhausted when the query's tokens would cross the asset's daily or "
        "monthly token budget (limit, resetsAt, Retry-After).",
    )  # fmt: skip
    def post(self, request, tenant, asset_id):
        asset = selectors.asset_get(tenant=self.tenant, asset_id=asset_id)
        params = _params(_parse(SearchInput, request.data))
        outcome = search.search_asset(actor=self.membership, asset=asset, params=params)
        return Response(SearchResponseSerializer(outcome).data)


class TenantSearchAPI(TenantAPIView):
    """POST …/assets:search — every vectorized asset of the tenant at once."""

    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="assets_search_all",
        **{**_SCHEMA, "responses": {
            **_SCHEMA["responses"], 200: TenantSearchResponseSerializer,
            **budget_exhausted(),
        }},
        description="EDITOR. As assets/{asset}:search over all vectorized assets of "
        "the tenant; the query is embedded once per embedding model. Each asset is "
        "admitted as its own search would be: one whose daily or monthly token "
        "budget is exhausted is left out (skippedAssets); 429 budget-exhausted "
        "only when all are. The billed query tokens of a model are split among "
        "its assets searched, each counting its share in its budget.",
    )  # fmt: skip
    def post(self, request, tenant):
        params = _params(_parse(SearchInput, request.data))
        outcome = search.search_tenant(actor=self.membership, params=params)
        return Response(TenantSearchResponseSerializer(outcome).data)
