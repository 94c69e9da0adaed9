"""Search benchmark: recall@10 and latency of VECTOR, FULL_TEXT and HYBRID search.

    .venv/bin/python bench/search.py [--chunks 1000000] [--assets 100] [--queries 100]
    .venv/bin/python bench/search.py --skip-load      # measure the data loaded before

1. Fills its own database (``ragdesk_bench_search``, or ``RAGDESK_BENCH_DB_NAME``; the
   name must contain ``bench``) with one tenant, an EDITOR, ``--assets`` assets (the
   built-in 384-dimension model) and ``--chunks`` chunks spread evenly over them, by a
   psycopg binary ``COPY`` (pgvector's psycopg adapter). The HNSW and GIN indexes are
   dropped first and built after the COPY (cheaper than maintaining them per row);
   the build uses ``maintenance_work_mem`` (``--maintenance-work-mem``) and one
   parallel worker. Then ``VACUUM ANALYZE``, as autovacuum would.
2. Data with structure, so recall means something: 1,000 topics are points of a
   48-dimension latent space; a chunk is its topic's point plus Gaussian noise (0.45
   per coordinate), mapped to 384 dimensions by a fixed random projection, plus a
   little noise in all 384 (0.02), then L2-normalised — clusters of low intrinsic
   dimension, as real text embeddings have, not uniform noise (where every
   neighbour is about as far as any other). Each asset covers 20 random topics (so
   topics are shared between assets). A chunk's text is 12 words drawn from its
   topic's 40 words and 48 words from a 20,000-word vocabulary, both Zipf-weighted,
   so FULL_TEXT and VECTOR agree roughly, as they do on real text.
3. Queries: a random asset, one of its topics, a fresh point of that topic (the
   query vector) and two of the topic's words (the query text). The query's
   embedding is taken from that table instead of the built-in embedder (which knows
   nothing of synthetic vectors); everything else is ``assets_app.search`` as the API
   calls it — SQL, fusion and loading the result chunks — in-process, no HTTP.
4. Runs ``--warmup`` (300) untimed queries of another seed, every case: a server in
   use has the index pages its queries visit in its buffers, and each run of this
   bench starts the embedded server with them empty.
5. Measures, interleaving the cases query by query (which case runs first rotates,
   since the cases of one query warm the same pages): VECTOR filtered to the asset
   (``search_asset``) and unfiltered (``search_tenant``: all assets of the tenant),
   FULL_TEXT and HYBRID the same two ways; median and p99 latency in ms; recall@10 of
   VECTOR against exact search (``vector_ranking(exact=True)``, no index) — for
   unfiltered on ``--exact-queries`` queries, since each exact one reads every row.
   The plan of a filtered VECTOR query is printed, to show which path the planner
   took.

Targets (issue 6): recall@10 ≥ 0.95 with p50 ≤ 20 ms; filtered p50 ≤ 2 × unfiltered.
It prints figures and exits 0 whether or not they are met.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DIMS, LATENT, TOPICS, TOPICS_PER_ASSET = 384, 48, 1000, 20
VOCABULARY, TOPIC_WORDS, WORDS_TOPIC, WORDS_OTHER = 20_000, 40, 12, 48
CHUNKS_PER_DOCUMENT = 100
K = 10


def setup_django(db_name: str) -> None:
    """Point the settings at the bench database, set Django up and migrate."""
    if "bench" not in db_name:
        sys.exit(f"Refusing to use {db_name!r}: the name must contain 'bench'.")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ["RAGDESK_DB_NAME"] = db_name
    sys.path.insert(0, str(BASE_DIR))
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    if "bench" not in connection.settings_dict["NAME"]:  # e.g. DATABASE_URL is set
        sys.exit(f"Refusing to use {connection.settings_dict['NAME']!r}.")
    call_command("migrate", verbosity=0)


class Corpus:
    """The seeded generator of topics, vectors, words and queries."""

    def __init__(self, n_assets: int, seed: int):
        import numpy as np

        self.np = np
        rng = np.random.default_rng(seed)
        self.centres = rng.normal(size=(TOPICS, LATENT))
        self.projection = rng.normal(size=(LATENT, DIMS)) / np.sqrt(LATENT)
        self.asset_topics = [
            rng.choice(TOPICS, TOPICS_PER_ASSET, replace=False) for _ in range(n_assets)
        ]
        self.topic_words = rng.integers(0, VOCABULARY, size=(TOPICS, TOPIC_WORDS))
        zipf = 1.0 / np.arange(1, VOCABULARY + 1)
        self.p_vocab = zipf / zipf.sum()
        ztopic = 1.0 / np.arange(1, TOPIC_WORDS + 1)
        self.p_topic = ztopic / ztopic.sum()
        syllables = ["ka", "lo", "mi", "ren", "tu", "sa", "vel", "dor", "in", "ph",
                     "qua", "zi", "bre", "no", "ust", "ea"]  # fmt: skip
        self.words = [
            syllables[i % 16] + syllables[(i // 16) % 16] + syllables[(i // 256) % 16]
            + syllables[(i // 4096) % 16]
            for i in range(VOCABULARY)
        ]  # fmt: skip

    def vectors(self, topics, rng):
        np = self.np
        latent = self.centres[topics] + 0.45 * rng.normal(size=(len(topics), LATENT))
        x = latent @ self.projection + 0.02 * rng.normal(size=(len(topics), DIMS))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    def texts(self, topics, rng) -> list[str]:
        n = len(topics)
        own = rng.choice(TOPIC_WORDS, size=(n, WORDS_TOPIC), p=self.p_topic)
        own = self.topic_words[topics[:, None], own]
        other = rng.choice(VOCABULARY, size=(n, WORDS_OTHER), p=self.p_vocab)
        rows = self.np.concatenate([own, other], axis=1)
        rng.permuted(rows, axis=1, out=rows)
        w = self.words
        return [" ".join(w[i] for i in row) for row in rows]

    def queries(self, n: int, seed: int):
        """``[(asset index, text, vector)]``."""
        rng = self.np.random.default_rng(seed)
        out = []
        for _ in range(n):
            a = int(rng.integers(len(self.asset_topics)))
            topic = int(rng.choice(self.asset_topics[a]))
            vector = self.vectors(self.np.array([topic]), rng)[0]
            picks = rng.choice(TOPIC_WORDS, size=2, replace=False, p=self.p_topic)
            text = " ".join(self.words[self.topic_words[topic, i]] for i in picks)
            out.append((a, text, [float(x) for x in vector]))
        return out


def seed_tenant(n_assets: int):
    """Empty the database; create the tenant, its EDITOR and the assets (by name)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from assets_app.models import Asset, Membership, Role, SourceType, Tenant

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE assets_app_tenant, auth_user, django_q_ormq, django_q_task "
            "CASCADE"
        )
    user = get_user_model().objects.create_user("bench-editor")
    tenant = Tenant.objects.create(slug="bench", name="Benchmark")
    Membership.objects.create(user=user, tenant=tenant, role=Role.EDITOR)
    Asset.objects.bulk_create(
        Asset(
            tenant=tenant, display_name=f"Asset {i:03d}", source_type=SourceType.UPLOAD
        )
        for i in range(n_assets)
    )


