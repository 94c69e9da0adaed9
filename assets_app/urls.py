from django.urls import path

from . import settings_views, views
from .estimate_views import asset_estimate_view

app_name = "assets"
urlpatterns = [
    path("", views.asset_list, name="list"),
    path("assets/new/", views.asset_create, name="create"),
    path("assets/<str:asset_id>/", views.asset_detail, name="detail"),
    path(
        "assets/<str:asset_id>/settings/",
        settings_views.asset_settings,
        name="settings",
    ),
    path("assets/<str:asset_id>/refresh/", views.asset_refresh, name="refresh"),
    path("assets/<str:asset_id>/estimate/", asset_estimate_view, name="estimate"),
    path(
        "assets/<str:asset_id>/webhook/regenerate/",
        settings_views.asset_regenerate_webhook,
        name="regenerate-webhook",
    ),
    path("assets/<str:asset_id>/search/", views.asset_search, name="search"),
    path(
        "assets/<str:asset_id>/documents/<str:document_id>/",
        views.document_detail,
        name="document",
    ),
    path("search/", views.tenant_search, name="tenant-search"),
]
