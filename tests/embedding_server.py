"""A real local HTTP server speaking OpenAI's ``POST /v1/embeddings`` protocol, for
tests that must not reach the internet but should exercise the real provider code
(``assets_app.embedding.openai``) over a socket, in this process or in a ``qcluster``
subprocess.

Request ``{"model", "input": [str, ...], "dimensions"?}``; response
``{"object": "list", "data": [{"object": "embedding", "index", "embedding"}],
"model", "usage": {"prompt_tokens", "total_tokens"}}``, as documented at
https://platform.openai.com/docs/api-reference/embeddings/create.

Latency is ``delay + delay_per_input × len(input)`` seconds, so a batch of many
chunks takes longer than a small one, as with a real provider. Token usage is the
server's own count (UTF-8 bytes / 3, rounded up, per input): deliberately not
cl100k_base, so a test can tell billed tokens (the provider's) from ours. Vectors are
deterministic unit vectors derived from the text.

Every request is logged (``requests``) with wall-clock times from ``time.time()``,
and ``wait_for_request(n)`` blocks until the n-th request has arrived. ``in_flight``
and ``max_in_flight`` count requests being answered at once (concurrency).

Faults: ``status`` fails every request; ``fail_next`` is a list of faults consumed one
per request, each ``(status, retry_after)`` (``retry_after`` None, seconds as a number,
or a string sent as is, e.g. an HTTP-date), answered after the request's delay.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_DIMENSIONS = 1536


def server_token_count(text: str) -> int:
    """The tokens this server reports for one input (UTF-8 bytes / 3, rounded up)."""
    return max(1, math.ceil(len(text.encode()) / 3))


def vector_for(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector: a few hashed coordinates of ±0.5 (4 × 0.25 = 1)."""
    digest = hashlib.blake2b(text.encode(), digest_size=32).digest()
    vec = [0.0] * dimensions
    for i in range(4):
        n = int.from_bytes(digest[8 * i : 8 * i + 8], "little")
        vec[n % dimensions] += 0.5 if (n >> 63) & 1 else -0.5
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


@dataclass
class EmbeddingRequest:
    """One POST /v1/embeddings as the server saw it; times are ``time.time()``."""

    model: str
    inputs: int
    dimensions: int | None
    total_tokens: int
    started_at: float
    finished_at: float | None = None  # when the response was written
    status: int = 200  # what it was answered
    first_input: str = ""


@dataclass
class EmbeddingServer:
    """Run with ``with EmbeddingServer(delay=0.3) as server: server.base_url``.

    ``status`` other than 200 makes every request fail with that status (for error
    paths); ``delay`` and ``delay_per_input`` may be changed while it runs."""

    delay: float = 0.0
    delay_per_input: float = 0.0
    status: int = 200
    fail_next: list[tuple[int, float | str | None]] = field(default_factory=list)
    requests: list[EmbeddingRequest] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def __post_init__(self):
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> EmbeddingServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="embedding-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in their delay
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self) -> EmbeddingServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The value for ``RAGDESK_OPENAI_BASE_URL``, e.g. ``http://127.0.0.1:41234/v1``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    # -- the request log -----------------------------------------------------------
    def snapshot(self) -> list[EmbeddingRequest]:
        with self._lock:
            return list(self.requests)

    def wait_for_request(self, n: int, timeout: float = 30.0) -> EmbeddingRequest:
        """Block until at least ``n`` requests have arrived; return the n-th (1-based).
        Raises TimeoutError."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(
                    f"{len(self.requests)} embedding requests after {timeout} s, "
                    f"expected {n}"
                )
            return self.requests[n - 1]

    def latency_of(self, request: EmbeddingRequest) -> float:
        """Seconds the server waits before answering ``request``."""
        return self.delay + self.delay_per_input * request.inputs

    # -- the protocol ---------------------------------------------------------------
    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # keep test output quiet
                pass

            def do_POST(self):
                if self.path.rstrip("/") != "/v1/embeddings":
                    return self._reply(404, {"error": {"message": "not found"}})
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length))
                    texts = body["input"]
                    texts = [texts] if isinstance(texts, str) else list(texts)
                    model = body["model"]
                except (ValueError, KeyError, TypeError) as exc:
                    return self._reply(
                        400, {"error": {"message": f"bad request: {exc}"}}
                    )
                dims = body.get("dimensions")
                tokens = sum(server_token_count(t) for t in texts)
                entry = EmbeddingRequest(
                    model=model,
                    inputs=len(texts),
                    dimensions=dims,
                    total_tokens=tokens,
                    started_at=time.time(),
                    first_input=texts[0] if texts else "",
                )
                with server._lock:
                    server.requests.append(entry)
                    fault = server.fail_next.pop(0) if server.fail_next else None
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    server._lock.notify_all()
                try:
                    self._answer(entry, texts, model, dims, fault)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, entry, texts, model, dims, fault):
                wait = server.latency_of(entry)
                if wait > 0 and server._stopping.wait(wait):
                    return  # shutting down: drop the connection
                status, retry_after = fault or (server.status, None)
                if status != 200:
                    entry.finished_at, entry.status = time.time(), status
                    headers = {}
                    if retry_after is not None:
                        headers["Retry-After"] = str(retry_after)
                    return self._reply(
                        status, {"error": {"message": "injected failure"}}, headers
                    )
                tokens = entry.total_tokens
                size = dims or DEFAULT_DIMENSIONS
                payload = {
                    "object": "list",
                    "data": [
                        {
                            "object": "embedding",
                            "index": i,
                            "embedding": vector_for(t, size),
                        }
                        for i, t in enumerate(texts)
                    ],
                    "model": model,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                }
                self._reply(200, payload)
                entry.finished_at = time.time()

            def _reply(self, status: int, payload: dict, headers=None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
