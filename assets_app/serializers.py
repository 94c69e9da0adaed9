"""Wire shapes of assets, documents, chunks and the catalogues (API.md "Objects"):
camelCase, epoch-ms times, UPPER_SNAKE enums. Request bodies are in
``assets_app.api.inputs``.

Asset fields of capabilities that do not exist yet are rendered with the value that is
true today, so that clients can rely on the full shape now:

- ``budget``: limits and usage (assets_app.usage.asset_budget), null when the asset
  is not vectorized.
- ``assetLink`` null: no source type links to a viewable original.
- ``type``: the source type in UPPER_SNAKE (``UPLOAD``, ``FOLDER``); API.md names the
  field without defining it, and ``config.sourceType`` keeps the descriptor key.
"""

from __future__ import annotations

from typing import Any, TypedDict

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api import epoch_ms
from operations_app.serializers import EpochMsField, OperationSerializer, UsdField

from .autoupdate.selectors import auto_update_of
from .budget_wire import BUDGET_SCHEMA, budget_wire
from .ingestion.switch import IndexSettings
from .models import (
    DocumentStatus,
    WebhookAuthMode,
    WebhookStatus,
)
from .sources.descriptors import SOURCE_TYPES, parameters_public


# -- output -----
class SourceConfig(TypedDict):
    sourceType: str
    parameters: dict[str, Any]  # secrets read back as "********"


class Embedding(TypedDict):
    provider: str
    model: str
    dimensions: int
    chunkSize: int  # tokens
    chunkOverlap: int  # tokens


def _embedding(settings: IndexSettings) -> Embedding:
    """API.md's ``embedding`` object of an asset's target or index settings."""
    return {
        "provider": settings.provider, "model": settings.model,
        "dimensions": settings.dimensions, "chunkSize": settings.chunk_size,
        "chunkOverlap": settings.chunk_overlap,
    }  # fmt: skip


_NULL = {"nullable": True, "description": "Always null today (not supported yet)."}


class AutoUpdateConfigSerializer(serializers.Serializer):
    """API.md ``autoUpdateConfig`` from an AssetAutoUpdate row: members a strategy
    or frequency does not use are null."""

    strategy = serializers.CharField()
    pollFrequency = serializers.CharField(source="poll_frequency", allow_null=True)
    pollDay = serializers.CharField(source="poll_day", allow_null=True)
    pollDayOfMonth = serializers.IntegerField(
        source="poll_day_of_month", allow_null=True
    )
    pollHour = serializers.IntegerField(source="poll_hour", allow_null=True)
    pollMinute = serializers.IntegerField(source="poll_minute", allow_null=True)
    timezone = serializers.CharField(allow_null=True)
    filter = serializers.CharField(allow_null=True)
    webhookAuthMode = serializers.CharField(
        source="webhook_auth_mode", allow_null=True
    )

    def to_representation(self, instance):
        return {k: (None if v == "" else v) for k, v in super().to_representation(
            instance).items()}  # fmt: skip


class AssetWebhookSerializer(serializers.Serializer):
    """API.md "AssetWebhook": ``webhookUrl`` and ``signingSecret`` are set only in
    the response that minted it (pass them as context ``url`` and ``secret``)."""

    id = serializers.UUIDField()
    provider = serializers.CharField()
    authMode = serializers.ChoiceField(
        source="auth_mode", choices=WebhookAuthMode.choices
    )
    status = serializers.ChoiceField(choices=WebhookStatus.choices)
    createdAt = EpochMsField(source="created_at")
    modifiedAt = EpochMsField(source="modified_at")
    webhookUrl = serializers.SerializerMethodField()
    signingSecret = serializers.SerializerMethodField()

    @extend_schema_field({"type": "string", "nullable": True})
    def get_webhookUrl(self, webhook) -> str | None:
        return self.context.get("url")

    @extend_schema_field({"type": "string", "nullable": True})
    def get_signingSecret(self, webhook) -> str | None:
        return self.context.get("secret")


