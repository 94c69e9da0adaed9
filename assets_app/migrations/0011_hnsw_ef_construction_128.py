"""Rebuild the HNSW indexes with ``ef_construction = 128`` (pgvector's default is 64;
``m`` stays 16).

bench/search.py measured recall@10 at 1,000,000 chunks of 384 dimensions with the
default graph: 0.946 filtered / 0.920 unfiltered at ``hnsw.ef_search`` 100, and no
``ef_search`` reached 0.95 unfiltered — the ceiling was the graph. At 200,000 chunks
``ef_construction`` 128 took recall from 0.980 / 0.960 to 1.000 / 1.000 and halved the
latency, for a build 2.3× as long (bench/README.md). pgvector's README ("HNSW →
Index Options"): a higher ``ef_construction`` gives a better graph at a slower build.

The new index is built ``CONCURRENTLY`` beside the old one (writes go on; search keeps
using the old index until the new one is valid), then the old one is dropped — so the
migration is not atomic. On a large table it takes long: ~20 min per million chunks on
2 CPUs; raise ``maintenance_work_mem`` so the graph fits in memory
(docs/deployment.md)."""

from django.db import migrations

DIMENSIONS = (384, 1536, 3072)
M, EF_CONSTRUCTION = 16, 128


def index_name(dims: int) -> str:
    return f"chunk_embedding_hnsw_{dims}_ef{EF_CONSTRUCTION}"


def index_sql(dims: int, *, concurrently: bool = False) -> str:
    """CREATE INDEX of the HNSW index (cosine) for chunks of ``dims`` dimensions:
    an expression index on the cast to ``vector(dims)`` (``halfvec`` above HNSW's
    2,000-dimension limit for vector), partial on ``embedding_dimensions = dims``."""
    kind = "vector" if dims <= 2000 else "halfvec"
    return (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS "
        f"{index_name(dims)} ON assets_app_chunk "
        f"USING hnsw ((embedding::{kind}({dims})) {kind}_cosine_ops) "
        f"WITH (m = {M}, ef_construction = {EF_CONSTRUCTION}) "
        f"WHERE embedding_dimensions = {dims}"
    )


def _old_sql(dims: int) -> str:
    kind = "vector" if dims <= 2000 else "halfvec"
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS chunk_embedding_hnsw_{dims} "
        f"ON assets_app_chunk USING hnsw ((embedding::{kind}({dims})) "
        f"{kind}_cosine_ops) WHERE embedding_dimensions = {dims}"
    )


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("assets_app", "0010_auto_update")]

    operations = [
        op
        for d in DIMENSIONS
        for op in (
            migrations.RunSQL(
                index_sql(d, concurrently=True),
                f"DROP INDEX CONCURRENTLY IF EXISTS {index_name(d)}",
            ),
            migrations.RunSQL(
                f"DROP INDEX CONCURRENTLY IF EXISTS chunk_embedding_hnsw_{d}",
                _old_sql(d),
            ),
        )
    ]
