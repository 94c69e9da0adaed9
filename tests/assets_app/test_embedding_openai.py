"""The OpenAI-compatible provider against a real local HTTP server speaking
``POST /v1/embeddings`` (tests/embedding_server.py): batching within the limits,
concurrency, order, retries with back-off and Retry-After, giving up, billing."""

from __future__ import annotations

import threading
import time
from email.utils import formatdate

import httpx
import pytest

from assets_app.embedding import EmbeddingError
from assets_app.embedding.openai import OpenAICompatibleEmbedder, plan_requests
from assets_app.embedding.retry import retry_after_seconds
from assets_app.ingestion.chunking import count_tokens_batch
from tests.embedding_server import EmbeddingServer, server_token_count, vector_for

DIMS = 64


@pytest.fixture
def server(monkeypatch, settings):
    settings.RAGDESK_EMBED_RPM = 0  # the rate caps have their own tests
    settings.RAGDESK_EMBED_RPM_PER_ASSET = 0
    with EmbeddingServer() as s:
        monkeypatch.setenv("RAGDESK_OPENAI_BASE_URL", s.base_url)
        yield s


def embedder(**kw) -> OpenAICompatibleEmbedder:
    return OpenAICompatibleEmbedder(
        model="text-embedding-3-small", dimensions=DIMS, **kw
    )


def texts(n: int) -> list[str]:
    return [f"chunk number {i} about topic {i % 7}" for i in range(n)]


def gaps(requests) -> list[float]:
    """s from each answer to the next request's arrival."""
    pairs = zip(requests, requests[1:], strict=False)
    return [b.started_at - a.finished_at for a, b in pairs]


def test_plan_splits_by_inputs_tokens_and_spreads_over_the_concurrency():
    assert plan_requests([1] * 10, max_inputs=4, max_tokens=100) == [
        range(0, 4), range(4, 8), range(8, 10)
    ]  # fmt: skip
    assert plan_requests([30, 30, 30, 30], max_inputs=10, max_tokens=60) == [
        range(0, 2), range(2, 4)
    ]  # fmt: skip
    assert plan_requests([1] * 8, max_inputs=100, max_tokens=100, at_least=4) == [
        range(0, 2), range(2, 4), range(4, 6), range(6, 8)
    ]  # fmt: skip
    assert plan_requests([500, 1], max_inputs=10, max_tokens=100) == [
        range(0, 1), range(1, 2)
    ]  # fmt: skip
    assert plan_requests([], max_inputs=10, max_tokens=100) == []


def test_vectors_keep_input_order_and_billing_is_the_servers_usage(server, settings):
    settings.RAGDESK_EMBED_CONCURRENCY = 4
    server.delay_per_input = 0.01
    inputs = texts(41)
    result = embedder().embed(inputs)
    assert result.vectors == [vector_for(t, DIMS) for t in inputs]
    assert result.billed_tokens == sum(server_token_count(t) for t in inputs)
    assert result.billed_tokens != sum(count_tokens_batch(inputs))  # theirs, not ours
    assert len(server.requests) == 4
    assert sum(r.inputs for r in server.requests) == 41


def test_requests_in_flight_never_exceed_the_configured_concurrency(server, settings):
    settings.RAGDESK_EMBED_CONCURRENCY = 3
    settings.RAGDESK_EMBED_MAX_REQUEST_INPUTS = 2
    server.delay = 0.2
    started = time.monotonic()
    result = embedder().embed(texts(20))
    elapsed = time.monotonic() - started
    assert len(server.requests) == 10
    assert server.max_in_flight == 3
    assert len(result.vectors) == 20
    assert elapsed < 10 * 0.2  # concurrent, not one after another
    print(f"\n10 requests of 0.2 s at concurrency 3: {elapsed:.2f} s")


def test_requests_stay_within_the_input_and_token_caps(server, settings):
    settings.RAGDESK_EMBED_CONCURRENCY = 1
    settings.RAGDESK_EMBED_MAX_REQUEST_INPUTS = 5
    settings.RAGDESK_EMBED_MAX_REQUEST_TOKENS = 40
    inputs = texts(23)
    embedder().embed(inputs)
    tokens = count_tokens_batch(inputs)
    sent = 0
    for request in server.requests:
        assert request.inputs <= 5
        assert sum(tokens[sent : sent + request.inputs]) <= 40
        sent += request.inputs
    assert sent == 23


def test_an_input_over_the_models_limit_fails_before_any_request(server):
    with pytest.raises(EmbeddingError, match="Input 2 has .* at most 5"):
        embedder(max_input_tokens=5).embed(["short", "far too long " * 5])
    assert server.requests == []


