"""The operation state machine of operations_app.services, against real PostgreSQL."""

from __future__ import annotations

import itertools
import threading

import pytest
from django.db import IntegrityError, connection, transaction

from assets_app.models import Document
from operations_app.models import (
    TERMINAL_STATUSES,
    Operation,
    OperationEvent,
    OperationStatus,
    OperationType,
)
from operations_app.services import (
    InvalidTransition,
    OperationInterrupted,
    check_transition,
    operation_create,
    operation_finish,
    operation_request_cancel,
    operation_start,
    operations_fail_for_deleted_asset,
)
from operations_app.worker import (
    Progress,
    operation_add_progress,
    operation_should_stop,
)
from tests.factories import AssetFactory, DocumentFactory, OperationFactory

S = OperationStatus
# API.md "LongOperation": PENDING → RUNNING → one terminal status; a queued operation
# may also be cancelled or failed (asset deleted) before it runs.
EXPECTED_ALLOWED = {
    (S.PENDING, S.RUNNING),
    (S.PENDING, S.CANCELLED),
    (S.PENDING, S.FAILED),
    (S.RUNNING, S.COMPLETED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELLED),
    (S.RUNNING, S.PENDING),  # requeued after its worker was lost
}
ALL_PAIRS = list(itertools.product(S.values, S.values))


@pytest.fixture
def asset(tenant):
    return AssetFactory(tenant=tenant)


def _op(asset, status=S.PENDING, **fields) -> Operation:
    return OperationFactory(asset=asset, status=status, **fields)


def _kinds(op) -> list[str]:
    return list(
        OperationEvent.objects.filter(operation=op).values_list("kind", flat=True)
    )


# -- the transition table -----------------------------------------------------------


@pytest.mark.parametrize(("frm", "to"), sorted(EXPECTED_ALLOWED))
def test_check_transition_allows_the_documented_transitions(frm, to):
    check_transition(frm, to)  # raises when refused


@pytest.mark.parametrize(
    ("frm", "to"), [p for p in ALL_PAIRS if p not in EXPECTED_ALLOWED]
)
def test_check_transition_refuses_every_other_transition(frm, to):
    with pytest.raises(InvalidTransition):
        check_transition(frm, to)


# -- start and finish ---------------------------------------------------------------


def test_start_claims_pending_operation_and_records_started_event(asset):
    op = _op(asset)
    started = operation_start(operation_id=op.id)
    assert started.status == S.RUNNING
    assert started.started_at is not None
    event = OperationEvent.objects.get(operation=op, kind="STARTED")
    assert (event.from_status, event.to_status) == (S.PENDING, S.RUNNING)


@pytest.mark.parametrize("status", [S.RUNNING, *TERMINAL_STATUSES])
def test_start_of_non_pending_operation_returns_none_and_changes_nothing(asset, status):
    op = _op(asset, status=status)
    assert operation_start(operation_id=op.id) is None
    op.refresh_from_db()
    assert op.status == status
    assert op.started_at is None


def test_second_operation_of_asset_cannot_start_while_one_runs(asset):
    first, second = _op(asset), _op(asset)
    assert operation_start(operation_id=first.id) is not None
    assert operation_start(operation_id=second.id) is None
    second.refresh_from_db()
    assert second.status == S.PENDING
    assert Operation.objects.filter(asset=asset, status=S.RUNNING).count() == 1


def test_database_refuses_two_running_operations_of_one_asset(asset):
    _op(asset, status=S.RUNNING)
    other = _op(asset)
    with pytest.raises(IntegrityError), transaction.atomic():
        Operation.objects.filter(pk=other.pk).update(status=S.RUNNING)


def test_running_operations_of_different_assets_coexist(tenant):
    a, b = _op(AssetFactory(tenant=tenant)), _op(AssetFactory(tenant=tenant))
    assert operation_start(operation_id=a.id) is not None
    assert operation_start(operation_id=b.id) is not None


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES))
def test_finish_of_running_operation_sets_status_completed_at_and_event(asset, status):
    op = _op(asset, status=S.RUNNING)
    finished = operation_finish(operation_id=op.id, status=status, error_message="why")
    assert finished.status == status
    assert finished.done
    assert finished.completed_at is not None
    assert finished.error_message == "why"
    event = OperationEvent.objects.get(operation=op, kind=status)
    assert (event.from_status, event.to_status, event.message) == (
        S.RUNNING,
        status,
        "why",
    )


