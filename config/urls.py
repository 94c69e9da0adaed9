from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from assets_app import views as asset_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", asset_views.home, name="home"),
    path("t/<slug:tenant>/", include("assets_app.urls")),
    path("t/<slug:tenant>/operations/", include("operations_app.urls")),
]
