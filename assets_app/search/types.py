"""The shapes of a search: what is asked (``SearchParams``), what comes back
(``SearchOutcome`` of ``SearchHit``s), and the limits every interface checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from assets_app.models import Chunk

MAX_QUERY_CHARS = 16_384  # a 10 kB paste still searches; the embedder's limit is tokens
MAX_TOP_K = 100
DEFAULT_TOP_K = 10
DEFAULT_RRF_K = 60  # Cormack, Clarke & Büttcher 2009 ("Reciprocal Rank Fusion …")
MAX_RRF_K = 10_000
MAX_WEIGHT = 100.0
MAX_TOKENS_LIMIT = 100_000_000


class SearchMode(StrEnum):
    VECTOR = "VECTOR"
    FULL_TEXT = "FULL_TEXT"
    HYBRID = "HYBRID"


@dataclass(frozen=True)
class SearchParams:
    """One search request (API.md ``:search`` body), already type-checked.

    - ``top_k``: results wanted, 1…MAX_TOP_K.
    - ``score_threshold``: drop results scoring below it (the score of ``mode``:
      cosine similarity for VECTOR, ``ts_rank_cd``/(1 + it) for FULL_TEXT, the RRF
      sum for HYBRID); None keeps all.
    - ``vector_weight``, ``fts_weight``, ``rrf_k``: HYBRID only (ignored otherwise).
    - ``max_tokens``: the summed ``token_count`` of the results stays ≤ it (tokens of
      the asset's embedding model); None: no cap.
    """

    query: str
    mode: SearchMode = SearchMode.VECTOR
    top_k: int = DEFAULT_TOP_K
    score_threshold: float | None = None
    vector_weight: float = 1.0
    fts_weight: float = 1.0
    rrf_k: int = DEFAULT_RRF_K
    max_tokens: int | None = None


@dataclass
class SearchHit:
    """A result: the chunk (its ``document`` and ``asset`` loaded) and its score."""

    chunk: Chunk
    score: float


@dataclass
class SearchOutcome:
    """The results, best first, and the query's embedding usage: ``query_tokens``
    billed by the provider(s) (0 for FULL_TEXT) and their ``cost`` in USD at the
    models' current prices. ``asset_tokens``: asset id → its share of them (the
    tokens of a query embedded for several assets split among them, budgets.
    budget_split), which each asset's budget counts. ``skipped``: assets a tenant
    search left out because a budget limit of theirs is exhausted, or because embedding
    the query with their model failed while other models' assets were searched."""

    hits: list[SearchHit]
    query_tokens: int = 0
    cost: Decimal = Decimal("0")
    asset_tokens: dict = field(default_factory=dict)
    skipped: list[SkippedAsset] = field(default_factory=list)


@dataclass(frozen=True)
class SkippedAsset:
    """An asset a tenant search left out: ``error`` is the BudgetExhausted its own
    search would have answered (its ``limit``, ``resets_at``, message), or the
    EmbeddingFailed of the query with its index's model (no limit: the VECTOR side
    left it out; a HYBRID search still ranks it by FULL_TEXT)."""

    asset_id: object  # UUID
    display_name: str
    error: Exception

    @property
    def limit(self) -> str | None:
        """The exhausted limit's wire name; None when the embedding failed."""
        return getattr(self.error, "limit", None)

    @property
    def resets_at(self) -> int | None:
        """When that limit resets, epoch ms (UTC); None without one."""
        return getattr(self.error, "extra", {}).get("resetsAt")

    @property
    def detail(self) -> str:
        return getattr(self.error, "message", str(self.error))
