"""Web sources against a real local site (tests/site_server.py): crawl within the host
and depth, robots.txt, sitemap, include/exclude, conditional refresh (304 → unchanged,
0 tokens), failed pages, and the address guard (SSRF)."""

from __future__ import annotations

import gzip
import socket

import pytest

from assets_app.models import Asset, Document, DocumentStatus
from assets_app.services import asset_create_from_source, asset_refresh
from config.errors import ValidationFailed
from operations_app.models import Operation, OperationStatus
from tests.site_server import Site

S = OperationStatus


def page(title: str, *links: str, text: str = "") -> str:
    anchors = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    body = text or " ".join(
        f"{title} explains topic {i} in a full sentence." for i in range(20)
    )
    return (
        f"<html><head><title>{title}</title></head><body><nav><ul>{anchors}</ul></nav>"
        f"<main><h1>{title}</h1><p>{body}</p></main></body></html>"
    )


@pytest.fixture
def allow_loopback(settings):
    settings.RAGDESK_FETCH_ALLOW_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def site(allow_loopback):
    pages = {
        "/robots.txt": ("text/plain", "User-agent: *\nDisallow: /private\n"),
        "/": page("Home", "/a", "/b#part", "/private", "/docs/c", "/logo.png",
                  "http://example.com/elsewhere", "mailto:x@example.com"),
        "/a": page("Alpha", "/a/deep", "/"),
        "/a/deep": page("Deep", "/a/deep/deeper"),
        "/a/deep/deeper": page("Deeper"),
        "/b": page("Beta"),
        "/private": page("Private"),
        "/docs/c": page("Gamma"),
        "/logo.png": ("image/png", b"\x89PNG not really"),
    }  # fmt: skip
    with Site(pages) as s:
        pages["/sitemap.xml"] = (
            "application/xml",
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/'
            f'sitemap/0.9"><url><loc>{s.url("/b")}</loc></url><url><loc>'
            f"{s.url('/docs/c')}</loc></url><url><loc>http://example.com/x</loc>"
            "</url></urlset>",
        )
        s.pages = pages
        yield s


def create(member, url, **parameters):
    asset, _ = asset_create_from_source(
        actor=member, display_name="", source_type="web",
        parameters={"url": url, **parameters},
    )  # fmt: skip
    return asset


def keys(asset, site) -> set[str]:
    return {
        d.source_key.removeprefix(site.base_url)
        for d in Document.objects.filter(asset=asset)
    }


def test_crawl_reads_same_host_pages_within_depth_and_obeys_robots(
    site, editor_member, run_queued
):
    asset = create(editor_member, site.url("/"), mode="CRAWL", maxDepth=2)
    assert run_queued() == [S.COMPLETED]
    assert keys(asset, site) == {"/", "/a", "/b", "/docs/c", "/a/deep"}
    assert site.requested("/private") == []  # disallowed by robots.txt
    assert site.requested("/a/deep/deeper") == []  # three links away
    op = Operation.objects.get(asset=asset)
    assert op.documents_added == 5 and op.documents_failed == 0
    home = Document.objects.get(asset=asset, source_key=site.url("/"))
    assert home.status == DocumentStatus.COMPLETED and home.chunk_count > 0
    assert home.source_validators["etag"] and home.source_validators["lastModified"]


def test_refresh_asks_with_validators_and_bills_only_the_changed_page(
    site, editor_member, run_queued
):
    asset = create(editor_member, site.url("/"), mode="CRAWL", maxDepth=1)
    run_queued()
    site.set("/b", page("Beta", text="Beta was rewritten. " * 30))
    site.log.clear()
    asset_refresh(actor=editor_member, asset=asset)
    assert run_queued() == [S.COMPLETED]
    op = Operation.objects.filter(asset=asset).latest("created_at")
    assert (op.documents_updated, op.documents_unchanged, op.documents_added) == (
        1,
        3,
        0,
    )
    beta = Document.objects.get(asset=asset, source_key=site.url("/b"))
    assert op.token_count == beta.token_count > 0
    assert site.requested("/") == [(304, True)]  # its stored links keep the crawl going
    assert site.requested("/a") == [(304, True)] and site.requested("/b") == [
        (200, True)
    ]


