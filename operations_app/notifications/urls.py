from django.urls import path

from . import views

app_name = "notifications"
urlpatterns = [
    path("", views.endpoint_list, name="list"),
    path("<str:endpoint_id>/", views.endpoint_detail, name="detail"),
    path("<str:endpoint_id>/delete/", views.endpoint_delete, name="delete"),
]
