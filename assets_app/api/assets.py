"""Assets: list, create (JSON and multipart ``:file``), get (ETag), patch
(If-Match), delete, ``:refresh``. Create and PATCH take ``autoUpdate`` (issue 5); a
webhook they mint is in the response's ``webhook``, shown that once."""

from __future__ import annotations

import json

from django.db import transaction
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from config.api import TenantAPIView
from config.errors import ValidationFailed
from config.idempotency import idempotent
from config.openapi import (
    ETAG,
    IDEMPOTENCY_KEY,
    IF_MATCH,
    PAGE_PARAMETERS,
    REPLAYED,
    SEARCH_PARAMETER,
    TENANT_ERRORS,
    page_of,
    problems,
    uuid_path,
)
from config.pagination import paginate
from config.parsers import JSONParser
from operations_app.serializers import OperationSerializer

from .. import autoupdate, selectors, services
from ..budget_limits import asset_set_budget
from ..models import Asset, SourceType
from ..selectors import asset_with_details, assets_with_details
from ..serializers import AssetSerializer, AssetWebhookSerializer
from ..usage import assets_load_budgets
from . import examples
from .common import (
    _asset,
    _asset_and_operation,
    _budget_limits,
    _check_if_match,
    _chunking,
    _parse,
    _wire_names,
    asset_etag,
)
from .inputs import (
    AssetCreateInput,
    AssetPatchInput,
    RefreshInput,
    UploadPayloadInput,
    auto_update_settings,
)
from .source_config import (
    JSON_CREATORS,
    _parameter_errors,
    _patched_parameters,
    _source_config,
)

ASSET_ORDER = ["-created_at", "-id"]

ASSET = uuid_path("asset_id", "asset")
WITH_OPERATION = inline_serializer(
    name="AssetWithOperation",
    fields={"asset": AssetSerializer(), "operation": OperationSerializer()},
)
MINTED = AssetWebhookSerializer(
    required=False,
    help_text="Only when this request minted a webhook: its URL and signing secret "
    "are shown this once.",
)
WITH_OPERATION_AND_WEBHOOK = inline_serializer(
    name="AssetWithOperationAndWebhook",
    fields={
        "asset": AssetSerializer(),
        "operation": OperationSerializer(),
        "webhook": MINTED,
    },
)
WITH_OPTIONAL_OPERATION = inline_serializer(
    name="AssetWithOptionalOperation",
    fields={
        "asset": AssetSerializer(),
        "operation": OperationSerializer(
            allow_null=True, help_text="The REINDEX or REFRESH started, or null."
        ),
        "webhook": MINTED,
    },
)
UPLOAD_BODY = inline_serializer(
    name="AssetUpload",
    fields={
        "file": serializers.ListField(
            child=serializers.FileField(),
            help_text="One part per file (≤ 50 MB each; see assets:supportedTypes).",
        ),
        "payload": serializers.CharField(
            required=False,
            help_text='JSON like the create body, without config: {"name": "Handbook", '
            '"embedding": {"chunkSize": 512, "chunkOverlap": 64}}.',
        ),
    },
)


def _with_details(assets):
    return assets_load_budgets(assets_with_details(assets))


class AssetListAPI(TenantAPIView):
    """GET …/assets — newest first, ``search`` by name; POST …/assets — create
    from ``{config, name?, embedding?}`` and start its INGEST (Idempotency-Key)."""

    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="assets_list",
        tags=["assets"],
        parameters=[SEARCH_PARAMETER, *PAGE_PARAMETERS],
        responses={
            200: page_of(AssetSerializer, "AssetPage"),
            **problems(400, *TENANT_ERRORS),
        },
    )
    def get(self, request, tenant):
        qs = selectors.asset_list(
            tenant=self.tenant, search=request.query_params.get("search") or None
        )
        query = request.query_params
        return Response(
            paginate(qs, query, ASSET_ORDER, _asset, prepare=_with_details)
        )

    @extend_schema(
        operation_id="assets_create",
        tags=["assets"],
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        request=AssetCreateInput,
        responses={
            200: WITH_OPERATION_AND_WEBHOOK,
            **problems(400, *TENANT_ERRORS, 422),
        },
        examples=[
            examples.CREATE_FOLDER, examples.CREATE_WEB, examples.CREATE_GIT,
            examples.CREATE_GIT_WEBHOOK, examples.CREATED,
            examples.CREATED_WITH_WEBHOOK,
        ],
        description="EDITOR. Creates a folder (ADMIN), web or git asset (upload "
        "assets: POST assets:file) and starts its INGEST operation. A URL that "
        "resolves to a private, loopback or link-local address is a 400 naming "
        "config.parameters.url. autoUpdate with strategy WEBHOOK (ADMIN) mints a "
        "webhook: its URL and signing secret are in this response only (a replay "
        "with the same Idempotency-Key shows them as null).",
    )
    @idempotent
    def post(self, request, tenant):
        data = _parse(AssetCreateInput, request.data)
        source_type, parameters = _source_config(data["config"], upload=False)
        limits = _budget_limits(data)
        auto_update = auto_update_settings(data.get("autoUpdate"))
        with transaction.atomic(), _wire_names():
            asset, op = JSON_CREATORS[source_type](
                self.membership,
                data.get("name", ""),
                parameters,
                _chunking(data.get("embedding")),
            )
            asset = asset_set_budget(actor=self.membership, asset=asset, limits=limits)
            minted = None
            if auto_update is not None:
                minted = autoupdate.asset_set_auto_update(
                    actor=self.membership, asset=asset, settings=auto_update
                )
        return _asset_and_operation(asset, op, request=request, minted=minted)


