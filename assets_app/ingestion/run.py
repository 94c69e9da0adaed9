"""Run one long-running operation: list the source, diff by content hash, and for each
new or changed document parse → chunk → embed in batches → store. A batch (batch.py)
holds the chunks of as many documents as fit, so that small documents cost a share
of a batch's few statements rather than a dozen of their own.

Invariants:
- A batch of chunks, the documents it creates and completes, and the operation's
  counter increments (chunks, tokens, items, added/updated/unchanged/failed) commit in
  one transaction (``operation_add_progress`` refuses once cancellation is requested,
  rolling the batch back), so counters equal what is stored and nothing is stored
  after the worker observed a cancel. ``operation_add_progress`` comes first in each
  such transaction: it takes the locks in the order asset → operation that
  ``asset_delete`` uses, before any document or chunk row, so deleting a running asset
  cannot deadlock with a batch.
- Cancellation is checked before each batch and at least every
  ``RAGDESK_CANCEL_CHECK_SECONDS`` while parsing and chunking, which run on a helper
  thread so that a slow step (the tokenizer's first load, a multi-megabyte section)
  cannot hold a cancel back. Batches are bounded in time as well as in size: a cancel
  waits for the batch in flight, so a batch is sized to embed and store in about
  ``RAGDESK_EMBED_BATCH_SECONDS`` at the speed last measured (at most
  ``RAGDESK_EMBED_BATCH_SIZE`` chunks). Together they keep Cancel → CANCELLED within
  2 s (API.md "Cancel semantics"; tests/operations_app/test_tasks.py).
- Unchanged documents (same content hash, COMPLETED, no ``force``) bill nothing; they
  are counted with the next batch, or on their own once the count is
  ``RAGDESK_CANCEL_CHECK_SECONDS`` old, so progress stays live.
- A document's new chunks are written as version ``v + 1``. It completes (older
  versions deleted, status, ``content_hash``, counts, ``processed_at``) in the
  transaction of its last chunks; ``content_hash`` is set only then, so an
  interrupted document is redone by the next refresh. A new document's row is made
  in the transaction of its first chunks (or of its failure), so one whose chunks
  never reach the database leaves no row behind. A document stopped part-way with
  chunks stored becomes PENDING at version ``v + 1``, older versions deleted.
- A document that cannot be read, parsed or embedded is FAILED with its reason; the
  operation goes on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from assets_app.embedding import EmbeddingError, get_embedder
from assets_app.models import Asset, Chunk, Document, DocumentStatus
from assets_app.sources import SourceError, SourceItem, list_items
from operations_app.models import OperationStatus
from operations_app.services import (
    OperationInterrupted,
    Progress,
    operation_add_progress,
    operation_finish,
    operation_heartbeat,
    operation_set_total,
    operation_should_stop,
    operation_start,
)

from .batch import Batch, DocumentWork
from .chunking import ChunkPiece, DocumentChunker
from .parsing import MARKDOWN_TYPES, ParseError, parse

logger = logging.getLogger("ragdesk.ingestion")
HEARTBEAT_SECONDS = 5
VANISHED_PER_TRANSACTION = 100  # documents: bounds the wait of a cancel
_helper: tuple[int, ThreadPoolExecutor] | None = None


def _helper_thread() -> ThreadPoolExecutor:
    """This process's one helper thread, made on first use: django-q2 forks its
    workers, and a forked child has none of its parent's threads."""
    global _helper
    if _helper is None or _helper[0] != os.getpid():
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragdesk-parse")
        _helper = (os.getpid(), pool)
    return _helper[1]


def _split(chunker: DocumentChunker, section) -> list[ChunkPiece]:
    return list(chunker.split(section.text, section.page_number))


