"""A folder on the server: ``{"path": <absolute dir>, "glob": "**/*.md"}``.

Reading the server's disk is allowed only below ``settings.RAGDESK_FOLDER_ROOTS`` (paths
are resolved, so ``..`` and symlinks cannot escape) and only for tenant admins (checked
by the service that creates the asset). Files of unsupported types are not listed."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from assets_app.ingestion.parsing import content_type_for

from . import SourceError, SourceItem


def resolve_allowed_folder(path: str) -> Path:
    """The resolved folder, or SourceError when it is outside the allowed roots or is
    not a readable directory."""
    if not path or "\x00" in path or not Path(path).is_absolute():
        raise SourceError("Give an absolute folder path.")
    resolved = Path(path).resolve()
    roots = settings.RAGDESK_FOLDER_ROOTS
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(r) for r in roots) or "(none configured)"
        raise SourceError(f"{resolved} is outside the allowed folder roots: {allowed}.")
    if not resolved.is_dir():
        raise SourceError(f"{resolved} is not a folder on the server.")
    return resolved


def check_glob(pattern: str) -> None:
    """Raise SourceError unless ``Path.glob`` accepts ``pattern``. It is tried on an
    empty folder: pathlib rejects a bad pattern before reading any folder, and a large
    folder that the pattern does not match would otherwise be walked in full."""
    with tempfile.TemporaryDirectory() as empty:
        _glob(Path(empty), pattern)


def _glob(root: Path, pattern: str) -> list[Path]:
    """``root.glob(pattern)`` sorted, with any error as SourceError. Which error a bad
    pattern raises depends on the pattern and the Python version (``**a``:
    ValueError, ``.``: IndexError, ``/x``: NotImplementedError), hence the broad
    except around this one call."""
    if not pattern or "\x00" in pattern:
        raise SourceError(f"The file pattern {pattern!r} is empty or invalid.")
    try:
        return sorted(root.glob(pattern))
    except Exception as exc:  # noqa: BLE001 -- see the docstring
        readable = isinstance(exc, ValueError | OSError | NotImplementedError)
        detail = f" ({exc})" if readable else ""  # IndexError's text means nothing here
        raise SourceError(
            f"The file pattern {pattern!r} cannot be used{detail}; use a relative "
            "pattern such as **/*.md."
        ) from exc


def list_folder_items(asset) -> Iterator[SourceItem]:
    """The folder's files of supported types matching the asset's glob, by path.
    Raises SourceError for a folder outside the roots or a bad glob."""
    root = resolve_allowed_folder(asset.source_parameters.get("path", ""))
    pattern = asset.source_parameters.get("glob") or "**/*"
    for file in _glob(root, pattern):
        real = file.resolve()
        if not file.is_file() or not real.is_relative_to(root):
            continue  # symlink pointing outside the folder
        content_type = content_type_for(file.name)
        if content_type is None:
            continue
        key = str(file.relative_to(root))
        yield SourceItem(
            key=key,
            file_name=key,
            content_type=content_type,
            size=file.stat().st_size,
            source_url=real.as_uri(),
            read=real.read_bytes,
        )
