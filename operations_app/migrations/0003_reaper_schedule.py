"""The django-q2 schedule that requeues operations whose worker died
(operations_app.tasks.reap_stale_operations), every minute, on every deployment."""

from django.db import migrations

NAME = "ragdesk: requeue operations of lost workers"


def add_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={
            "func": "operations_app.tasks.reap_stale_operations",
            "schedule_type": "I",  # minutes
            "minutes": 1,
            "repeats": -1,
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("operations_app", "0002_idempotency"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]
