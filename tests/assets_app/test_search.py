"""assets_app.search: each mode on a small corpus with known answers, the caps, current
chunks only, hostile queries, roles and tenancy."""

from __future__ import annotations

import pytest

from assets_app.models import Chunk, Role
from assets_app.search import (
    SearchMode,
    SearchParams,
    rrf_fuse,
    search_asset,
    search_highlights,
    search_tenant,
    within_tokens,
)
from config.errors import NotFound, PermissionDenied, ValidationFailed
from tests.factories import AssetFactory, MembershipFactory, TenantFactory
from tests.search_corpus import add_document, chunk

pytestmark = pytest.mark.django_db

HANDBOOK = [
    "Holidays: every employee gets thirty vacation days per year.",
    "Expenses are reimbursed within two weeks when receipts are attached.",
    "The deployment pipeline builds containers and deploys them to Kubernetes.",
    "Security: rotate passwords every ninety days and use a password manager.",
    "Parental leave lasts sixteen weeks at full pay.",
]
C_PLUS_PLUS = "We write the engine in C++ and bind it to Python."


@pytest.fixture
def corpus(admin_member):
    asset = AssetFactory(tenant=admin_member.tenant, display_name="Handbook")
    document = add_document(asset, "handbook.md", HANDBOOK + [C_PLUS_PLUS, "---"])
    return {"asset": asset, "document": document, "actor": admin_member}


def contents(outcome) -> list[str]:
    return [hit.chunk.content for hit in outcome.hits]


def search(corpus, query, **params):
    return search_asset(
        actor=corpus["actor"],
        asset=corpus["asset"],
        params=SearchParams(query, **params),
    )


def test_vector_search_ranks_the_chunk_sharing_the_words_first(corpus):
    outcome = search(corpus, "how many vacation days do employees get", top_k=3)
    assert contents(outcome)[0] == HANDBOOK[0]
    assert len(outcome.hits) == 3
    scores = [h.score for h in outcome.hits]
    assert scores == sorted(scores, reverse=True) and -1 <= scores[-1] <= scores[0] <= 1
    assert outcome.query_tokens > 0  # the built-in embedder bills cl100k tokens


def test_full_text_search_matches_stems_and_only_matching_chunks(corpus):
    outcome = search(corpus, "deploying containers", mode=SearchMode.FULL_TEXT)
    assert contents(outcome) == [HANDBOOK[2]]
    assert 0 < outcome.hits[0].score < 1
    assert outcome.query_tokens == 0  # nothing was embedded


def test_full_text_websearch_syntax_phrases_or_and_exclusion(corpus):
    assert contents(search(corpus, '"parental leave"', mode="FULL_TEXT")) == [
        HANDBOOK[4]
    ]
    either = search(corpus, "passwords or receipts", mode="FULL_TEXT")
    assert set(contents(either)) == {HANDBOOK[1], HANDBOOK[3]}
    assert contents(search(corpus, "days -vacation", mode="FULL_TEXT")) == [HANDBOOK[3]]


def test_hybrid_fuses_both_rankings_with_rrf(corpus):
    outcome = search(corpus, "rotate passwords", mode=SearchMode.HYBRID, rrf_k=60)
    top = outcome.hits[0]
    assert top.chunk.content == HANDBOOK[3]
    # First in both rankings: 1/(60+1) + 1/(60+1).
    assert top.score == pytest.approx(2 / 61)
    only_vector = search(corpus, "rotate passwords", mode="HYBRID", fts_weight=0)
    assert only_vector.hits[0].score == pytest.approx(1 / 61)


def test_hybrid_weights_decide_between_the_rankings():
    vec = [("a", 0.9), ("b", 0.8)]
    fts = [("b", 0.5), ("a", 0.1)]
    assert [i for i, _ in rrf_fuse([(vec, 2.0), (fts, 1.0)], k=60)] == ["a", "b"]
    assert [i for i, _ in rrf_fuse([(vec, 1.0), (fts, 2.0)], k=60)] == ["b", "a"]


def test_top_k_and_score_threshold_cut_the_results(corpus):
    all_of_them = search(corpus, "days", top_k=100)
    assert len(all_of_them.hits) == 6  # the "---" chunk has no direction
    threshold = all_of_them.hits[1].score
    kept = search(corpus, "days", top_k=100, score_threshold=threshold)
    assert [h.score for h in kept.hits] == [h.score for h in all_of_them.hits[:2]]
    assert len(search(corpus, "days", top_k=2).hits) == 2


def test_max_tokens_keeps_the_best_prefix_within_the_cap(corpus):
    full = search(corpus, "days weeks", top_k=5)
    counts = [h.chunk.token_count for h in full.hits]
    capped = search(corpus, "days weeks", top_k=5, max_tokens=counts[0] + counts[1])
    assert contents(capped) == contents(full)[:2]
    assert sum(h.chunk.token_count for h in capped.hits) <= counts[0] + counts[1]
    assert search(corpus, "days weeks", max_tokens=counts[0] - 1).hits == []
    assert within_tokens([("a", 1.0), ("b", 0.5)], {"a": 3, "b": 3}, 5) == [("a", 1.0)]


def test_results_carry_document_source_and_position(corpus):
    hit = search(corpus, "vacation days", top_k=1).hits[0]
    assert hit.chunk.document.source_url == "file:///srv/docs/handbook.md"
    assert hit.chunk.document.source_key == "docs/handbook.md"
    assert (hit.chunk.chunk_index, hit.chunk.start_line, hit.chunk.heading_path) == (
        0, 1, ["Guide"],
    )  # fmt: skip


