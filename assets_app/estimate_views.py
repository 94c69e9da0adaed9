"""The dashboard's "Estimate" button (issue 5): POST …/assets/<id>/estimate/ shows
what a refresh would do and cost (assets_app/estimates.py); for htmx, only its
``estimate-result`` fragment, swapped in below the buttons."""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_POST

from config.dashboard import tenant_view
from config.errors import ApplicationError

from . import selectors
from .estimates import asset_estimate


@require_POST
@tenant_view
def asset_estimate_view(request, membership, asset_id):
    asset = selectors.asset_get(tenant=membership.tenant, asset_id=asset_id)
    result, error = None, None
    try:
        result = asset_estimate(
            actor=membership, asset=asset, force=bool(request.POST.get("force"))
        )
    except ApplicationError as exc:
        if exc.status in (403, 404):
            raise
        error = exc.message
    template = "assets_app/asset_estimate.html"
    if request.htmx:
        template += "#estimate-result"  # htmx 2 swaps 200s only: errors show inside
    return render(request, template, {"asset": asset, "result": result, "error": error})
