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
from operator import mul

from assets_app.ingestion.chunking import count_tokens_batch

from . import EmbeddingResult

_WORD = re.compile(r"\w+", re.UNICODE)
_MAX_TF = 256
_WEIGHTS = [0.0] + [1.0 + math.log(tf) for tf in range(1, _MAX_TF)]  # 1 + ln(tf)


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
        # The hot loop of built-in ingestion: locals and a weight table instead of
        # attribute look-ups and a log per feature; the arithmetic and its order are
        # unchanged, so vectors stay bit-identical.
        words = _WORD.findall(text.lower())
        features = Counter(words)
        features.update(map(" ".join, zip(words, words[1:], strict=False)))  # "a b"
        vec = [0.0] * self.dimensions
        cached, bucket = self._cache.get, self._bucket
        for feature, tf in features.items():
            index, sign = cached(feature) or bucket(feature)
            vec[index] += sign * (_WEIGHTS[tf] if tf < _MAX_TF else 1.0 + math.log(tf))
        norm = math.sqrt(sum(map(mul, vec, vec)))
        if norm == 0.0:
            return vec
        return [v / norm for v in vec]

    def embed(self, texts: list[str]) -> EmbeddingResult:
        return EmbeddingResult(
            vectors=[self.vector(t) for t in texts],
            billed_tokens=sum(count_tokens_batch(texts)),
        )
