"""Budgets (issue 6): token limits on assets, usage per (asset, period) and
reservations of batches in flight. Usage is backfilled from the operations' billed
tokens, each counted on the UTC day (and month) the operation was created."""

import django.db.models.deletion
from django.db import migrations, models

BACKFILL = """
INSERT INTO assets_app_budgetusage (tenant_id, asset_id, period, start, used, reserved)
SELECT a.tenant_id, a.id, %s, {start}, SUM(o.token_count), 0
FROM operations_app_operation o JOIN assets_app_asset a ON a.id = o.asset_id
GROUP BY a.tenant_id, a.id, {start} HAVING SUM(o.token_count) > 0
"""
STARTS = {
    "TOTAL": "DATE '1970-01-01'",
    "MONTH": "date_trunc('month', o.created_at AT TIME ZONE 'UTC')::date",
    "DAY": "(o.created_at AT TIME ZONE 'UTC')::date",
}


def backfill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for period, start in STARTS.items():
            cursor.execute(BACKFILL.format(start=start), [period])


class Migration(migrations.Migration):
    dependencies = [
        ("assets_app", "0007_embedding_rate_slot_and_local_model"),
        ("operations_app", "0007_document_failures"),
    ]

    operations = [
        migrations.AddField(
            model_name="asset",
            name="token_budget",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="asset",
            name="monthly_token_budget",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="asset",
            name="daily_token_budget",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name="BudgetReservation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                (
                    "operation_id",
                    models.UUIDField(blank=True, db_index=True, null=True),
                ),
                ("tokens", models.BigIntegerField()),
                (
                    "periods",
                    models.JSONField(help_text="[[period, start ISO date], …]"),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "asset",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="assets_app.asset",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="BudgetUsage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                (
                    "period",
                    models.CharField(
                        choices=[
                            ("TOTAL", "Total"),
                            ("MONTH", "Month"),
                            ("DAY", "Day"),
                        ],
                        max_length=5,
                    ),
                ),
                ("start", models.DateField()),
                ("used", models.BigIntegerField(default=0, help_text="billed tokens")),
                ("reserved", models.BigIntegerField(default=0, help_text="tokens")),
                (
                    "asset",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="budget_usage",
                        to="assets_app.asset",
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="assets_app.tenant",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["tenant", "period", "start"],
                        name="assets_app__tenant__6b6bd9_idx",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("asset", "period", "start"), name="unique_budget_usage"
                    )
                ],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
