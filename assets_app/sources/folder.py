"""A folder on the server: ``{"path": <absolute dir>, "glob": "**/*.md"}``.

Reading the server's disk is allowed only below ``settings.RAGDESK_FOLDER_ROOTS`` (paths
are resolved, so ``..`` and symlinks cannot escape) and only for tenant admins (checked
by the service that creates the asset). Files of unsupported types are not listed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from assets_app.ingestion.parsing import content_type_for

from . import SourceError, SourceItem


def resolve_allowed_folder(path: str) -> Path:
    """The resolved folder, or SourceError when it is outside the allowed roots or is
    not a readable directory."""
    if not path or not Path(path).is_absolute():
        raise SourceError("Give an absolute folder path.")
    resolved = Path(path).resolve()
    roots = settings.RAGDESK_FOLDER_ROOTS
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(r) for r in roots) or "(none configured)"
        raise SourceError(f"{resolved} is outside the allowed folder roots: {allowed}.")
    if not resolved.is_dir():
        raise SourceError(f"{resolved} is not a folder on the server.")
    return resolved


def list_folder_items(asset) -> Iterator[SourceItem]:
    root = resolve_allowed_folder(asset.source_parameters.get("path", ""))
    pattern = asset.source_parameters.get("glob") or "**/*"
    for file in sorted(root.glob(pattern)):
        real = file.resolve()
        if not file.is_file() or not real.is_relative_to(root):
            continue  # symlink pointing outside the folder
        content_type = content_type_for(file.name)
        if content_type is None:
            continue
        key = str(file.relative_to(root))
        yield SourceItem(
            key=key, file_name=key, content_type=content_type, size=file.stat().st_size,
            source_url=real.as_uri(), read=real.read_bytes,
        )
