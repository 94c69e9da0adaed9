"""Pure functions on ranked lists: reciprocal rank fusion and the result caps.

A ranking is a list of ``(chunk_id, score)``, best first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

Ranking = list[tuple[uuid.UUID, float]]


def rrf_fuse(rankings: Sequence[tuple[Ranking, float]], *, k: int) -> Ranking:
    """Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): each chunk
    scores ``Σ weight / (k + rank)`` over the rankings it appears in (ranks from 1),
    ``k`` = 60 in the paper. ``rankings`` are ``(ranking, weight)`` pairs. Ties keep
    the order of first appearance, so the result is deterministic."""
    scores: dict[uuid.UUID, float] = {}
    for ranking, weight in rankings:
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def merge_by_score(rankings: Sequence[Ranking]) -> Ranking:
    """Several rankings as one, by descending score (ties: first ranking first)."""
    merged = [item for ranking in rankings for item in ranking]
    return sorted(merged, key=lambda item: -item[1])


def above_threshold(ranking: Ranking, threshold: float | None) -> Ranking:
    """The items scoring at least ``threshold`` (all of them for None)."""
    if threshold is None:
        return ranking
    return [item for item in ranking if item[1] >= threshold]


def within_tokens(ranking: Ranking, tokens: dict, max_tokens: int | None) -> Ranking:
    """The longest prefix of ``ranking`` whose summed ``tokens[chunk_id]`` is at most
    ``max_tokens`` (all for None). A prefix, not a knapsack: results stay the best
    ones in order, so a chunk that does not fit ends the list."""
    if max_tokens is None:
        return ranking
    out, used = [], 0
    for item in ranking:
        used += tokens[item[0]]
        if used > max_tokens:
            break
        out.append(item)
    return out
