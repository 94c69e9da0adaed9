"""Fixtures for tests that run operations through a real ``qcluster`` process and
embed through a real local OpenAI-compatible HTTP server."""

from __future__ import annotations

import pytest

from tests.cluster import running_qcluster
from tests.embedding_server import EmbeddingServer


@pytest.fixture
def embedding_server():
    """An OpenAI-compatible embeddings server on 127.0.0.1 (no delay until a test
    sets ``delay`` / ``delay_per_input``)."""
    with EmbeddingServer() as server:
        yield server


@pytest.fixture
def qcluster(transactional_db, embedding_server, tmp_path):
    """A running ``qcluster`` (2 workers) on the test database whose OpenAI-compatible
    provider talks to ``embedding_server``. Stopped, with all its processes, at
    teardown (before the database is flushed)."""
    with running_qcluster(
        log_path=tmp_path / "qcluster.log",
        env={"RAGDESK_OPENAI_BASE_URL": embedding_server.base_url},
    ) as cluster:
        yield cluster
