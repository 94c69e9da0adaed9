"""Web pages: ``{"url", "mode": PAGE|CRAWL|SITEMAP, "maxDepth", "maxPages", "include",
"exclude"}`` — one document per URL (fragment removed), keyed by the URL.

- ``PAGE`` reads ``url`` alone; ``CRAWL`` follows ``<a href>`` links breadth-first
  within the start URL's scheme and host, up to ``maxDepth`` links away and
  ``maxPages`` pages; ``SITEMAP`` reads the page URLs of the sitemap (or sitemap
  index, one level down) at ``url``, on its host (sitemaps.org protocol).
- ``include`` / ``exclude``: shell patterns (``fnmatch``; ``*`` also matches ``/``)
  on a URL's path and query, e.g. ``/docs/*``. The start URL is always read.
- robots.txt of the host is obeyed for the product token ``RAGDESK_FETCH_USER_AGENT``
  (RFC 9309, parsed by protego): 4xx → all allowed (§2.3.1.3), unreachable or 5xx →
  none (§2.3.1.4). A disallowed page is not read and is no document (the start page:
  a FAILED one saying so, or that the site could not be reached).
- Refresh asks with the stored ``ETag`` / ``Last-Modified`` (``If-None-Match`` /
  ``If-Modified-Since``, RFC 9110 §13.1); a 304 is an unchanged document (0 tokens)
  whose stored links keep the crawl going. A page that cannot be fetched is a FAILED
  document with the reason.
"""

from __future__ import annotations

import fnmatch
import gzip
import io
from collections import deque
from collections.abc import Callable, Iterator
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.etree
import lxml.html
from django.conf import settings
from protego import Protego

from assets_app.ingestion.parsing import SUPPORTED_TYPES

from . import MAX_KEY_CHARS, ParameterError, SourceItem, stored_validators
from .fetch import FetchError, _client, check_url, fetch

MODES = ("PAGE", "CRAWL", "SITEMAP")
MAX_LINKS_KEPT = 1000  # per page, in its validators
MAX_CHILD_SITEMAPS = 50
_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def check_parameters(parameters: dict) -> dict:
    """The parameters completed with defaults. Raises ParameterError naming the bad one
    (a URL that is malformed, not http(s), or resolves to a refused address)."""
    p = {"mode": "PAGE", "maxDepth": 2, "maxPages": 100, "include": [], "exclude": [],
         **{k: v for k, v in parameters.items() if v is not None}}  # fmt: skip
    url = p.get("url") or ""
    if len(url) > MAX_KEY_CHARS:  # a page's URL is its document's source_key
        raise ParameterError(
            "url", f"At most {MAX_KEY_CHARS} characters (this one has {len(url)})."
        )
    try:
        check_url(url)
    except FetchError as exc:
        raise ParameterError("url", str(exc)) from exc
    if not 0 <= p["maxDepth"] <= 10:
        raise ParameterError("maxDepth", "From 0 to 10.")
    if not 1 <= p["maxPages"] <= settings.RAGDESK_WEB_MAX_PAGES:
        raise ParameterError("maxPages", f"From 1 to {settings.RAGDESK_WEB_MAX_PAGES}.")
    return p


def _key(url: str) -> str:
    return urldefrag(url)[0]


def _target(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "") or "/"


