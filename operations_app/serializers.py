"""Wire shapes of operations (API.md "LongOperation"): camelCase, epoch-ms times,
UPPER_SNAKE enums, USD as a JSON number from Decimal."""

from collections.abc import Mapping

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api import RejectUnknownFieldsMixin, epoch_ms
from operations_app.models import (
    TERMINAL_STATUSES,
    OperationStatus,
    OperationType,
    operation_cost,
)


@extend_schema_field(
    {
        "type": "integer",
        "format": "int64",
        "nullable": True,
        "description": "Milliseconds since the Unix epoch (UTC); null if not reached.",
    }
)
class EpochMsField(serializers.Field):
    """A datetime as milliseconds since the Unix epoch (UTC); null when unset."""

    def to_representation(self, value):
        return epoch_ms(value)


class UsdField(serializers.DecimalField):
    """USD as a JSON number with up to 10 decimal places, computed from Decimal."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=30, decimal_places=10, coerce_to_string=False, **kwargs)

    def to_representation(self, value):
        return float(round(value, 10))


class OperationStatsSerializer(serializers.Serializer):
    documentsAdded = serializers.IntegerField(source="documents_added")
    documentsUpdated = serializers.IntegerField(source="documents_updated")
    documentsDeleted = serializers.IntegerField(source="documents_deleted")
    documentsUnchanged = serializers.IntegerField(source="documents_unchanged")
    documentsFailed = serializers.IntegerField(source="documents_failed")


class OperationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    assetId = serializers.UUIDField(source="asset_id", allow_null=True)
    tenantId = serializers.UUIDField(source="tenant_id")
    type = serializers.ChoiceField(choices=OperationType.choices)
    status = serializers.ChoiceField(choices=OperationStatus.choices)
    done = serializers.BooleanField()
    startedAt = EpochMsField(source="started_at")
    completedAt = EpochMsField(source="completed_at")
    createdAt = EpochMsField(source="created_at")
    itemsProcessed = serializers.IntegerField(source="items_processed")
    itemsTotal = serializers.IntegerField(source="items_total")
    tokenCount = serializers.IntegerField(source="token_count")
    chunkCount = serializers.IntegerField(source="chunk_count")
    cost = UsdField()
    errorMessage = serializers.CharField(source="error_message", allow_null=True)
    createdBy = serializers.CharField(source="created_by")
    cancelRequested = serializers.BooleanField(source="cancel_requested")
    stats = OperationStatsSerializer(source="*")

    # The Operation fields to_representation reads; ``selectors.operation_rows``
    # fetches just these for a page.
    COLUMNS = (
        "id", "asset_id", "tenant_id", "type", "status", "started_at", "completed_at",
        "created_at", "items_processed", "items_total", "token_count", "chunk_count",
        "error_message", "created_by", "cancel_requested", "documents_added",
        "documents_updated", "documents_deleted", "documents_unchanged",
        "documents_failed",
    )  # fmt: skip

    def to_representation(self, op):
        """``op``: an Operation, or a row of ``selectors.operation_rows`` (a dict of
        ``COLUMNS`` and ``price``). The declared fields above, built directly: DRF's
        per-field machinery cost ~0.25 ms an operation, half of a 50-row list page
        (bench/api.py). The declared fields still describe the schema;
        tests/operations_app/test_api.py checks every field's value and type."""
        if isinstance(op, Mapping):
            row, cost = op, operation_cost(op["token_count"], op["price"])
        else:
            row, cost = {name: getattr(op, name) for name in self.COLUMNS}, op.cost
        return {
            "id": str(row["id"]),
            "assetId": str(row["asset_id"]) if row["asset_id"] else None,
            "tenantId": str(row["tenant_id"]),
            "type": row["type"],
            "status": row["status"],
            "done": row["status"] in TERMINAL_STATUSES,
            "startedAt": epoch_ms(row["started_at"]),
            "completedAt": epoch_ms(row["completed_at"]),
            "createdAt": epoch_ms(row["created_at"]),
            "itemsProcessed": row["items_processed"],
            "itemsTotal": row["items_total"],
            "tokenCount": row["token_count"],
            "chunkCount": row["chunk_count"],
            "cost": float(round(cost, 10)),
            "errorMessage": row["error_message"] or None,
            "createdBy": row["created_by"],
            "cancelRequested": row["cancel_requested"],
            "stats": {
                "documentsAdded": row["documents_added"],
                "documentsUpdated": row["documents_updated"],
                "documentsDeleted": row["documents_deleted"],
                "documentsUnchanged": row["documents_unchanged"],
                "documentsFailed": row["documents_failed"],
            },
        }


class CancelRequestSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """The body of ``:cancel``: nothing (an empty object or no body at all)."""


class FailedDocumentSerializer(serializers.Serializer):
    """A document an operation failed (``…/operations/{operation}/failedDocuments``):
    the reason it failed in *that* operation, when, and the document's status now
    (a later operation may have completed it)."""

    documentId = serializers.UUIDField(source="document_id")
    fileName = serializers.CharField(source="document.file_name")
    sourceUrl = serializers.CharField(source="document.source_url", allow_null=True)
    errorMessage = serializers.CharField(source="error_message")
    failedAt = EpochMsField(source="created_at")
    documentStatus = serializers.ChoiceField(
        source="document.status", choices=["PENDING", "PROCESSING", "COMPLETED", "FAILED"]
    )

    def to_representation(self, failure):
        data = super().to_representation(failure)
        data["sourceUrl"] = data["sourceUrl"] or None
        return data


class RetryFailedRequestSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """The body of ``:retryFailedDocuments``: nothing (an empty object or no body)."""