def test_finish_can_fail_a_pending_operation(asset):
    op = _op(asset)
    assert operation_finish(operation_id=op.id, status=S.FAILED).status == S.FAILED


def test_finish_refuses_to_complete_an_operation_that_never_ran(asset):
    op = _op(asset)
    with pytest.raises(InvalidTransition):
        operation_finish(operation_id=op.id, status=S.COMPLETED)
    op.refresh_from_db()
    assert op.status == S.PENDING


@pytest.mark.parametrize("target", [S.RUNNING, S.PENDING])
def test_finish_refuses_a_non_terminal_target_status(asset, target):
    op = _op(asset)
    with pytest.raises(InvalidTransition):
        operation_finish(operation_id=op.id, status=target)
    op.refresh_from_db()
    assert (op.status, op.completed_at) == (S.PENDING, None)


@pytest.mark.parametrize(
    ("status", "target"), list(itertools.product(sorted(TERMINAL_STATUSES), repeat=2))
)
def test_finish_of_terminal_operation_returns_it_unchanged(asset, status, target):
    op = _op(asset, status=S.RUNNING)
    operation_finish(operation_id=op.id, status=status, error_message="first")
    before = Operation.objects.get(pk=op.pk)
    events = OperationEvent.objects.filter(operation=op).count()

    again = operation_finish(operation_id=op.id, status=target, error_message="second")

    assert (again.status, again.completed_at, again.error_message) == (
        status,
        before.completed_at,
        "first",
    )
    after = Operation.objects.get(pk=op.pk)
    assert (after.status, after.completed_at) == (status, before.completed_at)
    assert OperationEvent.objects.filter(operation=op).count() == events


def test_finish_enqueues_the_assets_next_pending_operation(asset, no_enqueue):
    running = _op(asset, status=S.RUNNING)
    queued = _op(asset)
    operation_finish(operation_id=running.id, status=S.COMPLETED)
    assert no_enqueue == [str(queued.id)]


def test_events_record_each_transition_in_order(asset, no_enqueue):
    op = operation_create(asset=asset, type=OperationType.INGEST, created_by="alice")
    operation_start(operation_id=op.id)
    operation_finish(operation_id=op.id, status=S.COMPLETED)
    rows = list(
        OperationEvent.objects.filter(operation=op).values_list(
            "kind", "from_status", "to_status", "actor"
        )
    )
    assert rows == [
        ("CREATED", "", S.PENDING, "alice"),
        ("STARTED", S.PENDING, S.RUNNING, "worker"),
        (S.COMPLETED, S.RUNNING, S.COMPLETED, "worker"),
    ]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_refresh_created_while_the_running_one_ends_is_still_enqueued(
    tenant, no_enqueue
):
    """The refresh's transaction saw the other operation RUNNING (so it did not enqueue
    itself); ending that operation must wait for it and then enqueue it."""
    asset = AssetFactory(tenant=tenant)
    running = _op(asset, status=S.RUNNING)
    created, release = threading.Event(), threading.Event()
    result: dict = {}

    def in_thread(name, work):
        def target():
            try:
                work()
            except Exception as exc:  # reported by the assertion below
                result[name] = exc
            finally:
                connection.close()

        thread = threading.Thread(target=target)
        thread.start()
        return thread

    def create():
        with transaction.atomic():
            result["op"] = operation_create(
                asset=asset, type=OperationType.REFRESH, created_by="web"
            )
            created.set()
            release.wait(10)

    creator = in_thread("create-error", create)
    assert created.wait(10)
    assert no_enqueue == []
    finisher = in_thread(
        "finish-error",
        lambda: operation_finish(operation_id=running.id, status=S.COMPLETED),
    )
    finisher.join(0.5)  # it ends while the refresh's transaction is still open
    release.set()
    creator.join(10)
    finisher.join(10)

    assert not creator.is_alive() and not finisher.is_alive()
    assert "create-error" not in result and "finish-error" not in result, result
    assert no_enqueue == [str(result["op"].id)]


# -- cancel -------------------------------------------------------------------------


