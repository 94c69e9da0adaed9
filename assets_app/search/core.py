"""Search over an asset, or over all vectorized assets of a tenant: the one core the
API (``:search``) and the dashboard's playground call.

- VECTOR: the query is embedded once per (provider, model, dimensions) among the
  searched assets, and each group is searched in its own dimension (vector.py). The
  groups' lists are merged by cosine similarity — comparable only roughly across
  models, which is why a tenant search of mixed models should prefer HYBRID.
- FULL_TEXT: one ranking over all searched assets (fulltext.py).
- HYBRID: reciprocal rank fusion (fusion.py) of the VECTOR and FULL_TEXT rankings of
  the same scope, each ``candidate_depth(top_k)`` deep, weighted by ``vector_weight``
  and ``fts_weight``. A tenant search is the same over the wider scope.

Then, in this order: ``score_threshold`` drops low scores, ``top_k`` cuts, and
``max_tokens`` keeps the longest prefix within the token cap. Only current chunks
(``selectors.current_chunks``) are searched and returned."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.conf import settings

from config.errors import EmbeddingFailed, NotFound, PermissionDenied, ValidationFailed

from ..budgets import (
    LIMITS,
    QUERY_PERIODS,
    BudgetExhausted,
    asynchronous_commit,
    budget_record_many,
    budget_release_all,
    budget_reserve_many,
    budget_settle_many,
    budget_split,
    utc_now,
)
from ..embedding import EmbeddingError, get_embedder
from ..ingestion.chunking import count_tokens
from ..models import Asset, Membership, Role
from ..selectors import (
    current_chunks,
    model_max_input_tokens,
    model_price_per_million,
)
from .fulltext import fulltext_ranking
from .fusion import above_threshold, merge_by_score, rrf_fuse, within_tokens
from .types import SearchHit, SearchMode, SearchOutcome, SearchParams, SkippedAsset
from .vector import vector_ranking

# API.md "Roles": EDITOR (create/patch/refresh/cancel/search). A search spends query
# embedding tokens, which the asset's daily and monthly budgets count.
SEARCH_ROLE = Role.EDITOR
MAX_CANDIDATES = 400


def candidate_depth(top_k: int) -> int:
    """How deep each HYBRID ranking goes: 4 × top_k, at least 50, at most 400."""
    return min(max(50, 4 * top_k), MAX_CANDIDATES)


def _require_search(actor: Membership, tenant_id) -> None:
    if actor.tenant_id != tenant_id:
        raise NotFound("No such asset in this tenant.")
    if not actor.allows(SEARCH_ROLE):
        raise PermissionDenied(f"Your role {actor.role} in this tenant cannot search.")


def _group_by_model(assets: list[Asset]) -> dict[tuple[str, str, int], list[Asset]]:
    groups: dict[tuple[str, str, int], list[Asset]] = defaultdict(list)
    for asset in assets:
        # The index's model (switch.py): what the current chunks were embedded
        # with, not the target a re-index in progress builds.
        key = (asset.index_provider, asset.index_model, asset.index_dimensions)
        groups[key].append(asset)
    return groups


def _embed_query(asset: Asset, query: str) -> tuple[list[float], int]:
    """The query's vector with the embedder of ``asset``'s index and the tokens
    billed. Raises ValidationFailed (longer than the model's input limit) or
    EmbeddingFailed."""
    provider, model = asset.index_provider, asset.index_model
    limit = model_max_input_tokens(provider=provider, model=model)
    if count_tokens(query) > limit:
        raise ValidationFailed(
            f"The query is longer than the model's {limit} tokens; shorten it.",
            errors={"query": [f"At most {limit} tokens for {provider}/{model}."]},
        )
    try:
        embedder = get_embedder(
            provider=provider, model=model, dimensions=asset.index_dimensions,
            rate_key=str(asset.id),
            # A person waits for the answer: retry briefly, then 502.
            max_attempts=settings.RAGDESK_EMBED_SEARCH_MAX_ATTEMPTS,
        )
        result = embedder.embed([query])
    except EmbeddingError as exc:
        raise EmbeddingFailed(f"Embedding the query failed: {exc}") from exc
    return result.vectors[0], result.billed_tokens


def _vector_side(assets: list[Asset], query: str, limit: int):
    """(ranking merged by similarity, tokens billed, cost in USD, asset id → its
    share of the tokens billed for its model's query embedding, [SkippedAsset]).
    When embedding the query fails for one model but not for all, that model's
    assets are left out (skipped) rather than failing the whole search — one
    asset's broken provider must not break a tenant's search (fresh-clone QA);
    when it fails for every model, the first EmbeddingFailed is raised."""
    rankings, tokens, cost, shares = [], 0, Decimal("0"), {}
    groups, failures = _group_by_model(assets), []
    for (provider, model, dims), group in groups.items():
        try:
            vector, billed = _embed_query(group[0], query)
        except EmbeddingFailed as exc:
            failures.append((group, exc))
            continue
        tokens += billed
        ids = sorted(a.id for a in group)  # the remainder goes by id: deterministic
        shares.update(zip(ids, budget_split(billed, len(ids)), strict=True))
        price = model_price_per_million(provider=provider, model=model)
        cost += billed * price / Decimal(1_000_000)
        rankings.append(
            vector_ranking(
                asset_ids=[a.id for a in group], dimensions=dims, vector=vector,
                limit=limit,
            )
        )  # fmt: skip
    if failures and len(failures) == len(groups):
        raise failures[0][1]
    skipped = [SkippedAsset(a.id, a.display_name, exc)
               for group, exc in failures for a in group]  # fmt: skip
    return merge_by_score(rankings)[:limit], tokens, cost, shares, skipped


def _search(assets: list[Asset], params: SearchParams) -> SearchOutcome:
    mode, top_k = params.mode, params.top_k
    hybrid = mode == SearchMode.HYBRID
    depth = candidate_depth(top_k) if hybrid else top_k
    # A HYBRID side of weight 0 adds nothing to any score: skip it (and its tokens).
    vector_side = mode == SearchMode.VECTOR or (hybrid and params.vector_weight > 0)
    fts_side = mode == SearchMode.FULL_TEXT or (hybrid and params.fts_weight > 0)
    vec, fts, tokens, cost, shares, skipped = [], [], 0, Decimal("0"), {}, []
    if vector_side:
        vec, tokens, cost, shares, skipped = _vector_side(
            assets, params.query, depth
        )
    if fts_side:
        fts = fulltext_ranking(
            asset_ids=[a.id for a in assets], query=params.query, limit=depth
        )
    if hybrid:
        weighted = [(vec, params.vector_weight), (fts, params.fts_weight)]
        ranking = rrf_fuse(weighted, k=params.rrf_k)
    else:
        ranking = vec if mode == SearchMode.VECTOR else fts
    ranking = above_threshold(ranking, params.score_threshold)[:top_k]
    chunks = {
        c.id: c
        for c in current_chunks()
        .filter(id__in=[i for i, _ in ranking])
        .select_related("document", "asset")
        # Not read by hits; parsing 384+ floats and a tsvector per row costs more
        # than the rest of the row (bench/search.py).
        .defer("embedding", "search_vector")
    }  # a chunk replaced since it was ranked is left out
    ranking = [item for item in ranking if item[0] in chunks]
    tokens_of = {i: c.token_count for i, c in chunks.items()}
    ranking = within_tokens(ranking, tokens_of, params.max_tokens)
    hits = [SearchHit(chunk=chunks[i], score=score) for i, score in ranking]
    return SearchOutcome(
        hits=hits, query_tokens=tokens, cost=cost, asset_tokens=shares,
        skipped=skipped,
    )  # fmt: skip


def _check(params: SearchParams, *, vectorized: bool) -> None:
    if params.mode != SearchMode.FULL_TEXT and not vectorized:
        raise ValidationFailed(
            "This asset is not vectorized; search it with searchMode FULL_TEXT.",
            errors={"searchMode": ["Only FULL_TEXT for an asset without vectors."]},
        )
    if params.mode == SearchMode.HYBRID and not (
        params.vector_weight or params.fts_weight
    ):
        raise ValidationFailed(
            "vectorWeight and ftsWeight are both 0; give one of them a weight.",
            errors={
                "vectorWeight": ["Both weights are 0."],
                "ftsWeight": ["Both weights are 0."],
            },
        )


def search_asset(
    *, actor: Membership, asset: Asset, params: SearchParams
) -> SearchOutcome:
    """Search one asset's current chunks (API.md ``POST …/assets/{asset}:search``).

    Returns a SearchOutcome: at most ``params.top_k`` hits, best first. Raises
    NotFound (the asset is not of the actor's tenant), PermissionDenied (below
    SEARCH_ROLE), ValidationFailed (VECTOR/HYBRID on a non-vectorized asset; both
    HYBRID weights 0; a query over the model's input tokens), EmbeddingFailed (the
    provider failed; 502) or budgets.BudgetExhausted (429: the query's tokens would
    cross the asset's daily or monthly limit; they are reserved before the query is
    embedded and settled with the billed count, API.md "Budgets")."""
    _require_search(actor, asset.tenant_id)
    _check(params, vectorized=asset.vectorized)
    reservations = {}
    if _embeds_query(params):
        reservations, refused = _reserve_query([asset], params.query)
        if refused:
            raise refused[asset.id]
    return _search_metered([asset], params, reservations)


def _embeds_query(params: SearchParams) -> bool:
    return params.mode == SearchMode.VECTOR or (
        params.mode == SearchMode.HYBRID and params.vector_weight > 0
    )


def _reserve_query(assets: list[Asset], query: str) -> tuple[dict, dict]:
    """Reserve the query's cl100k tokens against each asset's daily and monthly
    limits (budgets.budget_reserve_many): (asset id → reservation, asset id →
    BudgetExhausted). Only assets with a daily or monthly limit: the others have
    nothing to check, and their share is counted afterwards (``_search_metered``).
    Committed asynchronously (budgets.asynchronous_commit)."""
    limited = [a.id for a in assets if _has_query_limit(a)]
    if not limited:
        return {}, {}
    with asynchronous_commit():
        return budget_reserve_many(
            asset_ids=limited, tokens=count_tokens(query), periods=QUERY_PERIODS,
            what="this query",
        )  # fmt: skip


def _has_query_limit(asset: Asset) -> bool:
    """Whether a search query of ``asset`` has a limit to check (QUERY_PERIODS)."""
    return any(
        getattr(asset, lim.field) is not None
        for lim in LIMITS
        if lim.period in QUERY_PERIODS
    )


def _search_metered(
    assets: list[Asset], params: SearchParams, reservations: dict
) -> SearchOutcome:
    """_search, then settle each asset's reservation with its share of the billed
    tokens (all of them for one asset); on any error release them all. Both commit
    asynchronously (budgets.asynchronous_commit)."""
    try:
        outcome = _search(assets, params)
    except BaseException:
        budget_release_all(reservations.values())
        raise
    unreserved = {
        a: n for a, n in outcome.asset_tokens.items() if a not in reservations and n
    }
    if reservations or unreserved:
        with asynchronous_commit():
            budget_settle_many(
                [(r, outcome.asset_tokens.get(a, 0)) for a, r in reservations.items()]
            )
            budget_record_many(unreserved)
    return outcome


def search_tenant(*, actor: Membership, params: SearchParams) -> SearchOutcome:
    """Search the current chunks of all vectorized assets of the actor's tenant
    (``POST …/assets:search``, docs/api.md). Assets of different embedding models
    are each searched in their own dimension, embedding the query once per model;
    see the module docstring for how the lists are fused.

    Budgets (docs/api.md "Budgets"): each asset is admitted as its own search would
    be, reserving the query's tokens against its daily and monthly limits; one whose
    limit is exhausted is left out (``outcome.skipped``). The tokens billed for a
    model's query embedding are split among the assets of that model searched
    (budgets.budget_split), so the assets' usage adds up to what was billed. Raises
    as search_asset; BudgetExhausted (429) only when every asset is left out."""
    _require_search(actor, actor.tenant_id)
    _check(params, vectorized=True)
    assets = list(
        Asset.objects.filter(tenant=actor.tenant, vectorized=True).order_by("id")
    )
    reservations, skipped = {}, []
    if _embeds_query(params):
        reservations, refused = _reserve_query(assets, params.query)
        skipped = [SkippedAsset(a.id, a.display_name, refused[a.id])
                   for a in assets if a.id in refused]  # fmt: skip
        if skipped and len(skipped) == len(assets):
            raise _all_exhausted(skipped)
        assets = [a for a in assets if a.id not in refused]
    outcome = _search_metered(assets, params, reservations)
    outcome.skipped = skipped + outcome.skipped
    return outcome


def _all_exhausted(skipped: list[SkippedAsset]) -> BudgetExhausted:
    """The 429 of a tenant search that left every asset out: it names the limit
    that resets first (a total limit never does), so Retry-After is when searching
    can go on."""
    first = min(
        skipped,
        key=lambda s: (s.error.resets_at is None, s.error.resets_at or utc_now()),
    )
    exc = first.error
    return BudgetExhausted(
        f"Every asset this search covers is over a budget limit ({len(skipped)} "
        f"left out). The first to reset is {first.display_name} ({first.asset_id}): "
        f"{exc.message}",
        limit=exc.limit, resets_at=exc.resets_at, now=utc_now(),
    )  # fmt: skip
