"""Invariants of operations: counters, stats, cost, and the chunks and tokens each
stored (operations_app.consistency lists them all)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Sum
from django.utils import timezone

from assets_app.models import Chunk, ModelPrice

from ..models import (
    TERMINAL_STATUSES,
    Operation,
    OperationDocumentFailure,
    OperationEvent,
    OperationStatus,
)
from ..selectors import operations_load_prices
from ..serializers import OperationSerializer
from .report import Report

COUNTERS = [
    "items_total", "items_processed", "token_count", "chunk_count", "documents_added",
    "documents_updated", "documents_deleted", "documents_unchanged", "documents_failed",
]  # fmt: skip


REPLACED_EVENTS = ("CHUNKS_REMOVED",)


EXACT_TOKENS_PROVIDERS = {"builtin"}


def _check_operations(report: Report, ops: list[Operation], stale_after: float):
    ids = [op.id for op in ops]
    stored = {
        row["operation_id"]: (row["n"], row["t"])
        for row in Chunk.objects.filter(operation_id__in=ids)
        .values("operation_id")
        .annotate(n=Count("id"), t=Sum("token_count"))
    }
    replaced = set(
        OperationEvent.objects.filter(
            operation_id__in=ids, kind__in=REPLACED_EVENTS
        ).values_list("operation_id", flat=True)
    )
    requeued = set(
        OperationEvent.objects.filter(
            operation_id__in=ids, kind__in=("WORKER_LOST", "WORKER_STOPPED")
        ).values_list("operation_id", flat=True)
    )
    failures = Counter(
        OperationDocumentFailure.objects.filter(operation_id__in=ids).values_list(
            "operation_id", flat=True
        )
    )
    last_writer = {}  # asset id → its most recently started operation
    for op in ops:
        if op.asset_id and op.started_at:
            best = last_writer.get(op.asset_id)
            if best is None or (op.started_at, op.created_at) > (
                best.started_at,
                best.created_at,
            ):
                last_writer[op.asset_id] = op
    cutoff = timezone.now() - timedelta(seconds=stale_after)
    for op in ops:
        subject = f"operation {op.id}"
        n, t = stored.get(op.id, (0, 0))
        negative = [c for c in COUNTERS if getattr(op, c) < 0]
        if negative:
            report.add(
                "counters-non-negative", subject, f"negative: {', '.join(negative)}"
            )
        if op.items_processed > op.items_total:
            report.add(
                "items-within-total",
                subject,
                f"itemsProcessed {op.items_processed} > itemsTotal {op.items_total}",
            )
        if (op.status in TERMINAL_STATUSES) != (op.completed_at is not None):
            report.add(
                "completed-at-iff-terminal",
                subject,
                f"status {op.status} with completedAt {op.completed_at}",
            )
        if op.status == OperationStatus.RUNNING and (
            op.heartbeat_at is None or op.heartbeat_at < cutoff
        ):
            report.add(
                "no-stale-running",
                subject,
                f"RUNNING, last heartbeat {op.heartbeat_at} (older than "
                f"{stale_after:g} s): its worker is lost and no reaper ran",
            )
        if n > op.chunk_count:
            report.add(
                "chunks-within-count",
                subject,
                f"{n} chunks stored with its id > chunkCount {op.chunk_count}",
            )
        if last_writer.get(op.asset_id) is op and op.done and op.id not in replaced:
            _check_exact(report, op, subject, n, t)
        # A requeued run recounts items as it revisits documents: exact once COMPLETED.
        if op.id not in requeued or op.status == OperationStatus.COMPLETED:
            _check_stats(report, op, subject)
        if failures[op.id] > op.documents_failed:
            report.add(
                "failures-recorded",
                subject,
                f"{failures[op.id]} failed documents listed > documentsFailed "
                f"{op.documents_failed}",
            )
    _check_costs(report, ops)


def _check_exact(report: Report, op: Operation, subject: str, n: int, t: int) -> None:
    if n != op.chunk_count:
        report.add(
            "chunks-equal-count",
            subject,
            f"last writer of asset {op.asset_id}: {n} chunks stored with its id "
            f"≠ chunkCount {op.chunk_count}",
        )
    if op.asset.embedding_provider in EXACT_TOKENS_PROVIDERS and t != op.token_count:
        report.add(
            "chunks-equal-count",
            subject,
            f"last writer of asset {op.asset_id}: {t} tokens in its stored "
            f"chunks ≠ tokenCount {op.token_count}",
        )


def _check_stats(report: Report, op: Operation, subject: str) -> None:
    stats = (op.documents_added + op.documents_updated + op.documents_deleted
             + op.documents_unchanged + op.documents_failed)  # fmt: skip
    if stats != op.items_processed:
        report.add(
            "stats-add-up",
            subject,
            f"itemsProcessed {op.items_processed} ≠ {stats}, the sum of stats",
        )
    if op.status == OperationStatus.COMPLETED and op.items_processed != op.items_total:
        report.add(
            "stats-add-up",
            subject,
            f"COMPLETED with itemsProcessed {op.items_processed} ≠ itemsTotal "
            f"{op.items_total}",
        )


def _check_costs(report: Report, ops: list[Operation]) -> None:
    operations_load_prices(ops)  # as the API's list pages do
    prices = {
        (p.provider, p.model): p.price_per_million_tokens
        for p in ModelPrice.objects.all()
    }
    for op in ops:
        model = op.asset or op  # a deleted asset's operation: the model it used
        price = prices.get((model.embedding_provider, model.embedding_model),
                           Decimal("0"))  # fmt: skip
        expected = float(round(Decimal(op.token_count) * price / 1_000_000, 10))
        shown = OperationSerializer(op).data["cost"]
        if shown != expected:
            report.add(
                "cost-is-tokens-times-price",
                f"operation {op.id}",
                f"cost {shown} ≠ tokenCount {op.token_count} × {price} USD/1M "
                f"= {expected}",
            )
