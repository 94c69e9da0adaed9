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

from django.db import connection, transaction

from assets_app.models import Asset, Tenant

from ..models import ACTIVE_STATUSES, Operation
from .operations import _check_operations
from .report import Report, Violation, _scope
from .storage import _check_chunks, _check_documents

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

__all__ = ["INVARIANTS", "Report", "Violation", "consistency_check"]


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
