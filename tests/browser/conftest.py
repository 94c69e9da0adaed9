"""Browser tests: real headless Chromium (Debian's ``chromium``) driven by Playwright,
against pytest-django's live server, with a real ``qcluster`` running the operations.

Without ``/usr/bin/chromium`` these tests are skipped on a developer's machine and fail
in CI (``CI=true``), where ``.ci/run`` installs it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from assets_app.models import Role
from tests.cluster import running_qcluster
from tests.embedding_server import EmbeddingServer
from tests.factories import MembershipFactory, TenantFactory, UserFactory

# Playwright's sync API runs an event loop in this thread; the live server's database
# work happens in its own thread, and the test's ORM calls are synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
PASSWORD = "pw-test-123"  # tests.factories.UserFactory


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing; .ci/run should have installed it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def embedding_server():
    with EmbeddingServer() as server:
        yield server


@pytest.fixture
def cluster(transactional_db, embedding_server, tmp_path):
    with running_qcluster(
        log_path=tmp_path / "qcluster.log",
        env={"RAGDESK_OPENAI_BASE_URL": embedding_server.base_url},
    ) as running:
        yield running


@pytest.fixture
def member(transactional_db):
    """An EDITOR of tenant "acme" who is also a VIEWER of tenant "globex"."""
    user = UserFactory(username="carol")
    acme = MembershipFactory(user=user, tenant=TenantFactory(slug="acme", name="Acme"),
                             role=Role.ADMIN)
    MembershipFactory(user=user, tenant=TenantFactory(slug="globex", name="Globex"),
                      role=Role.VIEWER)
    return acme


@pytest.fixture
def page(browser, live_server, member, request):
    """A logged-in page; a screenshot of it lands in tests/artifacts/<test>.png."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", member.user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/t/acme/")
    page.base = live_server.url
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
