"""When and how long to retry an embedding request (tenacity).

Retried: HTTP 429 and 5xx answers, timeouts and transport errors (connection refused
or reset). Other answers (400, 401, 404, …) are the caller's mistake and fail at once.
The wait before attempt n+1 is ``base × 2^(n-1)`` s plus up to ``base`` s of random
jitter, at most ``max_wait`` s, and never shorter than the server's ``Retry-After``
(RFC 9110 §10.2.3: delay-seconds or an HTTP-date) or ``retry-after-ms`` (sent by
OpenAI and Azure OpenAI). A server asking for more than ``max_wait`` s is not waited
for: the request gives up at once, so a worker does not sleep for an hour.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import httpx
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from . import EmbeddingError


class RetryableError(Exception):
    """A failure worth another attempt; ``retry_after`` in s when the server said."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """Seconds the server asks to wait, from ``retry-after-ms`` (ms) or ``Retry-After``
    (delay-seconds or HTTP-date, RFC 9110 §10.2.3); None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def classify(response: httpx.Response) -> Exception:
    """The exception for a non-200 answer: RetryableError for 429 and 5xx, else
    EmbeddingError."""
    text = response.text[:300]
    message = f"Embedding server answered {response.status_code}: {text}"
    if response.status_code == 429 or response.status_code >= 500:
        return RetryableError(message, retry_after_seconds(response.headers))
    return EmbeddingError(message)


class _WaitBackoffOrRetryAfter(wait_base):
    def __init__(self, base: float, max_wait: float):
        self.backoff = wait_exponential_jitter(initial=base, max=max_wait, jitter=base)

    def __call__(self, state: RetryCallState) -> float:
        asked = getattr(state.outcome.exception(), "retry_after", None) or 0.0
        return max(self.backoff(state), asked)


class _StopWhenAskedToWaitTooLong(stop_base):
    def __init__(self, max_wait: float):
        self.max_wait = max_wait

    def __call__(self, state: RetryCallState) -> bool:
        asked = getattr(state.outcome.exception(), "retry_after", None) or 0.0
        return asked > self.max_wait


def call_with_retries(
    send: Callable[[], object],
    *,
    attempts: int,
    base: float,
    max_wait: float,
    sleep: Callable[[float], None] = time.sleep,
):
    """``send()``, retried on RetryableError, httpx.TimeoutException and
    httpx.TransportError up to ``attempts`` attempts in all. Waits in s as the module
    docstring says. Raises EmbeddingError naming the attempts, the time spent and the
    last error when it gives up (or at once for a non-retryable answer)."""
    started = time.monotonic()
    retrying = Retrying(
        stop=stop_after_attempt(attempts) | _StopWhenAskedToWaitTooLong(max_wait),
        wait=_WaitBackoffOrRetryAfter(base, max_wait),
        retry=retry_if_exception_type(
            (RetryableError, httpx.TimeoutException, httpx.TransportError)
        ),
        sleep=sleep,
    )
    try:
        return retrying(send)
    except RetryError as exc:
        state = exc.last_attempt
        last = state.exception()
        detail = str(last) or type(last).__name__
        if isinstance(last, httpx.TimeoutException):
            detail = f"timed out ({type(last).__name__})"
        asked = getattr(last, "retry_after", None)
        why = (
            f" (the server asked to wait {asked:.0f} s, more than {max_wait:.0f} s)"
            if asked and asked > max_wait
            else ""
        )
        raise EmbeddingError(
            f"Embedding request gave up after {state.attempt_number} attempt(s) in "
            f"{time.monotonic() - started:.1f} s{why}; last error: {detail}"
        ) from last
