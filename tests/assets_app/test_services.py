"""assets_app.services: creating assets, bad input, settings, refresh requests, delete.

Bad input gets a clear error and changes nothing: no Asset, UploadedFile or Operation
row is written."""

from __future__ import annotations

import io

import pytest

from assets_app.models import Asset, Chunk, Document, UploadedFile
from assets_app.services import (
    MIN_CHUNK_SIZE,
    UploadInput,
    asset_create_from_folder,
    asset_create_from_source,
    asset_create_from_uploads,
    asset_delete,
    asset_refresh,
    asset_update_settings,
)
from config.errors import (
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
    ValidationFailed,
)
from operations_app.models import Operation, OperationStatus, OperationType
from tests.conftest import upload
from tests.factories import AssetFactory


class UnreadableStream(io.RawIOBase):
    """A stream that fails the test if anyone reads it."""

    def read(self, *args):  # noqa: ARG002
        raise AssertionError("the stream of a refused upload was read")

    readinto = read


def assert_nothing_written():
    assert not Asset.objects.exists()
    assert not UploadedFile.objects.exists()
    assert not Operation.objects.exists()


@pytest.fixture
def folder_root(tmp_path, settings):
    root = (tmp_path / "allowed").resolve()
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.md").write_text("# A\n\nAlpha text.\n")
    settings.RAGDESK_FOLDER_ROOTS = [root]
    return root


# -- creating from uploads ----------------------------------------------------------


def test_upload_creates_asset_files_and_pending_ingest(editor_member, no_enqueue):
    asset, op = asset_create_from_uploads(
        actor=editor_member,
        display_name="  Handbook ",
        files=[upload("a.txt", "alpha"), upload("b.MD", "# B")],
        chunk_size=100,
        chunk_overlap=10,
    )
    assert (asset.display_name, asset.source_type, asset.tenant) == (
        "Handbook",
        "upload",
        editor_member.tenant,
    )
    assert (asset.chunk_size, asset.chunk_overlap, asset.created_by) == (
        100,
        10,
        "eddie",
    )
    files = {
        f.file_name: (f.content_type, f.size, bytes(f.data))
        for f in asset.uploaded_files.all()
    }
    assert files == {
        "a.txt": ("text/plain", 5, b"alpha"),
        "b.MD": ("text/markdown", 3, b"# B"),
    }
    assert (op.type, op.status, op.created_by) == (
        OperationType.INGEST,
        "PENDING",
        "eddie",
    )
    assert no_enqueue == [str(op.id)]


def test_upload_without_a_name_is_named_after_its_first_file(editor_member, no_enqueue):
    asset, _ = asset_create_from_uploads(
        actor=editor_member, display_name="", files=[upload("guide.md", "# G")]
    )
    assert asset.display_name == "guide.md"


def test_viewer_cannot_create_an_upload_asset(viewer_member, no_enqueue):
    with pytest.raises(PermissionDenied):
        asset_create_from_uploads(
            actor=viewer_member, display_name="x", files=[upload("a.txt", "alpha")]
        )
    assert_nothing_written()


def test_empty_upload_list_is_refused(editor_member, no_enqueue):
    with pytest.raises(ValidationFailed) as exc:
        asset_create_from_uploads(actor=editor_member, display_name="x", files=[])
    assert "files" in exc.value.errors
    assert_nothing_written()


def test_empty_file_is_refused(editor_member, no_enqueue):
    with pytest.raises(ValidationFailed) as exc:
        asset_create_from_uploads(
            actor=editor_member,
            display_name="x",
            files=[upload("ok.txt", "fine"), upload("empty.txt", b"")],
        )
    assert "empty.txt" in exc.value.message
    assert_nothing_written()


@pytest.mark.parametrize("name", ["setup.exe", "photo.png", "noextension", "a.txt.zip"])
def test_unsupported_file_type_is_refused_with_415(editor_member, no_enqueue, name):
    with pytest.raises(UnsupportedMediaType) as exc:
        asset_create_from_uploads(
            actor=editor_member,
            display_name="x",
            files=[upload("ok.txt", "fine"), upload(name, b"MZ\x90\x00")],
        )
    assert exc.value.status == 415
    assert name in exc.value.message and ".pdf" in exc.value.message
    assert_nothing_written()


