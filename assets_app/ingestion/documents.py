"""The rows of the documents an operation works on, written in bulk: a batch ends
many documents at once (batch.py), and an interrupted run marks its documents
stopped part-way."""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field

from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from assets_app.models import Chunk, Document, DocumentStatus

INTERRUPTED = (
    "Interrupted before all its chunks were stored; the next refresh completes it."
)
STAGED = "Built; becomes searchable when the re-index completes."
REEMBED_INTERRUPTED = (
    "Re-embedding was interrupted; its previous chunks stay searchable until a refresh "
    "completes it."
)
_ENDED_FIELDS = [
    "version", "status", "error_message", "content_hash", "chunk_count",
    "token_count", "file_size", "content_type", "processed_at", "modified_at",
    "building_version", "building_key", "staged_version", "last_operation",
    "source_validators",
]  # fmt: skip


@dataclass(eq=False)  # identity: works are dict keys
class DocumentWork:
    """One document's ingestion in this run. ``document`` is its row, or an unsaved
    instance (primary key already chosen) until ``saved``; its chunks are written as
    ``version``. ``chunks`` and ``tokens`` count what is committed of ``version``.
    ``building_key`` identifies what the chunks are made from (content hash and
    settings); a resumed run continues a generation of the same key from
    ``resume_from`` (its chunks below that index are stored already). A ``staged``
    work (a staged run, switch.py) does not replace the current generation when it
    ends: it records its own as the row's ``staged_version``."""

    document: Document
    is_new: bool
    version: int
    content_hash: str
    file_size: int  # bytes
    saved: bool
    operation_id: object = None
    building_key: str = ""
    added: bool = False  # counts as added (it had no complete generation), else updated
    resume_from: int = 0
    next_index: int = 0
    chunks: int = 0
    tokens: int = 0
    ended: bool = False  # its end (complete or fail) is registered
    error: str | None = None  # why it failed
    # (version, chunk_count, token_count) of the complete generation it replaces
    previous: tuple[int, int, int] | None = None
    validators: dict = field(default_factory=dict)  # the source's, kept once COMPLETED
    staged: bool = False  # its generation waits for the run's switch (switch.py)

    def set_end(self, *, status: str, error: str = "", now, more=(0, 0)) -> None:
        """Set the row's fields for its end: ``version`` is its generation, counts
        are what is committed plus ``more`` (chunks, tokens) about to be; the
        content hash only when COMPLETED. A staged work keeps the row's current
        generation (``_set_staged_end``)."""
        if self.staged:
            self._set_staged_end(status=status, error=error, now=now)
            return
        d = self.document
        d.version, d.status, d.error_message = self.version, status, error[:4000]
        completed = status == DocumentStatus.COMPLETED
        d.content_hash = self.content_hash if completed else ""
        d.source_validators = self.validators if completed else {}
        d.file_size = self.file_size
        d.chunk_count, d.token_count = self.chunks + more[0], self.tokens + more[1]
        d.processed_at = d.modified_at = now
        d.last_operation_id = self.operation_id
        d.staged_version = 0  # anything staged before is older than ``version``
        if status != DocumentStatus.PENDING:  # PENDING: stopped part-way, resumable
            d.building_version, d.building_key = 0, ""

    def _set_staged_end(self, *, status: str, error: str, now) -> None:
        """The end of a staged work: its generation (complete, or what a failure left)
        becomes ``staged_version``, which the switch makes current; until then the
        row keeps its version, counts and content hash, so search answers from its
        current generation. A document that had none waits PENDING. Validators are
        kept only when they describe the current generation too (same content)."""
        d = self.document
        completed = status == DocumentStatus.COMPLETED
        same = completed and d.content_hash == self.content_hash
        d.source_validators = self.validators if same else {}
        if not completed:
            d.status, d.content_hash = status, ""
        elif self.previous is None:
            d.status, d.content_hash = DocumentStatus.PENDING, ""
        else:
            d.status = DocumentStatus.COMPLETED
        d.error_message = error[:4000] if not completed else (
            "" if self.previous is not None else STAGED)
        d.file_size = self.file_size
        d.processed_at = d.modified_at = now
        d.last_operation_id = self.operation_id
        d.building_version, d.building_key = self.version, self.building_key
        d.staged_version = self.version


def _had_complete(document: Document) -> bool:
    """Whether the row has a complete generation that new chunks replace: COMPLETED,
    or PROCESSING after a worker died re-embedding it (new documents are PROCESSING
    at version 0)."""
    return document.version > 0 and document.status in (
        DocumentStatus.COMPLETED, DocumentStatus.PROCESSING)  # fmt: skip


def counts_as_added(document: Document) -> bool:
    """Whether re-embedding the stored ``document`` counts as added (it was never
    complete: new, or stopped part-way) rather than updated; a FAILED one that now
    succeeds counts as updated."""
    return not _had_complete(document) and document.status != DocumentStatus.FAILED


