"""Git sources against a real repository made here (``git init`` and commits that add,
change and delete files): one document per file by path, refresh by blob id, branch,
include/exclude, the per-asset clone cache, and the address guard."""

from __future__ import annotations

import subprocess

import pytest

from assets_app.models import Document, DocumentStatus
from assets_app.services import asset_create_from_source, asset_delete, asset_refresh
from assets_app.sources.git import clone_dir
from config.errors import PermissionDenied, ValidationFailed
from operations_app.models import Operation, OperationStatus

S = OperationStatus


def text(topic: str) -> str:
    return "\n\n".join(
        f"{topic} paragraph {i} says something useful." for i in range(12)
    )


class Repo:
    def __init__(self, path):
        self.path = path
        path.mkdir()
        self.git("init", "--quiet", "--initial-branch=main")

    def git(self, *args: str) -> str:
        env_args = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
        return subprocess.run(
            ["git", *env_args, *args], cwd=self.path, check=True, capture_output=True,
            text=True,
        ).stdout  # fmt: skip

    def write(self, name: str, content: str | bytes) -> None:
        file = self.path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(content.encode() if isinstance(content, str) else content)

    def commit(self, message: str) -> None:
        self.git("add", "--all")
        self.git("commit", "--quiet", "-m", message)


@pytest.fixture
def repo(tmp_path, settings):
    settings.RAGDESK_FOLDER_ROOTS = [tmp_path.resolve()]
    settings.RAGDESK_GIT_CACHE_DIR = tmp_path / "cache"
    r = Repo(tmp_path / "repo")
    for name in ("a.md", "b.txt", "c.md", "docs/d.md"):
        r.write(name, text(name))
    r.write("logo.png", b"\x89PNG")
    r.commit("first")
    return r


def create(member, url, **parameters):
    asset, _ = asset_create_from_source(
        actor=member, display_name="", source_type="git",
        parameters={"url": str(url), **parameters},
    )  # fmt: skip
    return asset


def keys(asset) -> set[str]:
    return set(
        Document.objects.filter(asset=asset).values_list("source_key", flat=True)
    )


def last_op(asset) -> Operation:
    return Operation.objects.filter(asset=asset).latest("created_at")


def test_ingest_makes_one_document_per_supported_file_by_path(
    repo, admin_member, run_queued
):
    asset = create(admin_member, repo.path)
    assert run_queued() == [S.COMPLETED]
    assert keys(asset) == {"a.md", "b.txt", "c.md", "docs/d.md"}
    d = Document.objects.get(asset=asset, source_key="docs/d.md")
    assert (d.source_url, d.status) == ("docs/d.md", DocumentStatus.COMPLETED)
    assert (clone_dir(asset.id) / "HEAD").exists()


def test_refresh_after_a_commit_bills_only_changed_files(
    repo, admin_member, run_queued
):
    asset = create(admin_member, repo.path.as_uri())  # file:// works as well
    run_queued()
    repo.write("a.md", text("a.md was changed"))
    repo.write("e.md", text("e.md is new"))
    (repo.path / "c.md").unlink()
    repo.commit("change, add, delete")
    asset_refresh(actor=admin_member, asset=asset)
    assert run_queued() == [S.COMPLETED]
    op = last_op(asset)
    stats = (op.documents_updated, op.documents_added, op.documents_deleted,
             op.documents_unchanged, op.documents_failed)  # fmt: skip
    assert stats == (1, 1, 1, 2, 0)
    changed = Document.objects.filter(asset=asset, source_key__in=["a.md", "e.md"])
    assert op.token_count == sum(d.token_count for d in changed) > 0
    assert keys(asset) == {"a.md", "b.txt", "docs/d.md", "e.md"}


def test_refresh_without_a_new_commit_reads_nothing_and_bills_nothing(
    repo, admin_member, run_queued, monkeypatch
):
    asset = create(admin_member, repo.path)
    run_queued()
    reads = []
    monkeypatch.setattr(
        "assets_app.sources.git._reader", lambda *a: lambda: reads.append(a) or b""
    )
    asset_refresh(actor=admin_member, asset=asset)
    run_queued()
    op = last_op(asset)
    assert (op.documents_unchanged, op.token_count, reads) == (4, 0, [])


def test_branch_parameter_reads_that_branch(repo, admin_member, run_queued):
    repo.git("checkout", "--quiet", "-b", "other")
    repo.write("only-on-other.md", text("other"))
    repo.commit("other branch")
    repo.git("checkout", "--quiet", "main")
    on_other = create(admin_member, repo.path, branch="other")
    on_default = create(admin_member, repo.path)
    run_queued()
    assert "only-on-other.md" in keys(on_other)
    assert "only-on-other.md" not in keys(on_default)


def test_include_and_exclude_globs_choose_files(repo, admin_member, run_queued):
    asset = create(admin_member, repo.path, include=["*.md"], exclude=["docs/**"])
    run_queued()
    assert keys(asset) == {"a.md", "c.md"}


def test_unknown_branch_fails_the_operation_with_gits_message(
    repo, admin_member, run_queued
):
    asset = create(admin_member, repo.path, branch="nope")
    assert run_queued() == [S.FAILED]
    assert "git fetch failed" in last_op(asset).error_message
    assert "nope" in last_op(asset).error_message


def test_deleting_the_asset_removes_its_clone(
    repo, admin_member, run_queued, django_capture_on_commit_callbacks
):
    asset = create(admin_member, repo.path)
    run_queued()
    assert clone_dir(asset.id).exists()
    with django_capture_on_commit_callbacks(execute=True):
        asset_delete(actor=admin_member, asset=asset)
    assert not clone_dir(asset.id).exists()


def test_a_lost_clone_is_made_again(repo, admin_member, run_queued):
    import shutil

    asset = create(admin_member, repo.path)
    run_queued()
    shutil.rmtree(clone_dir(asset.id))  # another worker machine: no clone there
    asset_refresh(actor=admin_member, asset=asset)
    assert run_queued() == [S.COMPLETED]
    assert last_op(asset).documents_unchanged == 4


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1/repo.git", "https://169.254.169.254/repo.git"]
)
def test_https_remotes_on_private_addresses_are_refused(repo, editor_member, url):
    with pytest.raises(ValidationFailed) as exc:
        create(editor_member, url)
    assert "private, loopback or link-local" in exc.value.errors["url"][0]


def test_repositories_on_the_server_need_a_tenant_admin(repo, editor_member):
    with pytest.raises(PermissionDenied) as exc:  # the role, not the value
        create(editor_member, repo.path)
    assert "tenant admins" in exc.value.errors["url"][0]


@pytest.mark.parametrize("url", ["ftp://example.com/r.git", "/etc", "relative/path"])
def test_other_urls_are_refused_naming_the_url(repo, admin_member, url):
    with pytest.raises(ValidationFailed) as exc:
        create(admin_member, url)
    assert "url" in exc.value.errors
