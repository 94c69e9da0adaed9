"""Web and git ingestion end to end through a real ``qcluster``: the worker process
fetches from a local site and clones a local repository, with the loopback exception
passed the way a deployment would (``RAGDESK_FETCH_ALLOW_NETWORKS``), and keeps its
clone in its own cache folder."""

from __future__ import annotations

import pytest

from assets_app.models import Document, DocumentStatus
from assets_app.services import asset_create_from_source, asset_refresh
from assets_app.sources.git import clone_dir
from operations_app.models import Operation, OperationStatus
from tests.assets_app.test_source_git import Repo, text
from tests.assets_app.test_source_web import page
from tests.cluster import running_qcluster
from tests.operations_app.test_tasks import wait_status
from tests.site_server import Site

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
S = OperationStatus


@pytest.fixture
def cluster(transactional_db, tmp_path, settings):
    settings.RAGDESK_FETCH_ALLOW_NETWORKS = ["127.0.0.0/8"]
    settings.RAGDESK_FOLDER_ROOTS = [tmp_path.resolve()]
    settings.RAGDESK_GIT_CACHE_DIR = tmp_path / "worker-cache"
    env = {
        "RAGDESK_FETCH_ALLOW_NETWORKS": "127.0.0.0/8",
        "RAGDESK_FOLDER_ROOTS": str(tmp_path.resolve()),
        "RAGDESK_GIT_CACHE_DIR": str(tmp_path / "worker-cache"),
    }
    with running_qcluster(log_path=tmp_path / "qcluster.log", env=env) as c:
        yield c


def test_web_ingest_and_conditional_refresh_run_on_a_real_worker(cluster, admin_member):
    pages = {"/": page("Home", "/a", "/b"), "/a": page("Alpha"), "/b": page("Beta")}
    with Site(pages) as site:
        asset, op = asset_create_from_source(
            actor=admin_member, display_name="Site", source_type="web",
            parameters={"url": site.url("/"), "mode": "CRAWL"},
        )  # fmt: skip
        op = wait_status(op, S.COMPLETED, timeout=60, cluster=cluster)
        assert (op.documents_added, op.documents_failed) == (3, 0)
        refresh = asset_refresh(actor=admin_member, asset=asset)
        refresh = wait_status(refresh, S.COMPLETED, timeout=60, cluster=cluster)
    assert (refresh.documents_unchanged, refresh.token_count) == (3, 0)
    assert [s for p, s, _ in site.log if p == "/b"] == [200, 304]


def test_git_ingest_and_refresh_after_a_commit_run_on_a_real_worker(
    cluster, admin_member, tmp_path
):
    repo = Repo(tmp_path / "repo")
    repo.write("a.md", text("a"))
    repo.write("b.md", text("b"))
    repo.commit("first")
    asset, op = asset_create_from_source(
        actor=admin_member, display_name="Repo", source_type="git",
        parameters={"url": str(repo.path)},
    )  # fmt: skip
    op = wait_status(op, S.COMPLETED, timeout=60, cluster=cluster)
    assert op.documents_added == 2
    assert (clone_dir(asset.id) / "HEAD").exists()  # the worker's cache folder
    repo.write("b.md", text("b changed"))
    repo.commit("second")
    refresh = asset_refresh(actor=admin_member, asset=asset)
    refresh = wait_status(refresh, S.COMPLETED, timeout=60, cluster=cluster)
    assert (refresh.documents_updated, refresh.documents_unchanged) == (1, 1)
    b = Document.objects.get(asset=asset, source_key="b.md")
    assert b.status == DocumentStatus.COMPLETED and refresh.token_count == b.token_count
    assert Operation.objects.filter(asset=asset, status=S.COMPLETED).count() == 2
