"""Shared fixtures. The database is the embedded PostgreSQL with pgvector (pytest-django
creates ``test_ragdesk`` on it). Operations enqueue their task on commit; tests that do
not start a real cluster run the operation in-process with ``run_queued``."""

from __future__ import annotations

import io

import pytest

from assets_app.models import Role
from assets_app.services import UploadInput
from tests.factories import MembershipFactory, TenantFactory, UserFactory


@pytest.fixture
def tenant(db):
    return TenantFactory()


@pytest.fixture
def admin_member(tenant):
    return MembershipFactory(tenant=tenant, role=Role.ADMIN, user=UserFactory(username="alice"))


@pytest.fixture
def editor_member(tenant):
    return MembershipFactory(tenant=tenant, role=Role.EDITOR, user=UserFactory(username="eddie"))


@pytest.fixture
def viewer_member(tenant):
    return MembershipFactory(tenant=tenant, role=Role.VIEWER, user=UserFactory(username="vera"))


def upload(name: str, data: bytes | str) -> UploadInput:
    """An UploadInput from bytes or text, as the dashboard or API would pass it."""
    raw = data.encode() if isinstance(data, str) else data
    return UploadInput(name=name, size=len(raw), stream=io.BytesIO(raw))


@pytest.fixture
def no_enqueue(monkeypatch):
    """Keep operations PENDING: record what would be enqueued instead of sending it to
    the broker. Returns the list of operation ids."""
    sent: list[str] = []
    monkeypatch.setattr(
        "operations_app.services._enqueue",
        lambda operation_id: sent.append(str(operation_id)),
    )
    return sent


@pytest.fixture
def run_queued(no_enqueue):
    """Run enqueued operations in this process, in order, like one worker would."""
    from assets_app.ingestion import ingestion_run

    def run() -> list[str]:
        results = []
        while no_enqueue:
            results.append(ingestion_run(operation_id=no_enqueue.pop(0)))
        return results

    return run


def pytest_collection_modifyitems(config, items):
    """Run browser tests last: while Playwright's event loop lives, Django hands out
    other connection objects, which lack the serialized copy that
    ``serialized_rollback`` restores (seeded model prices, content types)."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
    for item in items:
        marker = item.get_closest_marker("django_db")
        if (
            marker
            and marker.kwargs.get("transaction")
            and not marker.kwargs.get("serialized_rollback")
        ):
            # A transactional test's flush without serialized_rollback runs
            # post_migrate, which re-creates content types; the next
            # serialized_rollback test then fails to restore its copy (duplicate key)
            # and so does every one after it.
            raise pytest.UsageError(
                f"{item.nodeid}: use django_db(transaction=True, serialized_rollback=True)"
            )


@pytest.fixture(autouse=True)
def _empty_cache():
    """The cache (throttle counters) is process memory in tests; each test starts with
    none, as each starts with an empty database."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
