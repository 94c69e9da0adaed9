"""Operations whose worker died are requeued (operations_recover_stale)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from assets_app.models import Chunk
from assets_app.services import asset_create_from_uploads
from operations_app.models import Operation, OperationStatus
from operations_app.services import (
    operation_request_cancel,
    operation_start,
    operations_recover_stale,
)
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
    assert (op.status, op.items_processed, op.heartbeat_at) == (S.PENDING, 0, None)
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

    schedule = Schedule.objects.get(func="operations_app.tasks.reap_stale_operations")
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 1, -1)
