"""Exactly-once claiming with real processes (issue 4: "Two clusters, 20 operations:
each runs exactly once"). Two ``qcluster`` processes take tasks from the same ORM
broker; every operation's task is delivered twice (as a broker redelivery would), so
both clusters race for each one. The conditional claim ``PENDING → RUNNING``
(``operation_start``) must let exactly one run win; ``manage.py check_consistency``
then finds counters equal to what is stored."""

from __future__ import annotations

import time

import pytest
from django.db.models import Count
from django_q.models import OrmQ, Task
from django_q.tasks import async_task

from assets_app.models import Chunk
from assets_app.services import asset_create_from_uploads, asset_refresh
from operations_app.consistency import consistency_check
from operations_app.models import Operation, OperationEvent, OperationStatus
from tests.cluster import running_qcluster
from tests.conftest import upload
from tests.operations_app.test_tasks import prose, wait_until

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
S = OperationStatus
ASSETS, OPERATIONS = 6, 20


def deliver_again(op: Operation) -> None:
    """A second delivery of ``op``'s task, as the broker sends after a lost ack."""
    async_task(
        "operations_app.tasks.run_operation", str(op.id),
        task_name=f"operation-{op.id}", group="operations",
    )  # fmt: skip


def results_of(op: Operation) -> list[str]:
    return list(
        Task.objects.filter(name=f"operation-{op.id}").values_list("result", flat=True)
    )


def test_two_clusters_run_each_of_20_operations_exactly_once(editor_member, tmp_path):
    texts = [prose(seed=i, paragraphs=6) for i in range(3)]
    made = []
    assets = []
    for i in range(ASSETS):  # queued before the clusters start: they race for them
        asset, op = asset_create_from_uploads(
            actor=editor_member, display_name=f"A{i}", chunk_size=64, chunk_overlap=8,
            files=[upload(f"d{n}.txt", t) for n, t in enumerate(texts)],
        )  # fmt: skip
        assets.append(asset)
        made.append(op)
        deliver_again(op)
    with (
        running_qcluster(log_path=tmp_path / "one.log", workers=2) as one,
        running_qcluster(log_path=tmp_path / "two.log", workers=2) as two,
    ):
        deadline = time.monotonic() + 60
        while len(made) < OPERATIONS and time.monotonic() < deadline:
            for asset in assets:  # a new forced refresh of each asset with none queued
                if len(made) >= OPERATIONS:
                    break
                op = asset_refresh(actor=editor_member, asset=asset, force=True)
                if op.id not in {m.id for m in made}:
                    made.append(op)
                    deliver_again(op)
            time.sleep(0.05)
        assert len(made) == OPERATIONS

        def all_done():
            return not Operation.objects.filter(
                status__in=[S.PENDING, S.RUNNING]
            ).exists()

        wait_until(all_done, timeout=60, what="every operation to end", cluster=one)
        # Every delivery of every operation's task has returned.
        wait_until(
            lambda: not OrmQ.objects.exists() and all(
                len(r := results_of(op)) >= 2 and S.COMPLETED in r for op in made
            ),
            timeout=30, what="every delivery of each task", cluster=two,
        )  # fmt: skip
    ops = Operation.objects.filter(id__in=[m.id for m in made])
    assert sorted(ops.values_list("status", flat=True)) == [S.COMPLETED] * OPERATIONS
    started = dict(
        OperationEvent.objects.filter(kind="STARTED", operation__in=ops)
        .values("operation_id")
        .annotate(n=Count("id"))
        .values_list("operation_id", "n")
    )
    assert started == {op.id: 1 for op in made}, "an operation started twice (or never)"
    for op in made:  # one delivery ran it, the other (or a waiting one) skipped
        results = results_of(op)
        assert results.count(S.COMPLETED) == 1, (op.id, results)
        assert set(results) <= {S.COMPLETED, "SKIPPED"}, (op.id, results)
    duplicates = (
        Chunk.objects.values("document_id", "document_version", "chunk_index")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not duplicates.exists()
    report = consistency_check(stale_after_seconds=120)
    assert report.ok, report.violations


def test_redelivery_for_a_running_or_finished_operation_does_nothing(
    editor_member, tmp_path
):
    asset, first = asset_create_from_uploads(
        actor=editor_member, display_name="R", chunk_size=64, chunk_overlap=8,
        files=[upload(f"d{i}.txt", prose(seed=i, paragraphs=200)) for i in range(4)],
    )  # fmt: skip
    with running_qcluster(log_path=tmp_path / "c.log", workers=2) as cluster:
        wait_until(
            lambda: Operation.objects.filter(pk=first.pk, status=S.RUNNING).exists(),
            timeout=30, what="the ingest to run", cluster=cluster,
        )  # fmt: skip
        deliver_again(first)  # while RUNNING: the other worker takes it and skips
        wait_until(
            lambda: "SKIPPED" in results_of(first), timeout=30,
            what="the redelivery to be skipped", cluster=cluster,
        )  # fmt: skip
        wait_until(
            lambda: Operation.objects.get(pk=first.pk).done, timeout=60,
            what="the ingest to end", cluster=cluster,
        )  # fmt: skip
        first.refresh_from_db()
        before = (
            Operation.objects.filter(pk=first.pk).values().get(),
            list(first.events.values_list("id", flat=True)),
            Chunk.objects.filter(asset=asset).count(),
        )
        deliver_again(first)  # after it finished
        wait_until(
            lambda: results_of(first).count("SKIPPED") == 2, timeout=30,
            what="the late redelivery to be skipped", cluster=cluster,
        )  # fmt: skip
    skipped = Task.objects.filter(name=f"operation-{first.id}", result="SKIPPED")
    assert skipped.order_by("stopped").first().stopped < first.completed_at, (
        "the first redelivery came after the run ended: make the run longer"
    )
    after = (
        Operation.objects.filter(pk=first.pk).values().get(),
        list(first.events.values_list("id", flat=True)),
        Chunk.objects.filter(asset=asset).count(),
    )
    assert first.status == S.COMPLETED
    assert after == before
    assert first.events.filter(kind="STARTED").count() == 1