@pytest.mark.parametrize("mode", list(SearchMode))
def test_only_current_chunks_are_searched(corpus, mode):
    """A re-embedding in progress writes version 2 beside version 1: until the
    document moves to version 2, only version 1 is found."""
    document = corpus["document"]
    Chunk.objects.create(
        **{
            f.name: getattr(
                chunk(document, 0, "vacation days galore", version=2), f.name
            )
            for f in Chunk._meta.concrete_fields
            if f.name not in ("id", "search_vector", "created_at")
        }
    )
    found = contents(search(corpus, "vacation days", mode=mode, top_k=100))
    assert "vacation days galore" not in found and HANDBOOK[0] in found
    document.version = 2
    document.save(update_fields=["version"])
    found = contents(search(corpus, "vacation days", mode=mode, top_k=100))
    assert found == ["vacation days galore"]


@pytest.mark.parametrize("mode", list(SearchMode))
@pytest.mark.parametrize(
    "query", ["C++ & (", "'", "!!", "a", "(((", "<script>", "don't", "x" * 10_240]
)
def test_hostile_queries_give_results_or_nothing_never_an_error(corpus, mode, query):
    outcome = search(corpus, query, mode=mode)
    assert all(h.score == h.score for h in outcome.hits)  # no NaN


def test_c_plus_plus_is_found_by_full_text(corpus):
    assert contents(search(corpus, "C++ & (", mode="FULL_TEXT")) == [C_PLUS_PLUS]


def test_query_without_words_finds_nothing_by_vector(corpus):
    assert search(corpus, "!!", mode="VECTOR").hits == []
    assert search(corpus, "!!", mode="FULL_TEXT").hits == []


def test_highlights_mark_matches_and_escape_the_rest(corpus, admin_member):
    asset = corpus["asset"]
    doc = add_document(
        asset,
        "x.md",
        ["if a < b && c > d: take vacation; <img src=x onerror=alert(1)>"],
    )
    highlights = search_highlights(chunk_ids=[doc.chunks.get().id], query="vacations")
    html = str(highlights[doc.chunks.get().id])
    assert "<mark>vacation</mark>" in html
    assert "&lt;img" in html
    assert html.replace("<mark>", "").replace("</mark>", "").count("<") == 0


def test_viewer_may_not_search_and_other_tenants_assets_are_not_found(corpus):
    viewer = MembershipFactory(tenant=corpus["actor"].tenant, role=Role.VIEWER)
    with pytest.raises(PermissionDenied, match="VIEWER"):
        search_asset(actor=viewer, asset=corpus["asset"], params=SearchParams("days"))
    editor = MembershipFactory(tenant=corpus["actor"].tenant, role=Role.EDITOR)
    assert search_asset(
        actor=editor, asset=corpus["asset"], params=SearchParams("days")
    )
    stranger = MembershipFactory(tenant=TenantFactory(), role=Role.ADMIN)
    with pytest.raises(NotFound):
        search_asset(actor=stranger, asset=corpus["asset"], params=SearchParams("x"))


def test_hybrid_with_both_weights_zero_is_refused(corpus):
    with pytest.raises(ValidationFailed) as exc:
        search(corpus, "days", mode="HYBRID", vector_weight=0, fts_weight=0)
    assert set(exc.value.errors) == {"vectorWeight", "ftsWeight"}


def test_tenant_search_spans_the_tenants_assets_only(corpus):
    actor = corpus["actor"]
    other = AssetFactory(tenant=actor.tenant, display_name="Runbook")
    add_document(
        other, "runbook.md", ["Restart the deployment pipeline on Kubernetes."]
    )
    foreign = AssetFactory(tenant=TenantFactory(), display_name="Theirs")
    add_document(foreign, "theirs.md", ["Kubernetes deployment pipeline secrets."])
    for mode in SearchMode:
        outcome = search_tenant(
            actor=actor,
            params=SearchParams("kubernetes deployment pipeline", mode=mode),
        )
        assets = {h.chunk.asset.display_name for h in outcome.hits}
        assert "Theirs" not in assets, mode
        assert {"Handbook", "Runbook"} <= {
            h.chunk.asset.display_name for h in outcome.hits[:2]
        }, mode


def test_hybrid_side_of_weight_zero_is_not_run(corpus):
    """Weight 0 adds nothing to any RRF score: no query embedding is spent on it."""
    fts_only = search(corpus, "rotate passwords", mode="HYBRID", vector_weight=0)
    assert fts_only.query_tokens == 0
    assert contents(fts_only) == [HANDBOOK[3]]
    assert fts_only.hits[0].score == pytest.approx(1 / 61)


def test_full_text_uses_the_first_64_words_of_a_long_query(corpus):
    """A 10,000-character query of operators took 8 s (QA); only its first 64 words
    become the tsquery: a word among them counts, one after them does not."""
    from assets_app.search.fulltext import full_text_words

    hostile = "C++ & ( " * 1250
    assert full_text_words(hostile).split() == hostile.split()[:64]
    assert contents(search(corpus, hostile, mode=SearchMode.FULL_TEXT)) == [C_PLUS_PLUS]
    # "zebra or … or containers": the alternatives past the 64th word are cut.
    early = search(corpus, "containers " + "or zebra " * 100, mode="FULL_TEXT")
    assert contents(early) == [HANDBOOK[2]]
    late = search(corpus, "zebra or " * 40 + "containers", mode="FULL_TEXT")
    assert late.hits == []
    short = search(corpus, "zebra or " * 10 + "containers", mode="FULL_TEXT")
    assert contents(short) == [HANDBOOK[2]]
