"""The long-running operation (LongOperation of API.md), its append-only events, and
the idempotency records of the API's POSTs that start operations."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class OperationType(models.TextChoices):
    INGEST = "INGEST"
    REFRESH = "REFRESH"
    WEBHOOK_UPDATE = "WEBHOOK_UPDATE"
    SCHEDULED_REFRESH = "SCHEDULED_REFRESH"
    REINDEX = "REINDEX"


class OperationStatus(models.TextChoices):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL_STATUSES = frozenset(
    {OperationStatus.COMPLETED, OperationStatus.FAILED, OperationStatus.CANCELLED}
)
ACTIVE_STATUSES = frozenset({OperationStatus.PENDING, OperationStatus.RUNNING})


class Operation(models.Model):
    """Status and counters are written only by ``operations_app.services``.

    ``item_*`` count documents; ``token_count`` is billed embedding tokens;
    ``chunk_count`` is chunks this operation stored. Cost is not stored: it is
    ``token_count`` × the asset's current price (API.md, LongOperation.cost)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("assets_app.Tenant", on_delete=models.CASCADE, related_name="+")
    asset = models.ForeignKey(
        "assets_app.Asset", null=True, on_delete=models.SET_NULL, related_name="operations"
    )
    asset_name = models.CharField(max_length=200, help_text="kept when the asset is deleted")
    # The asset's embedding model when the operation was created (or joined): prices
    # its cost once the asset is deleted.
    embedding_provider = models.CharField(max_length=50, blank=True)
    embedding_model = models.CharField(max_length=100, blank=True)
    type = models.CharField(max_length=20, choices=OperationType.choices)
    status = models.CharField(
        max_length=10, choices=OperationStatus.choices, default=OperationStatus.PENDING
    )
    cancel_requested = models.BooleanField(default=False)
    document_ids = models.JSONField(null=True, blank=True, help_text="limit to these")
    force = models.BooleanField(default=False)
    items_total = models.PositiveIntegerField(default=0)
    items_processed = models.PositiveIntegerField(default=0)
    token_count = models.PositiveBigIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    documents_added = models.PositiveIntegerField(default=0)
    documents_updated = models.PositiveIntegerField(default=0)
    documents_deleted = models.PositiveIntegerField(default=0)
    documents_unchanged = models.PositiveIntegerField(default=0)
    documents_failed = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="last sent to the broker (the reaper resends lost ones)"
    )
    attempt = models.PositiveIntegerField(
        default=0, help_text="how many times a worker claimed it; fences a lost worker"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The lists' order, id included: a page is one index range scan from the
            # cursor, with no sort of the rows sharing a created_at (bench/api.py).
            models.Index(
                fields=["tenant", "-created_at", "-id"], name="op_tenant_created_id_idx"
            ),
            models.Index(
                fields=["asset", "-created_at", "-id"], name="op_asset_created_id_idx"
            ),
            models.Index(fields=["status"], name="op_status_idx"),
        ]
        constraints = [
            # At most one RUNNING operation per asset, enforced by the database.
            models.UniqueConstraint(
                fields=["asset"],
                condition=models.Q(status="RUNNING"),
                name="one_running_operation_per_asset",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.asset_name} ({self.status})"

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def cost(self) -> Decimal:
        """USD: billed tokens × the current price per million tokens of the asset's
        model — of the model the operation was created with once the asset is
        deleted (``embedding_provider``/``embedding_model``; 0 when unpriced)."""
        from assets_app.selectors import asset_price_per_million, model_price_get

        if self.asset is not None:
            return operation_cost(self.token_count, asset_price_per_million(self.asset))
        price = getattr(self, "_price_cache", None)
        if price is None:
            found = model_price_get(
                provider=self.embedding_provider, model=self.embedding_model
            )
            price = found.price_per_million_tokens if found else Decimal("0")
            self._price_cache = price
        return operation_cost(self.token_count, price)


def operation_cost(token_count: int, price_per_million: Decimal | None) -> Decimal:
    """USD of ``token_count`` billed tokens at ``price_per_million`` USD per 1,000,000
    tokens (None: unpriced model or deleted asset → 0). API.md, LongOperation.cost."""
    if price_per_million is None:
        return Decimal("0")
    return (Decimal(token_count) * price_per_million) / 1_000_000


class OperationEvent(models.Model):
    """Append-only history: each transition and notable event, with time and actor."""

    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=40)
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10, blank=True)
    actor = models.CharField(max_length=150)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.from_status}→{self.to_status}"


class IdempotencyRecord(models.Model):
    """The first successful response to an API POST sent with an ``Idempotency-Key``
    (config.idempotency): replayed to the same user in the same tenant for 24 hours
    when the key comes again with the same request (``request_hash``: SHA-256 of
    method, path and body); the key with another request is a 422. Stored here, next
    to the operations those POSTs start; expired rows are pruned as new ones come."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    tenant = models.ForeignKey(
        "assets_app.Tenant", on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "tenant", "key"], name="unique_idempotency_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.response_status})"


class OperationDocumentFailure(models.Model):
    """A document that an operation could not read, parse or embed, with the reason
    (issue 4: "the dashboard and the API list the failed documents of an operation").
    Written by ``operations_app.failures.operation_record_document_failures`` in the
    batch transaction that marks the document FAILED and counts it in
    ``documents_failed``. The document's own row keeps only its latest error; this
    keeps which operation failed it. Goes with the document when it is deleted."""

    operation = models.ForeignKey(
        Operation, on_delete=models.CASCADE, related_name="document_failures"
    )
    document = models.ForeignKey(
        "assets_app.Document", on_delete=models.CASCADE, related_name="+"
    )
    error_message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # A resumed run may fail the same document again: one row, latest reason.
            models.UniqueConstraint(
                fields=["operation", "document"], name="unique_document_failure"
            )
        ]

    def __str__(self) -> str:
        return f"{self.document_id} failed in {self.operation_id}"



# Outbound notifications (issue 5) live in their own module, registered here.
from .notifications.models import (  # noqa: E402, F401
    DeliveryStatus,
    NotificationAttempt,
    NotificationDelivery,
    NotificationEndpoint,
)
