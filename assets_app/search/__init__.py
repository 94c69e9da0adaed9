"""Search: VECTOR (pgvector HNSW, cosine), FULL_TEXT (PostgreSQL full text) and
HYBRID (reciprocal rank fusion) over current chunks of one asset or of a tenant.

``search_asset`` and ``search_tenant`` (core) are what the API and the dashboard
call; ``search_highlights`` marks the query's words in results for the dashboard.
docs/architecture.md "Search" explains the choices."""

from .core import SEARCH_ROLE, candidate_depth, search_asset, search_tenant
from .fulltext import fulltext_ranking, search_highlights
from .fusion import rrf_fuse, within_tokens
from .types import (
    DEFAULT_RRF_K,
    DEFAULT_TOP_K,
    MAX_QUERY_CHARS,
    MAX_RRF_K,
    MAX_TOKENS_LIMIT,
    MAX_TOP_K,
    MAX_WEIGHT,
    SearchHit,
    SearchMode,
    SearchOutcome,
    SearchParams,
)
from .vector import vector_queryset, vector_ranking

__all__ = [
    "DEFAULT_RRF_K",
    "DEFAULT_TOP_K",
    "MAX_QUERY_CHARS",
    "MAX_RRF_K",
    "MAX_TOKENS_LIMIT",
    "MAX_TOP_K",
    "MAX_WEIGHT",
    "SEARCH_ROLE",
    "SearchHit",
    "SearchMode",
    "SearchOutcome",
    "SearchParams",
    "candidate_depth",
    "fulltext_ranking",
    "rrf_fuse",
    "search_asset",
    "search_highlights",
    "search_tenant",
    "vector_queryset",
    "vector_ranking",
    "within_tokens",
]
