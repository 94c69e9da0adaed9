"""The worker cluster on a Redis broker (RAGDESK_BROKER=redis), the deployment for
several machines. Needs the Redis server this machine runs on 127.0.0.1:6379."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from django.db import connection

from assets_app.services import asset_create_from_uploads
from operations_app.models import Operation, OperationStatus
from tests.cluster import BASE_DIR, running_qcluster
from tests.conftest import upload

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


def _redis_env() -> dict[str, str]:
    return {"RAGDESK_BROKER": "redis", "REDIS_URL": REDIS_URL}


def _enqueue_over_redis(func: str, *args) -> str:
    """Enqueue from another process configured for the Redis broker, as a web
    process of a multi-machine deployment would; returns the task id."""
    code = (
        "from django_q.brokers import get_broker; from django_q.tasks import async_task; "
        "print(type(get_broker()).__name__); "
        f"print(async_task({func!r}, *{args!r}))"
    )
    env = {
        **os.environ, **_redis_env(),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "RAGDESK_DB_NAME": connection.settings_dict["NAME"],
    }
    out = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "shell", "-c", code],
        env=env, cwd=BASE_DIR, capture_output=True, text=True, check=True, timeout=60,
    )
    broker, task_id = out.stdout.strip().splitlines()[-2:]
    assert broker == "Redis"  # the settings really chose the Redis broker
    return task_id


@pytest.mark.skipif(not _redis_up() and not os.environ.get("CI"), reason="no Redis server")
def test_operation_enqueued_over_redis_is_run_by_a_redis_cluster(
    admin_member, no_enqueue, tmp_path
):
    asset, op = asset_create_from_uploads(
        actor=admin_member, display_name="Over Redis", files=[upload("a.md", "# A\n\ntext")]
    )
    assert no_enqueue == [str(op.id)]  # committed, not yet sent anywhere
    with running_qcluster(
        log_path=tmp_path / "qcluster.log", env=_redis_env(), enqueue=_enqueue_over_redis
    ):
        _enqueue_over_redis("operations_app.tasks.run_operation", str(op.id))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            op.refresh_from_db()
            if op.done:
                break
            time.sleep(0.2)
    assert op.status == OperationStatus.COMPLETED
    assert op.chunk_count == asset.chunks.count() > 0
    assert Operation.objects.filter(asset=asset).count() == 1
