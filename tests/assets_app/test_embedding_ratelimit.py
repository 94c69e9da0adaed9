"""Requests/min caps shared through PostgreSQL: two embedders on two threads, each
with its own database connection and nothing in common in memory (as two worker
processes would be), stay within one cap together."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid

import pytest
from django.db import connection

from assets_app.embedding.openai import OpenAICompatibleEmbedder
from assets_app.embedding.ratelimit import reserve
from tests.embedding_server import EmbeddingServer

# serialized_rollback: the flush after each test must not re-create content types that
# the next serialized_rollback test restores (Django runs post_migrate otherwise).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
# No test-wide transaction:


# the limiter's rows are written by other connections and must not wait on ours.
def assert_at_most_per_second(times: list[float], spacing: float) -> None:
    """No 1-s window holds more than 1/spacing requests + 1. Slots are exact in
    PostgreSQL's clock and a client never starts before its slot, but it may start
    late (woken late on a busy machine), so one more is allowed; an uncapped or
    per-process limiter would put ~all of them into one second."""
    most = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
    assert most <= round(1 / spacing) + 1, (most, times)


@pytest.fixture
def server(monkeypatch, settings):
    settings.RAGDESK_EMBED_CONCURRENCY = 1
    with EmbeddingServer() as s:
        monkeypatch.setenv("RAGDESK_OPENAI_BASE_URL", s.base_url)
        yield s


def run_side_by_side(*embedders, calls: int) -> None:
    """Each embedder on its own thread embeds ``calls`` single texts."""

    def work(e):
        for i in range(calls):
            e.embed([f"text {i}"])

    threads = [threading.Thread(target=work, args=(e,)) for e in embedders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)


def starts(server) -> list[float]:
    return sorted(r.started_at for r in server.requests)


def new_embedder(rate_key):
    return OpenAICompatibleEmbedder(
        model="text-embedding-3-small", dimensions=8, rate_key=rate_key
    )


def test_two_clients_of_one_asset_share_its_requests_per_minute(server, settings):
    settings.RAGDESK_EMBED_RPM = 0
    settings.RAGDESK_EMBED_RPM_PER_ASSET = 240  # one request every 0.25 s
    asset = str(uuid.uuid4())
    run_side_by_side(new_embedder(asset), new_embedder(asset), calls=4)
    times = starts(server)
    assert len(times) == 8
    assert_at_most_per_second(times, 0.25)
    print(f"\n8 requests at 240/min from 2 clients in {times[-1] - times[0]:.3f} s")


CLIENT = """
import django, sys
django.setup()
from assets_app.embedding.openai import OpenAICompatibleEmbedder
e = OpenAICompatibleEmbedder(model="m", dimensions=8, rate_key=sys.argv[1])
for i in range(6):
    e.embed([f"{sys.argv[2]} text {i}"])
"""


def test_two_worker_processes_share_one_asset_cap(server):
    asset = str(uuid.uuid4())
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "RAGDESK_DB_NAME": connection.settings_dict["NAME"],
        "RAGDESK_EMBED_RPM": "0",
        "RAGDESK_EMBED_RPM_PER_ASSET": "240",  # one request every 0.25 s
    }
    procs = [
        subprocess.Popen([sys.executable, "-c", CLIENT, asset, name], env=env)
        for name in ("A", "B")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    times = starts(server)
    assert len(times) == 12
    assert_at_most_per_second(times, 0.25)
    by = {
        name: [r.started_at for r in server.requests if r.first_input[0] == name]
        for name in "AB"
    }
    # They ran at the same time (else a per-process limiter would pass too).
    assert max(by["A"][0], by["B"][0]) < min(by["A"][-1], by["B"][-1])
    span = times[-1] - times[0]
    print(f"\n12 requests at 240/min from 2 processes in {span:.3f} s (≥ 2.75)")


def test_the_global_cap_spans_assets_and_the_asset_cap_does_not(server, settings):
    settings.RAGDESK_EMBED_RPM = 300  # one request every 0.2 s, all assets together
    settings.RAGDESK_EMBED_RPM_PER_ASSET = 6000
    run_side_by_side(
        new_embedder(str(uuid.uuid4())), new_embedder(str(uuid.uuid4())), calls=5
    )
    times = starts(server)
    assert len(times) == 10
    assert_at_most_per_second(times, 0.2)


def test_without_a_cap_requests_are_not_spaced(server, settings):
    settings.RAGDESK_EMBED_RPM = 0
    settings.RAGDESK_EMBED_RPM_PER_ASSET = 0
    run_side_by_side(new_embedder("a"), new_embedder("a"), calls=10)
    times = starts(server)
    assert len(times) == 20
    assert times[-1] - times[0] < 2.5  # at 240/min they would take ≥ 4.75 s


def test_reserve_hands_out_consecutive_slots():
    key = f"test:{uuid.uuid4()}"
    waits = [reserve(key, per_minute=60) for _ in range(3)]  # 1 s apart
    assert waits[0] == pytest.approx(0, abs=0.05)
    assert waits[1] == pytest.approx(1, abs=0.05)
    assert waits[2] == pytest.approx(2, abs=0.05)
    assert reserve(key, per_minute=60, after=10) == pytest.approx(10, abs=0.05)
