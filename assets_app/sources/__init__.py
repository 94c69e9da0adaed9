"""Source types: each lists the items of an asset's source as SourceItems.

``list_items(asset)`` yields one SourceItem per document the source currently holds;
bytes are read lazily with ``item.read()`` so listing is cheap (a web source fetches
while listing: it must read a page to find its links).

Sources that can tell a stored document is unchanged without its bytes (an HTTP 304 to
a conditional request, the same git blob id) set ``not_modified``; ``validators`` is
what the document keeps to ask again next time (``Document.source_validators``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from assets_app.models import Asset, Document, SourceType


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


# The columns an item is stored in, in characters (1024, 2048, 255).
MAX_KEY_CHARS = Document._meta.get_field("source_key").max_length
MAX_URL_CHARS = Document._meta.get_field("source_url").max_length
MAX_FILE_NAME_CHARS = Document._meta.get_field("file_name").max_length


def bounded(items: Iterator[SourceItem]) -> Iterator[SourceItem]:
    """``items``, each made to fit its Document columns: an item whose key is too
    long becomes one that fails with the reason, under a shortened key that stays
    unique and stable (its head and a hash of the whole), so a refresh finds it
    again; a too long URL or file name is cut."""
    for item in items:
        if len(item.key) > MAX_KEY_CHARS:
            digest = hashlib.sha256(item.key.encode()).hexdigest()[:16]
            reason = (
                f"Its name or URL has {len(item.key)} characters; at most "
                f"{MAX_KEY_CHARS} can be stored."
            )
            item = replace(
                item,
                key=f"{item.key[: MAX_KEY_CHARS - 18]}…#{digest}",
                size=0,
                read=_failing(reason),
                validators={},
                not_modified=False,
            )
        if (
            len(item.source_url) > MAX_URL_CHARS
            or len(item.file_name) > MAX_FILE_NAME_CHARS
        ):
            item = replace(
                item,
                source_url=item.source_url[:MAX_URL_CHARS],
                file_name=item.file_name[:MAX_FILE_NAME_CHARS],
            )
        yield item


def _failing(reason: str) -> Callable[[], bytes]:
    def read() -> bytes:
        raise OSError(reason)

    return read


class SourceError(Exception):
    """The source as a whole cannot be listed; the message is for a person."""


class ParameterError(SourceError):
    """A source parameter is not acceptable; ``name`` is the parameter's."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


class ParameterForbidden(ParameterError):
    """A source parameter's value needs a higher role (a repository on the server:
    tenant admins); a 403, not a 400."""


def stored_validators(asset: Asset) -> dict[str, dict]:
    """``{source_key: validators}`` of the asset's COMPLETED documents whose content
    hash is set (a re-embedding that was interrupted has none: it must be redone)."""
    from assets_app.models import DocumentStatus

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
    a whole cannot be listed. Each item fits its Document columns (``bounded``)."""
    check = check or (lambda: None)
    if asset.source_type == SourceType.WEB:
        from .web import list_web_items

        return bounded(list_web_items(asset, force=force, check=check))
    if asset.source_type == SourceType.GIT:
        from .git import list_git_items

        return bounded(list_git_items(asset, force=force, check=check))
    if asset.source_type == SourceType.UPLOAD:
        from .upload import list_upload_items

        return bounded(list_upload_items(asset))
    if asset.source_type == SourceType.FOLDER:
        from .folder import list_folder_items

        return bounded(list_folder_items(asset))
    raise SourceError(f"Unknown source type {asset.source_type!r}.")
