"""DRF views of tenants' assets, documents, chunks, catalogues and auth: parse, call a
selector or service, render (API.md "Endpoints").

Decisions the contract leaves open:

- Create, ``:file`` and ``:refresh`` answer 200 ``{asset, operation}``; PATCH answers
  ``{asset, operation}`` with ``operation`` null when nothing was started.
- The catalogues are lists in the usual envelope, unpaged (``nextPageToken`` null).
- ``ETag`` versions the asset's settings (id + modification time): it changes with
  what PATCH can change, not with the live counters (``documentCount``, …), so an
  ingestion in progress does not turn every PATCH into a 412.
- The embedding model is a row of ``assets:embeddingModels``, chosen at creation
  and changed by a PATCH of ``embedding.provider`` / ``model`` (a REINDEX; the
  dimensions follow the model, so ``dimensions``, if sent, must be its). Values
  equal to the asset's are no change, so a client may send back what it read.
  Token budget limits stay as stored across a model change (USD ones are not
  converted again).
- ``autoUpdate`` takes ``autoUpdateConfig``'s shape plus ``webhookAuthMode``
  (URL_SECRET or HMAC_SHA256, default HMAC_SHA256), which API.md's config leaves
  out although the webhook has an ``authMode``. A response carries ``webhook`` only
  when the request minted one.

The views live in ``catalogue``, ``assets``, ``documents``, ``search``, ``webhooks``
and ``auth``;
this package re-exports them (and the helpers tests use) so ``assets_app.api.X``
keeps working.
"""

from .assets import (
    ASSET_ORDER,
    JSON_CREATORS,
    AssetDetailAPI,
    AssetListAPI,
    AssetRefreshAPI,
    AssetUploadAPI,
)
from .auth import AuthHealthAPI
from .catalogue import EmbeddingModelsAPI, SourceTypesAPI, SupportedTypesAPI
from .common import WIRE_NAMES, PreconditionFailed, asset_etag
from .documents import (
    CHUNK_ORDER,
    DOCUMENT_ORDER,
    ChunkListAPI,
    DocumentDetailAPI,
    DocumentListAPI,
)
from .estimate import AssetEstimateAPI
from .search import AssetSearchAPI, TenantSearchAPI
from .usage import AssetUsageAPI
from .webhooks import (
    RegenerateWebhookAPI,
    WebhookDeliveryAPI,
    WebhookUrlSecretDeliveryAPI,
)

__all__ = [
    "ASSET_ORDER",
    "CHUNK_ORDER",
    "DOCUMENT_ORDER",
    "JSON_CREATORS",
    "WIRE_NAMES",
    "AssetDetailAPI",
    "AssetEstimateAPI",
    "AssetListAPI",
    "AssetRefreshAPI",
    "AssetSearchAPI",
    "AssetUploadAPI",
    "AssetUsageAPI",
    "AuthHealthAPI",
    "ChunkListAPI",
    "DocumentDetailAPI",
    "DocumentListAPI",
    "EmbeddingModelsAPI",
    "PreconditionFailed",
    "RegenerateWebhookAPI",
    "SourceTypesAPI",
    "SupportedTypesAPI",
    "TenantSearchAPI",
    "WebhookDeliveryAPI",
    "WebhookUrlSecretDeliveryAPI",
    "asset_etag",
]
