from django.urls import path

from . import views

app_name = "operations"
urlpatterns = [
    path("", views.operation_list, name="list"),
    path("<str:operation_id>/cancel/", views.operation_cancel, name="cancel"),
    path("<str:operation_id>/retry-failed/", views.operation_retry_failed,
         name="retry-failed"),
]
