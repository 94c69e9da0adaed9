"""Wire shapes of operations (API.md "LongOperation"): camelCase, epoch-ms times,
UPPER_SNAKE enums, USD as a JSON number from Decimal."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api import RejectUnknownFieldsMixin, epoch_ms
from operations_app.models import OperationStatus, OperationType


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

    def to_representation(self, op):
        """The declared fields above, built directly: DRF's per-field machinery cost
        ~0.25 ms an operation, half of a 50-row list page (bench/api.py). The declared
        fields still describe the schema; tests/operations_app/test_api.py checks
        every field's value and type."""
        return {
            "id": str(op.id),
            "assetId": str(op.asset_id) if op.asset_id else None,
            "tenantId": str(op.tenant_id),
            "type": op.type,
            "status": op.status,
            "done": op.done,
            "startedAt": epoch_ms(op.started_at),
            "completedAt": epoch_ms(op.completed_at),
            "createdAt": epoch_ms(op.created_at),
            "itemsProcessed": op.items_processed,
            "itemsTotal": op.items_total,
            "tokenCount": op.token_count,
            "chunkCount": op.chunk_count,
            "cost": float(round(op.cost, 10)),
            "errorMessage": op.error_message or None,
            "createdBy": op.created_by,
            "cancelRequested": op.cancel_requested,
            "stats": {
                "documentsAdded": op.documents_added,
                "documentsUpdated": op.documents_updated,
                "documentsDeleted": op.documents_deleted,
                "documentsUnchanged": op.documents_unchanged,
                "documentsFailed": op.documents_failed,
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