def test_duplicate_file_names_are_refused(editor_member, no_enqueue):
    with pytest.raises(ValidationFailed):
        asset_create_from_uploads(
            actor=editor_member,
            display_name="x",
            files=[upload("a.txt", "one"), upload("a.txt", "two")],
        )
    assert_nothing_written()


def test_file_over_the_limit_is_refused_with_413(editor_member, no_enqueue, settings):
    settings.RAGDESK_MAX_UPLOAD_BYTES = 1024
    with pytest.raises(PayloadTooLarge) as exc:
        asset_create_from_uploads(
            actor=editor_member,
            display_name="x",
            files=[upload("ok.txt", "fine"), upload("big.txt", "x" * 1025)],
        )
    assert exc.value.status == 413
    assert "big.txt" in exc.value.message
    assert_nothing_written()


def test_file_exactly_at_the_limit_is_accepted(editor_member, no_enqueue, settings):
    settings.RAGDESK_MAX_UPLOAD_BYTES = 1024
    asset, _ = asset_create_from_uploads(
        actor=editor_member, display_name="x", files=[upload("edge.txt", "x" * 1024)]
    )
    assert asset.uploaded_files.get().size == 1024


def test_file_over_the_real_50_mb_limit_is_refused_without_reading_it(
    editor_member, no_enqueue
):
    declared = 50 * 1024 * 1024 + 1
    big = UploadInput(name="huge.pdf", size=declared, stream=UnreadableStream())
    with pytest.raises(PayloadTooLarge) as exc:
        asset_create_from_uploads(actor=editor_member, display_name="x", files=[big])
    assert "50 MB" in exc.value.message
    assert_nothing_written()


def test_stream_longer_than_its_declared_size_is_refused(
    editor_member, no_enqueue, settings
):
    settings.RAGDESK_MAX_UPLOAD_BYTES = 1024
    liar = UploadInput(name="liar.txt", size=10, stream=io.BytesIO(b"x" * 5000))
    with pytest.raises(PayloadTooLarge):
        asset_create_from_uploads(actor=editor_member, display_name="x", files=[liar])
    assert_nothing_written()


@pytest.mark.parametrize(
    ("size", "overlap", "field"),
    [
        (100, 100, "chunkOverlap"),
        (100, 150, "chunkOverlap"),
        (100, -1, "chunkOverlap"),
        (8192, 0, "chunkSize"),  # above the built-in model's 8191-token input limit
        (MIN_CHUNK_SIZE - 1, 0, "chunkSize"),
        ("512", 0, "chunkSize"),
    ],
)
def test_bad_chunking_settings_are_refused(
    editor_member, no_enqueue, size, overlap, field
):
    with pytest.raises(ValidationFailed) as exc:
        asset_create_from_uploads(
            actor=editor_member,
            display_name="x",
            files=[upload("a.txt", "alpha")],
            chunk_size=size,
            chunk_overlap=overlap,
        )
    assert field in exc.value.errors
    assert_nothing_written()


def test_chunk_size_at_the_model_maximum_is_accepted(editor_member, no_enqueue):
    asset, _ = asset_create_from_uploads(
        actor=editor_member,
        display_name="x",
        files=[upload("a.txt", "alpha")],
        chunk_size=8191,
        chunk_overlap=8190,
    )
    assert asset.chunk_size == 8191


# -- creating from a server folder --------------------------------------------------


def test_admin_creates_folder_asset_below_an_allowed_root(
    admin_member, folder_root, no_enqueue
):
    asset, op = asset_create_from_folder(
        actor=admin_member, display_name="", path=str(folder_root / "docs"), glob="*.md"
    )
    assert asset.source_parameters == {
        "path": str(folder_root / "docs"),
        "glob": "*.md",
    }
    assert (asset.display_name, asset.source_type) == ("docs", "folder")
    assert (op.type, op.status) == (OperationType.INGEST, "PENDING")


@pytest.mark.parametrize("member", ["viewer_member", "editor_member"])
def test_only_admins_create_folder_assets(request, folder_root, no_enqueue, member):
    actor = request.getfixturevalue(member)
    with pytest.raises(PermissionDenied):
        asset_create_from_folder(actor=actor, display_name="x", path=str(folder_root))
    assert_nothing_written()


def test_folder_outside_the_allowed_roots_is_refused(
    admin_member, folder_root, tmp_path, no_enqueue
):
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(ValidationFailed) as exc:
        asset_create_from_folder(
            actor=admin_member, display_name="x", path=str(outside)
        )
    assert "outside the allowed folder roots" in exc.value.errors["path"][0]
    assert_nothing_written()


