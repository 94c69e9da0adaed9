"""Auto-update of issue 5: the asset's settings (AssetAutoUpdate, linked to its
django-q2 Schedule when it polls), its inbound webhooks and the delivery ids they have
seen (replays are refused)."""

import django.db.models.deletion
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('assets_app', '0009_model_price_checks'),
        ('django_q', '0018_task_success_index'),  # the Schedule a poll links to
    ]

    operations = [
        migrations.CreateModel(
            name='AssetWebhook',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('provider', models.CharField(help_text='payloads it understands', max_length=20)),
                ('auth_mode', models.CharField(choices=[('URL_SECRET', 'Secret in the URL'), ('HMAC_SHA256', 'HMAC-SHA256 signature')], max_length=12)),
                ('status', models.CharField(choices=[('ACTIVE', 'Active'), ('REVOKED', 'Revoked')], default='ACTIVE', max_length=8)),
                ('secret_hash', models.CharField(max_length=64)),
                ('signing_salt', models.CharField(blank=True, max_length=64)),
                ('created_by', models.CharField(max_length=150)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('modified_at', models.DateTimeField(auto_now=True)),
                ('last_delivery_at', models.DateTimeField(blank=True, null=True)),
                ('asset', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='webhooks', to='assets_app.asset')),
            ],
            options={
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=200)),
                ('expires_at', models.DateTimeField()),
                ('webhook', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='assets_app.assetwebhook')),
            ],
        ),
        migrations.CreateModel(
            name='AssetAutoUpdate',
            fields=[
                ('asset', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='auto_update', serialize=False, to='assets_app.asset')),
                ('strategy', models.CharField(choices=[('WEBHOOK', 'Webhook'), ('POLL', 'Poll on a schedule')], max_length=10)),
                ('poll_frequency', models.CharField(blank=True, choices=[('HOURLY', 'Hourly'), ('DAILY', 'Daily'), ('WEEKLY', 'Weekly'), ('MONTHLY', 'Monthly')], max_length=10)),
                ('poll_day', models.CharField(blank=True, choices=[('MONDAY', 'Monday'), ('TUESDAY', 'Tuesday'), ('WEDNESDAY', 'Wednesday'), ('THURSDAY', 'Thursday'), ('FRIDAY', 'Friday'), ('SATURDAY', 'Saturday'), ('SUNDAY', 'Sunday')], max_length=10)),
                ('poll_day_of_month', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('poll_hour', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('poll_minute', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('timezone', models.CharField(blank=True, help_text='IANA name', max_length=64)),
                ('filter', models.CharField(blank=True, max_length=500)),
                ('webhook_auth_mode', models.CharField(blank=True, choices=[('URL_SECRET', 'Secret in the URL'), ('HMAC_SHA256', 'HMAC-SHA256 signature')], max_length=12)),
                ('last_polled_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('modified_at', models.DateTimeField(auto_now=True)),
                ('schedule', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='django_q.schedule')),
            ],
            options={
                'constraints': [models.CheckConstraint(condition=models.Q(('poll_day_of_month__isnull', True), models.Q(('poll_day_of_month__gte', 1), ('poll_day_of_month__lte', 28)), _connector='OR'), name='auto_update_day_of_month_1_28'), models.CheckConstraint(condition=models.Q(('poll_hour__isnull', True), ('poll_hour__lte', 23), _connector='OR'), name='auto_update_hour_0_23'), models.CheckConstraint(condition=models.Q(('poll_minute__isnull', True), ('poll_minute__lte', 59), _connector='OR'), name='auto_update_minute_0_59')],
            },
        ),
        migrations.AddConstraint(
            model_name='assetwebhook',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'ACTIVE')), fields=('asset',), name='one_active_webhook_per_asset'),
        ),
        migrations.AddConstraint(
            model_name='webhookdelivery',
            constraint=models.UniqueConstraint(fields=('webhook', 'key'), name='unique_webhook_delivery'),
        ),
    ]
