"""Every write of tenants, assets, uploads and documents. Operation status and counters
are not written here: that is ``operations_app.services``.

Each service takes the acting ``Membership`` (``actor``), checks its role (VIEWER reads,
EDITOR creates/patches/refreshes, ADMIN deletes and creates folder assets, API.md
"Roles"), validates, writes in one transaction and returns what it made."""

from __future__ import annotations

from .access import MIN_CHUNK_SIZE, _actor_name, _require, _require_for_asset
from .asset_settings import (
    _model_change,
    asset_update_settings,
    embedding_model_checked,
)
from .create import (
    UploadInput,
    asset_create_from_folder,
    asset_create_from_source,
    asset_create_from_uploads,
)
from .lifecycle import (
    asset_delete,
    asset_refresh,
    asset_retry_failed_documents,
    document_delete,
    document_ids_checked,
)

# The package's interface; the private names are shared with the other services of
# this app (autoupdate, estimates), which check roles the same way.
__all__ = [
    "MIN_CHUNK_SIZE", "UploadInput", "_actor_name", "_model_change", "_require",
    "_require_for_asset", "asset_create_from_folder", "asset_create_from_source",
    "asset_create_from_uploads", "asset_delete", "asset_refresh",
    "asset_retry_failed_documents", "asset_update_settings", "document_delete",
    "document_ids_checked", "embedding_model_checked",
]  # fmt: skip