@pytest.mark.parametrize(
    "path", ["{root}/docs/../..", "relative/docs", "{root}/missing", ""]
)
def test_folder_paths_escaping_or_not_a_folder_are_refused(
    admin_member, folder_root, no_enqueue, path
):
    with pytest.raises(ValidationFailed) as exc:
        asset_create_from_folder(
            actor=admin_member, display_name="x", path=path.format(root=folder_root)
        )
    assert "path" in exc.value.errors
    assert_nothing_written()


def test_symlink_out_of_the_allowed_root_is_refused(
    admin_member, folder_root, tmp_path, no_enqueue
):
    secret = tmp_path / "secret"
    secret.mkdir()
    (folder_root / "link").symlink_to(secret, target_is_directory=True)
    with pytest.raises(ValidationFailed):
        asset_create_from_folder(
            actor=admin_member, display_name="x", path=str(folder_root / "link")
        )
    assert_nothing_written()


@pytest.mark.parametrize("glob", ["../*", "/etc/*", "docs/../../*"])
def test_glob_leaving_the_folder_is_refused(
    admin_member, folder_root, no_enqueue, glob
):
    with pytest.raises(ValidationFailed) as exc:
        asset_create_from_folder(
            actor=admin_member, display_name="x", path=str(folder_root), glob=glob
        )
    assert "glob" in exc.value.errors
    assert_nothing_written()


@pytest.mark.parametrize("glob", ["**a", ".", "docs/**x"])
def test_glob_that_pathlib_rejects_is_refused_on_the_glob_field(
    admin_member, folder_root, no_enqueue, glob
):
    with pytest.raises(ValidationFailed) as exc:
        asset_create_from_folder(
            actor=admin_member, display_name="x", path=str(folder_root), glob=glob
        )
    assert "cannot be used" in exc.value.errors["glob"][0]
    assert "path" not in exc.value.errors
    assert_nothing_written()


def test_nul_character_in_folder_path_or_glob_is_refused_on_its_field(
    admin_member, folder_root, no_enqueue
):
    # PostgreSQL cannot store it (jsonb), and pathlib refuses it in a path.
    with pytest.raises(ValidationFailed) as exc:
        asset_create_from_folder(
            actor=admin_member, display_name="x", path=f"{folder_root}\x00"
        )
    assert "path" in exc.value.errors
    with pytest.raises(ValidationFailed) as exc:
        asset_create_from_folder(
            actor=admin_member, display_name="x", path=str(folder_root), glob="*\x00"
        )
    assert "glob" in exc.value.errors
    assert_nothing_written()


@pytest.mark.parametrize("glob", ["", "   "])
def test_blank_glob_means_every_file(admin_member, folder_root, no_enqueue, glob):
    asset, _ = asset_create_from_folder(
        actor=admin_member, display_name="x", path=str(folder_root), glob=glob
    )
    assert asset.source_parameters["glob"] == "**/*"


# -- settings, refresh, delete ------------------------------------------------------


@pytest.fixture
def asset(editor_member, no_enqueue):
    asset, _ = asset_create_from_uploads(
        actor=editor_member,
        display_name="Docs",
        files=[upload("a.txt", "alpha")],
        chunk_size=100,
        chunk_overlap=10,
    )
    Operation.objects.filter(asset=asset).update(status=OperationStatus.COMPLETED)
    no_enqueue.clear()
    return asset


def test_renaming_an_asset_starts_no_operation(editor_member, asset):
    updated, op = asset_update_settings(
        actor=editor_member, asset=asset, display_name=" New "
    )
    assert (updated.display_name, op) == ("New", None)
    assert Asset.objects.get(pk=asset.pk).display_name == "New"
    assert Operation.objects.filter(asset=asset).count() == 1


def test_changing_chunk_size_starts_a_reindex(editor_member, asset, no_enqueue):
    updated, op = asset_update_settings(
        actor=editor_member, asset=asset, chunk_size=200
    )
    assert (updated.chunk_size, updated.chunk_overlap) == (200, 10)
    assert Asset.objects.get(pk=asset.pk).chunk_size == 200
    assert (op.type, op.force, op.status) == (OperationType.REINDEX, True, "PENDING")
    assert no_enqueue == [str(op.id)]


def test_unchanged_chunk_settings_start_no_reindex(editor_member, asset):
    _, op = asset_update_settings(
        actor=editor_member, asset=asset, chunk_size=100, chunk_overlap=10
    )
    assert op is None


