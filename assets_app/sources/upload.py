from __future__ import annotations

from collections.abc import Iterator

from assets_app.models import Asset, UploadedFile

from . import SourceItem


def _reader(file_id: int):
    def read() -> bytes:
        return bytes(
            UploadedFile.objects.values_list("data", flat=True).get(pk=file_id)
        )

    return read


def list_upload_items(asset: Asset) -> Iterator[SourceItem]:
    rows = (
        UploadedFile.objects.filter(asset=asset)
        .order_by("file_name")
        .values_list("id", "file_name", "content_type", "size")
    )
    for file_id, name, content_type, size in rows:
        yield SourceItem(
            key=name,
            file_name=name,
            content_type=content_type,
            size=size,
            source_url=f"upload://{name}",
            read=_reader(file_id),
        )
