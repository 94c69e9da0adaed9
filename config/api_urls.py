"""/v1/… routes. Ids are matched as "anything but / and :" so that custom methods
(``…/{id}:verb``, AIP-136) are routed by their verb; an unknown verb is a 404."""

from django.urls import include, path, re_path, register_converter
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from assets_app import api as assets
from config import api_jwt
from config.problems import json_problem_response
from operations_app import api as ops
from operations_app.notifications import api as notify


class IdConverter:
    regex = r"[^/:]+"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return str(value)


register_converter(IdConverter, "id")


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    return json_problem_response(
        request, 404, "not-found", "Not found",
        "No such resource or method; check the path and the :verb.",
    )

T = "tenants/<slug:tenant>"
urlpatterns = [
    # The OpenAPI 3 schema and Swagger UI (its assets from drf-spectacular-sidecar,
    # served as static files: no CDN). docs/api.md walks through a session.
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi-schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi-schema"),
         name="openapi-docs"),
    path("auth/token", api_jwt.TokenObtainAPI.as_view()),
    path("auth/token:refresh", api_jwt.TokenRefreshAPI.as_view()),
    path(f"{T}/auth/health", assets.AuthHealthAPI.as_view()),
    path(f"{T}/operations", ops.TenantOperationListAPI.as_view()),
    path(f"{T}/assets/<id:asset_id>/operations", ops.AssetOperationListAPI.as_view()),
    path(f"{T}/assets/<id:asset_id>/operations/<id:operation_id>",
         ops.OperationDetailAPI.as_view()),
    path(f"{T}/assets/<id:asset_id>/operations/<id:operation_id>:cancel",
         ops.OperationCancelAPI.as_view()),
    path(f"{T}/assets/<id:asset_id>/operations/<id:operation_id>/failedDocuments",
         ops.OperationFailedDocumentsAPI.as_view()),
    path(f"{T}/assets/<id:asset_id>/operations/<id:operation_id>:retryFailedDocuments",
         ops.OperationRetryFailedAPI.as_view()),
    path(f"{T}/notificationEndpoints", notify.EndpointListAPI.as_view()),
    path(f"{T}/notificationEndpoints/<id:endpoint_id>", notify.EndpointDetailAPI.as_view()),
    path(f"{T}/notificationEndpoints/<id:endpoint_id>/deliveries",
         notify.DeliveryListAPI.as_view()),
    path(f"{T}/", include("assets_app.api_urls")),
    # Webhook deliveries: no tenant, no bearer (issue 5, docs/api.md).
    path("webhooks/<id:webhook_id>", assets.WebhookDeliveryAPI.as_view()),
    path("webhooks/<id:webhook_id>/<id:secret>",
         assets.WebhookUrlSecretDeliveryAPI.as_view()),
    # Last: any other /v1/ path (an unknown resource or :verb) is a Problem Details 404,
    # also with DEBUG on.
    re_path(r"^.*$", api_not_found),
]