@pytest.mark.parametrize(
    "changes",
    [
        {"chunk_overlap": 100},
        {"chunk_size": 10},
        {"chunk_size": 9000},
        {"display_name": " "},
    ],
)
def test_invalid_settings_save_nothing(editor_member, asset, changes):
    with pytest.raises(ValidationFailed):
        asset_update_settings(actor=editor_member, asset=asset, **changes)
    stored = Asset.objects.get(pk=asset.pk)
    assert (stored.display_name, stored.chunk_size, stored.chunk_overlap) == (
        "Docs",
        100,
        10,
    )
    assert Operation.objects.filter(asset=asset).count() == 1


def test_viewer_cannot_change_settings_or_refresh(viewer_member, asset):
    with pytest.raises(PermissionDenied):
        asset_update_settings(actor=viewer_member, asset=asset, chunk_size=200)
    with pytest.raises(PermissionDenied):
        asset_refresh(actor=viewer_member, asset=asset)
    assert Operation.objects.filter(asset=asset).count() == 1
    assert Asset.objects.get(pk=asset.pk).chunk_size == 100


def test_refresh_with_unknown_document_ids_is_refused(editor_member, asset, tenant):
    other = Document.objects.create(
        asset=Asset.objects.create(
            tenant=tenant, display_name="other", source_type="upload"
        ),
        source_key="x.txt",
        file_name="x.txt",
        content_type="text/plain",
    )
    for bad in ([str(other.id)], ["not-a-uuid"], [None]):
        with pytest.raises(ValidationFailed) as exc:
            asset_refresh(actor=editor_member, asset=asset, document_ids=bad)
        assert "documentIds" in exc.value.errors
    assert Operation.objects.filter(asset=asset).count() == 1


def test_refresh_stores_document_ids_in_canonical_form(editor_member, asset):
    doc = Document.objects.create(
        asset=asset, source_key="a.txt", file_name="a.txt", content_type="text/plain"
    )
    op = asset_refresh(
        actor=editor_member, asset=asset, document_ids=[str(doc.id).upper()], force=True
    )
    assert (op.type, op.force, op.document_ids) == (
        OperationType.REFRESH,
        True,
        [str(doc.id)],
    )


def test_only_admins_delete_assets(editor_member, asset):
    with pytest.raises(PermissionDenied):
        asset_delete(actor=editor_member, asset=asset)
    assert Asset.objects.filter(pk=asset.pk).exists()


def test_delete_removes_asset_data_and_fails_its_active_operation(
    admin_member, editor_member, asset
):
    op = asset_refresh(actor=editor_member, asset=asset)
    doc = Document.objects.create(
        asset=asset, source_key="a.txt", file_name="a.txt", content_type="text/plain"
    )
    asset_delete(actor=admin_member, asset=asset)
    assert not Asset.objects.filter(pk=asset.pk).exists()
    assert not Document.objects.filter(pk=doc.pk).exists()
    assert not UploadedFile.objects.exists() and not Chunk.objects.exists()
    op.refresh_from_db()
    assert (op.status, op.error_message, op.asset_id) == (
        "FAILED",
        "asset deleted",
        None,
    )
    assert op.asset_name == "Docs"


@pytest.mark.parametrize("action", ["settings", "refresh", "delete"])
def test_asset_services_refuse_an_actor_of_another_tenant(
    action, admin_member, no_enqueue
):
    foreign = AssetFactory()  # another tenant
    calls = {
        "settings": lambda: asset_update_settings(
            actor=admin_member, asset=foreign, display_name="taken"
        ),
        "refresh": lambda: asset_refresh(actor=admin_member, asset=foreign),
        "delete": lambda: asset_delete(actor=admin_member, asset=foreign),
    }
    with pytest.raises(NotFound):
        calls[action]()
    foreign.refresh_from_db()
    assert foreign.display_name != "taken"
    assert not Operation.objects.filter(asset=foreign).exists()


def test_source_parameters_holding_a_nul_character_are_refused_by_the_service(
    editor_member,
):
    with pytest.raises(ValidationFailed) as exc:
        asset_create_from_source(
            actor=editor_member, display_name="", source_type="web",
            parameters={"url": "http://93.184.215.14/", "exclude": ["/a\x00"]},
        )  # fmt: skip
    assert list(exc.value.errors) == ["exclude"]
