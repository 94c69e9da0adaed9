"""The index of an asset and its switch-over (issue 6: a re-index "builds the new
chunks and vectors beside the old ones and switches over only when it completes").

An asset has two sets of settings: its *target* (``embedding_*``, ``chunk_size``,
``chunk_overlap``: what the next run builds, changed by a PATCH at once) and its
*index* (``index_*``: what its current chunks were built with, and what search embeds
queries with). A run is **staged** when it is a REINDEX or its target differs from
the index. In a staged run a document whose new generation is complete keeps its
current one and records the new one as ``staged_version`` (documents.py); the switch
makes every recorded generation current, deletes the older ones and sets the index
to the run's settings, in the transaction of the operation's COMPLETED finish. So
search sees the whole old index or the whole new one, and a cancelled, failed or
lost staged run leaves the old index in place.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Left

from assets_app.models import Asset, Chunk, Document, DocumentStatus
from assets_app.selectors import current_chunks

HASH_CHARS = 64  # a building key starts with the SHA-256 content hash (documents.py)


@dataclass(frozen=True)
class IndexSettings:
    """What chunks are built with: provider, model, dimensions, chunk size and
    overlap (tokens)."""

    provider: str
    model: str
    dimensions: int
    chunk_size: int
    chunk_overlap: int

    @classmethod
    def target(cls, asset: Asset) -> IndexSettings:
        """What the asset's next run builds with."""
        return cls(
            asset.embedding_provider, asset.embedding_model,
            asset.embedding_dimensions, asset.chunk_size, asset.chunk_overlap,
        )  # fmt: skip

    @classmethod
    def index(cls, asset: Asset) -> IndexSettings:
        """What the asset's current chunks were built with."""
        return cls(
            asset.index_provider, asset.index_model, asset.index_dimensions,
            asset.index_chunk_size, asset.index_chunk_overlap,
        )  # fmt: skip

    def key(self) -> str:
        """The settings part of a document's ``building_key``."""
        return ":".join(
            str(v)
            for v in (self.chunk_size, self.chunk_overlap, self.provider, self.model,
                      self.dimensions)
        )  # fmt: skip


def index_pending(asset: Asset) -> bool:
    """Whether the asset's current chunks were built with other settings than its
    target: a re-index is pending or running, or was cancelled or failed."""
    return IndexSettings.target(asset) != IndexSettings.index(asset)


def index_settings_adopt(asset: Asset) -> None:
    """Set the (unsaved) asset's index to its target: for a new asset, whose empty
    index has no other settings, so that its first run is not staged."""
    target = IndexSettings.target(asset)
    asset.index_provider, asset.index_model = target.provider, target.model
    asset.index_dimensions = target.dimensions
    asset.index_chunk_size = target.chunk_size
    asset.index_chunk_overlap = target.chunk_overlap