class _Crawl:
    def __init__(self, parameters: dict, validators: dict, force: bool, check):
        self.p, self.validators, self.force, self.check = (
            parameters,
            validators,
            force,
            check,
        )
        self.start = _key(parameters["url"])
        self.origin = urlsplit(self.start)[:2]
        self.client = _client()
        self.robots: Protego | None = None
        self.unreachable = ""  # why robots.txt could not be read (RFC 9309 §2.3.1.4)

    def wanted(self, url: str) -> bool:
        target = _target(url)
        include, exclude = self.p["include"], self.p["exclude"]
        if include and not any(fnmatch.fnmatchcase(target, i) for i in include):
            return False
        return not any(fnmatch.fnmatchcase(target, e) for e in exclude)

    def same_site(self, url: str) -> bool:
        return urlsplit(url)[:2] == self.origin and len(url) <= MAX_KEY_CHARS

    def allowed(self, url: str) -> bool:
        """Whether robots.txt lets us read ``url`` (RFC 9309)."""
        if self.robots is None:
            robots_url = f"{self.origin[0]}://{self.origin[1]}/robots.txt"
            try:
                text = fetch(robots_url, client=self.client).content.decode(
                    "utf-8", "replace"
                )
            except FetchError as exc:
                unavailable = str(exc).startswith("HTTP 4")
                text = "" if unavailable else "User-agent: *\nDisallow: /\n"
                if not unavailable:
                    self.unreachable = str(exc)
            self.robots = Protego.parse(text)
        return self.robots.can_fetch(url, settings.RAGDESK_FETCH_USER_AGENT)

    def disallowed_reason(self) -> str:
        if self.unreachable:
            return (
                f"The site could not be reached: {self.unreachable} (its robots.txt "
                "could not be read, so nothing may be read, RFC 9309 §2.3.1.4)."
            )
        return "The site's robots.txt disallows reading it."

    def read(self, url: str, depth: int) -> tuple[SourceItem | None, list[str]]:
        """The item for ``url`` and the links found on it (or stored with it)."""
        stored = self.validators.get(url) or {}
        headers = {}
        if not self.force and stored:
            if stored.get("etag"):
                headers["If-None-Match"] = stored["etag"]
            if stored.get("lastModified"):
                headers["If-Modified-Since"] = stored["lastModified"]
        try:
            response = fetch(url, headers=headers, client=self.client)
        except FetchError as exc:
            return _failed(url, str(exc)), []
        if response.status == 304:
            return _item(
                url, stored.get("contentType", "text/html"), stored, b"", True
            ), stored.get("links", [])
        content_type = (
            response.headers.get("content-type", "").split(";")[0].strip().lower()
        )
        if content_type in ("application/xhtml+xml", ""):
            content_type = "text/html"
        links = (
            _links(response.content, response.url)
            if content_type == "text/html"
            else []
        )
        links = [u for u in links if self.same_site(u)][:MAX_LINKS_KEPT]
        if content_type not in SUPPORTED_TYPES:
            reason = f"Content type {content_type!r} cannot be parsed."
            return (_failed(url, reason) if depth == 0 else None), links
        validators = {
            "etag": response.headers.get("etag"),
            "lastModified": response.headers.get("last-modified"),
            "contentType": content_type,
            "links": links,
        }
        return _item(url, content_type, validators, response.content, False), links

    def pages(self) -> Iterator[SourceItem]:
        if self.p["mode"] == "SITEMAP":
            queue = deque((u, 1) for u in self.sitemap_urls())
        else:
            queue = deque([(self.start, 0)])
        seen = {u for u, _ in queue}
        crawl = self.p["mode"] == "CRAWL"
        produced = 0
        while queue and produced < self.p["maxPages"]:
            self.check()
            url, depth = queue.popleft()
            if not self.allowed(url):
                if depth == 0:  # the page asked for: say why there is nothing
                    produced += 1
                    yield _failed(url, self.disallowed_reason())
                continue
            item, links = self.read(url, depth)
            if item is not None:
                produced += 1
                yield item
            if crawl and depth < self.p["maxDepth"]:
                for link in links:
                    if link not in seen and self.same_site(link) and self.wanted(link):
                        seen.add(link)
                        queue.append((link, depth + 1))

    def sitemap_urls(self) -> list[str]:
        """Page URLs of the sitemap at the start URL, on its host, filtered. Raises
        FetchError (the sitemap as a whole cannot be read)."""
        pages, sitemaps = [], [self.start]
        index = 0
        # A while loop, not a for over a slice: the index's children are appended to
        # ``sitemaps`` while it runs (a copy would never see them).
        while index < min(len(sitemaps), MAX_CHILD_SITEMAPS + 1):
            sitemap = sitemaps[index]
            self.check()
            root = _xml(fetch(sitemap, client=self.client).content, sitemap)
            if root.tag not in (f"{_SITEMAP_NS}urlset", f"{_SITEMAP_NS}sitemapindex"):
                raise FetchError(
                    f"{sitemap} is not a sitemap (its root element is "
                    f"<{lxml.etree.QName(root).localname}>, not <urlset> or "
                    "<sitemapindex> of the sitemaps.org protocol)."
                )
            for loc in root.iter(f"{_SITEMAP_NS}loc"):
                url = _key((loc.text or "").strip())
                if not self.same_site(url):
                    continue
                if root.tag == f"{_SITEMAP_NS}sitemapindex":
                    if index == 0 and url not in sitemaps:  # one level down only
                        sitemaps.append(url)
                elif self.wanted(url) and url not in pages:
                    pages.append(url)
            index += 1
        return pages[: self.p["maxPages"]]


def _xml(data: bytes, url: str):
    if data[:2] == b"\x1f\x8b":  # a .xml.gz sitemap
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            data = f.read(settings.RAGDESK_FETCH_MAX_BYTES + 1)
    parser = lxml.etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False
    )
    try:
        return lxml.etree.fromstring(data, parser)
    except lxml.etree.XMLSyntaxError as exc:
        raise FetchError(f"{url} is not a sitemap (invalid XML: {exc}).") from exc


def _links(body: bytes, base: str) -> list[str]:
    """Absolute http(s) targets of the page's ``<a href>``, fragments removed, in
    order, without repeats (``<base href>`` honoured)."""
    try:
        doc = lxml.html.fromstring(body, base_url=base)
    except (lxml.etree.ParserError, ValueError):
        return []
    doc.make_links_absolute(base, resolve_base_href=True, handle_failures="discard")
    found: dict[str, None] = {}
    for element, attribute, link, _ in doc.iterlinks():
        if element.tag == "a" and attribute == "href":
            url = _key(urljoin(base, link))
            if url.startswith(("http://", "https://")):
                found[url] = None
    return list(found)


def _item(url, content_type, validators, data: bytes, not_modified: bool) -> SourceItem:
    def read() -> bytes:
        if not_modified:
            raise OSError("The server answered 304 Not Modified but no copy is stored.")
        return data

    name = url.split("://", 1)[-1][:255]
    return SourceItem(
        key=url, file_name=name, content_type=content_type, size=len(data),
        source_url=url, read=read, validators=validators, not_modified=not_modified,
    )  # fmt: skip


def _failed(url: str, reason: str) -> SourceItem:
    def read() -> bytes:
        raise OSError(reason)

    return SourceItem(
        key=url, file_name=url.split("://", 1)[-1][:255], content_type="text/html",
        size=0, source_url=url, read=read,
    )  # fmt: skip


def list_web_items(
    asset, *, force: bool, check: Callable[[], None]
) -> Iterator[SourceItem]:
    """The pages of a web asset (module docstring). Raises FetchError (a SourceError)
    when a SITEMAP cannot be read; a single page that cannot be fetched is an item
    whose ``read`` raises OSError with the reason."""
    crawl = _Crawl(asset.source_parameters, stored_validators(asset), force, check)
    try:
        yield from crawl.pages()
    finally:
        crawl.client.close()
