"""Bounded HTTP GETs for web sources, and the address guard (SSRF) shared with git.

A URL is fetched only if every address its host resolves to is a public one
(``ipaddress``' ``is_global``): 127.0.0.1, 169.254.169.254, 10.0.0.0/8, ::1 and the
like are refused unless their network is listed in
``settings.RAGDESK_FETCH_ALLOW_NETWORKS``. The check is made on each redirect hop, and
the connection goes to the very address that was checked (the hostname still drives
``Host`` and TLS SNI/verification), so a DNS answer that changes between check and
connect (rebinding) cannot slip through.

Bounds (settings): ``RAGDESK_FETCH_TIMEOUT_SECONDS`` per connect/read/write (and 3×
that for a whole response), ``RAGDESK_FETCH_MAX_BYTES`` per body,
``RAGDESK_FETCH_MAX_REDIRECTS`` hops, ``RAGDESK_FETCH_ATTEMPTS`` tries on connection
errors and 429/502/503/504 (tenacity, exponential back-off)."""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx
from django.conf import settings
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from . import SourceError

REDIRECTS = {301, 302, 303, 307, 308}
TRANSIENT = {429, 502, 503, 504}


class FetchError(SourceError):
    """A URL could not be fetched; the message says why, for a person."""


class AddressRefused(FetchError):
    """The URL's host resolves to an address that sources may not reach."""


@dataclass
class FetchResponse:
    url: str  # after redirects
    status: int  # 200 or 304
    headers: httpx.Headers
    content: bytes


class _Transient(Exception):
    def __init__(self, status: int):
        self.status = status


def _allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    if ip.is_global and not ip.is_multicast:
        return True
    return any(
        ip in ipaddress.ip_network(n, strict=False)
        for n in settings.RAGDESK_FETCH_ALLOW_NETWORKS
    )


def resolve_checked(host: str, port: int) -> str:
    """The first address of ``host`` (str), after checking that every address it
    resolves to may be reached. Raises AddressRefused or FetchError (no such host)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"Cannot resolve the host {host!r} ({exc}).") from exc
    addresses = [info[4][0] for info in infos]
    for address in addresses:
        if not _allowed(ipaddress.ip_address(address.split("%")[0])):
            raise AddressRefused(
                f"{host} resolves to {address}, a private, loopback or link-local "
                "address; sources may only reach public addresses "
                "(RAGDESK_FETCH_ALLOW_NETWORKS lists exceptions)."
            )
    return addresses[0]


def check_url(url: str, *, schemes: tuple[str, ...] = ("http", "https")) -> httpx.URL:
    """``url`` parsed, if its scheme is one of ``schemes`` and its host may be reached.
    Raises FetchError (malformed, scheme, port, unknown host) or AddressRefused."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise FetchError(f"{url!r} is not a valid URL.") from exc
    if parsed.scheme not in schemes or not parsed.host:
        raise FetchError(f"Give an absolute {' or '.join(schemes)} URL.")
    if parsed.userinfo:
        raise FetchError("Do not put credentials in the URL.")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise FetchError(f"The port {parsed.port} is not from 1 to 65535.")
    resolve_checked(
        parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80)
    )
    return parsed


def _client() -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(settings.RAGDESK_FETCH_TIMEOUT_SECONDS),
        follow_redirects=False,  # each hop is checked here
        trust_env=False,  # a proxy would bypass the address check
    )


def _hop(
    client: httpx.Client, url: httpx.URL, headers: dict
) -> tuple[int, httpx.Headers, bytes]:
    """One request to the checked address of ``url``'s host. Raises _Transient,
    httpx.TransportError, FetchError (too large, too slow), AddressRefused."""
    ip = resolve_checked(url.host, url.port or (443 if url.scheme == "https" else 80))
    host = url.host if url.port is None else f"{url.host}:{url.port}"
    limit, started = settings.RAGDESK_FETCH_MAX_BYTES, time.monotonic()
    with client.stream(
        "GET", url.copy_with(host=ip), headers={**headers, "Host": host},
        extensions={"sni_hostname": url.host},
    ) as response:  # fmt: skip
        if response.status_code in TRANSIENT:
            raise _Transient(response.status_code)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(f"The response is larger than {limit} bytes.")
        body = bytearray()
        if response.status_code == 200:
            for part in response.iter_bytes():
                body += part
                if len(body) > limit:
                    raise FetchError(f"The response is larger than {limit} bytes.")
                if (
                    time.monotonic() - started
                    > 3 * settings.RAGDESK_FETCH_TIMEOUT_SECONDS
                ):
                    raise FetchError("The server sends the response too slowly.")
        return response.status_code, response.headers, bytes(body)


def fetch(
    url: str, *, headers: dict | None = None, client: httpx.Client | None = None
) -> FetchResponse:
    """GET ``url`` (http or https), following up to RAGDESK_FETCH_MAX_REDIRECTS
    redirects, each hop's address checked. Returns a 200 or, for a conditional request
    (``If-None-Match`` / ``If-Modified-Since`` in ``headers``, RFC 9110 §13.1), a 304
    with an empty body. Raises AddressRefused, or FetchError for any other failure
    (HTTP status, timeout, connection, size, too many redirects), with the reason."""
    own = client is None
    client = client or _client()
    headers = {"User-Agent": settings.RAGDESK_FETCH_USER_AGENT, **(headers or {})}
    try:
        current = check_url(url)
        for _ in range(settings.RAGDESK_FETCH_MAX_REDIRECTS + 1):
            status, got, body = _with_retries(client, current, headers)
            if status in REDIRECTS and got.get("location"):
                current = check_url(urljoin(str(current), got["location"]))
                continue
            if status not in (200, 304):
                raise FetchError(f"HTTP {status} from {current}.")
            return FetchResponse(
                url=str(current), status=status, headers=got, content=body
            )
        raise FetchError(
            f"More than {settings.RAGDESK_FETCH_MAX_REDIRECTS} redirects from {url}."
        )
    finally:
        if own:
            client.close()


def _with_retries(client, url: httpx.URL, headers: dict):
    try:
        for attempt in Retrying(
            stop=stop_after_attempt(settings.RAGDESK_FETCH_ATTEMPTS),
            wait=wait_exponential(multiplier=0.5, max=4),
            retry=retry_if_exception_type((_Transient, httpx.TransportError)),
            reraise=True,
        ):
            with attempt:
                return _hop(client, url, headers)
    except _Transient as exc:
        raise FetchError(
            f"HTTP {exc.status} from {url}, also after retrying."
        ) from None
    except httpx.TimeoutException as exc:
        raise FetchError(
            f"{url} did not answer in time ({type(exc).__name__})."
        ) from exc
    except httpx.TransportError as exc:
        raise FetchError(f"Cannot fetch {url}: {exc or type(exc).__name__}.") from exc
