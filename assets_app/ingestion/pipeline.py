"""Run one long-running operation: list the source, diff by content hash, and for each
new or changed document parse → chunk → embed in batches → store.

Invariants:
- A batch of chunks and the operation's counter increments commit in one transaction
  (``operation_add_progress`` refuses once cancellation is requested, rolling the
  batch back), so counters equal what is stored and nothing is stored after the worker
  observed a cancel. ``operation_add_progress`` comes first in each such transaction:
  it takes the locks in the order asset → operation that ``asset_delete`` uses, before
  any document or chunk row, so deleting a running asset cannot deadlock with a batch.
- Cancellation is checked before each batch and at least every
  ``RAGDESK_CANCEL_CHECK_SECONDS`` while parsing and chunking, which run on a helper
  thread so that a slow step (the tokenizer's first load, a multi-megabyte section)
  cannot hold a cancel back. Batches are bounded in time as well as in size: a cancel
  waits for the batch in flight, so a batch is sized to embed and store in about
  ``RAGDESK_EMBED_BATCH_SECONDS`` at the speed last measured (at most
  ``RAGDESK_EMBED_BATCH_SIZE`` chunks). Together they keep Cancel → CANCELLED within
  2 s (API.md "Cancel semantics"; tests/operations_app/test_tasks.py).
- A document's new chunks are written as version ``v + 1``; when the document ends
  (done, failed or interrupted) the older versions are deleted in one transaction.
  ``content_hash`` is set only when all its chunks are stored, so an interrupted
  document is redone by the next refresh.
- A document that cannot be read or parsed is FAILED with its reason; the operation
  goes on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from assets_app.embedding import EmbeddingError, get_embedder
from assets_app.models import Asset, Chunk, Document, DocumentStatus
from assets_app.sources import SourceError, SourceItem, list_items
from operations_app.models import OperationStatus
from operations_app.services import (
    OperationInterrupted,
    Progress,
    operation_add_progress,
    operation_finish,
    operation_set_total,
    operation_should_stop,
    operation_start,
)

from .chunking import ChunkPiece, DocumentChunker
from .parsing import MARKDOWN_TYPES, ParseError, parse

logger = logging.getLogger("ragdesk.ingestion")
FIRST_BATCH = 16  # chunks: the provider's speed is unknown until a batch is timed
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
        self.embedder = get_embedder(
            provider=asset.embedding_provider,
            model=asset.embedding_model,
            dimensions=asset.embedding_dimensions,
        )
        self.batch_size = settings.RAGDESK_EMBED_BATCH_SIZE
        self.batch_seconds = settings.RAGDESK_EMBED_BATCH_SECONDS
        self.batch_limit = min(self.batch_size, FIRST_BATCH)  # adapted after each batch
        self.check_every = settings.RAGDESK_CANCEL_CHECK_SECONDS
        self.last_check = time.monotonic()

    # -- cancellation -----------------------------------------------------------
    def check(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last_check >= self.check_every:
            self.last_check = now
            if operation_should_stop(operation_id=self.op.id):
                raise OperationInterrupted(str(self.op.id))

    def off_thread(self, fn, *args):
        """``fn(*args)`` on the helper thread, checking for cancellation every
        ``check_every`` s while it runs. Only for work without database access
        (parsing, chunking). When interrupted, the call ends in the background and its
        result is dropped."""
        future = _helper_thread().submit(fn, *args)
        while True:
            try:
                return future.result(timeout=self.check_every)
            except TimeoutError:
                self.check(force=True)

    def adapt_batch_limit(self, size: int, seconds: float) -> None:
        """Size the next batch to take about ``batch_seconds`` at the speed of the
        batch of ``size`` chunks just embedded and stored in ``seconds``."""
        fits = int(self.batch_seconds * size / max(seconds, 1e-6))
        self.batch_limit = max(1, min(self.batch_size, fits))

    # -- the run ----------------------------------------------------------------
    def run(self) -> None:
        items = list(list_items(self.asset))
        documents = {d.source_key: d for d in Document.objects.filter(asset=self.asset)}
        if self.op.document_ids is not None:
            wanted = {str(i) for i in self.op.document_ids}
            items = [i for i in items if i.key in documents and str(documents[i.key].id) in wanted]
            vanished = []
        else:
            listed = {i.key for i in items}
            vanished = [d for k, d in documents.items() if k not in listed]
        operation_set_total(operation_id=self.op.id, items_total=len(items) + len(vanished))
        for document in vanished:
            self.check(force=True)
            with transaction.atomic():
                operation_add_progress(
                    operation_id=self.op.id, progress=Progress(items=1, deleted=1)
                )
                document.delete()
        for item in items:
            self.check(force=True)
            self.process(item, documents.get(item.key))

    def process(self, item: SourceItem, document: Document | None) -> None:
        try:
            data = item.read()
        except OSError as exc:
            self.fail_document(item, document, f"Cannot read the source item: {exc}")
            return
        content_hash = hashlib.sha256(data).hexdigest()
        if (
            document is not None
            and not self.op.force
            and document.status == DocumentStatus.COMPLETED
            and document.content_hash == content_hash
        ):
            with transaction.atomic():
                operation_add_progress(
                    operation_id=self.op.id, progress=Progress(items=1, unchanged=1)
                )
            return
        is_new = document is None
        if is_new:
            document = Document.objects.create(
                asset=self.asset, source_key=item.key, file_name=item.file_name,
                content_type=item.content_type, source_url=item.source_url,
                file_size=item.size, status=DocumentStatus.PROCESSING,
            )
        else:
            Document.objects.filter(pk=document.pk).update(
                status=DocumentStatus.PROCESSING, file_size=len(data),
                content_type=item.content_type, error_message="", modified_at=timezone.now(),
            )
        version = document.version + 1
        try:
            self.embed_document(document, version, data, item.content_type)
            with transaction.atomic():
                operation_add_progress(
                    operation_id=self.op.id,
                    progress=Progress(items=1, added=int(is_new), updated=int(not is_new)),
                )
                self.end_document(
                    document, version, status=DocumentStatus.COMPLETED,
                    content_hash=content_hash,
                )
        except (ParseError, EmbeddingError) as exc:
            self.end_document(document, version, status=DocumentStatus.FAILED, error=str(exc))
            with transaction.atomic():
                operation_add_progress(
                    operation_id=self.op.id, progress=Progress(items=1, failed=1)
                )
            return
        except Exception:
            # Interrupted (also by a cancel seen in the completing transaction above,
            # which rolled back) or crashed: version ``version`` chunks may be stored, so
            # make it the document's generation; otherwise the next run writes the same
            # version again and collides with them, and old and new chunks both show.
            self.end_document(
                document, version, status=DocumentStatus.PENDING,
                error="Interrupted before all its chunks were stored; the next refresh "
                "completes it.",
            )
            raise

    def embed_document(self, document: Document, version: int, data: bytes, ctype: str):
        chunker = DocumentChunker(
            chunk_size=self.asset.chunk_size,
            chunk_overlap=self.asset.chunk_overlap,
            markdown=ctype in MARKDOWN_TYPES,
        )
        batch: list[ChunkPiece] = []
        index = 0
        sections = parse(data, ctype)
        while (section := self.off_thread(next, sections, None)) is not None:
            self.check()
            for piece in self.off_thread(_split, chunker, section):
                batch.append(piece)
                if len(batch) >= self.batch_limit:
                    self.store_batch(document, version, index, batch)
                    index += len(batch)
                    batch = []
        if batch:
            self.store_batch(document, version, index, batch)

    def store_batch(self, document, version: int, first_index: int, batch: list[ChunkPiece]):
        self.check(force=True)  # do not pay for a batch that will be thrown away
        started = time.monotonic()
        result = self.embedder.embed([p.content for p in batch])
        tokens = sum(p.token_count for p in batch)
        chunks = [
            Chunk(
                asset_id=self.asset.id, document_id=document.id, document_version=version,
                chunk_index=first_index + i, content=p.content, token_count=p.token_count,
                start_char_idx=p.start_char_idx, end_char_idx=p.end_char_idx,
                start_line=p.start_line, end_line=p.end_line, heading_path=p.heading_path,
                page_number=p.page_number, embedding=vector,
                embedding_dimensions=len(vector), operation_id=self.op.id,
            )
            for i, (p, vector) in enumerate(zip(batch, result.vectors, strict=True))
        ]
        with transaction.atomic():
            operation_add_progress(
                operation_id=self.op.id,
                progress=Progress(chunks=len(chunks), tokens=result.billed_tokens),
            )
            Chunk.objects.bulk_create(chunks)
            Document.objects.filter(pk=document.pk).update(
                chunk_count=F("chunk_count") + len(chunks),
                token_count=F("token_count") + tokens,
            )
        self.last_check = time.monotonic()
        self.adapt_batch_limit(len(batch), self.last_check - started)

    def end_document(self, document, version: int, *, status: str, error: str = "",
                     content_hash: str = "") -> None:
        """Make ``version`` the document's chunk generation (older ones deleted) and set
        its status; counts are recomputed from what is stored."""
        # No savepoint when nested: the caller's transaction rolls back as a whole.
        with transaction.atomic(savepoint=False):
            Chunk.objects.filter(document=document, document_version__lt=version).delete()
            stored = Chunk.objects.filter(document=document).aggregate(
                chunks=Count("id"), tokens=Coalesce(Sum("token_count"), 0)
            )
            Document.objects.filter(pk=document.pk).update(
                version=version, status=status, error_message=error[:4000],
                content_hash=content_hash, chunk_count=stored["chunks"],
                token_count=stored["tokens"],
                processed_at=timezone.now(), modified_at=timezone.now(),
            )

    def fail_document(self, item: SourceItem, document: Document | None, error: str):
        with transaction.atomic():
            operation_add_progress(
                operation_id=self.op.id, progress=Progress(items=1, failed=1)
            )
            if document is None:
                Document.objects.create(
                    asset=self.asset, source_key=item.key, file_name=item.file_name,
                    content_type=item.content_type, source_url=item.source_url,
                    file_size=item.size, status=DocumentStatus.FAILED, error_message=error,
                )
            else:
                Document.objects.filter(pk=document.pk).update(
                    status=DocumentStatus.FAILED, error_message=error, content_hash=""
                )


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
            operation_id=op.id, status=OperationStatus.FAILED, error_message="asset deleted"
        ).status
    try:
        _Run(op, asset).run()
    except OperationInterrupted:
        op.refresh_from_db(fields=["status", "cancel_requested"])
        if op.status == OperationStatus.RUNNING:  # cancel requested and observed
            return operation_finish(operation_id=op.id, status=OperationStatus.CANCELLED).status
        return op.status  # ended elsewhere (asset deleted)
    except (SourceError, EmbeddingError) as exc:
        return operation_finish(
            operation_id=op.id, status=OperationStatus.FAILED, error_message=str(exc)
        ).status
    except Exception as exc:
        logger.exception("operation %s failed", operation_id)
        return operation_finish(
            operation_id=op.id, status=OperationStatus.FAILED,
            error_message=f"Internal error: {type(exc).__name__}: {exc}",
        ).status
    return operation_finish(operation_id=op.id, status=OperationStatus.COMPLETED).status