def _upload_payload(request) -> dict:
    """The ``payload`` part (a form field or a file part) as JSON; any part other
    than ``file`` and ``payload`` is a 400 naming it."""
    unknown = sorted(set(request.data) - {"file", "payload"})
    if unknown:
        raise ValidationFailed(
            f"Unknown part{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            "this request takes file, payload.",
            errors={k: ["Unknown part."] for k in unknown},
        )
    raw = request.FILES.get("payload") or request.data.get("payload")
    if raw is None:
        return {}
    try:
        return json.loads(raw.read() if hasattr(raw, "read") else raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        raise ValidationFailed(
            "The payload part is not valid JSON.",
            errors={"payload": ["Not valid JSON."]},
        ) from None


class AssetUploadAPI(TenantAPIView):
    """POST …/assets:file — multipart: one or several ``file`` parts (≤ 50 MB each,
    else 413; unsupported type 415) and an optional ``payload`` JSON part like the
    create body. Starts the INGEST (Idempotency-Key)."""

    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="assets_create_from_file",
        tags=["assets"],
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        request={"multipart/form-data": UPLOAD_BODY},
        responses={
            200: WITH_OPERATION,
            **problems(400, *TENANT_ERRORS, 413, 415, 422),
        },
        examples=[examples.CREATED],
        description="EDITOR. Creates an upload asset from the file parts and starts "
        "its INGEST operation.",
    )
    @idempotent
    def post(self, request, tenant):
        data = _parse(UploadPayloadInput, _upload_payload(request))
        _source_config(data.get("config"), upload=True)
        limits = _budget_limits(data)
        files = [
            services.UploadInput(name=f.name, size=f.size, stream=f)
            for f in request.FILES.getlist("file")
        ]
        if data.get("autoUpdate") is not None:
            # Upload assets take no auto-update: refused with the capability's reason.
            autoupdate.auto_update_check(
                source_type=SourceType.UPLOAD,
                settings=auto_update_settings(data["autoUpdate"]),
            )
        with transaction.atomic(), _wire_names():
            asset, op = services.asset_create_from_uploads(
                actor=self.membership,
                display_name=data.get("name", ""),
                files=files,
                **_chunking(data.get("embedding")),
            )
            asset = asset_set_budget(actor=self.membership, asset=asset, limits=limits)
        return _asset_and_operation(asset, op)


