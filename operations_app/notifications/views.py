"""The dashboard's notification endpoints page (/t/<tenant>/notifications/, tenant
ADMIN): register (the secret shown once), list, delete, and one endpoint's
deliveries with every attempt."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from assets_app.forms import add_service_errors
from config.dashboard import tenant_view
from config.errors import ApplicationError

from . import selectors, services

RECENT_DELIVERIES = 50


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="URL", max_length=2000,
        help_text="https:// — receives a signed JSON POST when an operation ends.",
    )  # fmt: skip
    description = forms.CharField(label="Description", max_length=200, required=False)


@tenant_view
def endpoint_list(request, membership):
    endpoints = selectors.endpoint_list(actor=membership)  # PermissionDenied → 403
    form = EndpointForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = services.endpoint_create(
                actor=membership, **form.cleaned_data
            )
            created, form = {"endpoint": endpoint, "secret": secret}, EndpointForm()
        except ApplicationError as exc:
            add_service_errors(form, exc)
    response = render(
        request, "operations_app/notifications.html",
        {"form": form, "created": created, "endpoints": endpoints},
        status=400 if form.errors else 200,
    )  # fmt: skip
    response["Cache-Control"] = "no-store"  # may hold a signing secret
    return response


@tenant_view
def endpoint_detail(request, membership, endpoint_id):
    endpoint = selectors.endpoint_get(actor=membership, endpoint_id=endpoint_id)
    deliveries = selectors.delivery_list(endpoint=endpoint)[:RECENT_DELIVERIES]
    return render(
        request, "operations_app/notification_endpoint.html",
        {"endpoint": endpoint, "deliveries": deliveries},
    )  # fmt: skip


@require_POST
@tenant_view
def endpoint_delete(request, membership, endpoint_id):
    endpoint = selectors.endpoint_get(actor=membership, endpoint_id=endpoint_id)
    services.endpoint_delete(actor=membership, endpoint=endpoint)
    messages.success(request, f"The endpoint {endpoint.url} is deleted.")
    return redirect("notifications:list", tenant=membership.tenant.slug)