def _hnsw_migration():
    """The migration that defines the HNSW indexes as the product builds them."""
    import importlib

    return importlib.import_module(
        "assets_app.migrations.0011_hnsw_ef_construction_128"
    )


def load(corpus: Corpus, n_chunks: int, seed: int, maintenance_work_mem: str) -> dict:
    """COPY the chunks (and their documents); returns seconds per step."""
    import numpy as np
    from django.db import connection
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb

    from assets_app.models import Asset, Document, DocumentStatus

    assets = list(Asset.objects.order_by("display_name"))
    per_asset = n_chunks // len(assets)
    docs_per_asset = -(-per_asset // CHUNKS_PER_DOCUMENT)
    Document.objects.bulk_create(
        Document(
            asset=a,
            source_key=f"doc-{d:04d}.md",
            file_name=f"doc-{d:04d}.md",
            content_type="text/markdown",
            source_url=f"https://example.org/{a.id}/{d}",
            status=DocumentStatus.COMPLETED,
            version=1,
            chunk_count=CHUNKS_PER_DOCUMENT,
        )  # fmt: skip
        for a in assets
        for d in range(docs_per_asset)
    )
    documents = {
        a: list(Document.objects.filter(asset=a).order_by("source_key")) for a in assets
    }
    timings = {}
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {_hnsw_migration().index_name(DIMS)}")
        cursor.execute("DROP INDEX IF EXISTS chunk_search_vector_gin")
    raw = connection.connection
    register_vector(raw)
    rng = np.random.default_rng(seed + 1)
    started = time.perf_counter()
    columns = (
        "id, asset_id, document_id, document_version, chunk_index, content, "
        "token_count, start_char_idx, end_char_idx, start_line, end_line, "
        "heading_path, embedding, embedding_dimensions, created_at"
    )
    types = ["uuid", "uuid", "uuid", "int4", "int4", "text", "int4", "int4", "int4",
             "int4", "int4", "jsonb", "vector", "int2", "timestamptz"]  # fmt: skip
    now = datetime.now(tz=UTC)
    heading = Jsonb(["Bench"])
    with (
        raw.cursor() as cursor,
        cursor.copy(
            f"COPY assets_app_chunk ({columns}) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(types)
        for i, asset in enumerate(assets):
            topics = rng.choice(corpus.asset_topics[i], size=per_asset)
            vectors = corpus.vectors(topics, rng)
            texts = corpus.texts(topics, rng)
            for j in range(per_asset):
                document = documents[asset][j // CHUNKS_PER_DOCUMENT]
                text = texts[j]
                copy.write_row((
                    uuid.uuid4(), asset.id, document.id, 1, j % CHUNKS_PER_DOCUMENT,
                    text, len(text) // 4, 0, len(text), 1, 1, heading, vectors[j],
                    DIMS, now,
                ))  # fmt: skip
            if (i + 1) % 10 == 0:
                print(f"  … {(i + 1) * per_asset:,} chunks", flush=True)
    raw.commit()
    timings["copy"] = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"SET maintenance_work_mem = '{maintenance_work_mem}'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
        started = time.perf_counter()
        cursor.execute(
            "CREATE INDEX chunk_search_vector_gin ON assets_app_chunk "
            "USING gin (search_vector)"
        )
        timings["gin"] = time.perf_counter() - started
        started = time.perf_counter()
        cursor.execute(_hnsw_migration().index_sql(DIMS))
        timings["hnsw"] = time.perf_counter() - started
        started = time.perf_counter()
        cursor.execute("VACUUM ANALYZE assets_app_chunk")
        cursor.execute("VACUUM ANALYZE assets_app_document")
        timings["analyze"] = time.perf_counter() - started
    return timings


def _p99(values: list[float]) -> float:
    """Nearest-rank 99th percentile."""
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 99 // 100) - 1)]


def _recall(approx: list, exact: list) -> float:
    return len(set(approx) & set(exact)) / max(1, min(K, len(exact)))


def measure(
    corpus: Corpus, n_queries: int, n_exact: int, seed: int, n_warmup: int = 0
) -> dict:
    """Latency (ms) per case and recall@10 of VECTOR; see the module docstring.
    ``n_warmup`` other queries run first, every case, untimed: a server in use has
    the index pages its queries visit in shared buffers; a bench that starts the
    server measures cold buffers otherwise."""
    from assets_app.models import Asset, Membership
    from assets_app.search import (
        SearchParams,
        core,
        search_asset,
        search_tenant,
        vector_queryset,
        vector_ranking,
    )

    queries = corpus.queries(n_queries, seed + 2)
    warmup = corpus.queries(n_warmup, seed + 3)
    table = {text: vector for _, text, vector in warmup + queries}
    core._embed_query = lambda asset, query: (table[query], 0)  # noqa: SLF001
    actor = Membership.objects.select_related("tenant", "user").get()
    assets = list(Asset.objects.order_by("display_name"))
    all_ids = [a.id for a in assets]
    a0, _, v0 = queries[0]
    plan = vector_queryset(
        asset_ids=[assets[a0].id], dimensions=DIMS, vector=v0, exact=False
    )[:K].explain()
    print("Plan of a filtered VECTOR query (first lines):")
    print("\n".join("  " + line[:110] for line in plan.splitlines()[:6]))

    def cases(a: int, text: str):
        asset = assets[a]
        for mode in ("VECTOR", "FULL_TEXT", "HYBRID"):
            params = SearchParams(text, mode=mode, top_k=K)
            yield (
                f"{mode} filtered",
                lambda p=params: search_asset(actor=actor, asset=asset, params=p),
            )
            yield (
                f"{mode} unfiltered",
                lambda p=params: search_tenant(actor=actor, params=p),
            )

    # Ground truth first: an exact search reads every row in scope, which would
    # evict the index from shared buffers in the middle of the timed runs.
    truth = {"filtered": [], "unfiltered": []}
    for n, (a, _, vector) in enumerate(queries):
        for scope, ids in (("filtered", [assets[a].id]), ("unfiltered", all_ids)):
            if scope == "unfiltered" and n >= n_exact:
                continue
            exact = vector_ranking(
                asset_ids=ids, dimensions=DIMS, vector=vector, limit=K, exact=True
            )
            truth[scope].append([i for i, _ in exact])
    for a, text, _ in warmup + queries[:5]:  # warm-up
        for _, run in cases(a, text):
            run()
    times: dict[str, list[float]] = {}
    found: dict[str, list[list]] = {"filtered": [], "unfiltered": []}
    for n, (a, text, _) in enumerate(queries):
        # The cases of one query touch the same part of the index: rotate which
        # runs first, so that no case always finds the pages cached by another.
        runs = list(cases(a, text))
        for label, run in runs[n % len(runs) :] + runs[: n % len(runs)]:
            started = time.perf_counter()
            outcome = run()
            times.setdefault(label, []).append((time.perf_counter() - started) * 1000)
            if label.startswith("VECTOR"):
                scope = label.split()[1]
                found[scope].append([h.chunk.id for h in outcome.hits])
    recalls = {  # unfiltered: the first n_exact queries have a ground truth
        scope: [
            _recall(got, exact)
            for got, exact in zip(
                found[scope][: len(truth[scope])], truth[scope], strict=True
            )
        ]
        for scope in truth
    }
    return {
        "latency": {
            label: (statistics.median(ms), _p99(ms)) for label, ms in times.items()
        },
        "recall": {k: statistics.mean(v) for k, v in recalls.items() if v},
        "recall_n": {k: len(v) for k, v in recalls.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--assets", type=int, default=100)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--exact-queries", type=int, default=50)
    parser.add_argument(
        "--warmup", type=int, default=300, help="untimed queries first (warm buffers)"
    )
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--ef-search", type=int, default=None)
    parser.add_argument("--maintenance-work-mem", default="2GB")
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args()
    setup_django(os.environ.get("RAGDESK_BENCH_DB_NAME", "ragdesk_bench_search"))
    from django.conf import settings
    from django.db import connection

    if args.ef_search:
        settings.RAGDESK_HNSW_EF_SEARCH = args.ef_search
    corpus = Corpus(args.assets, args.seed)
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    if not args.skip_load:
        seed_tenant(args.assets)
        started = time.perf_counter()
        timings = load(corpus, args.chunks, args.seed, args.maintenance_work_mem)
        total = time.perf_counter() - started
        print(
            f"Loaded {args.chunks:,} chunks in {total:.0f} s: "
            f"COPY {timings['copy']:.0f} s, GIN {timings['gin']:.0f} s, "
            f"HNSW {timings['hnsw']:.0f} s, VACUUM ANALYZE {timings['analyze']:.0f} s"
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM assets_app_chunk")
        (n,) = cursor.fetchone()
        cursor.execute(
            "SELECT pg_size_pretty(pg_relation_size(%s))",
            [_hnsw_migration().index_name(DIMS)],
        )
        (size,) = cursor.fetchone()
    from assets_app.search.vector import ef_search

    print(f"{n:,} chunks, {args.assets} assets; HNSW {size}; ef_search {ef_search()}")
    started = time.perf_counter()
    result = measure(
        corpus, args.queries, args.exact_queries, args.seed, n_warmup=args.warmup
    )
    took = time.perf_counter() - started
    print(f"(measured in {took:.0f} s, {args.warmup} warm-up queries)")
    print(f"\n{'case (top 10)':<22} {'p50 ms':>8} {'p99 ms':>8}")
    for label, (p50, p99) in result["latency"].items():
        print(f"{label:<22} {p50:8.1f} {p99:8.1f}")
    for scope, value in result["recall"].items():
        print(f"recall@10 VECTOR {scope}: {value:.3f} "
              f"({result['recall_n'][scope]} queries)")  # fmt: skip
    lat = result["latency"]
    ratio = lat["VECTOR filtered"][0] / lat["VECTOR unfiltered"][0]
    print(f"filtered / unfiltered p50 (VECTOR): {ratio:.2f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
