"""Embedding providers behind one interface: ``embed(texts) -> EmbeddingResult``.

- ``builtin``: offline, deterministic, lexical (hashed token features); no download.
- ``openai``: any server speaking OpenAI's ``POST /v1/embeddings``; bills the token
  counts the server reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass
class EmbeddingResult:
    vectors: list[list[float]]
    billed_tokens: int  # tokens the provider charges for this request


class EmbeddingError(Exception):
    """The provider failed; the message is safe to show to a person."""


class Embedder(Protocol):
    dimensions: int

    def embed(self, texts: list[str]) -> EmbeddingResult: ...


def get_embedder(*, provider: str, model: str, dimensions: int) -> Embedder:
    """The embedder for an asset's settings. Raises EmbeddingError for an unknown
    provider."""
    if provider == "builtin":
        from .builtin import HashedLexicalEmbedder

        return HashedLexicalEmbedder(dimensions=dimensions)
    if provider == "openai":
        from .openai import OpenAICompatibleEmbedder

        return OpenAICompatibleEmbedder(model=model, dimensions=dimensions)
    raise EmbeddingError(f"Unknown embedding provider {provider!r}.")