class _Run:
    def __init__(self, op, asset: Asset):
        self.op = op
        self.asset = asset
        self.check_every = settings.RAGDESK_CANCEL_CHECK_SECONDS
        self.last_check = self.last_heartbeat = time.monotonic()
        self.batch = Batch(
            operation_id=op.id,
            asset_id=asset.id,
            embedder=get_embedder(
                provider=asset.embedding_provider,
                model=asset.embedding_model,
                dimensions=asset.embedding_dimensions,
            ),
            check=lambda: self.check(force=True),
            progress_every=self.check_every,
        )

    # -- cancellation -------------------------------------------------------------
    def check(self, *, force: bool = False) -> None:
        """Raise OperationInterrupted when the operation must stop; write a heartbeat
        at least every HEARTBEAT_SECONDS (the reaper requeues silent operations)."""
        now = time.monotonic()
        if force or now - self.last_check >= self.check_every:
            self.last_check = now
            if operation_should_stop(operation_id=self.op.id):
                raise OperationInterrupted(str(self.op.id))
            if now - self.last_heartbeat >= HEARTBEAT_SECONDS:
                self.last_heartbeat = now
                operation_heartbeat(operation_id=self.op.id)

    def off_thread(self, fn, *args):
        """``fn(*args)`` on the helper thread, checking for cancellation every
        ``check_every`` s while it runs. Only for work without database access
        (parsing, chunking). When interrupted, the call ends in the background and its
        result is dropped."""
        global _helper
        future = _helper_thread().submit(fn, *args)
        while True:
            try:
                return future.result(timeout=self.check_every)
            except TimeoutError:
                try:
                    self.check(force=True)
                    self.batch.flush_counts_if_stale()
                except BaseException:
                    if not future.done():
                        # Leave the busy thread to finish alone; the next operation of
                        # this worker gets a fresh one instead of queueing behind it.
                        _helper = None
                    raise

    # -- the run ------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except Exception:
            try:
                self.batch.interrupt()
            except Exception:
                logger.exception("operation %s: interrupted documents", self.op.id)
            raise

    def _run(self) -> None:
        items = list(list_items(self.asset, force=self.op.force, check=self.check))
        documents = {d.source_key: d for d in Document.objects.filter(asset=self.asset)}
        if self.op.document_ids is not None:
            wanted = {str(i) for i in self.op.document_ids}
            items = [
                i
                for i in items
                if i.key in documents and str(documents[i.key].id) in wanted
            ]
            vanished = []
        else:
            listed = {i.key for i in items}
            vanished = [d.pk for k, d in documents.items() if k not in listed]
        operation_set_total(
            operation_id=self.op.id, items_total=len(items) + len(vanished)
        )
        for start in range(0, len(vanished), VANISHED_PER_TRANSACTION):
            self.check(force=True)
            ids = vanished[start : start + VANISHED_PER_TRANSACTION]
            with transaction.atomic():
                operation_add_progress(
                    operation_id=self.op.id,
                    progress=Progress(items=len(ids), deleted=len(ids)),
                )
                Document.objects.filter(pk__in=ids).delete()
        for item in items:
            self.check()
            self.process(item, documents.get(item.key))
        self.batch.flush()

    def process(self, item: SourceItem, document: Document | None) -> None:
        if item.not_modified and self._unchanged(document) and document.content_hash:
            self.batch.count_unchanged()  # the source said so without sending bytes
            return
        try:
            data = item.read()
        except OSError as exc:
            # Its stored chunks stay as they are: same version, no new ones.
            work = self.work(item, document, size=item.size, content_hash="", step=0)
            self.batch.end(work, error=f"Cannot read the source item: {exc}")
            return
        content_hash = hashlib.sha256(data).hexdigest()
        if self._unchanged(document) and document.content_hash == content_hash:
            self.batch.count_unchanged()
            return
        work = self.work(
            item, document, size=len(data), content_hash=content_hash, step=1
        )
        work.validators = item.validators
        try:
            self.chunk(work, data, item.content_type)
        except ParseError as exc:
            self.batch.end(work, error=str(exc))
            return
        self.batch.end(work)

    def _unchanged(self, document: Document | None) -> bool:
        """Whether ``document`` may stay as stored if its source is unchanged."""
        return (
            document is not None
            and not self.op.force
            and document.status == DocumentStatus.COMPLETED
        )

    def work(
        self,
        item: SourceItem,
        document: Document | None,
        *,
        size: int,
        content_hash: str,
        step: int,
    ) -> DocumentWork:
        """The work on ``item``, whose row is ``document`` (None: a new document, whose
        row is made unsaved); its chunks are written as the row's version + ``step``
        (``size`` in bytes)."""
        is_new = document is None
        if document is None:
            document = Document(
                asset_id=self.asset.id, source_key=item.key, file_name=item.file_name,
                source_url=item.source_url,
            )  # fmt: skip
        document.content_type = item.content_type
        version = document.version + step
        if step and not is_new:
            # A worker killed mid-document (SIGKILL, OOM) leaves chunks of a version
            # above the row's; write above them so the unique position never collides.
            stored = Chunk.objects.filter(document=document).aggregate(v=Max("document_version"))
            version = max(version, (stored["v"] or 0) + 1)
        return DocumentWork(
            document=document,
            is_new=is_new,
            version=version,
            content_hash=content_hash,
            file_size=size,
            saved=not is_new,
            chunks=0 if step else document.chunk_count,
            tokens=0 if step else document.token_count,
            previous=(
                (document.version, document.chunk_count, document.token_count)
                if step and not is_new and document.status == DocumentStatus.COMPLETED
                else None
            ),
        )

    def chunk(self, work: DocumentWork, data: bytes, content_type: str) -> None:
        """Parse and split ``data`` into the batch. Raises ParseError."""
        chunker = DocumentChunker(
            chunk_size=self.asset.chunk_size,
            chunk_overlap=self.asset.chunk_overlap,
            markdown=content_type in MARKDOWN_TYPES,
        )
        sections = parse(data, content_type)
        while (section := self.off_thread(next, sections, None)) is not None:
            self.check()
            for piece in self.off_thread(_split, chunker, section):
                self.batch.add(work, piece)
                if work.ended:  # the provider refused its chunks
                    return


def ingestion_run(*, operation_id) -> str:
    """Run the operation ``operation_id`` to a terminal status; returns that status, or
    ``"SKIPPED"`` when it was not PENDING (redelivery, cancelled, or another operation
    of its asset runs — then it is enqueued again when that one ends)."""
    op = operation_start(operation_id=operation_id)
    if op is None:
        return "SKIPPED"
    asset = Asset.objects.filter(pk=op.asset_id).first()
    if asset is None:
        return operation_finish(
            operation_id=op.id,
            status=OperationStatus.FAILED,
            error_message="asset deleted",
        ).status
    try:
        _Run(op, asset).run()
    except OperationInterrupted:
        op.refresh_from_db(fields=["status", "cancel_requested"])
        if op.status == OperationStatus.RUNNING:  # cancel requested and observed
            return operation_finish(
                operation_id=op.id, status=OperationStatus.CANCELLED
            ).status
        return op.status  # ended elsewhere (asset deleted)
    except (SourceError, EmbeddingError) as exc:
        return operation_finish(
            operation_id=op.id, status=OperationStatus.FAILED, error_message=str(exc)
        ).status
    except Exception as exc:
        logger.exception("operation %s failed", operation_id)
        return operation_finish(
            operation_id=op.id,
            status=OperationStatus.FAILED,
            error_message=f"Internal error: {type(exc).__name__}: {exc}",
        ).status
    return operation_finish(operation_id=op.id, status=OperationStatus.COMPLETED).status