def test_forced_refresh_fetches_in_full_and_re_embeds(site, editor_member, run_queued):
    asset = create(editor_member, site.url("/"))
    run_queued()
    site.log.clear()
    asset_refresh(actor=editor_member, asset=asset, force=True)
    run_queued()
    op = Operation.objects.filter(asset=asset).latest("created_at")
    assert site.requested("/") == [(200, False)]
    assert op.documents_updated == 1 and op.token_count > 0


def test_unchanged_page_without_validators_costs_nothing(
    allow_loopback, editor_member, run_queued
):
    with Site({"/": page("Plain")}, validators=False) as site:
        asset = create(editor_member, site.url("/"))
        run_queued()
        asset_refresh(actor=editor_member, asset=asset)
        run_queued()
    op = Operation.objects.filter(asset=asset).latest("created_at")
    assert (op.documents_unchanged, op.token_count) == (1, 0)


def test_sitemap_mode_reads_the_listed_pages_of_its_host(
    site, editor_member, run_queued
):
    asset = create(editor_member, site.url("/sitemap.xml"), mode="SITEMAP")
    assert run_queued() == [S.COMPLETED]
    assert keys(asset, site) == {"/b", "/docs/c"}


def test_sitemap_index_reads_the_pages_of_its_child_sitemaps_also_gzipped(
    site, editor_member, run_queued
):
    ns = "http://www.sitemaps.org/schemas/sitemap/0.9"
    site.pages["/index.xml"] = (
        "application/xml",
        f'<?xml version="1.0"?><sitemapindex xmlns="{ns}">'
        f"<sitemap><loc>{site.url('/sitemap.xml')}</loc></sitemap>"
        f"<sitemap><loc>{site.url('/more.xml.gz')}</loc></sitemap></sitemapindex>",
    )
    site.pages["/more.xml.gz"] = (
        "application/gzip",
        gzip.compress(
            f'<urlset xmlns="{ns}"><url><loc>{site.url("/a")}</loc></url>'
            "</urlset>".encode()
        ),
    )
    asset = create(editor_member, site.url("/index.xml"), mode="SITEMAP")
    assert run_queued() == [S.COMPLETED]
    assert keys(asset, site) == {"/a", "/b", "/docs/c"}
    assert site.requested("/more.xml.gz") == [(200, False)]


def test_sitemap_mode_on_an_html_page_fails_saying_it_is_not_a_sitemap(
    site, editor_member, run_queued
):
    site.pages["/"] = page("Home", "/a")  # well-formed XML, but no sitemap
    asset = create(editor_member, site.url("/"), mode="SITEMAP")
    assert run_queued() == [S.FAILED]
    op = Operation.objects.get(asset=asset)
    assert "is not a sitemap" in op.error_message and "<html>" in op.error_message


def test_include_exclude_and_max_pages_bound_the_crawl(site, editor_member, run_queued):
    asset = create(editor_member, site.url("/"), mode="CRAWL", include=["/a*"],
                   exclude=["/a/deep*"])  # fmt: skip
    run_queued()
    assert keys(asset, site) == {"/", "/a"}
    small = create(editor_member, site.url("/"), mode="CRAWL", maxPages=2)
    run_queued()
    assert keys(small, site) == {"/", "/a"}


def test_a_page_that_cannot_be_fetched_fails_alone(site, editor_member, run_queued):
    site.pages["/"] = page("Home", "/a", "/gone")
    asset = create(editor_member, site.url("/"), mode="CRAWL")
    assert run_queued() == [S.COMPLETED]
    gone = Document.objects.get(asset=asset, source_key=site.url("/gone"))
    assert gone.status == DocumentStatus.FAILED and "HTTP 404" in gone.error_message
    assert Operation.objects.get(asset=asset).documents_failed == 1


def test_a_page_over_the_size_limit_fails_with_the_limit(
    site, editor_member, run_queued, settings
):
    settings.RAGDESK_FETCH_MAX_BYTES = 200
    asset = create(editor_member, site.url("/b"))
    run_queued()
    doc = Document.objects.get(asset=asset)
    assert (
        doc.status == DocumentStatus.FAILED
        and "larger than 200 bytes" in doc.error_message
    )


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/", "http://169.254.169.254/latest/"]
)
def test_private_addresses_are_refused_on_create_by_default(editor_member, url):
    with pytest.raises(ValidationFailed) as exc:
        create(editor_member, url)
    assert "private, loopback or link-local" in exc.value.errors["url"][0]