def document_work(
    *, item, document: Document | None, asset_id, size: int, content_hash: str,
    step: int, operation_id, settings_key: str,
) -> DocumentWork:  # fmt: skip
    """The work of ``operation_id`` on source ``item`` (assets_app.sources
    SourceItem), whose row is ``document`` (None: a new document, whose row is made
    unsaved); its chunks are written as the row's version + ``step`` (0: no chunks,
    a failure), ``size`` in bytes. ``settings_key`` (chunking and embedding
    settings) with ``content_hash`` identifies the generation: one stored part-way
    by an earlier run with the same key is continued after its last stored chunk
    (``resume_from``) instead of being embedded again."""
    is_new = document is None
    if document is None:
        document = Document(
            asset_id=asset_id, source_key=item.key, file_name=item.file_name,
            source_url=item.source_url,
        )  # fmt: skip
    document.content_type = item.content_type
    key = f"{content_hash}:{settings_key}" if step else ""
    had_complete = _had_complete(document)
    version, resume_from, chunks, tokens = document.version + step, 0, 0, 0
    if step and not is_new:
        # A generation of the same content and settings stored part-way by an
        # earlier attempt continues after its last chunk; any other stored above
        # the row's version (a worker killed mid-document) is written over with
        # the next version, so the unique position never collides.
        stored = Chunk.objects.filter(document=document).aggregate(v=Max("document_version"))
        version = max(version, (stored["v"] or 0) + 1)
        if document.building_key == key and document.building_version:
            part = Chunk.objects.filter(
                document=document, document_version=document.building_version
            ).aggregate(n=Count("id"), last=Max("chunk_index"), t=Sum("token_count"))
            if part["n"] and part["last"] == part["n"] - 1:  # a prefix, as written
                version, resume_from = document.building_version, part["n"]
                chunks, tokens = part["n"], part["t"]
    return DocumentWork(
        document=document,
        is_new=is_new,
        version=version,
        content_hash=content_hash,
        file_size=size,
        saved=not is_new,
        operation_id=operation_id,
        building_key=key,
        added=counts_as_added(document),
        resume_from=resume_from,
        chunks=chunks if step else document.chunk_count,
        tokens=tokens if step else document.token_count,
        previous=(
            (document.version, document.chunk_count, document.token_count)
            if step and had_complete and document.version != version
            else None
        ),
    )


def documents_end(works: list[DocumentWork]) -> None:
    """For documents whose rows exist and carry their end (``set_end``): delete the
    chunk generations older than each one's ``version`` — for a staged one, those
    other than its current and its staged one — (one DELETE) and save the rows (one
    UPDATE). Call inside a transaction."""
    if not works:
        return
    old = [w for w in works if not w.is_new]  # new documents have one generation

    def older(w: DocumentWork) -> Q:
        if w.staged:
            kept = {w.document.version, w.version}
            return Q(document_id=w.document.pk) & ~Q(document_version__in=kept)
        return Q(document_id=w.document.pk, document_version__lt=w.version)

    if old:
        Chunk.objects.filter(functools.reduce(operator.or_, map(older, old))).delete()
    Document.objects.bulk_update([w.document for w in works], _ENDED_FIELDS)


def documents_interrupted(works: list[DocumentWork]) -> None:
    """Each document of ``works`` (rows with chunks of their ``version`` stored, not
    completed) is settled so that it has one current generation, without a content
    hash so the next refresh redoes it, and nothing is counted:

    - one that replaced a complete generation (re-index, changed file) keeps that
      generation current and COMPLETED: search answers from the previous chunks, and
      the partial new ones stay stored but not current until the next run removes
      them (it writes above every stored version);
    - a new one becomes PENDING at ``version``, its partial chunks current; in a
      staged run (switch.py) it stays PENDING at its version, the partial chunks
      stored but not current, to be continued by the next run.

    Call inside a transaction."""
    now = timezone.now()
    kept = []
    for work in works:
        d = work.document
        d.staged_version = 0  # it was building another generation
        if work.staged and work.previous is None:
            d.building_version, d.building_key = work.version, work.building_key
            d.status, d.error_message, d.content_hash = (
                DocumentStatus.PENDING, INTERRUPTED, "")
            d.file_size, d.modified_at, d.source_validators = work.file_size, now, {}
            kept.append(work)
        elif work.previous is not None:
            d.version, d.chunk_count, d.token_count = work.previous
            d.building_version, d.building_key = work.version, work.building_key
            d.status, d.error_message, d.content_hash = (
                DocumentStatus.COMPLETED, REEMBED_INTERRUPTED, "")
            d.file_size, d.modified_at = work.file_size, now
            d.source_validators = {}  # the stored generation is not the source's now
            kept.append(work)
        else:
            work.set_end(status=DocumentStatus.PENDING, error=INTERRUPTED, now=now)
    documents_end([w for w in works if w not in kept])
    if kept:
        Document.objects.bulk_update([w.document for w in kept], _ENDED_FIELDS)


def documents_settle_abandoned(*, asset_id) -> int:
    """Documents of ``asset_id`` left PROCESSING by a worker that died and will not
    be resumed (the reaper gave up): one with a complete earlier generation goes back
    to COMPLETED on it, the others to PENDING; both without a content hash, so the
    next refresh redoes them (and continues their stored part, ``building_key``).
    Documents a staged run (switch.py) staged are not PROCESSING: they keep their
    current generation, and the next run with the same settings reuses the staged
    one. Returns how many were settled."""
    processing = Document.objects.filter(asset_id=asset_id, status=DocumentStatus.PROCESSING)
    kept = processing.filter(version__gt=0).update(
        status=DocumentStatus.COMPLETED, error_message=REEMBED_INTERRUPTED, content_hash=""
    )
    return kept + processing.update(
        status=DocumentStatus.PENDING, error_message=INTERRUPTED, content_hash=""
    )
