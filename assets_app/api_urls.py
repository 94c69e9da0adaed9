"""/v1/tenants/{tenant}/… routes of assets, documents, chunks and the catalogues
(included by config.api_urls). Ids use config.api_urls' ``id`` converter, so a
``…/{id}:verb`` that is not listed here falls through to the Problem Details 404."""

from django.urls import path

from . import api

urlpatterns = [
    path("assets:sourceTypes", api.SourceTypesAPI.as_view()),
    path("assets:embeddingModels", api.EmbeddingModelsAPI.as_view()),
    path("assets:supportedTypes", api.SupportedTypesAPI.as_view()),
    path("assets:file", api.AssetUploadAPI.as_view()),
    path("assets:search", api.TenantSearchAPI.as_view()),
    path("assets", api.AssetListAPI.as_view()),
    path("assets/<id:asset_id>", api.AssetDetailAPI.as_view()),
    path("assets/<id:asset_id>:refresh", api.AssetRefreshAPI.as_view()),
    path(
        "assets/<id:asset_id>:regenerateWebhook", api.RegenerateWebhookAPI.as_view()
    ),
    path("assets/<id:asset_id>:search", api.AssetSearchAPI.as_view()),
    path("assets/<id:asset_id>:estimate", api.AssetEstimateAPI.as_view()),
    path("assets/<id:asset_id>/usage", api.AssetUsageAPI.as_view()),
    path("assets/<id:asset_id>/documents", api.DocumentListAPI.as_view()),
    path(
        "assets/<id:asset_id>/documents/<id:document_id>",
        api.DocumentDetailAPI.as_view(),
    ),
    path(
        "assets/<id:asset_id>/documents/<id:document_id>/chunks",
        api.ChunkListAPI.as_view(),
    ),
]
