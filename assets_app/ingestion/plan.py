"""What a refresh would do, decided the same way by the run (run.py) and by the
estimate (``estimate_refresh``, the dry run of ``POST …/assets/{asset}:estimate``).

The run and the estimate share: which listed items a run visits and which stored
documents vanished (``select_items``), when a stored document may stay as it is
(``may_stay``), whether a re-embedded document counts as added or updated
(documents.py ``counts_as_added``) and parsing + chunking (parsing.py, chunking.py),
whose chunk token counts are what the built-in embedder bills.

The estimate writes nothing to the database: no operation, document, chunk or event
row (a git source's clone cache on the worker's disk is refreshed as a run would).
It reads the source as a refresh does — a web page is asked with ``If-None-Match`` /
``If-Modified-Since`` (a 304 costs no body and 0 tokens), a git file with the blob
id its document stored is not read, an upload or folder file is read to hash it —
so it downloads no more than the refresh would, and about as much. It is bounded
(``RAGDESK_ESTIMATE_MAX_SECONDS``, ``RAGDESK_ESTIMATE_MAX_DOCUMENTS``): past either,
it stops and says it is incomplete."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from django.conf import settings

from assets_app.models import Asset, Document, DocumentStatus
from assets_app.sources import SourceItem, list_items

from .chunking import DocumentChunker
from .documents import counts_as_added
from .parsing import MARKDOWN_TYPES, ParseError, parse
from .switch import index_pending


def visits(item: SourceItem, documents: dict[str, Document], wanted) -> bool:
    """Whether a run visits ``item``: always, or when ``wanted`` (a set of document
    ids as strings; None: all) holds its stored document's id."""
    return wanted is None or (
        item.key in documents and str(documents[item.key].id) in wanted
    )


def wanted_ids(document_ids) -> set[str] | None:
    return None if document_ids is None else {str(i) for i in document_ids}


def select_items(
    items: list[SourceItem], documents: dict[str, Document], document_ids
) -> tuple[list[SourceItem], list]:
    """``(items to visit, primary keys of vanished documents)``. ``document_ids``
    (None: all) limits the run to those stored documents: those still in the source
    are re-read, those no longer in it are removed (a file a git push removed,
    issue 5)."""
    wanted = wanted_ids(document_ids)
    chosen = [i for i in items if visits(i, documents, wanted)]
    listed = {i.key for i in items}
    return chosen, [
        d.pk
        for k, d in documents.items()
        if k not in listed and (wanted is None or str(d.id) in wanted)
    ]


def may_stay(document: Document | None, *, force: bool) -> bool:
    """Whether ``document`` may stay as stored if its source is unchanged."""
    return (
        document is not None
        and not force
        and document.status == DocumentStatus.COMPLETED
    )


class _Bound(Exception):
    """The estimate ran out of time or documents."""


@dataclass
class Estimate:
    """A refresh's dry run. Counts are documents; ``tokens`` are cl100k_base tokens
    of the chunks to embed (what the built-in embedder bills; an OpenAI-compatible
    server bills what it reports, for OpenAI's models the same count);
    ``bytes_read`` what was read of the source (bytes); ``documents_deleted`` is None
    when the listing did not complete (vanished documents are known only then)."""

    chunk_size: int
    chunk_overlap: int
    force: bool
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    deleted: int | None = 0
    tokens: int = 0
    chunks: int = 0
    bytes_read: int = 0
    complete: bool = True
    elapsed_ms: int = 0
    failures: list[dict] = field(default_factory=list)  # {"fileName", "reason"}, ≤ 20


def estimate_refresh(
    *, asset: Asset, force: bool = False, document_ids: list[str] | None = None,
    chunk_size: int | None = None, chunk_overlap: int | None = None,
) -> Estimate:  # fmt: skip
    """The dry run of a refresh of ``asset`` (module docstring); new ``chunk_size``
    / ``chunk_overlap`` (tokens) estimate the REINDEX they would start (every
    document re-embedded). Raises sources.SourceError when the source as a whole
    cannot be listed. Callers check roles and ids (assets_app.estimates)."""
    reindex = (chunk_size, chunk_overlap) != (None, None)
    # A run whose settings differ from the index's (after a cancelled re-index)
    # rebuilds every document, as the run does (run.py, switch.py).
    rebuild = index_pending(asset)
    if rebuild:
        document_ids = None
    est = Estimate(
        chunk_size=asset.chunk_size if chunk_size is None else chunk_size,
        chunk_overlap=asset.chunk_overlap if chunk_overlap is None else chunk_overlap,
        force=force or reindex or rebuild,
    )
    started = time.monotonic()
    deadline = started + settings.RAGDESK_ESTIMATE_MAX_SECONDS
    limit = settings.RAGDESK_ESTIMATE_MAX_DOCUMENTS

    def check():
        if time.monotonic() > deadline:
            raise _Bound

    documents = {d.source_key: d for d in Document.objects.filter(asset=asset)}
    wanted, seen = wanted_ids(document_ids), []
    try:
        for item in list_items(asset, force=est.force, check=check):
            check()
            seen.append(item)
            if visits(item, documents, wanted):
                if est.added + est.updated + est.unchanged + est.failed >= limit:
                    raise _Bound
                _visit(est, item, documents.get(item.key), check)
        est.deleted = len(select_items(seen, documents, document_ids)[1])
    except _Bound:
        est.complete, est.deleted = False, None
    est.elapsed_ms = round((time.monotonic() - started) * 1000)
    return est


def _visit(est: Estimate, item: SourceItem, document: Document | None, check) -> None:
    """Count ``item`` as the run's ``process`` would treat it."""
    stays = may_stay(document, force=est.force)
    if item.not_modified and stays and document.content_hash:
        est.unchanged += 1
        return
    try:
        data = item.read()
    except OSError as exc:
        _failed(est, item, f"Cannot read the source item: {exc}")
        return
    est.bytes_read += len(data)
    if stays and document.content_hash == hashlib.sha256(data).hexdigest():
        est.unchanged += 1
        return
    chunker = DocumentChunker(
        chunk_size=est.chunk_size, chunk_overlap=est.chunk_overlap,
        markdown=item.content_type in MARKDOWN_TYPES,
    )  # fmt: skip
    tokens = chunks = 0
    try:
        for section in parse(data, item.content_type):
            check()
            for piece in chunker.split(section.text, section.page_number):
                tokens, chunks = tokens + piece.token_count, chunks + 1
    except ParseError as exc:
        _failed(est, item, str(exc))
        return
    est.tokens, est.chunks = est.tokens + tokens, est.chunks + chunks
    if document is None or counts_as_added(document):
        est.added += 1
    else:
        est.updated += 1


def _failed(est: Estimate, item: SourceItem, reason: str) -> None:
    est.failed += 1
    if len(est.failures) < 20:
        est.failures.append({"fileName": item.file_name, "reason": reason})
