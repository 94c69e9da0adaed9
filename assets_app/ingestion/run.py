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
- In a staged run (a REINDEX, or settings other than the index's; switch.py) a
  document's end records its new generation instead of switching to it, and the
  whole asset switches in the transaction of the COMPLETED finish (task.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connections, transaction

from assets_app.embedding import get_embedder
from assets_app.models import Asset, Document, DocumentStatus
from assets_app.sources import SourceItem, list_items
from operations_app.models import OperationType
from operations_app.services import OperationInterrupted
from operations_app.worker import (
    Progress,
    operation_add_progress,
    operation_heartbeat,
    operation_set_total,
    operation_should_stop,
)

from .batch import Batch, DocumentWork
from .chunking import ChunkPiece, DocumentChunker
from .documents import document_work
from .parsing import MARKDOWN_TYPES, ParseError, parse
from .plan import may_stay, select_items
from .stopping import WorkerStopping, stop_requested
from .switch import IndexSettings

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
        self.attempt = op.attempt  # fences every write (operations_app.services)
        self.asset = asset
        # What this run builds with, read once: the switch (switch.py) records it as
        # the asset's index even if the target changes while the run goes on.
        self.settings = IndexSettings.target(asset)
        self.settings_key = self.settings.key()
        # Staged (switch.py): a REINDEX, or a run whose settings differ from the
        # index's, which must then rebuild every document before it switches.
        self.changed = self.settings != IndexSettings.index(asset)
        self.staged = op.type == OperationType.REINDEX or self.changed
        self.force = op.force or self.changed
        self.document_ids = None if self.staged else op.document_ids
        self.check_every = settings.RAGDESK_CANCEL_CHECK_SECONDS
        self.last_check = self.last_heartbeat = time.monotonic()
        self.batch = Batch(
            operation_id=op.id,
            attempt=op.attempt,
            asset_id=asset.id,
            embedder=get_embedder(
                provider=asset.embedding_provider,
                model=asset.embedding_model,
                dimensions=asset.embedding_dimensions,
                rate_key=str(asset.id),
            ),
            check=lambda: self.check(force=True),
            progress_every=self.check_every,
            call=self.beating,
        )

    # -- cancellation -------------------------------------------------------------
    def check(self, *, force: bool = False) -> None:
        """Raise WorkerStopping when the worker process was asked to stop, and
        OperationInterrupted when the operation must stop; write a heartbeat at least
        every HEARTBEAT_SECONDS (the reaper requeues silent operations)."""
        if signame := stop_requested():
            raise WorkerStopping(signame)
        now = time.monotonic()
        if force or now - self.last_check >= self.check_every:
            self.last_check = now
            if operation_should_stop(operation_id=self.op.id, attempt=self.attempt):
                raise OperationInterrupted(str(self.op.id))
            if now - self.last_heartbeat >= HEARTBEAT_SECONDS:
                self.last_heartbeat = now
                operation_heartbeat(operation_id=self.op.id, attempt=self.attempt)

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

    def beating(self, fn, *args):
        """``fn(*args)`` while a side thread writes a heartbeat every
        HEARTBEAT_SECONDS (from the first one on, over its own connection): an
        embedding request may outlast the reaper's threshold
        (``RAGDESK_STALE_AFTER_SECONDS``). Not interrupted by a cancel: a batch the
        provider bills is stored and counted."""
        done = threading.Event()

        def beat():
            try:
                while not done.wait(HEARTBEAT_SECONDS):
                    operation_heartbeat(operation_id=self.op.id, attempt=self.attempt)
            except Exception:  # noqa: BLE001 - the main thread sees database trouble
                logger.warning("operation %s: heartbeat failed", self.op.id)
            finally:
                connections.close_all()  # this thread's own

        threading.Thread(target=beat, daemon=True, name="ragdesk-heartbeat").start()
        try:
            return fn(*args)
        finally:
            done.set()

    # -- the run ------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except BaseException:
            try:
                self.batch.interrupt()
            except Exception:
                logger.exception("operation %s: interrupted documents", self.op.id)
            raise

    def _run(self) -> None:
        items = list(list_items(self.asset, force=self.force, check=self.check))
        documents = {d.source_key: d for d in Document.objects.filter(asset=self.asset)}
        items, vanished = select_items(items, documents, self.document_ids)
        operation_set_total(
            operation_id=self.op.id, attempt=self.attempt,
            # + documents an earlier attempt of this operation deleted (recovery.py)
            items_total=len(items) + len(vanished) + self.op.documents_deleted,
        )  # fmt: skip
        for start in range(0, len(vanished), VANISHED_PER_TRANSACTION):
            self.check(force=True)
            ids = vanished[start : start + VANISHED_PER_TRANSACTION]
            with transaction.atomic():
                operation_add_progress(
                    operation_id=self.op.id, attempt=self.attempt,
                    progress=Progress(items=len(ids), deleted=len(ids)),
                )  # fmt: skip
                Document.objects.filter(pk__in=ids).delete()
        for item in items:
            self.check()
            self.process(item, documents.get(item.key))
        self.batch.flush()

    def process(self, item: SourceItem, document: Document | None) -> None:
        if self.ended_by_this_run(document, content_hash=None):
            self.batch.count_done()  # FAILED before this operation was resumed
            return
        if item.not_modified and self._unchanged(document) and document.content_hash:
            if document.last_operation_id == self.op.id:
                self.batch.count_done()  # completed before this operation resumed
            else:
                self.batch.count_unchanged()  # the source said so without bytes
            return
        try:
            data = item.read()
        except OSError as exc:
            # Its stored chunks stay as they are: same version, no new ones.
            work = self.work(item, document, size=item.size, content_hash="", step=0)
            self.batch.end(work, error=f"Cannot read the source item: {exc}")
            return
        content_hash = hashlib.sha256(data).hexdigest()
        if self.ended_by_this_run(document, content_hash=content_hash):
            self.batch.count_done()  # COMPLETED before this operation was resumed
            return
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

    def ended_by_this_run(self, document: Document | None, *, content_hash) -> bool:
        """True for a document this operation completed (with ``content_hash``;
        in a staged run: staged it with these settings) or failed (when
        ``content_hash`` is None) before a worker loss or stop requeued it: the
        resumed run neither redoes nor recounts it."""
        if document is None or document.last_operation_id != self.op.id:
            return False
        if content_hash is None:
            return document.status == DocumentStatus.FAILED
        if document.staged_version:
            return document.building_key == f"{content_hash}:{self.settings_key}"
        return (
            document.status == DocumentStatus.COMPLETED
            and document.content_hash == content_hash
        )

    def _unchanged(self, document: Document | None) -> bool:
        """Whether ``document`` may stay as stored if its source is unchanged."""
        return may_stay(document, force=self.force)

    def work(
        self, item: SourceItem, document: Document | None, *, size: int,
        content_hash: str, step: int,
    ) -> DocumentWork:  # fmt: skip
        """The work on ``item`` (documents.py ``document_work``). In a staged run a
        re-embedded document waits for the switch; so does a new one (no complete
        generation) unless the run builds with the index's settings."""
        work = document_work(
            item=item, document=document, asset_id=self.asset.id, size=size,
            content_hash=content_hash, step=step, operation_id=self.op.id,
            settings_key=self.settings_key,
        )  # fmt: skip
        work.staged = bool(
            self.staged and step and (work.previous is not None or self.changed)
        )
        return work

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