def test_429_waits_at_least_retry_after_then_succeeds(server, settings):
    settings.RAGDESK_EMBED_RETRY_BASE_SECONDS = 0.05
    server.fail_next = [(429, 1), (429, 1)]
    result = embedder().embed(["hello"])
    assert [r.status for r in server.requests] == [429, 429, 200]
    waits = gaps(server.requests)
    assert all(w >= 1.0 for w in waits), waits
    assert result.billed_tokens == server_token_count("hello")  # failures bill none
    print(f"\nwaits after 429 with Retry-After 1: {[round(w, 3) for w in waits]} s")


def test_5xx_is_retried_with_exponential_backoff(server, settings):
    settings.RAGDESK_EMBED_RETRY_BASE_SECONDS = 0.2
    server.fail_next = [(500, None), (502, None), (503, None)]
    embedder().embed(["hello"])
    assert [r.status for r in server.requests] == [500, 502, 503, 200]
    waits = gaps(server.requests)
    for wait, least in zip(waits, [0.2, 0.4, 0.8], strict=True):
        # jitter adds ≤ base (0.2 s); a busy machine may wake the client a bit late
        assert least <= wait <= least + 0.2 + 0.4, waits
    print(f"\nback-off waits after 5xx (base 0.2 s): {[round(w, 3) for w in waits]} s")


def test_a_slow_response_times_out_and_is_retried(server, settings, monkeypatch):
    settings.RAGDESK_EMBED_RETRY_BASE_SECONDS = 0.05
    monkeypatch.setenv("RAGDESK_OPENAI_TIMEOUT", "0.3")
    server.delay = 2.0

    def speed_up():
        server.wait_for_request(1)
        server.delay = 0.0

    threading.Thread(target=speed_up, daemon=True).start()
    result = embedder().embed(["hello"])
    assert len(server.requests) == 2 and len(result.vectors) == 1


def test_gives_up_after_max_attempts_with_a_clear_error(server, settings):
    settings.RAGDESK_EMBED_MAX_ATTEMPTS = 3
    server.status = 503
    with pytest.raises(EmbeddingError) as info:
        embedder().embed(["hello"])
    message = str(info.value)
    assert "gave up after 3 attempt(s)" in message
    assert "answered 503" in message
    assert len(server.requests) == 3


def test_a_client_error_is_not_retried(server):
    server.status = 400
    with pytest.raises(EmbeddingError, match="answered 400"):
        embedder().embed(["hello"])
    assert len(server.requests) == 1


def test_a_retry_after_longer_than_the_max_wait_gives_up_at_once(server, settings):
    settings.RAGDESK_EMBED_RETRY_MAX_WAIT_SECONDS = 5
    server.fail_next = [(429, 3600)]
    with pytest.raises(EmbeddingError, match="asked to wait 3600 s, more than 5 s"):
        embedder().embed(["hello"])
    assert len(server.requests) == 1


def test_retry_after_reads_seconds_http_dates_and_milliseconds():
    assert retry_after_seconds(httpx.Headers({"Retry-After": "7"})) == 7
    date = formatdate(time.time() + 30, usegmt=True)  # RFC 9110 IMF-fixdate
    assert 28 <= retry_after_seconds(httpx.Headers({"Retry-After": date})) <= 30
    assert retry_after_seconds(httpx.Headers({"retry-after-ms": "1500"})) == 1.5
    assert retry_after_seconds(httpx.Headers({"Retry-After": "soon"})) is None
    assert retry_after_seconds(httpx.Headers({})) is None


def test_an_ingestion_fails_the_documents_whose_requests_gave_up(
    server, settings, editor_member, run_queued
):
    from assets_app.models import Document
    from assets_app.services import asset_create_from_uploads
    from tests.assets_app.test_pipeline import run_one
    from tests.conftest import upload

    settings.RAGDESK_EMBED_MAX_ATTEMPTS = 2
    server.status = 503
    asset, _ = asset_create_from_uploads(
        actor=editor_member, display_name="Maps", files=[upload("a.txt", "A river.")]
    )
    asset.embedding_provider, asset.embedding_model = "openai", "text-embedding-3-small"
    asset.embedding_dimensions = 1536
    asset.save(update_fields=["embedding_provider", "embedding_model",
                              "embedding_dimensions"])  # fmt: skip
    op = run_one(run_queued)
    assert (op.status, op.documents_failed, op.token_count) == ("COMPLETED", 1, 0)
    document = Document.objects.get(asset=asset)
    assert document.status == "FAILED"
    assert "gave up after 2 attempt(s)" in document.error_message
    assert "answered 503" in document.error_message
    assert len(server.requests) == 2


def test_max_attempts_can_be_lowered_per_embedder(server, settings):
    settings.RAGDESK_EMBED_MAX_ATTEMPTS = 5
    server.status = 500
    with pytest.raises(EmbeddingError, match="gave up after 2 attempt"):
        embedder(max_attempts=2).embed(["hello"])
    assert len(server.requests) == 2
