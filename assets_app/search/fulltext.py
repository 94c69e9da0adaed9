"""FULL_TEXT ranking and highlighting with PostgreSQL full text search.

The query goes through ``websearch_to_tsquery('english', …)``, which accepts any
text (quotes, ``or``, ``-word``; stray operators such as ``C++ & (`` are words or
ignored) and never raises a syntax error — unlike ``to_tsquery``. A query with no
lexeme left (``!!``, only stop words) matches nothing; only the first 64 words of a
query count (``MAX_QUERY_WORDS``). It runs against
``Chunk.search_vector``, a generated ``tsvector`` (english) with a GIN index."""

from __future__ import annotations

import uuid

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.db.models import F, Value
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from ..models import Chunk
from ..selectors import current_chunks
from .fusion import Ranking

CONFIG = "english"  # the generated column's configuration (models.Chunk)
# ts_rank normalisation 32: rank / (rank + 1), so scores lie in [0, 1).
RANK_NORMALIZATION = 32
# Delimiters ts_headline puts around matches: control characters that escaping leaves
# alone, so the text is escaped first and only then do they become <mark> tags.
_START, _STOP = "\x02", "\x03"


# Words of a query that FULL_TEXT uses: the first 64. A query may be 16,384
# characters; a tsquery of thousands of terms made one search of a 100-chunk asset
# take 8 s (fresh-clone QA, "C++ & ( " × 1,250), and FULL_TEXT spends no budget.
MAX_QUERY_WORDS = 64


def full_text_words(query: str) -> str:
    """``query`` cut to its first MAX_QUERY_WORDS whitespace-separated words."""
    words = query.split()
    return query if len(words) <= MAX_QUERY_WORDS else " ".join(words[:MAX_QUERY_WORDS])


def _tsquery(query: str) -> SearchQuery:
    return SearchQuery(full_text_words(query), search_type="websearch", config=CONFIG)


def fulltext_ranking(*, asset_ids, query: str, limit: int) -> Ranking:
    """The ``limit`` current chunks of ``asset_ids`` that match ``query`` best, as
    ``[(chunk_id, score)]``: ``ts_rank_cd`` (cover density, so nearby terms count
    more) normalised to [0, 1); ties by chunk id."""
    if not asset_ids:
        return []
    tsquery = _tsquery(query)
    rows = (
        current_chunks()
        .filter(asset_id__in=asset_ids, search_vector=tsquery)
        .annotate(
            rank=SearchRank(
                F("search_vector"),
                tsquery,
                cover_density=True,
                normalization=Value(RANK_NORMALIZATION),
            )
        )
        .order_by("-rank", "id")
        .values_list("id", "rank")[:limit]
    )
    return list(rows)


def search_highlights(*, chunk_ids: list[uuid.UUID], query: str) -> dict:
    """``{chunk_id: SafeString}``: up to three fragments of each chunk around the
    words of ``query`` (as FULL_TEXT matches them: stemmed, english), the matches in
    ``<mark>``, everything else HTML-escaped (``ts_headline``). A chunk without a
    match gives its first words."""
    if not chunk_ids:
        return {}
    headline = SearchHeadline(
        "content",
        _tsquery(query),
        config=CONFIG,
        start_sel=_START,
        stop_sel=_STOP,
        max_fragments=3,
        max_words=30,
        min_words=12,
        fragment_delimiter=" … ",
    )
    rows = Chunk.objects.filter(id__in=chunk_ids).annotate(h=headline)
    return {i: _safe(h) for i, h in rows.values_list("id", "h")}


def _safe(headline: str) -> SafeString:
    text = escape(headline.replace(_START + _STOP, ""))
    return mark_safe(text.replace(_START, "<mark>").replace(_STOP, "</mark>"))  # noqa: S308 -- escaped above
