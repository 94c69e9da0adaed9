"""The batch: chunks of one or more documents, embedded in one request and stored in
one transaction together with the document rows they create or complete and the
operation's counter increments (see run.py for the invariants this keeps).

The transaction of ``Batch.flush`` runs, in this order:

1. ``operation_add_progress``: first, because it locks asset → operation before any
   document or chunk row, and raises OperationInterrupted once cancellation is
   requested, which rolls the whole batch back;
2. new documents' rows (one INSERT), made here rather than when their work starts, so
   that a document none of whose chunks reach the database leaves no row behind;
3. the chunks (one INSERT);
4. documents that end in this batch: their older chunk generations deleted (one
   DELETE) and their rows updated (one bulk UPDATE);
5. the document still in progress, if it has chunks in the batch: PROCESSING and
   the generation it builds (``building_version``, ``building_key``), so that a run
   resumed after a crash continues it (one UPDATE). Its counts stay those of its
   current generation until it completes (in a staged run, until the switch).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from assets_app.budgets import budget_release, budget_reserve, budget_settle
from assets_app.embedding import Embedder, EmbeddingError
from assets_app.models import Chunk, Document, DocumentStatus
from operations_app.failures import operation_record_document_failures
from operations_app.worker import (
    Progress,
    operation_add_progress,
    operation_lock_for_worker,
)

from .chunking import ChunkPiece
from .documents import DocumentWork, documents_end, documents_interrupted

FIRST_BATCH = 16  # chunks: the provider's speed is unknown until a batch is timed


class Batch:
    """Buffers chunks (at most ``RAGDESK_EMBED_BATCH_SIZE``, adapted so that a batch
    embeds and stores in about ``RAGDESK_EMBED_BATCH_SECONDS``), document ends and
    unchanged counts, and commits them together. Pending work is flushed when a chunk
    arrives at a full batch, or once it is ``progress_every`` s old, so that progress
    stays live. ``check()`` raises OperationInterrupted when the run must stop; it is
    called before each embedding request."""

    def __init__(
        self,
        *,
        operation_id,
        attempt: int | None = None,
        asset_id,
        embedder: Embedder,
        check: Callable[[], None],
        progress_every: float,
        call: Callable | None = None,
    ):
        self.operation_id, self.attempt, self.asset_id = operation_id, attempt, asset_id
        self.embedder, self.check = embedder, check
        # How an embedding request is made: ``call(fn, *args)``; the run passes one
        # that writes heartbeats while a slow provider answers.
        self.call = call or (lambda fn, *args: fn(*args))
        self.progress_every = progress_every
        self.size = settings.RAGDESK_EMBED_BATCH_SIZE
        self.seconds = settings.RAGDESK_EMBED_BATCH_SECONDS
        self.limit = min(self.size, FIRST_BATCH)  # adapted after each batch
        self.pieces: list[tuple[DocumentWork, int, ChunkPiece]] = []
        self.ending: list[DocumentWork] = []
        self.unchanged = 0
        self.done = 0  # documents this operation ended before it was resumed
        self.since: float | None = None  # when the oldest pending work came
        self.open: dict[object, DocumentWork] = {}  # committed chunks, not ended
        self.reservation = None  # budget tokens held for the batch in flight

    # -- buffering --------------------------------------------------------------
    def _pending(self) -> None:
        if self.since is None:
            self.since = time.monotonic()

    def stale(self) -> bool:
        return (
            self.since is not None
            and time.monotonic() - self.since >= self.progress_every
        )

    def add(self, work: DocumentWork, piece: ChunkPiece) -> None:
        """Buffer the next chunk of ``work``; flushes the batch first when it is full
        or stale, so a document's end always commits with its last chunks."""
        if len(self.pieces) >= self.limit or self.stale():
            self.flush()
        if work.ended:  # failed while embedding its earlier chunks
            return
        if work.next_index < work.resume_from:  # stored by an earlier attempt
            work.next_index += 1
            return
        self._pending()
        self.pieces.append((work, work.next_index, piece))
        work.next_index += 1

    def end(self, work: DocumentWork, *, error: str | None = None) -> None:
        """Complete ``work`` in the transaction of its last chunks, or fail it with
        ``error`` (its chunks not yet stored are dropped). No-op once ended."""
        if work.ended:
            return
        work.ended = True
        if error is not None:
            work.error = error
            self.pieces = [p for p in self.pieces if p[0] is not work]
        self._pending()
        self.ending.append(work)
        if len(self.ending) >= self.size or self.stale():
            self.flush()

    def count_unchanged(self) -> None:
        self._pending()
        self.unchanged += 1
        if self.stale():
            self.flush()

    def count_done(self) -> None:
        """Count a document this operation ended before it was resumed: processed,
        and nothing else (its kind was counted then)."""
        self._pending()
        self.done += 1
        if self.stale():
            self.flush()

    # -- committing -------------------------------------------------------------
    def flush_counts_if_stale(self) -> None:
        """Commit the pending unchanged count alone once stale: for the wait on a
        long parsing step, when embedding is not an option (the helper thread runs
        the tokenizer)."""
        if (self.unchanged or self.done) and self.stale():
            with transaction.atomic():
                operation_add_progress(
                    operation_id=self.operation_id, attempt=self.attempt,
                    progress=Progress(
                        items=self.unchanged + self.done, unchanged=self.unchanged
                    ),
                )
            self.unchanged = self.done = 0
            self.since = time.monotonic() if self.pieces or self.ending else None

    def flush(self) -> None:
        """Embed the buffered chunks and commit them with the pending document ends
        and counts (see the module docstring). Raises OperationInterrupted, rolling
        the batch back, when the run must stop."""
        if self.since is None:
            return
        started = time.monotonic()
        if self.pieces:
            self._reserve_budget()
        vectors, billed = self._embed() if self.pieces else ([], 0)
        chunks = [
            Chunk(
                asset_id=self.asset_id, document_id=work.document.pk,
                document_version=work.version, chunk_index=index, content=p.content,
                token_count=p.token_count, start_char_idx=p.start_char_idx,
                end_char_idx=p.end_char_idx, start_line=p.start_line,
                end_line=p.end_line, heading_path=p.heading_path,
                page_number=p.page_number, embedding=vector,
                embedding_dimensions=len(vector), operation_id=self.operation_id,
            )
            for (work, index, p), vector in zip(self.pieces, vectors, strict=True)
        ]  # fmt: skip
        added: dict[DocumentWork, list[int]] = {}  # chunks, tokens in this batch
        for work, _, piece in self.pieces:
            counts = added.setdefault(work, [0, 0])
            counts[0] += 1
            counts[1] += piece.token_count
        completed = [w for w in self.ending if w.error is None]
        new = sum(w.added for w in completed)
        progress = Progress(
            items=len(self.ending) + self.unchanged + self.done,
            chunks=len(chunks), tokens=billed,
            added=new, updated=len(completed) - new, unchanged=self.unchanged,
            failed=len(self.ending) - len(completed),
        )  # fmt: skip
        with transaction.atomic():
            operation_add_progress(
                operation_id=self.operation_id, attempt=self.attempt, progress=progress
            )
            self._store(chunks, added)
            budget_settle(self.reservation, billed=billed)
        self.reservation = None
        for work, (n_chunks, n_tokens) in added.items():
            work.chunks += n_chunks
            work.tokens += n_tokens
            work.saved = True
            if not work.ended:
                self.open[work.document.pk] = work
        for work in self.ending:
            work.saved = True
            self.open.pop(work.document.pk, None)
        if chunks:
            self._adapt_limit(len(chunks), time.monotonic() - started)
        self.pieces, self.ending, self.unchanged, self.done = [], [], 0, 0
        self.since = None

    def _reserve_budget(self) -> None:
        """Reserve the batch's tokens (cl100k, the estimate) against the asset's
        budget before it is sent; raises budgets.BudgetExhausted, which ends the
        run FAILED with what was stored before kept. Settled with the billed count
        in the batch's transaction, released by ``interrupt`` otherwise."""
        self.reservation = budget_reserve(
            asset_id=self.asset_id, operation_id=self.operation_id,
            tokens=sum(p.token_count for _, _, p in self.pieces),
        )  # fmt: skip

    def _embed(self) -> tuple[list[list[float]], int]:
        """Vectors of the buffered chunks and the billed tokens. When the provider
        refuses a batch of several documents, each document's chunks are sent on
        their own, so that only the documents it refuses fail."""
        self.check()  # do not pay for a batch that will be thrown away
        try:
            result = self.call(self.embedder.embed, [p.content for _, _, p in self.pieces])
            return result.vectors, result.billed_tokens
        except EmbeddingError as exc:
            works = list(dict.fromkeys(w for w, _, _ in self.pieces))
            if len(works) == 1:
                self._fail(works[0], str(exc))
                return [], 0
        vectors, billed, kept = [], 0, []
        for work in works:
            group = [p for p in self.pieces if p[0] is work]
            self.check()
            try:
                result = self.call(self.embedder.embed, [p.content for _, _, p in group])
            except EmbeddingError as exc:
                self._fail(work, str(exc))
                continue
            kept += group
            vectors += result.vectors
            billed += result.billed_tokens
        self.pieces = kept
        return vectors, billed

    def _fail(self, work: DocumentWork, error: str) -> None:
        """Fail ``work`` in the batch being flushed (its end may be pending in it
        already, or it is the document still being chunked, which then stops)."""
        work.error = error
        self.pieces = [p for p in self.pieces if p[0] is not work]
        if not work.ended:
            work.ended = True
            self.ending.append(work)

    def _store(self, chunks: list[Chunk], added: dict[DocumentWork, list[int]]):
        """Steps 2–5 of the module docstring; ``added``: each work's chunks and
        tokens in ``chunks``."""
        now = timezone.now()
        for work in self.ending:
            failed = work.error is not None
            work.set_end(
                status=DocumentStatus.FAILED if failed else DocumentStatus.COMPLETED,
                error=work.error or "",
                now=now,
                more=added.get(work, (0, 0)),
            )
        going_on = [w for w in added if not w.ended]
        for work in going_on:
            d = work.document
            d.building_version, d.building_key = work.version, work.building_key
            if not work.saved:
                d.status, d.file_size = DocumentStatus.PROCESSING, work.file_size
        Document.objects.bulk_create(
            [w.document for w in (*self.ending, *going_on) if not w.saved]
        )
        Chunk.objects.bulk_create(chunks)
        operation_record_document_failures(  # which operation failed them (issue 4)
            operation_id=self.operation_id,
            failures=[(w.document.pk, w.document.error_message)
                      for w in self.ending if w.error is not None],
        )  # fmt: skip
        documents_end([w for w in self.ending if w.saved])
        for work in going_on:
            if work.saved:
                Document.objects.filter(pk=work.document.pk).update(
                    status=DocumentStatus.PROCESSING, error_message="",
                    file_size=work.file_size, content_type=work.document.content_type,
                    building_version=work.version, building_key=work.building_key,
                    staged_version=0, modified_at=now,
                )  # fmt: skip

    def _adapt_limit(self, size: int, seconds: float) -> None:
        """Size the next batch to take about ``seconds`` at the speed of the batch of
        ``size`` chunks just embedded and stored in ``seconds``."""
        fits = int(self.seconds * size / max(seconds, 1e-6))
        self.limit = max(1, min(self.size, fits))

    # -- stopping ---------------------------------------------------------------
    def interrupt(self) -> None:
        """After the run stopped (cancel, crash): drop what is buffered and mark the
        documents with chunks stored but not completed interrupted."""
        budget_release(self.reservation)
        self.reservation = None
        works = list(self.open.values())
        self.pieces, self.ending, self.open = [], [], {}
        if works:
            with transaction.atomic():
                if operation_lock_for_worker(
                    operation_id=self.operation_id, attempt=self.attempt
                ):  # a worker that lost the operation leaves the documents alone
                    documents_interrupted(works)
