"""Start a real django-q2 ``qcluster`` process against the test database.

``running_qcluster(...)`` starts ``manage.py qcluster`` in its own session (so its
sentinel, pusher, monitor and workers share one process group), waits until the
cluster has run a probe task taken from the ORM broker of *this* database, and at the
end stops the group: SIGTERM (django-q2 stops gracefully, letting a worker finish its
task), then SIGKILL for whatever is left after ``grace`` seconds. No process outlives
the context. Stopping takes ~1–3 s (django-q2 polls its processes while stopping).

The subprocess loads ``config.settings.test`` with ``RAGDESK_DB_NAME`` set to the
test database pytest-django created (``test_`` + NAME), so it attaches to the same
embedded PostgreSQL and sees what the test commits. Use it only from tests with
``transactional_db``: rows written inside a test transaction are invisible to it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent


@dataclass
class QCluster:
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        """What the cluster wrote to stdout and stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _stop(cluster: QCluster, grace: float) -> None:
    proc, pgid = cluster.process, cluster.process.pid
    if proc.poll() is None:
        # Only the main process: it stops its sentinel, which stops the workers. A
        # SIGTERM to the whole group kills workers mid-task and stalls that shutdown.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    # The main process may be gone while a worker it forked still runs (or the
    # reverse): wait briefly for the group to empty, then kill what remains.
    deadline = time.monotonic() + 2.0
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _group_alive(pgid):
        _signal_group(pgid, signal.SIGKILL)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not refused
        pass
    deadline = time.monotonic() + 5.0
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _wait_ready(cluster: QCluster, timeout: float, enqueue) -> None:
    """Enqueue a probe task and wait until the cluster has stored its result."""
    from django_q.models import Task

    task_id = enqueue("math.floor", 1.5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cluster.process.poll() is not None:
            raise RuntimeError(
                f"qcluster exited with {cluster.process.returncode}:\n{cluster.log()}"
            )
        if Task.objects.filter(id=task_id).exists():
            return
        time.sleep(0.1)
    raise TimeoutError(
        f"qcluster did not run a task within {timeout} s:\n{cluster.log()}"
    )


def _async_task(func: str, *args) -> str:
    from django_q.tasks import async_task

    return async_task(func, *args, task_name="qcluster-readiness-probe")


@contextmanager
def running_qcluster(
    *,
    log_path: Path,
    env: dict[str, str] | None = None,
    workers: int = 2,
    ready_timeout: float = 60.0,
    grace: float = 15.0,
    enqueue=None,
) -> Iterator[QCluster]:
    """Run a ``qcluster`` on the current (test) database for the ``with`` block.

    ``env`` adds environment variables (e.g. ``RAGDESK_OPENAI_BASE_URL``); ``workers``
    is the worker process count. Raises RuntimeError when the cluster dies while
    starting and TimeoutError when it runs no task within ``ready_timeout`` s; the
    message carries the cluster's log (also at ``log_path``). ``enqueue(func, *args)``
    sends a task to the cluster's broker and returns its id (default: this process's
    django-q2 ``async_task``, i.e. the ORM broker)."""
    if connection.in_atomic_block:
        raise RuntimeError(
            "running_qcluster needs transactional_db: the cluster cannot see the "
            "rows of an uncommitted test transaction."
        )
    child_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "RAGDESK_DB_NAME": connection.settings_dict["NAME"],
        "RAGDESK_WORKERS": str(workers),
        "PYTHONUNBUFFERED": "1",
        # One embedding request per batch: the cluster tests match requests to the
        # batches committed (test_tasks, test_faults). Splitting a batch into
        # concurrent requests is tested in tests/assets_app/test_embedding_openai.py.
        "RAGDESK_EMBED_CONCURRENCY": "1",
        **(env or {}),
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(BASE_DIR / "manage.py"), "qcluster"],
            cwd=BASE_DIR,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    cluster = QCluster(process=process, log_path=log_path)
    try:
        _wait_ready(cluster, ready_timeout, enqueue or _async_task)
        yield cluster
    finally:
        _stop(cluster, grace)
