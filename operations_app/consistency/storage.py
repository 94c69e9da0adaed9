"""Invariants of stored documents and chunks: counts, totals, positions, the index
(operations_app.consistency lists them all)."""

from __future__ import annotations

from django.db.models import Count, F, Q, Sum

from assets_app.models import Asset, Chunk, Document, Tenant
from assets_app.selectors import asset_totals, assets_with_details, current_chunks

from .report import Report, _scope


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
