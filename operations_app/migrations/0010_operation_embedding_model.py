"""The embedding model an operation was created with, to price its cost once its
asset is deleted. Existing operations of existing assets take their asset's model;
those whose asset is already gone have none (their cost stays 0)."""

from django.db import migrations, models

BACKFILL = """
UPDATE operations_app_operation AS o
SET embedding_provider = a.embedding_provider, embedding_model = a.embedding_model
FROM assets_app_asset AS a
WHERE o.asset_id = a.id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("assets_app", "0006_web_git_sources"),
        ("operations_app", "0009_notification_endpoints"),
    ]

    operations = [
        migrations.AddField(
            model_name="operation",
            name="embedding_provider",
            field=models.CharField(blank=True, default="", max_length=50),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="operation",
            name="embedding_model",
            field=models.CharField(blank=True, default="", max_length=100),
            preserve_default=False,
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
