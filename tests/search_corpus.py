"""Chunks made directly (no ingestion) for search tests: documents of one chunk per
text with the built-in embedder's vectors, and bulk random clustered vectors."""

from __future__ import annotations

import random

from assets_app.embedding.builtin import HashedLexicalEmbedder
from assets_app.ingestion.chunking import count_tokens
from assets_app.models import Asset, Chunk, Document, DocumentStatus

_EMBEDDER = HashedLexicalEmbedder(dimensions=384)


def add_document(asset: Asset, name: str, texts: list[str], **chunk_fields) -> Document:
    """A COMPLETED document of ``asset`` whose chunks (version 1) are ``texts``,
    embedded with the built-in embedder unless ``embed`` (text → vector of the
    asset's dimensions) is given."""
    document = Document.objects.create(
        asset=asset, source_key=f"docs/{name}", file_name=name,
        content_type="text/markdown", source_url=f"file:///srv/docs/{name}",
        status=DocumentStatus.COMPLETED, version=1, chunk_count=len(texts),
    )  # fmt: skip
    Chunk.objects.bulk_create(
        chunk(document, i, text, version=1, **chunk_fields)
        for i, text in enumerate(texts)
    )
    return document


def chunk(
    document: Document, index: int, text: str, *, version: int, embed=None, **fields
) -> Chunk:
    lines = text.count("\n") + 1
    vector = (embed or _EMBEDDER.vector)(text)
    values = {
        "start_char_idx": 0, "end_char_idx": len(text), "start_line": 1,
        "end_line": lines, "heading_path": ["Guide"], "page_number": None,
        "token_count": count_tokens(text), **fields,
    }  # fmt: skip
    return Chunk(
        asset_id=document.asset_id, document=document, document_version=version,
        chunk_index=index, content=text, embedding=vector,
        embedding_dimensions=len(vector), **values,
    )  # fmt: skip


def clustered_vectors(n: int, *, dims=384, clusters=50, spread=0.35, seed=7):
    """``n`` unit vectors around ``clusters`` random centres (Gaussian noise of
    ``spread`` per unit of the centre's norm): neighbours are meaningful, unlike
    uniform noise, where all distances are about equal."""
    rng = random.Random(seed)
    centres = [[rng.gauss(0, 1) for _ in range(dims)] for _ in range(clusters)]
    out = []
    for _ in range(n):
        c = centres[rng.randrange(clusters)]
        v = [x + rng.gauss(0, spread) for x in c]
        norm = sum(x * x for x in v) ** 0.5
        out.append([x / norm for x in v])
    return out
