"""Exactly-once accounting, checked against what is stored (issue 4: "For every
operation: chunkCount and tokenCount equal what it stored; cost equals tokenCount ×
the price used. For every asset: its totals equal the sum over its stored chunks").
A read-only selector; ``manage.py check_consistency`` renders its report.

Chunks carry the operation that stored them (``Chunk.operation``), but later work
deletes chunks an earlier operation stored: a refresh replacing a changed or vanished
document, a re-index, a document deleted by a user. So some invariants are exact only
for the operation that wrote last. Each invariant, with its source:

Operations
- ``counters-non-negative``: every counter ≥ 0 (PositiveIntegerField; the database's
  CHECK constraints, checked again in case one was dropped).
- ``items-within-total``: ``itemsProcessed ≤ itemsTotal`` (API.md: both count
  documents; the run sets the total before it processes any).
- ``completed-at-iff-terminal``: ``completedAt`` is set exactly when the status is
  terminal (API.md "LongOperation"; ``operation_finish`` sets it).
- ``no-stale-running``: no RUNNING operation's heartbeat is older than
  ``RAGDESK_STALE_AFTER_SECONDS`` (architecture.md "Lost workers": the reaper
  requeues such an operation within a minute; one left means no reaper runs).
- ``chunks-within-count``: chunks still stored with an operation's id ≤ its
  ``chunkCount`` (run.py: chunks and counters commit in one transaction; later work
  only deletes).
- ``chunks-equal-count``: for the *last writer* of an asset — its most recently
  started operation, terminal — stored chunks = ``chunkCount`` and, with the builtin
  provider (it bills the cl100k tokens of the texts it embeds), their tokens =
  ``tokenCount``. Also for an operation resumed after a lost or stopped worker (the
  resumed run skips what it ended and continues a document after its last stored
  chunk, architecture.md "Faults"). Not checked for an operation whose chunks went
  with a deleted document (``CHUNKS_REMOVED``).
- ``stats-add-up``: ``itemsProcessed`` = added + updated + deleted + unchanged + failed
  (batch.py counts each document once, in one of them); and a COMPLETED operation
  processed all of ``itemsTotal`` (a requeued one restarts ``itemsProcessed`` at its
  deleted documents and recounts the rest, recovery.py).
- ``failures-recorded``: failure rows (``failedDocuments``) ≤ ``documentsFailed``
  (batch.py records both in one transaction; rows go with deleted documents).
- ``cost-is-tokens-times-price``: the API's ``cost`` = ``tokenCount`` × the asset
  model's price per 1M tokens (API.md "LongOperation.cost"); once the asset is
  deleted, the price of the model the operation was created with.

Documents, chunks and assets (only of assets with no PENDING or RUNNING operation:
a run updates a document's counts before it switches its version)
- ``document-counts``: a document's ``chunkCount``/``tokenCount`` = count/sum of its
  current chunks (``assets_app.selectors.current_chunks``: version = the document's).
- ``asset-totals``: the asset's documents/chunks/tokens as the API and dashboard
  compute them (``asset_totals``, ``assets_with_details``) = the sums over its
  documents' counts.
- ``chunk-position-unique``: no two chunks share (document, version, chunk index)
  (the unique index ``unique_chunk_position``).
- ``chunk-asset-matches-document``: a chunk's asset is its document's asset.
- ``current-chunks-in-index``: every current chunk has the dimensions of its asset's
  index (``Asset.index_dimensions``, assets_app/ingestion/switch.py: a re-index
  switches the whole asset, so search embeds the query with one model for all of
  its current chunks).
- ``staged-generation``: a document's staged generation (a staged run's, waiting
  for its switch) is the one its ``building_key`` describes (``staged_version =
  building_version``) and not its current one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from assets_app.models import Asset, Chunk, Document, ModelPrice, Tenant
from assets_app.selectors import asset_totals, assets_with_details, current_chunks

from .models import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Operation,
    OperationDocumentFailure,
    OperationEvent,
    OperationStatus,
)
from .selectors import operations_load_prices
from .serializers import OperationSerializer

INVARIANTS = {
    "counters-non-negative": "operation counters are ≥ 0",
    "items-within-total": "itemsProcessed ≤ itemsTotal",
    "completed-at-iff-terminal": "completedAt is set exactly when terminal",
    "no-stale-running": "no RUNNING operation without a recent heartbeat",
    "chunks-within-count": "chunks stored with an operation's id ≤ its chunkCount",
    "chunks-equal-count": "the last writer's stored chunks/tokens = its counters",
    "stats-add-up": "itemsProcessed = the sum of the stats; COMPLETED did them all",
    "failures-recorded": "failed-document rows ≤ documentsFailed",
    "cost-is-tokens-times-price": "cost = tokenCount × price per 1M tokens",
    "document-counts": "a document's counts = its current chunks",
    "asset-totals": "an asset's totals = the sums over its documents",
    "chunk-position-unique": "no duplicate (document, version, chunk index)",
    "chunk-asset-matches-document": "a chunk's asset is its document's asset",
    "current-chunks-in-index": "current chunks have their asset's index dimensions",
    "staged-generation": "a staged generation is the one being built, not current",
}
COUNTERS = [
    "items_total", "items_processed", "token_count", "chunk_count", "documents_added",
    "documents_updated", "documents_deleted", "documents_unchanged", "documents_failed",
]  # fmt: skip
REPLACED_EVENTS = ("CHUNKS_REMOVED",)
EXACT_TOKENS_PROVIDERS = {"builtin"}


@dataclass(frozen=True)
class Violation:
    invariant: str  # a key of INVARIANTS
    subject: str  # "operation <uuid>", "document <uuid>", "asset <uuid>", "chunk …"
    detail: str


@dataclass
class Report:
    checked: dict[str, int] = field(default_factory=dict)  # rows read, by kind
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def add(self, invariant: str, subject: str, detail: str) -> None:
        self.violations.append(Violation(invariant, subject, detail))

    def as_dict(self) -> dict:
        return {"ok": self.ok, "checked": self.checked,
                "violations": [asdict(v) for v in self.violations]}  # fmt: skip


def consistency_check(
    *, stale_after_seconds: float, tenant: Tenant | None = None
) -> Report:
    """Check every invariant of the module docstring over the whole database, or one
    ``tenant``; ``stale_after_seconds`` is the heartbeat age (s) past which a RUNNING
    operation is lost. Returns a Report (``ok`` when no violation). Reads one
    snapshot (a read-only REPEATABLE READ transaction) when called outside a
    transaction, so that workers writing meanwhile cannot make it see half a batch."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:  # the first statement of the transaction
            with connection.cursor() as cursor:
                cursor.execute(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
                )
        report = Report()
        ops = list(
            Operation.objects.filter(**_scope(tenant, "")).select_related("asset")
        )
        report.checked["operations"] = len(ops)
        _check_operations(report, ops, stale_after_seconds)
        busy = {op.asset_id for op in ops if op.status in ACTIVE_STATUSES}
        assets = [
            a for a in Asset.objects.filter(**_scope(tenant, "")) if a.id not in busy
        ]
        report.checked["assets"] = len(assets)
        _check_documents(report, assets)
        _check_chunks(report, tenant)
    return report