def test_the_test_setting_allows_loopback_but_not_the_metadata_address(
    allow_loopback, editor_member
):
    assert (
        create(editor_member, "http://127.0.0.1:9/").source_parameters["mode"] == "PAGE"
    )
    with pytest.raises(ValidationFailed):
        create(editor_member, "http://169.254.169.254/")


def test_a_redirect_to_a_refused_address_fails_the_page_without_fetching_it(
    site, editor_member, run_queued
):
    site.redirects["/go"] = "http://169.254.169.254/latest/meta-data/"
    asset = create(editor_member, site.url("/go"))
    assert run_queued() == [S.COMPLETED]
    doc = Document.objects.get(asset=asset)
    assert doc.status == DocumentStatus.FAILED
    assert "169.254.169.254" in doc.error_message and "link-local" in doc.error_message


def test_the_guard_checks_the_resolved_address_not_the_host_name(editor_member):
    with pytest.raises(ValidationFailed) as exc:
        create(editor_member, "http://localhost:8000/")
    assert "resolves to 127.0.0.1" in exc.value.errors["url"][0]


def test_a_redirect_loop_fails_the_page_after_the_redirect_limit(
    site, editor_member, run_queued
):
    site.redirects["/loop"] = "/loop"
    asset = create(editor_member, site.url("/loop"))
    run_queued()
    doc = Document.objects.get(asset=asset)
    assert "More than 5 redirects" in doc.error_message
    assert len(site.requested("/loop")) == 6


def test_an_unreachable_robots_txt_disallows_every_page(
    allow_loopback, editor_member, run_queued, settings
):
    settings.RAGDESK_FETCH_ATTEMPTS = 1
    with Site({"/": page("Home")}) as site:
        site.redirects["/robots.txt"] = "http://169.254.169.254/robots.txt"
        asset = create(editor_member, site.url("/"))
        assert run_queued() == [S.COMPLETED]
    assert site.requested("/") == []
    doc = Document.objects.get(asset=asset)  # the page asked for says why
    assert doc.status == DocumentStatus.FAILED and "robots.txt" in doc.error_message


def test_a_start_url_too_long_to_store_is_refused_on_create(editor_member):
    with pytest.raises(ValidationFailed) as exc:
        create(editor_member, "http://93.184.215.14/" + "a" * 1004)  # 1025 chars
    assert exc.value.errors["url"] == ["At most 1024 characters (this one has 1025)."]


def test_a_stored_url_too_long_for_its_key_fails_its_document_not_the_operation(
    site, editor_member, run_queued
):
    asset = create(editor_member, site.url("/b"))
    run_queued()
    long_url = site.url("/" + "x" * 1100)
    Asset.objects.filter(pk=asset.pk).update(
        source_parameters={**asset.source_parameters, "url": long_url}
    )  # stored before create checked the length
    asset.refresh_from_db()
    asset_refresh(actor=editor_member, asset=asset)
    assert run_queued() == [S.COMPLETED]
    failed = Document.objects.get(asset=asset, status=DocumentStatus.FAILED)
    assert f"has {len(long_url)} characters; at most 1024" in failed.error_message
    assert len(failed.source_key) == 1024
    assert failed.source_key.startswith(long_url[:1000])
    op = Operation.objects.filter(asset=asset).latest("created_at")
    assert op.documents_failed == 1 and op.documents_deleted == 1  # /b is gone


def test_a_site_that_cannot_be_reached_fails_saying_so_not_robots(
    allow_loopback, editor_member, run_queued
):
    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    asset = create(editor_member, f"http://127.0.0.1:{port}/")
    assert run_queued() == [S.COMPLETED]
    doc = Document.objects.get(asset=asset)
    assert doc.status == DocumentStatus.FAILED
    assert "The site could not be reached" in doc.error_message
    assert "disallows" not in doc.error_message
