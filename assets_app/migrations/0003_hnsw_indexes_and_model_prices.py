"""HNSW indexes (cosine) on chunk embeddings, one partial index per dimension, since
the column has no fixed dimension (pgvector README, "Indexing" → expression and partial
indexes); and the embedding models with their published prices (USD per 1M tokens)."""

from decimal import Decimal

from django.db import migrations

DIMENSIONS = (384, 1536, 3072)
# Published list prices of OpenAI's embedding models (openai.com/api/pricing), editable
# in the admin. The built-in embedder runs locally and costs nothing.
MODELS = [
    ("builtin", "hashed-lexical-384", 384, 8191, Decimal("0")),
    ("openai", "text-embedding-3-small", 1536, 8191, Decimal("0.02")),
    ("openai", "text-embedding-3-large", 3072, 8191, Decimal("0.13")),
    ("openai", "text-embedding-ada-002", 1536, 8191, Decimal("0.10")),
]


def seed_prices(apps, schema_editor):
    ModelPrice = apps.get_model("assets_app", "ModelPrice")
    for provider, model, dims, max_tokens, price in MODELS:
        ModelPrice.objects.get_or_create(
            provider=provider, model=model,
            defaults={"dimensions": dims, "max_input_tokens": max_tokens,
                      "price_per_million_tokens": price},
        )


def index_sql(dims):
    # 3072 dims exceed HNSW's 2000-dim limit for vector; halfvec allows 4000.
    kind = "vector" if dims <= 2000 else "halfvec"
    return (
        f"CREATE INDEX IF NOT EXISTS chunk_embedding_hnsw_{dims} ON assets_app_chunk "
        f"USING hnsw ((embedding::{kind}({dims})) {kind}_cosine_ops) "
        f"WHERE embedding_dimensions = {dims}"
    )


class Migration(migrations.Migration):
    dependencies = [("assets_app", "0002_initial")]

    operations = [
        *[
            migrations.RunSQL(index_sql(d), f"DROP INDEX IF EXISTS chunk_embedding_hnsw_{d}")
            for d in DIMENSIONS
        ],
        migrations.RunPython(seed_prices, migrations.RunPython.noop),
    ]