def _scope(tenant: Tenant | None, prefix: str) -> dict:
    return {} if tenant is None else {f"{prefix}tenant": tenant}


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


def _check_documents(report: Report, assets: list[Asset]) -> None:
    asset_ids = [a.id for a in assets]
    current = {
        row["document_id"]: (row["n"], row["t"])
        for row in current_chunks()
        .filter(asset_id__in=asset_ids)
        .values("document_id")
        .annotate(n=Count("id"), t=Sum("token_count"))
    }
    sums: dict = {}
    documents = Document.objects.filter(asset_id__in=asset_ids).values_list(
        "id", "asset_id", "chunk_count", "token_count"
    )
    report.checked["documents"] = 0
    for doc_id, asset_id, chunk_count, token_count in documents.iterator():
        report.checked["documents"] += 1
        n, t = current.get(doc_id, (0, 0))
        if (n, t) != (chunk_count, token_count):
            report.add(
                "document-counts",
                f"document {doc_id}",
                f"chunkCount/tokenCount {chunk_count}/{token_count} ≠ "
                f"{n}/{t} in its current chunks",
            )
        s = sums.setdefault(asset_id, [0, 0, 0])
        s[0], s[1], s[2] = s[0] + 1, s[1] + chunk_count, s[2] + token_count
    _check_index(report, assets)
    listed = {a.id: a.n_chunks for a in assets_with_details(list(assets))}
    for asset in assets:
        docs, chunks, tokens = sums.get(asset.id, (0, 0, 0))
        totals = asset_totals(asset=asset)
        shown = (
            totals["documents"],
            totals["chunks"],
            totals["tokens"],
            listed[asset.id],
        )
        if shown != (docs, chunks, tokens, chunks):
            report.add(
                "asset-totals",
                f"asset {asset.id}",
                f"documents/chunks/tokens {shown[:3]} (list: {shown[3]} chunks) ≠ "
                f"{(docs, chunks, tokens)} summed over its documents",
            )


def _check_index(report: Report, assets: list[Asset]) -> None:
    by_id = {a.id: a for a in assets}
    rows = (
        current_chunks()
        .filter(asset_id__in=by_id)
        .values("asset_id", "embedding_dimensions")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        asset = by_id[row["asset_id"]]
        if row["embedding_dimensions"] != asset.index_dimensions:
            report.add(
                "current-chunks-in-index",
                f"asset {asset.id}",
                f"{row['n']} current chunks of {row['embedding_dimensions']} "
                f"dimensions; its index has {asset.index_dimensions}",
            )
    staged = Document.objects.filter(asset_id__in=by_id, staged_version__gt=0).filter(
        ~Q(building_version=F("staged_version")) | Q(version=F("staged_version"))
    )
    for doc_id, version, staged_version, building in staged.values_list(
        "id", "version", "staged_version", "building_version"
    ):
        report.add(
            "staged-generation",
            f"document {doc_id}",
            f"staged version {staged_version}, building {building}, current {version}",
        )


def _check_chunks(report: Report, tenant: Tenant | None) -> None:
    chunks = Chunk.objects.filter(**_scope(tenant, "asset__"))
    report.checked["chunks"] = chunks.count()
    duplicates = (
        chunks.values("document_id", "document_version", "chunk_index")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by()
    )
    for row in duplicates:
        report.add(
            "chunk-position-unique",
            f"document {row['document_id']}",
            f"{row['n']} chunks at version {row['document_version']} index "
            f"{row['chunk_index']}",
        )
    for chunk_id, asset_id, doc_asset_id in chunks.filter(
        ~Q(asset_id=F("document__asset_id"))
    ).values_list("id", "asset_id", "document__asset_id"):
        report.add(
            "chunk-asset-matches-document",
            f"chunk {chunk_id}",
            f"asset {asset_id} ≠ its document's asset {doc_asset_id}",
        )
