"""The built-in offline embedder: lexical, not semantic.

Each lower-cased word and word bigram is hashed (BLAKE2b) to one of ``dimensions``
buckets with a hashed sign (the "hashing trick", Weinberger et al. 2009), weighted
1 + ln(term frequency), and the vector is L2-normalised, so cosine similarity measures
shared vocabulary. It needs no model download and gives the same vector for the same
text on every machine. Billed tokens are cl100k_base counts; its price is 0 USD
unless an admin sets one."""

from __future__ import annotations

import math
import re
from collections import Counter
from hashlib import blake2b

from assets_app.ingestion.chunking import count_tokens_batch

from . import EmbeddingResult

_WORD = re.compile(r"\w+", re.UNICODE)


class HashedLexicalEmbedder:
    def __init__(self, *, dimensions: int = 384):
        self.dimensions = dimensions
        self._cache: dict[str, tuple[int, float]] = {}

    def _bucket(self, feature: str) -> tuple[int, float]:
        hit = self._cache.get(feature)
        if hit is None:
            h = int.from_bytes(blake2b(feature.encode(), digest_size=8).digest(), "little")
            hit = (h % self.dimensions, 1.0 if (h >> 63) & 1 else -1.0)
            if len(self._cache) < 200_000:
                self._cache[feature] = hit
        return hit

    def vector(self, text: str) -> list[float]:
        words = _WORD.findall(text.lower())
        features = Counter(words)
        features.update(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))
        vec = [0.0] * self.dimensions
        for feature, tf in features.items():
            index, sign = self._bucket(feature)
            vec[index] += sign * (1.0 + math.log(tf))
        norm = math.sqrt(sum(v * v for v in vec))
        if norm == 0.0:
            return vec
        return [v / norm for v in vec]

    def embed(self, texts: list[str]) -> EmbeddingResult:
        return EmbeddingResult(
            vectors=[self.vector(t) for t in texts],
            billed_tokens=sum(count_tokens_batch(texts)),
        )