def test_cancel_of_pending_operation_cancels_it_at_once(asset):
    op = _op(asset)
    cancelled = operation_request_cancel(operation=op, actor="alice")
    assert cancelled.status == S.CANCELLED
    assert cancelled.completed_at is not None
    assert Operation.objects.get(pk=op.pk).status == S.CANCELLED
    event = OperationEvent.objects.get(operation=op, kind="CANCELLED")
    assert (event.from_status, event.to_status, event.actor) == (
        S.PENDING,
        S.CANCELLED,
        "alice",
    )


def test_cancelled_pending_operation_is_skipped_by_the_worker(asset):
    op = _op(asset)
    operation_request_cancel(operation=op, actor="alice")
    assert operation_start(operation_id=op.id) is None


def test_cancel_of_running_operation_only_requests_it(asset):
    op = _op(asset, status=S.RUNNING)
    result = operation_request_cancel(operation=op, actor="alice")
    assert result.status == S.RUNNING
    assert result.cancel_requested is True
    assert result.completed_at is None
    assert operation_should_stop(operation_id=op.id)
    assert _kinds(op) == ["CANCEL_REQUESTED"]


def test_cancel_is_idempotent_for_running_operation(asset):
    op = _op(asset, status=S.RUNNING)
    operation_request_cancel(operation=op, actor="alice")
    again = operation_request_cancel(operation=op, actor="bob")
    assert (again.status, again.cancel_requested) == (S.RUNNING, True)
    assert _kinds(op) == ["CANCEL_REQUESTED"]


def test_cancel_is_idempotent_for_pending_operation(asset):
    op = _op(asset)
    first = operation_request_cancel(operation=op, actor="alice")
    again = operation_request_cancel(operation=op, actor="alice")
    assert (again.status, again.completed_at) == (S.CANCELLED, first.completed_at)
    assert _kinds(op) == ["CANCELLED"]


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES))
def test_cancel_of_terminal_operation_returns_it_unchanged(asset, status):
    op = _op(asset, status=S.RUNNING)
    operation_finish(operation_id=op.id, status=status)
    before = Operation.objects.get(pk=op.pk)
    result = operation_request_cancel(operation=op, actor="alice")
    assert (result.status, result.completed_at, result.cancel_requested) == (
        status,
        before.completed_at,
        False,
    )
    assert _kinds(op) == [status]


def test_worker_ends_cancel_requested_operation_cancelled(asset):
    op = _op(asset, status=S.RUNNING)
    operation_request_cancel(operation=op, actor="alice")
    assert (
        operation_finish(operation_id=op.id, status=S.CANCELLED).status == S.CANCELLED
    )


# -- progress -----------------------------------------------------------------------


def test_add_progress_adds_every_counter(asset):
    op = _op(asset, status=S.RUNNING)
    for _ in range(2):
        operation_add_progress(
            operation_id=op.id,
            progress=Progress(
                items=1,
                chunks=3,
                tokens=40,
                added=1,
                updated=2,
                deleted=3,
                unchanged=4,
                failed=5,
            ),
        )
    op.refresh_from_db()
    assert (op.items_processed, op.chunk_count, op.token_count) == (2, 6, 80)
    assert (
        op.documents_added,
        op.documents_updated,
        op.documents_deleted,
        op.documents_unchanged,
        op.documents_failed,
    ) == (2, 4, 6, 8, 10)
    assert op.heartbeat_at is not None


def test_add_progress_after_cancel_request_rolls_back_the_callers_transaction(asset):
    op = _op(asset, status=S.RUNNING)
    operation_request_cancel(operation=op, actor="alice")
    with pytest.raises(OperationInterrupted), transaction.atomic():
        DocumentFactory(asset=asset, source_key="stored-with-the-batch.txt")
        operation_add_progress(operation_id=op.id, progress=Progress(items=1, chunks=3))
    assert not Document.objects.filter(asset=asset).exists()
    op.refresh_from_db()
    assert (op.items_processed, op.chunk_count) == (0, 0)


@pytest.mark.parametrize("status", [S.PENDING, *sorted(TERMINAL_STATUSES)])
def test_add_progress_to_operation_not_running_raises(asset, status):
    op = _op(asset, status=status)
    with pytest.raises(OperationInterrupted):
        operation_add_progress(operation_id=op.id, progress=Progress(items=1))
    op.refresh_from_db()
    assert op.items_processed == 0


# -- create and coalescing ----------------------------------------------------------


