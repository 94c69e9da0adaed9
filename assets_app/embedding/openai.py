"""OpenAI-compatible embeddings (OpenAI, Azure OpenAI, Ollama, vLLM, LiteLLM …).

Request: ``POST {base_url}/embeddings`` with ``{"model", "input": [...]}`` (and
``"dimensions"`` when set); response ``{"data": [{"index", "embedding"}], "usage":
{"prompt_tokens", "total_tokens"}}``
(https://platform.openai.com/docs/api-reference/embeddings/create).

Connection (environment, read when the embedder is made): ``RAGDESK_OPENAI_BASE_URL``
(default ``https://api.openai.com/v1``), ``RAGDESK_OPENAI_API_KEY`` (a server
secret, never stored in the database nor shown; docs/architecture.md),
``RAGDESK_OPENAI_TIMEOUT`` s per request (default 60). Limits and retries are Django settings
``RAGDESK_EMBED_*`` (config/settings/base.py, docs/deployment.md).

One ``embed(texts)`` call (one ingestion batch) is split into requests of at most
``RAGDESK_EMBED_MAX_REQUEST_INPUTS`` inputs and ``RAGDESK_EMBED_MAX_REQUEST_TOKENS``
tokens (cl100k_base counts; OpenAI documents 2,048 and 300,000), and further into at
least ``RAGDESK_EMBED_CONCURRENCY`` requests when there are enough inputs, which run
concurrently on that many threads; vectors come back in input order. Each request
waits for its requests/min slot (ratelimit.py) and is retried as retry.py says.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import httpx
from django.conf import settings
from django.db import connection

from assets_app.ingestion.chunking import count_tokens_batch

from . import EmbeddingError, EmbeddingResult
from .ratelimit import wait_for_slot
from .retry import call_with_retries, classify

DEFAULT_MAX_INPUT_TOKENS = 8191  # OpenAI's text-embedding-3-* input limit


def plan_requests(
    tokens: list[int], *, max_inputs: int, max_tokens: int, at_least: int = 1
) -> list[range]:
    """Split inputs with these token counts into consecutive index ranges, each of
    at most ``max_inputs`` inputs and ``max_tokens`` tokens summed, and of about
    equal size when fewer than ``at_least`` ranges would do (to use that many
    concurrent requests). An input above ``max_tokens`` gets a range of its own."""
    n = len(tokens)
    if n == 0:
        return []
    per_request = min(max_inputs, max(1, math.ceil(n / max(1, at_least))))
    ranges, start, total = [], 0, 0
    for i, t in enumerate(tokens):
        if i > start and (i - start >= per_request or total + t > max_tokens):
            ranges.append(range(start, i))
            start, total = i, 0
        total += t
    ranges.append(range(start, n))
    return ranges


class OpenAICompatibleEmbedder:
    """``embed(texts)`` as the module docstring says. ``rate_key`` (e.g. the asset's
    id) names the per-asset requests/min cap; None shares only the global one.
    ``max_attempts`` per request, default ``RAGDESK_EMBED_MAX_ATTEMPTS``."""

    def __init__(
        self,
        *,
        model: str,
        dimensions: int,
        max_input_tokens: int = DEFAULT_MAX_INPUT_TOKENS,
        rate_key: str | None = None,
        max_attempts: int | None = None,
    ):
        self.model = model
        self.dimensions = dimensions
        self.max_input_tokens = max_input_tokens
        self.rate_key = rate_key
        self.base_url = os.environ.get(
            "RAGDESK_OPENAI_BASE_URL", "https://api.openai.com/v1"
        ).rstrip("/")
        self.api_key = os.environ.get("RAGDESK_OPENAI_API_KEY", "")
        self.timeout = float(os.environ.get("RAGDESK_OPENAI_TIMEOUT", "60"))
        self.concurrency = max(1, settings.RAGDESK_EMBED_CONCURRENCY)
        self.max_attempts = max_attempts or settings.RAGDESK_EMBED_MAX_ATTEMPTS

    def embed(self, texts: list[str]) -> EmbeddingResult:
        """Vectors of ``texts`` in order and the tokens the server billed (the sum of
        its ``usage.total_tokens``). Raises EmbeddingError when an input is longer
        than the model's ``max_input_tokens``, the server refuses a request, answers
        malformed, or a request still fails after its retries."""
        if not texts:
            return EmbeddingResult(vectors=[], billed_tokens=0)
        tokens = count_tokens_batch(texts)
        for i, t in enumerate(tokens):
            if t > self.max_input_tokens:
                raise EmbeddingError(
                    f"Input {i + 1} has {t} tokens; {self.model} takes at most "
                    f"{self.max_input_tokens}."
                )
        ranges = plan_requests(
            tokens,
            max_inputs=settings.RAGDESK_EMBED_MAX_REQUEST_INPUTS,
            max_tokens=settings.RAGDESK_EMBED_MAX_REQUEST_TOKENS,
            at_least=self.concurrency,
        )
        # Requests always run on pool threads: the rate limiter's statements then use
        # the thread's own connection in autocommit, never the caller's transaction.
        with httpx.Client(timeout=self.timeout) as client:
            with ThreadPoolExecutor(self.concurrency, "embed") as pool:
                results = list(
                    pool.map(
                        lambda r: self._request(client, texts[r.start : r.stop]), ranges
                    )  # fmt: skip
                )
        return EmbeddingResult(
            vectors=[v for vectors, _ in results for v in vectors],
            billed_tokens=sum(billed for _, billed in results),
        )

    def _request(self, client: httpx.Client, texts: list[str]):
        try:
            return call_with_retries(
                lambda: self._send(client, texts),
                attempts=self.max_attempts,
                base=settings.RAGDESK_EMBED_RETRY_BASE_SECONDS,
                max_wait=settings.RAGDESK_EMBED_RETRY_MAX_WAIT_SECONDS,
            )
        finally:
            connection.close()  # this pool thread's, opened by the rate limiter

    def _send(self, client: httpx.Client, texts: list[str]):
        keys = [(f"global:{self.base_url}", settings.RAGDESK_EMBED_RPM)]
        if self.rate_key:
            keys.insert(
                0, (f"asset:{self.rate_key}", settings.RAGDESK_EMBED_RPM_PER_ASSET)
            )
        wait_for_slot(keys=keys)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body: dict = {"model": self.model, "input": texts}
        if not self.model.startswith("text-embedding-ada"):
            body["dimensions"] = self.dimensions
        response = client.post(
            f"{self.base_url}/embeddings", json=body, headers=headers
        )
        if response.status_code != 200:
            raise classify(response)
        return self._parse(response, len(texts))

    def _parse(self, response: httpx.Response, expected: int):
        try:
            payload = response.json()
            data = sorted(payload.get("data", []), key=lambda d: d["index"])
            vectors = [d["embedding"] for d in data]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EmbeddingError(
                f"Embedding server answered malformed JSON: {exc}"
            ) from exc
        if len(vectors) != expected:
            raise EmbeddingError(
                "Embedding server returned a different number of vectors."
            )
        if any(len(v) != self.dimensions for v in vectors):
            raise EmbeddingError(
                f"Embedding server returned vectors not of {self.dimensions} dims."
            )
        usage = payload.get("usage") or {}
        billed = usage.get("total_tokens") or usage.get("prompt_tokens") or 0
        return vectors, int(billed)
