"""The requests/min limiter's table (assets_app.embedding.ratelimit) and the local
provider's model (all-MiniLM-L6-v2: 384 dimensions; sentence-transformers truncates
its input at 256 word pieces, the model card's max_seq_length; free: it runs here)."""

from decimal import Decimal

from django.db import migrations, models


def seed_local_model(apps, schema_editor):
    ModelPrice = apps.get_model("assets_app", "ModelPrice")
    ModelPrice.objects.get_or_create(
        provider="local", model="all-MiniLM-L6-v2",
        defaults={"dimensions": 384, "max_input_tokens": 256,
                  "price_per_million_tokens": Decimal("0")},
    )


class Migration(migrations.Migration):

    dependencies = [
        ("assets_app", "0006_web_git_sources"),
    ]

    operations = [
        migrations.CreateModel(
            name="EmbeddingRateSlot",
            fields=[
                ("key", models.CharField(max_length=300, primary_key=True, serialize=False)),
                ("next_at", models.DateTimeField()),
            ],
        ),
        migrations.RunPython(seed_local_model, migrations.RunPython.noop),
    ]