def test_create_enqueues_when_nothing_of_the_asset_runs(asset, no_enqueue):
    op = operation_create(asset=asset, type=OperationType.REFRESH, created_by="alice")
    assert op.status == S.PENDING
    assert (op.tenant_id, op.asset_name) == (asset.tenant_id, asset.display_name)
    assert no_enqueue == [str(op.id)]


def test_create_waits_without_enqueueing_while_another_runs(asset, no_enqueue):
    _op(asset, status=S.RUNNING)
    op = operation_create(asset=asset, type=OperationType.REFRESH, created_by="alice")
    assert op.status == S.PENDING
    assert no_enqueue == []


def test_second_refresh_while_one_is_pending_returns_the_same_operation(
    asset, no_enqueue
):
    first = operation_create(
        asset=asset, type=OperationType.REFRESH, created_by="alice", document_ids=["b"]
    )
    second = operation_create(
        asset=asset,
        type=OperationType.REFRESH,
        created_by="bob",
        document_ids=["a", "b"],
    )
    assert second.id == first.id
    assert Operation.objects.filter(asset=asset).count() == 1
    assert Operation.objects.get(pk=first.pk).document_ids == ["a", "b"]
    assert "COALESCED" in _kinds(first)


@pytest.mark.parametrize(
    ("first_ids", "second_ids"), [(["a"], None), (None, ["a"]), (None, None)]
)
def test_coalesced_refresh_with_none_document_ids_means_all(
    asset, no_enqueue, first_ids, second_ids
):
    first = operation_create(
        asset=asset, type=OperationType.REFRESH, created_by="a", document_ids=first_ids
    )
    operation_create(
        asset=asset, type=OperationType.REFRESH, created_by="b", document_ids=second_ids
    )
    assert Operation.objects.get(pk=first.pk).document_ids is None


def test_coalescing_ors_force_and_a_reindex_request_wins(asset, no_enqueue):
    first = operation_create(asset=asset, type=OperationType.REFRESH, created_by="a")
    operation_create(asset=asset, type=OperationType.REINDEX, created_by="b")
    first.refresh_from_db()
    assert (first.type, first.force) == (OperationType.REINDEX, True)
    assert Operation.objects.filter(asset=asset).count() == 1


def test_refresh_after_the_queued_one_started_creates_a_new_operation(
    asset, no_enqueue
):
    first = operation_create(asset=asset, type=OperationType.REFRESH, created_by="a")
    operation_start(operation_id=first.id)
    second = operation_create(asset=asset, type=OperationType.REFRESH, created_by="b")
    assert second.id != first.id
    assert second.status == S.PENDING


def test_refresh_does_not_coalesce_into_a_cancelled_operation(asset, no_enqueue):
    first = operation_create(asset=asset, type=OperationType.REFRESH, created_by="a")
    operation_request_cancel(operation=first, actor="a")
    second = operation_create(asset=asset, type=OperationType.REFRESH, created_by="b")
    assert second.id != first.id


# -- deleted assets -----------------------------------------------------------------


def test_deleting_an_asset_fails_its_active_operations_only(asset):
    done = _op(asset, status=S.RUNNING)
    operation_finish(operation_id=done.id, status=S.COMPLETED)
    pending, running = _op(asset), _op(asset, status=S.RUNNING)

    with transaction.atomic():
        assert operations_fail_for_deleted_asset(asset=asset, actor="alice") == 2

    for op, previous in ((pending, S.PENDING), (running, S.RUNNING)):
        op.refresh_from_db()
        assert (op.status, op.error_message) == (S.FAILED, "asset deleted")
        assert op.completed_at is not None
        event = OperationEvent.objects.get(operation=op, kind=S.FAILED)
        assert (event.from_status, event.actor) == (previous, "alice")
    done.refresh_from_db()
    assert done.status == S.COMPLETED
    assert operation_should_stop(operation_id=running.id)


def test_operation_cancel_refuses_an_actor_of_another_tenant(admin_member, no_enqueue):
    from config.errors import NotFound
    from operations_app.services import operation_cancel
    from tests.factories import AssetFactory

    foreign = AssetFactory()  # another tenant
    op = operation_create(asset=foreign, type="REFRESH", created_by="someone")
    with pytest.raises(NotFound):
        operation_cancel(actor=admin_member, operation=op)
    op.refresh_from_db()
    assert (op.status, op.cancel_requested) == ("PENDING", False)
