"""assets_app.sources.folder at run time: a glob that pathlib rejects, stored before
the service checked globs (or written by other means), fails the operation with a
clear message instead of an "Internal error"."""

from __future__ import annotations

import pytest

from assets_app.models import SourceType
from assets_app.sources import SourceError, list_items
from operations_app.models import Operation, OperationStatus, OperationType
from operations_app.services import operation_create
from tests.factories import AssetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def folder(tmp_path, settings):
    root = (tmp_path / "kb").resolve()
    root.mkdir()
    (root / "one.md").write_text("# One\n\nFirst file.")
    settings.RAGDESK_FOLDER_ROOTS = [root]
    return root


def folder_asset(tenant, root, glob):
    return AssetFactory(
        tenant=tenant,
        source_type=SourceType.FOLDER,
        source_parameters={"path": str(root), "glob": glob},
    )


@pytest.mark.parametrize("glob", ["**a", ".", "/etc/*"])
def test_listing_a_folder_with_a_bad_glob_raises_source_error(tenant, folder, glob):
    asset = folder_asset(tenant, folder, glob)
    with pytest.raises(SourceError, match="file pattern"):
        list(list_items(asset))


@pytest.mark.parametrize("glob", ["**a", "."])
def test_ingest_of_a_folder_with_a_bad_glob_fails_with_a_clear_message(
    tenant, folder, run_queued, glob
):
    asset = folder_asset(tenant, folder, glob)
    operation_create(asset=asset, type=OperationType.INGEST, created_by="tester")
    assert run_queued() == [OperationStatus.FAILED]
    message = Operation.objects.get().error_message
    assert message.startswith(f"The file pattern {glob!r} cannot be used")
    assert "Internal error" not in message


def test_listing_a_folder_with_a_good_glob_is_unchanged(tenant, folder):
    (folder / "sub").mkdir()
    (folder / "sub" / "two.txt").write_text("Second file.")
    keys = [item.key for item in list_items(folder_asset(tenant, folder, "**/*"))]
    assert keys == ["one.md", "sub/two.txt"]
