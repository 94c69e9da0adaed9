"""A poll schedule run by a real ``qcluster`` (issue 5): django-q2's own scheduler
(a pass about every 30 s in the cluster's sentinel) finds the asset's Schedule due,
its worker runs ``assets_app.tasks.poll_asset``, which starts a SCHEDULED_REFRESH
created by "schedule", sets lastPolledAt and moves the Schedule's next run to the
next 09:00 in Europe/Berlin — not to django-q2's own step (a day after the run it
fired, in the server's UTC)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from assets_app.autoupdate import AutoUpdateSettings, asset_set_auto_update
from assets_app.autoupdate.timing import next_poll_at
from assets_app.models import AssetAutoUpdate
from assets_app.services import asset_create_from_folder
from operations_app.models import Operation, OperationStatus, OperationType
from tests.cluster import running_qcluster
from tests.operations_app.test_tasks import wait_status, wait_until

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
S = OperationStatus
SCHEDULER_PASS_SECONDS = 30  # django-q2's sentinel: every 30 s of its guard loop


def test_a_due_poll_schedule_runs_a_scheduled_refresh_on_a_real_cluster(
    admin_member, tmp_path, settings
):
    settings.RAGDESK_FOLDER_ROOTS = [tmp_path.resolve()]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nAlpha text.\n")
    env = {"RAGDESK_FOLDER_ROOTS": str(tmp_path.resolve())}
    with running_qcluster(log_path=tmp_path / "qcluster.log", env=env) as cluster:
        asset, ingest = asset_create_from_folder(
            actor=admin_member, display_name="Docs", path=str(tmp_path / "docs")
        )
        wait_status(ingest, S.COMPLETED, timeout=60, cluster=cluster)
        daily = AutoUpdateSettings(strategy="POLL", poll_frequency="DAILY", poll_hour=9,
                                   poll_minute=0, timezone="Europe/Berlin")  # fmt: skip
        asset_set_auto_update(actor=admin_member, asset=asset, settings=daily)
        row = AssetAutoUpdate.objects.get(asset=asset)
        due = timezone.now() - timedelta(seconds=1)
        Schedule.objects.filter(pk=row.schedule_id).update(next_run=due)

        refresh = wait_until(
            lambda: Operation.objects.filter(
                asset=asset, type=OperationType.SCHEDULED_REFRESH
            ).first(),
            timeout=SCHEDULER_PASS_SECONDS * 3,
            what="the scheduler to start a SCHEDULED_REFRESH",
            cluster=cluster,
        )
        refresh = wait_status(refresh, S.COMPLETED, timeout=60, cluster=cluster)
    assert refresh.created_by == "schedule"
    assert refresh.documents_unchanged == 1 and refresh.token_count == 0
    row.refresh_from_db()
    schedule = Schedule.objects.get(pk=row.schedule_id)
    assert row.last_polled_at is not None and row.last_polled_at > due
    expected = next_poll_at(
        frequency="DAILY", hour=9, minute=0, timezone="Europe/Berlin",
        after=row.last_polled_at,
    )  # fmt: skip
    assert schedule.next_run == expected
    assert schedule.next_run != due + timedelta(days=1)  # django-q2's own step
    assert schedule.task  # django-q2 recorded the task it created