class AssetDetailAPI(TenantAPIView):
    """GET (with ETag), PATCH (``displayName``, ``embedding.provider`` / ``model`` /
    ``chunkSize`` / ``chunkOverlap`` — a REINDEX; ``sourceConfig`` of a web or git
    asset — a REFRESH;
    ``autoUpdate`` / ``disableAutoUpdate``; honours If-Match, 412), DELETE (204) of
    one asset."""

    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="assets_get",
        tags=["assets"],
        parameters=[ASSET, ETAG],
        responses={200: AssetSerializer, **problems(*TENANT_ERRORS)},
        examples=[examples.ASSET_EXAMPLE],
    )
    def get(self, request, tenant, asset_id):
        asset = selectors.asset_get(tenant=self.tenant, asset_id=asset_id)
        return Response(
            _asset(asset_with_details(asset)), headers={"ETag": asset_etag(asset)}
        )

    @extend_schema(
        operation_id="assets_update",
        tags=["assets"],
        parameters=[ASSET, IF_MATCH, ETAG],
        request=AssetPatchInput,
        responses={
            200: WITH_OPTIONAL_OPERATION,
            **problems(400, *TENANT_ERRORS, 412),
        },
        examples=[
            examples.PATCH_NAME, examples.PATCH_CHUNKING, examples.PATCH_MODEL,
            examples.PATCHED_MODEL, examples.PATCH_BUDGET,
            examples.PATCH_POLL, examples.PATCH_DISABLE_AUTO_UPDATE,
        ],
        description="EDITOR. Only the members sent change; a new embedding model "
        "(embedding.provider/model, a row of assets:embeddingModels; dimensions "
        "follow it) or new chunking starts a REINDEX operation (or turns the queued "
        "one into it), new sourceConfig parameters (web, git) a REFRESH; an unknown "
        "model is a 400 naming embedding.model, a chunkSize above the new model's "
        "maxInputTokens a 400 naming embedding.chunkSize. budget and currencyBudget "
        "(USD, converted at the price of the model the asset has after this request "
        "and stored as tokens) apply at once; token limits are kept as they are "
        "across a model change. "
        "autoUpdate replaces the auto-update settings (a schedule or a webhook; "
        "minting or removing a webhook needs ADMIN), disableAutoUpdate: true "
        "removes them. A minted webhook's URL and secret are in this response only.",
    )
    def patch(self, request, tenant, asset_id):
        asset = selectors.asset_get(tenant=self.tenant, asset_id=asset_id)
        data = _parse(AssetPatchInput, request.data)
        parameters = _patched_parameters(asset, data.get("sourceConfig"))
        change_auto_update = data.get("disableAutoUpdate") or "autoUpdate" in data
        auto_update = (
            None
            if data.get("disableAutoUpdate")
            else auto_update_settings(data.get("autoUpdate"))
        )
        prefix = "sourceConfig.parameters"
        with (
            transaction.atomic(),
            _wire_names(),
            _parameter_errors(prefix, asset.source_type),
        ):
            # The If-Match check and the write must see the same version: lock the row
            # (the service takes the same lock again, within this transaction).
            asset = Asset.objects.select_for_update().get(pk=asset.pk)
            _check_if_match(request, asset)
            asset, op = services.asset_update_settings(
                actor=self.membership,
                asset=asset,
                display_name=data.get("displayName"),
                source_parameters=parameters,
                **_chunking(data.get("embedding"), asset),
            )
            # After the settings: a currencyBudget converts at the new model's price.
            limits = _budget_limits(data, asset)
            asset = asset_set_budget(actor=self.membership, asset=asset, limits=limits)
            minted = None
            if change_auto_update:
                minted = autoupdate.asset_set_auto_update(
                    actor=self.membership, asset=asset, settings=auto_update
                )
        return _asset_and_operation(
            asset, op, request=request, minted=minted,
            headers={"ETag": asset_etag(asset)},
        )  # fmt: skip

    @extend_schema(
        operation_id="assets_delete",
        tags=["assets"],
        parameters=[ASSET],
        responses={204: None, **problems(*TENANT_ERRORS)},
        description="ADMIN. Deletes the asset, its documents and chunks; running "
        "operations end FAILED.",
    )
    def delete(self, request, tenant, asset_id):
        asset = selectors.asset_get(tenant=self.tenant, asset_id=asset_id)
        services.asset_delete(actor=self.membership, asset=asset)
        return Response(status=204)


class AssetRefreshAPI(TenantAPIView):
    """POST …/assets/{asset}:refresh — ``{documentIds?, force?}``; starts or joins the
    queued REFRESH (Idempotency-Key)."""

    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="assets_refresh",
        tags=["assets"],
        parameters=[ASSET, IDEMPOTENCY_KEY, REPLAYED],
        request=RefreshInput,
        responses={200: WITH_OPERATION, **problems(400, *TENANT_ERRORS, 422)},
        examples=[examples.REFRESH],
        description="EDITOR. Starts a REFRESH, or returns the one already queued.",
    )
    @idempotent
    def post(self, request, tenant, asset_id):
        asset = selectors.asset_get(tenant=self.tenant, asset_id=asset_id)
        data = _parse(RefreshInput, request.data)
        op = services.asset_refresh(
            actor=self.membership,
            asset=asset,
            document_ids=data.get("documentIds"),
            force=data["force"],
        )
        return _asset_and_operation(asset, op)
