"""A real local web site for web-source tests: a threaded ``http.server`` on 127.0.0.1
serving ``pages`` (path → body, or (content type, body)), ``redirects`` (path →
Location) and answering conditional requests (RFC 9110 §13.1: ``If-None-Match`` on the
body's ETag, else ``If-Modified-Since``) with 304. ``log`` records (path, status,
conditional?) of every request. Pages may be changed while it runs."""

from __future__ import annotations

import hashlib
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Site:
    def __init__(self, pages: dict | None = None, *, validators: bool = True):
        self.pages: dict[str, str | bytes | tuple[str, str | bytes]] = dict(pages or {})
        self.redirects: dict[str, str] = {}
        self.validators = validators  # send ETag and Last-Modified
        self.log: list[tuple[str, int, bool]] = []
        self.modified: dict[str, float] = {}  # path → Last-Modified epoch s
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 -- http.server's name
                site._answer(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def set(self, path: str, body, content_type: str = "text/html") -> None:
        self.pages[path] = (content_type, body)
        self.modified[path] = self.modified.get(path, 1_700_000_000) + 3600

    def requested(self, path: str) -> list[tuple[int, bool]]:
        return [(status, cond) for p, status, cond in self.log if p == path]

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        conditional = bool(
            h.headers.get("If-None-Match") or h.headers.get("If-Modified-Since")
        )
        if path in self.redirects:
            self.log.append((path, 302, conditional))
            h.send_response(302)
            h.send_header("Location", self.redirects[path])
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        page = self.pages.get(path)
        if page is None:
            self.log.append((path, 404, conditional))
            h.send_error(404)
            return
        content_type, body = page if isinstance(page, tuple) else ("text/html", page)
        body = body.encode() if isinstance(body, str) else body
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        modified = formatdate(
            self.modified.setdefault(path, 1_700_000_000), usegmt=True
        )
        if self.validators and (
            h.headers.get("If-None-Match") == etag
            or (not h.headers.get("If-None-Match")
                and h.headers.get("If-Modified-Since") == modified)
        ):  # fmt: skip
            self.log.append((path, 304, conditional))
            h.send_response(304)
            h.send_header("ETag", etag)
            h.end_headers()
            return
        self.log.append((path, 200, conditional))
        h.send_response(200)
        h.send_header("Content-Type", f"{content_type}; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        if self.validators:
            h.send_header("ETag", etag)
            h.send_header("Last-Modified", modified)
        h.end_headers()
        h.wfile.write(body)

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
