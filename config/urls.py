from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.urls import include, path
from django.views import defaults

from assets_app import views as asset_views
from config.problems import json_problem_response, too_large_detail

urlpatterns = [
    path("v1/", include("config.api_urls")),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/tokens/", include("assets_app.token_urls")),
    path("", asset_views.home, name="home"),
    path("t/<slug:tenant>/", include("assets_app.urls")),
    path("t/<slug:tenant>/operations/", include("operations_app.urls")),
    path(
        "t/<slug:tenant>/notifications/",
        include("operations_app.notifications.urls"),
    ),
]


def handler404(request, exception):
    """Problem Details under /v1/ (e.g. a custom method a resource lacks)."""
    if request.path.startswith("/v1/"):
        return json_problem_response(
            request, 404, "not-found", "Not found",
            "No such resource or method; check the path and the :verb.",
        )
    return defaults.page_not_found(request, exception)


def handler400(request, exception):
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE read outside DRF (e.g. by the CSRF check
    of a dashboard form) is 413 Content Too Large (RFC 9110 §15.5.14), not 400."""
    if isinstance(exception, RequestDataTooBig):
        if request.path.startswith("/v1/"):
            return json_problem_response(
                request, 413, "payload-too-large", "Payload too large",
                too_large_detail(),
            )  # fmt: skip
        return HttpResponse(
            too_large_detail(), status=413, content_type="text/plain; charset=utf-8"
        )
    return defaults.bad_request(request, exception)


def handler500(request):
    if request.path.startswith("/v1/"):
        return json_problem_response(
            request, 500, "internal-error", "Internal error",
            "Something went wrong on our side; quote requestId when reporting it.",
        )
    return defaults.server_error(request)
