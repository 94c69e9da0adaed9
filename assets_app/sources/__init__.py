"""Source types: each lists the items of an asset's source as SourceItems.

``list_items(asset)`` yields one SourceItem per document the source currently holds;
bytes are read lazily with ``item.read()`` so listing is cheap."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from assets_app.models import Asset, SourceType


@dataclass
class SourceItem:
    key: str  # stable identity within the source (relative path or file name)
    file_name: str
    content_type: str
    size: int  # bytes
    source_url: str
    read: Callable[[], bytes]


class SourceError(Exception):
    """The source as a whole cannot be listed; the message is for a person."""


def list_items(asset: Asset) -> Iterator[SourceItem]:
    if asset.source_type == SourceType.UPLOAD:
        from .upload import list_upload_items

        return list_upload_items(asset)
    if asset.source_type == SourceType.FOLDER:
        from .folder import list_folder_items

        return list_folder_items(asset)
    raise SourceError(f"Unknown source type {asset.source_type!r}.")