def _delete_other_generations(document_ids: list) -> int:
    """Delete the chunks of ``document_ids`` other than each one's staged generation.
    A join written out: Django's ``exclude(document_version=F("document__…"))``
    becomes ``id IN (SELECT … JOIN …)``, which the planner ran as a nested loop of
    sequential scans (> 90 s for 10,000 chunks) when the statistics did not yet know
    the rows, as right after a large ingestion."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {Chunk._meta.db_table} c USING {Document._meta.db_table} d "
            "WHERE d.id = ANY(%s) AND c.document_id = d.id "
            "AND c.document_version <> d.staged_version",
            [document_ids],
        )
        return cursor.rowcount


def index_switch_refusal(*, asset_id, operation_id, settings: IndexSettings) -> str:
    """Why the staged run ``operation_id`` must not switch ``asset_id`` over ("" when
    it may): it changes the embedding model (provider, model or dimensions) and
    documents that are searchable now failed in it. Switching would drop their
    chunks, which are of the old model and cannot stay beside the new ones — a
    re-index whose provider failed (no key, unreachable, refusing) would empty the
    index. Then the run ends FAILED and the old index stays (issue 6: "a cancelled or
    failed re-index leaves the old one in place"); what it built stays stored for the
    next run to reuse. A chunking-only change switches: a document that failed there
    failed on its source (its content), as a refresh would. Call where index_switch
    is called, before it."""
    asset = Asset.objects.get(pk=asset_id)
    index = IndexSettings.index(asset)
    same_model = (settings.provider, settings.model, settings.dimensions) == (
        index.provider, index.model, index.dimensions,
    )  # fmt: skip
    if same_model:
        return ""
    failed = (
        Document.objects.filter(
            asset_id=asset_id, last_operation_id=operation_id,
            status=DocumentStatus.FAILED,
        )  # fmt: skip
        .filter(Exists(current_chunks().filter(document_id=OuterRef("pk"))))
        .order_by("file_name")
    )
    first = failed.first()
    if first is None:
        return ""
    return (
        f"The re-index to {settings.provider}/{settings.model} failed for "
        f"{failed.count()} searchable document(s) (first: {first.file_name}: "
        f"{first.error_message[:500]}). Nothing was switched: search answers from "
        f"the previous index ({index.provider}/{index.model}); the chunks built are "
        "kept, and the next refresh continues the re-index."
    )


def index_switch(*, asset_id, operation_id, settings: IndexSettings) -> int:
    """Switch ``asset_id`` over to what the staged run ``operation_id`` built with
    ``settings``; returns how many documents switched. Every document whose end the
    run recorded (``staged_version``, its ``last_operation``) gets that generation as
    its current one, counts from its chunks; a COMPLETED one also its content hash
    (from its ``building_key``). Older generations are deleted. When the settings
    differ from the index, documents the run failed without building anything (the
    source could not be read) lose their chunks, which are of the old settings.

    Call inside the transaction that ends the operation COMPLETED, after
    ``operation_lock_for_worker`` confirmed the caller still owns it (asset and
    operation rows locked), so that the switch commits exactly with the finish."""
    asset = Asset.objects.get(pk=asset_id)
    documents = Document.objects.filter(asset_id=asset_id)
    switching = documents.filter(staged_version__gt=0, last_operation_id=operation_id)
    ids = list(switching.values_list("pk", flat=True))
    if ids:
        _delete_other_generations(ids)
        of_staged = Chunk.objects.filter(
            document_id=OuterRef("pk"), document_version=OuterRef("staged_version")
        ).values("document_id")
        count = of_staged.annotate(n=Count("id")).values("n")
        tokens = of_staged.annotate(t=Sum("token_count")).values("t")
        completed = Q(status=DocumentStatus.COMPLETED) | Q(
            status=DocumentStatus.PENDING
        )  # PENDING: new, waiting for this switch
        switched = {
            "version": F("staged_version"),
            "chunk_count": Coalesce(Subquery(count), Value(0)),
            "token_count": Coalesce(Subquery(tokens), Value(0)),
            "staged_version": 0, "building_version": 0, "building_key": "",
        }  # fmt: skip
        # One UPDATE per outcome; the right-hand sides read the row as it was.
        documents.filter(pk__in=ids).filter(completed).update(
            **switched, status=DocumentStatus.COMPLETED, error_message="",
            content_hash=Left("building_key", HASH_CHARS),
        )  # fmt: skip
        documents.filter(pk__in=ids).exclude(completed).update(**switched)
    if settings != IndexSettings.index(asset):
        unread = documents.filter(
            last_operation_id=operation_id, status=DocumentStatus.FAILED,
            staged_version=0,
        ).exclude(pk__in=ids)  # fmt: skip
        Chunk.objects.filter(document__in=unread).delete()
        unread.update(chunk_count=0, token_count=0)
    Asset.objects.filter(pk=asset_id).update(
        index_provider=settings.provider, index_model=settings.model,
        index_dimensions=settings.dimensions, index_chunk_size=settings.chunk_size,
        index_chunk_overlap=settings.chunk_overlap,
    )  # fmt: skip
    return len(ids)
