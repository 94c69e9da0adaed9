from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views import defaults

from assets_app import views as asset_views
from config.problems import json_problem_response

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


def handler500(request):
    if request.path.startswith("/v1/"):
        return json_problem_response(
            request, 500, "internal-error", "Internal error",
            "Something went wrong on our side; quote requestId when reporting it.",
        )
    return defaults.server_error(request)
