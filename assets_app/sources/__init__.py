"""Source types: each lists the items of an asset's source as SourceItems.

``list_items(asset)`` yields one SourceItem per document the source currently holds;
bytes are read lazily with ``item.read()`` so listing is cheap (a web source fetches
while listing: it must read a page to find its links).

Sources that can tell a stored document is unchanged without its bytes (an HTTP 304 to
a conditional request, the same git blob id) set ``not_modified``; ``validators`` is
what the document keeps to ask again next time (``Document.source_validators``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from assets_app.models import Asset, SourceType


@dataclass
class SourceItem:
    key: str  # stable identity within the source (relative path or file name)
    file_name: str
    content_type: str
    size: int  # bytes
    source_url: str
    read: Callable[[], bytes]  # raises OSError with the reason it cannot be read
    validators: dict = field(default_factory=dict)
    not_modified: bool = False


class SourceError(Exception):
    """The source as a whole cannot be listed; the message is for a person."""


class ParameterError(SourceError):
    """A source parameter is not acceptable; ``name`` is the parameter's."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


def stored_validators(asset: Asset) -> dict[str, dict]:
    """``{source_key: validators}`` of the asset's COMPLETED documents whose content
    hash is set (a re-embedding that was interrupted has none: it must be redone)."""
    from assets_app.models import Document, DocumentStatus

    rows = (
        Document.objects.filter(asset=asset, status=DocumentStatus.COMPLETED)
        .exclude(content_hash="")
        .values_list("source_key", "source_validators")
    )
    return {key: v for key, v in rows if v}


def list_items(
    asset: Asset, *, force: bool = False, check: Callable[[], None] | None = None
) -> Iterator[SourceItem]:
    """The source's items. ``force``: do not ask "changed since?" (every item is read
    in full). ``check`` is called between network steps: it may raise to stop (a
    cancel) and keeps the operation's heartbeat. Raises SourceError when the source as
    a whole cannot be listed."""
    check = check or (lambda: None)
    if asset.source_type == SourceType.WEB:
        from .web import list_web_items

        return list_web_items(asset, force=force, check=check)
    if asset.source_type == SourceType.GIT:
        from .git import list_git_items

        return list_git_items(asset, force=force, check=check)
    if asset.source_type == SourceType.UPLOAD:
        from .upload import list_upload_items

        return list_upload_items(asset)
    if asset.source_type == SourceType.FOLDER:
        from .folder import list_folder_items

        return list_folder_items(asset)
    raise SourceError(f"Unknown source type {asset.source_type!r}.")
