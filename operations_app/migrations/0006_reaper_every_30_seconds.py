"""The reaper runs about every 30 s (issue 4: "a django-q2 schedule every ~30 s"):
django-q2 schedules repeat by whole minutes, so a second one-minute schedule starts
half a minute after the first. (The cluster's scheduler looks for due schedules
every ~15 s, so runs are 15–45 s apart.)"""

from datetime import timedelta

from django.db import migrations
from django.utils import timezone

FIRST = "ragdesk: requeue operations of lost workers"
SECOND = "ragdesk: requeue operations of lost workers (+30 s)"


def add_second(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    first = Schedule.objects.filter(name=FIRST).first()
    start = (first.next_run if first and first.next_run else timezone.now())
    Schedule.objects.update_or_create(
        name=SECOND,
        defaults={
            "func": "operations_app.tasks.reap_stale_operations",
            "schedule_type": "I",  # minutes
            "minutes": 1,
            "repeats": -1,
            "next_run": start + timedelta(seconds=30),
        },
    )


def remove_second(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SECOND).delete()


class Migration(migrations.Migration):
    dependencies = [("operations_app", "0005_operation_attempt")]

    operations = [migrations.RunPython(add_second, remove_second)]
