"""One signed POST to an endpoint, through the SSRF guard of web sources
(assets_app/sources/fetch.py): the host must resolve to public addresses only
(``RAGDESK_FETCH_ALLOW_NETWORKS`` lists exceptions, e.g. 127.0.0.0/8 in tests), the
connection goes to the address that was checked (``Host`` and TLS SNI keep the
name), redirects are not followed (a 3xx is a failed attempt), and the scheme must
be https — plain http only to an allowed network."""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

import httpx
from django.conf import settings

from assets_app.sources.fetch import FetchError, _client, check_url, resolve_checked

from .signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature

USER_AGENT = "ragdesk-notifications/1"


class EndpointRefused(Exception):
    """The URL may not receive notifications; the message says why, for a person."""


def _in_allowed_network(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    return any(
        ip in ipaddress.ip_network(n, strict=False)
        for n in settings.RAGDESK_FETCH_ALLOW_NETWORKS
    )


def checked_endpoint(url: str) -> tuple[httpx.URL, str]:
    """``(parsed url, the address to connect to)``. Raises EndpointRefused (malformed,
    not https, credentials in it, unknown host, refused address)."""
    try:
        parsed = check_url(url, schemes=("https", "http"))
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        address = resolve_checked(parsed.host, port)
    except FetchError as exc:
        raise EndpointRefused(str(exc)) from exc
    if parsed.scheme == "http" and not _in_allowed_network(address):
        raise EndpointRefused("Give an https:// URL.")
    return parsed, address


@dataclass
class Outcome:
    status_code: int | None  # None: no answer
    error: str  # empty on a 2xx
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post_signed(url: str, body: bytes, *, secret: str, event_id: str) -> Outcome:
    """POST ``body`` (JSON) to ``url`` signed with ``secret``; at most
    ``RAGDESK_NOTIFY_TIMEOUT_SECONDS`` per connect/read. Never raises."""
    started = time.monotonic()

    def done(status_code, error):
        ms = round((time.monotonic() - started) * 1000)
        return Outcome(status_code=status_code, error=error[:2000], duration_ms=ms)

    try:
        parsed, address = checked_endpoint(url)
    except EndpointRefused as exc:
        return done(None, str(exc))
    timestamp = int(time.time())
    host = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
    headers = {
        "Host": host, "Content-Type": "application/json", "User-Agent": USER_AGENT,
        "X-Ragdesk-Event-Id": event_id, TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }  # fmt: skip
    try:
        with (
            _client() as client,
            client.stream(
                "POST", parsed.copy_with(host=address), content=body,
                headers=headers, extensions={"sni_hostname": parsed.host},
                timeout=settings.RAGDESK_NOTIFY_TIMEOUT_SECONDS,
            ) as response,
        ):  # fmt: skip
            code = response.status_code
            if 200 <= code < 300:
                return done(code, "")
            snippet = b""
            for part in response.iter_bytes():
                snippet += part
                if len(snippet) >= 300:
                    break
            text = snippet[:300].decode("utf-8", "replace").strip()
            return done(code, f"HTTP {code}" + (f": {text}" if text else ""))
    except httpx.HTTPError as exc:
        return done(
            None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        )
