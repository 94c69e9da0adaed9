"""Requests/min caps shared through PostgreSQL: two embedders on two threads, each
with its own database connection and nothing in common in memory (as two worker
processes would be), stay within one cap together."""

from __future__ import annotations

import threading
import uuid

import pytest

from assets_app.embedding.openai import OpenAICompatibleEmbedder
from assets_app.embedding.ratelimit import reserve
from tests.embedding_server import EmbeddingServer

pytestmark = pytest.mark.django_db(transaction=True)  # no test-wide transaction:
# the limiter's rows are written by other connections and must not wait on ours.
SLACK = 0.03  # s: the server stamps arrival with its own clock, after the socket


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
    spacing = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(spacing) >= 0.25 - SLACK, spacing
    print(f"\n8 requests at 240/min from 2 clients: spacing {min(spacing):.3f} s min")


def test_the_global_cap_spans_assets_and_the_asset_cap_does_not(server, settings):
    settings.RAGDESK_EMBED_RPM = 300  # one request every 0.2 s, all assets together
    settings.RAGDESK_EMBED_RPM_PER_ASSET = 6000
    run_side_by_side(
        new_embedder(str(uuid.uuid4())), new_embedder(str(uuid.uuid4())), calls=3
    )
    times = starts(server)
    assert len(times) == 6
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.2 - SLACK
    assert times[-1] - times[0] >= 5 * 0.2 - SLACK


def test_without_a_cap_requests_are_not_spaced(server, settings):
    settings.RAGDESK_EMBED_RPM = 0
    settings.RAGDESK_EMBED_RPM_PER_ASSET = 0
    run_side_by_side(new_embedder("a"), new_embedder("a"), calls=3)
    times = starts(server)
    assert times[-1] - times[0] < 0.5  # the test above would have taken ≥ 1 s


def test_reserve_hands_out_consecutive_slots():
    key = f"test:{uuid.uuid4()}"
    waits = [reserve(key, per_minute=60) for _ in range(3)]  # 1 s apart
    assert waits[0] == pytest.approx(0, abs=0.05)
    assert waits[1] == pytest.approx(1, abs=0.05)
    assert waits[2] == pytest.approx(2, abs=0.05)
    assert reserve(key, per_minute=60, after=10) == pytest.approx(10, abs=0.05)