class AssetSerializer(serializers.Serializer):
    """API.md "Asset". Expects ``n_documents``, ``n_chunks`` and ``last_operation`` on
    the instance (assets_app.selectors)."""

    id = serializers.UUIDField()
    displayName = serializers.CharField(source="display_name")
    type = serializers.SerializerMethodField()
    vectorized = serializers.BooleanField()
    config = serializers.SerializerMethodField()
    assetLink = serializers.SerializerMethodField()
    createdAt = EpochMsField(source="created_at")
    modifiedAt = EpochMsField(source="modified_at")
    autoUpdate = serializers.SerializerMethodField()
    autoUpdateConfig = serializers.SerializerMethodField()
    lastPolledAt = serializers.SerializerMethodField()
    supportsAutoUpdate = serializers.SerializerMethodField()
    supportsWebhookRegistration = serializers.SerializerMethodField()
    supportsPollSchedule = serializers.SerializerMethodField()
    embedding = serializers.SerializerMethodField()
    indexEmbedding = serializers.SerializerMethodField(
        help_text=(
            "What the asset's current chunks were built with, and what search embeds "
            "queries with. It differs from `embedding` (what the next run builds) "
            "while a REINDEX is pending or running, or after one was cancelled or "
            "failed; it becomes `embedding` when a re-index completes. Null when not "
            "vectorized."
        )
    )
    budget = serializers.SerializerMethodField()
    documentCount = serializers.IntegerField(source="n_documents")
    chunkCount = serializers.IntegerField(source="n_chunks")
    lastOperation = OperationSerializer(source="last_operation", allow_null=True)

    def get_type(self, asset) -> str:
        return asset.source_type.upper()

    def get_config(self, asset) -> SourceConfig:
        return {
            "sourceType": asset.source_type,
            "parameters": parameters_public(asset.source_type, asset.source_parameters),
        }

    @extend_schema_field({**_NULL, "type": "string"})
    def get_assetLink(self, asset) -> None:
        return None

    def get_autoUpdate(self, asset) -> bool:
        return auto_update_of(asset) is not None

    @extend_schema_field(AutoUpdateConfigSerializer(allow_null=True))
    def get_autoUpdateConfig(self, asset) -> dict | None:
        row = auto_update_of(asset)
        return None if row is None else AutoUpdateConfigSerializer(row).data

    @extend_schema_field(
        {"type": "integer", "format": "int64", "nullable": True,
         "description": "When the poll schedule last started a refresh (ms)."}
    )  # fmt: skip
    def get_lastPolledAt(self, asset) -> int | None:
        row = auto_update_of(asset)
        return None if row is None else epoch_ms(row.last_polled_at)

    def _capability(self, asset, name: str) -> bool:
        descriptor = SOURCE_TYPES.get(asset.source_type)
        return bool(descriptor and getattr(descriptor, name))

    def get_supportsAutoUpdate(self, asset) -> bool:
        return self._capability(asset, "auto_update")

    def get_supportsWebhookRegistration(self, asset) -> bool:
        return self._capability(asset, "webhook_registration")

    def get_supportsPollSchedule(self, asset) -> bool:
        return self._capability(asset, "poll_schedule")

    def get_embedding(self, asset) -> Embedding | None:
        return _embedding(IndexSettings.target(asset)) if asset.vectorized else None

    def get_indexEmbedding(self, asset) -> Embedding | None:
        return _embedding(IndexSettings.index(asset)) if asset.vectorized else None

    @extend_schema_field(BUDGET_SCHEMA)
    def get_budget(self, asset) -> dict | None:
        return budget_wire(asset)


class DocumentSerializer(serializers.Serializer):
    """API.md "Document". Empty ``sourceUrl``, ``contentHash`` (not completed) and
    ``errorMessage`` are null; ``fileSize`` in bytes; ``tokenCount`` in the asset's
    embedding tokens."""

    id = serializers.UUIDField()
    assetId = serializers.UUIDField(source="asset_id")
    fileName = serializers.CharField(source="file_name")
    contentType = serializers.CharField(source="content_type")
    sourceUrl = serializers.CharField(source="source_url", allow_null=True)
    fileSize = serializers.IntegerField(source="file_size")
    contentHash = serializers.CharField(source="content_hash", allow_null=True)
    chunkCount = serializers.IntegerField(source="chunk_count")
    tokenCount = serializers.IntegerField(source="token_count")
    status = serializers.ChoiceField(choices=DocumentStatus.choices)
    errorMessage = serializers.CharField(source="error_message", allow_null=True)
    createdAt = EpochMsField(source="created_at")
    modifiedAt = EpochMsField(source="modified_at")
    processedAt = EpochMsField(source="processed_at")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for name in ("sourceUrl", "contentHash", "errorMessage"):
            data[name] = data[name] or None
        return data


class ChunkSerializer(serializers.Serializer):
    """API.md "Chunk": offsets are characters of the parsed text (end exclusive),
    lines 1-based, ``headingPath`` the list of enclosing headings, ``pageNumber`` null
    outside PDFs, ``tokenCount`` in the asset's embedding tokens."""

    chunkId = serializers.UUIDField(source="id")
    chunkIndex = serializers.IntegerField(source="chunk_index")
    content = serializers.CharField()
    headingPath = serializers.ListField(
        source="heading_path", child=serializers.CharField()
    )
    pageNumber = serializers.IntegerField(source="page_number", allow_null=True)
    startCharIdx = serializers.IntegerField(source="start_char_idx")
    endCharIdx = serializers.IntegerField(source="end_char_idx")
    startLine = serializers.IntegerField(source="start_line")
    endLine = serializers.IntegerField(source="end_line")
    tokenCount = serializers.IntegerField(source="token_count")


class EmbeddingModelSerializer(serializers.Serializer):
    provider = serializers.CharField()
    model = serializers.CharField()
    dimensions = serializers.IntegerField()
    maxInputTokens = serializers.IntegerField(source="max_input_tokens")
    pricePerMillionTokens = UsdField(source="price_per_million_tokens")


def source_type_data(d) -> dict:
    """A source-type descriptor as API.md lists it for ``assets:sourceTypes``;
    ``createWith`` tells which request creates one (``assets:file`` or ``assets``)."""
    return {
        "key": d.key,
        "displayName": d.display_name,
        "parameters": [
            {
                "name": p.name,
                "type": p.type,
                "required": p.required,
                "secret": p.secret,
                "default": p.default,
                "options": list(p.options) if p.options else None,
                "help": p.help,
            }
            for p in d.parameters
        ],
        "capabilities": {
            "autoUpdate": d.auto_update,
            "webhookRegistration": d.webhook_registration,
            "pollSchedule": d.poll_schedule,
        },
        "createWith": "assets:file" if d.created_by_upload else "assets",
    }
