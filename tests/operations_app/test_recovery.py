"""Operations whose worker died are requeued (operations_recover_stale)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from assets_app.budgets import budget_release, budget_reserve
from assets_app.models import BudgetReservation, BudgetUsage, Chunk
from assets_app.services import asset_create_from_uploads
from operations_app.models import Operation, OperationStatus
from operations_app.recovery import operations_recover_stale
from operations_app.services import operation_request_cancel, operation_start
from operations_app.tasks import reap_stale_operations
from tests.conftest import upload

S = OperationStatus


def _running_op(member, no_enqueue, *, silent_for: float):
    asset, op = asset_create_from_uploads(
        actor=member, display_name="Lost", files=[upload("a.md", "# A\n\nSome text.")]
    )
    no_enqueue.clear()
    operation_start(operation_id=op.id)
    Operation.objects.filter(pk=op.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=silent_for), items_processed=1
    )
    return asset, op


def test_silent_running_operation_is_requeued_and_enqueued(editor_member, no_enqueue):
    _, op = _running_op(editor_member, no_enqueue, silent_for=300)

    assert operations_recover_stale(stale_after_seconds=120) == 1

    op.refresh_from_db()
    assert (op.status, op.items_processed, op.heartbeat_at) == (S.PENDING, 0, None)  # 0 deleted
    assert op.started_at is not None  # the first start still counts
    assert no_enqueue == [str(op.id)]
    event = op.events.get(kind="WORKER_LOST")
    assert (event.from_status, event.to_status) == (S.RUNNING, S.PENDING)
    assert "attempt 2 of 3" in event.message


def test_operation_with_a_recent_heartbeat_is_left_alone(editor_member, no_enqueue):
    _, op = _running_op(editor_member, no_enqueue, silent_for=10)

    assert operations_recover_stale(stale_after_seconds=120) == 0

    op.refresh_from_db()
    assert op.status == S.RUNNING
    assert no_enqueue == []


def test_lost_operation_with_a_cancel_requested_ends_cancelled(editor_member, no_enqueue):
    _, op = _running_op(editor_member, no_enqueue, silent_for=300)
    operation_request_cancel(operation=op, actor="alice")

    operations_recover_stale(stale_after_seconds=120)

    op.refresh_from_db()
    assert op.status == S.CANCELLED and op.completed_at is not None
    assert no_enqueue == []


def test_operation_lost_too_often_ends_failed_saying_so(editor_member, no_enqueue):
    _, op = _running_op(editor_member, no_enqueue, silent_for=300)
    for _ in range(2):
        operations_recover_stale(stale_after_seconds=120, max_attempts=3)
        operation_start(operation_id=op.id)
        Operation.objects.filter(pk=op.pk).update(
            heartbeat_at=timezone.now() - timedelta(seconds=300)
        )

    operations_recover_stale(stale_after_seconds=120, max_attempts=3)

    op.refresh_from_db()
    assert op.status == S.FAILED
    assert "lost 3 times" in op.error_message
    assert op.events.filter(kind="WORKER_LOST").count() == 2


def test_requeued_operation_resumes_and_completes(editor_member, run_queued, no_enqueue):
    asset, op = _running_op(editor_member, no_enqueue, silent_for=300)

    reap_stale_operations()
    assert run_queued() == ["COMPLETED"]

    op.refresh_from_db()
    assert op.status == S.COMPLETED
    assert Chunk.objects.filter(asset=asset).count() == op.chunk_count > 0


@pytest.mark.django_db
def test_reaper_schedule_is_installed_by_the_migrations():
    from django_q.models import Schedule

    schedules = Schedule.objects.filter(
        func="operations_app.tasks.reap_stale_operations"
    ).order_by("next_run")
    assert [(s.schedule_type, s.minutes, s.repeats) for s in schedules] == [("I", 1, -1)] * 2
    offset = (schedules[1].next_run - schedules[0].next_run).total_seconds()
    assert 25 <= offset <= 35  # two one-minute schedules half a minute apart


def test_reaper_schedules_a_one_off_run_when_a_heartbeat_is_about_to_go_stale(
    editor_member, no_enqueue, settings
):
    from django_q.models import Schedule

    from operations_app.recovery import REAP_AGAIN

    settings.RAGDESK_STALE_AFTER_SECONDS = 60
    _, op = _running_op(editor_member, no_enqueue, silent_for=40)  # stale in 20 s

    assert reap_stale_operations() == 0
    op.refresh_from_db()
    once = Schedule.objects.get(name=REAP_AGAIN)
    due = op.heartbeat_at + timedelta(seconds=61)
    assert once.schedule_type == Schedule.ONCE and once.repeats == 1
    assert abs((once.next_run - due).total_seconds()) < 0.01


def test_reaper_schedules_nothing_for_fresh_heartbeats(editor_member, no_enqueue, settings):
    from django_q.models import Schedule

    from operations_app.recovery import REAP_AGAIN

    settings.RAGDESK_STALE_AFTER_SECONDS = 60
    _running_op(editor_member, no_enqueue, silent_for=1)  # stale in 59 s: next run's job

    reap_stale_operations()
    assert not Schedule.objects.filter(name=REAP_AGAIN).exists()


def test_a_worker_that_lost_its_operation_can_no_longer_write_into_it(
    editor_member, no_enqueue
):
    from operations_app.services import OperationInterrupted, operation_finish
    from operations_app.worker import Progress, operation_add_progress

    _, op = _running_op(editor_member, no_enqueue, silent_for=300)
    lost_attempt = Operation.objects.get(pk=op.pk).attempt
    operations_recover_stale(stale_after_seconds=120)
    operation_start(operation_id=op.id)  # another worker resumes it
    with pytest.raises(OperationInterrupted):
        operation_add_progress(
            operation_id=op.id, attempt=lost_attempt, progress=Progress(chunks=5)
        )
    operation_finish(operation_id=op.id, status=S.COMPLETED, attempt=lost_attempt)

    op.refresh_from_db()
    assert (op.status, op.attempt, op.chunk_count) == (S.RUNNING, lost_attempt + 1, 0)


@pytest.mark.parametrize("silent_for, ends", [(20, True), (5, False)])
def test_cancel_of_an_operation_whose_worker_went_silent_ends_after_the_short_threshold(
    editor_member, no_enqueue, silent_for, ends
):
    _, op = _running_op(editor_member, no_enqueue, silent_for=silent_for)
    operation_request_cancel(operation=op, actor="alice")

    operations_recover_stale(
        stale_after_seconds=60, cancel_stale_after_seconds=15
    )

    op.refresh_from_db()
    assert op.status == (S.CANCELLED if ends else S.RUNNING)
    if ends:
        assert op.events.get(kind="CANCELLED").actor == "reaper"


def test_started_event_names_the_attempt_and_the_worker_process(editor_member, no_enqueue):
    import os

    _, op = _running_op(editor_member, no_enqueue, silent_for=0)
    started = op.events.get(kind="STARTED")
    assert started.message.startswith("attempt 1 on ")
    assert started.message.endswith(f"pid {os.getpid()}")


def test_a_pending_operation_whose_task_was_lost_is_sent_again(
    editor_member, django_capture_on_commit_callbacks
):
    from operations_app.recovery import operations_resend_lost

    with django_capture_on_commit_callbacks() as sent:  # broker sends, not run
        asset, op = asset_create_from_uploads(
            actor=editor_member, display_name="Lost task", files=[upload("a.md", "# A")]
        )
    op.refresh_from_db()
    assert len(sent) == 1 and op.enqueued_at is not None  # sent once, at creation
    assert operations_resend_lost(resend_after_seconds=120) == 0  # just sent
    Operation.objects.filter(pk=op.pk).update(
        enqueued_at=timezone.now() - timedelta(seconds=300)
    )  # a cluster took the task and died

    with django_capture_on_commit_callbacks() as sent:
        assert operations_resend_lost(resend_after_seconds=120) == 1
    assert len(sent) == 1
    op.refresh_from_db()
    assert timezone.now() - op.enqueued_at < timedelta(seconds=5)


def test_a_pending_operation_behind_a_running_one_is_not_resent(editor_member, no_enqueue):
    from operations_app.recovery import operations_resend_lost
    from operations_app.services import operation_create

    asset, first = asset_create_from_uploads(
        actor=editor_member, display_name="Busy", files=[upload("a.md", "# A")]
    )
    operation_start(operation_id=first.id)
    queued = operation_create(asset=asset, type="REFRESH", created_by="eddie")
    Operation.objects.filter(pk=queued.pk).update(
        created_at=timezone.now() - timedelta(seconds=300)
    )
    no_enqueue.clear()

    assert operations_resend_lost(resend_after_seconds=120) == 0
    assert no_enqueue == []


def test_an_operation_requeued_then_cancelled_while_pending_is_consistent(
    editor_member, no_enqueue
):
    from operations_app.consistency import consistency_check
    from operations_app.worker import Progress, operation_add_progress

    _, op = _running_op(editor_member, no_enqueue, silent_for=0)
    operation_add_progress(operation_id=op.id, progress=Progress(items=1, added=1))
    Operation.objects.filter(pk=op.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=300), items_total=1
    )
    operations_recover_stale(stale_after_seconds=60)  # itemsProcessed restarts
    operation_request_cancel(operation=op, actor="alice")  # CANCELLED while PENDING

    op.refresh_from_db()
    assert (op.status, op.items_processed, op.documents_added) == (S.CANCELLED, 0, 1)
    report = consistency_check(stale_after_seconds=60)
    assert report.ok, report.violations


# -- budget reservations of a lost worker (assets_app/budgets.py) -------------------


def _reserved(asset) -> dict[str, int]:
    return dict(
        BudgetUsage.objects.filter(asset=asset).values_list("period", "reserved")
    )


def _lose(op, no_enqueue, times: int) -> None:
    """Requeue ``op`` ``times`` times as the reaper would, each time re-claimed."""
    for _ in range(times):
        operations_recover_stale(stale_after_seconds=120)
        operation_start(operation_id=op.id)
        Operation.objects.filter(pk=op.pk).update(
            heartbeat_at=timezone.now() - timedelta(seconds=300)
        )
    no_enqueue.clear()


@pytest.mark.parametrize(
    "path, ends",
    [("requeue", S.PENDING), ("cancel", S.CANCELLED), ("give up", S.FAILED)],
)
def test_reaper_releases_the_lost_workers_budget_reservation_with_the_status_change(
    editor_member, no_enqueue, path, ends
):
    asset, op = _running_op(editor_member, no_enqueue, silent_for=300)
    if path == "give up":
        _lose(op, no_enqueue, times=2)
    # The dead worker held 900 tokens for its batch; a search in flight holds 7.
    held = budget_reserve(asset_id=asset.id, tokens=900, operation_id=op.id)
    search = budget_reserve(asset_id=asset.id, tokens=7, periods=("MONTH", "DAY"))
    if path == "cancel":
        operation_request_cancel(operation=op, actor="alice")

    assert operations_recover_stale(stale_after_seconds=120) == 1

    op.refresh_from_db()
    assert op.status == ends
    assert list(BudgetReservation.objects.all()) == [search]
    assert _reserved(asset) == {"TOTAL": 0, "MONTH": 7, "DAY": 7}
    # A hung worker that wakes and gives its reservation back changes nothing more.
    budget_release(held)
    assert _reserved(asset) == {"TOTAL": 0, "MONTH": 7, "DAY": 7}


def test_reaper_release_rolls_back_with_a_status_change_that_fails(
    editor_member, no_enqueue, monkeypatch
):
    asset, op = _running_op(editor_member, no_enqueue, silent_for=300)
    budget_reserve(asset_id=asset.id, tokens=900, operation_id=op.id)

    def broken_event(*args, **kwargs):
        raise RuntimeError("event table unavailable")

    monkeypatch.setattr("operations_app.services._event", broken_event)
    with pytest.raises(RuntimeError):
        operations_recover_stale(stale_after_seconds=120)

    op.refresh_from_db()
    assert op.status == S.RUNNING
    assert BudgetReservation.objects.filter(operation_id=op.id).count() == 1
    assert _reserved(asset) == {"TOTAL": 900, "MONTH": 900, "DAY": 900}
