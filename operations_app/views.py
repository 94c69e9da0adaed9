"""HTMX dashboard views for operations. The list view serves the full page and, for
htmx requests, the ``operation-rows`` fragment polled every second; it answers 286
(stop polling) once nothing listed is PENDING or RUNNING, with the event
``operations-settled`` for other parts of the page to reload."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from assets_app.selectors import asset_get
from assets_app.services import asset_retry_failed_documents
from config.dashboard import tenant_view
from config.errors import ApplicationError

from . import selectors, services
from .models import OperationStatus, OperationType

PAGE = 100


@tenant_view
def operation_list(request, membership):
    tenant = membership.tenant
    asset = None
    if request.GET.get("asset"):
        asset = asset_get(tenant=tenant, asset_id=request.GET["asset"])
    status = request.GET.get("status") if request.GET.get("status") in OperationStatus else None
    type_ = request.GET.get("type") if request.GET.get("type") in OperationType else None
    raw_limit = request.GET.get("limit", "")
    # isdecimal, not isdigit: "²" is a digit that int() refuses (a 500, not a filter).
    limit = min(int(raw_limit), PAGE) if raw_limit.isdecimal() else PAGE
    operations = selectors.operations_recent(
        tenant=tenant, asset=asset, status=status, type=type_, limit=limit)
    context = {"operations": operations, "asset": asset, "status": status, "type": type_,
               "statuses": OperationStatus.values, "types": OperationType.values,
               "poll_query": request.GET.urlencode()}
    if request.htmx:
        response = render(
            request, "operations_app/operation_list.html#operation-rows", context)
        if not selectors.operations_any_active(operations):
            response.status_code = HttpResponseStopPolling.status_code
            # Lets the page refresh what the finished operations changed (asset totals).
            response["HX-Trigger"] = "operations-settled"
        return response
    return render(request, "operations_app/operation_list.html", context)


@require_POST
@tenant_view
def operation_cancel(request, membership, operation_id):
    op = selectors.operation_get(tenant=membership.tenant, operation_id=operation_id)
    error = None
    try:
        op = services.operation_cancel(actor=membership, operation=op)
    except ApplicationError as exc:
        error = exc.message
    if request.htmx:
        # A table of one asset's operations has no Asset column; its form says so.
        in_asset_table = request.POST.get("asset") == str(op.asset_id)
        return render(request, "operations_app/operation_list.html#operation-row",
                      {"op": op, "row_error": error,
                       "asset": op.asset if in_asset_table else None})
    if error:
        messages.error(request, error)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = f"/t/{membership.tenant.slug}/operations/"
    return redirect(back)


@require_POST
@tenant_view
def operation_retry_failed(request, membership, operation_id):
    """"Retry failed documents": a refresh of the operation's asset limited to the
    documents it failed; back to the asset's page (messages say what happened)."""
    op = selectors.operation_get(tenant=membership.tenant, operation_id=operation_id)
    try:
        refresh = asset_retry_failed_documents(actor=membership, operation=op)
        messages.success(request, f"Retrying {len(refresh.document_ids or [])} "
                         f"failed document(s) in operation {str(refresh.id)[:8]}.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    if op.asset_id is None:
        return redirect("operations:list", tenant=membership.tenant.slug)
    return redirect("assets:detail", tenant=membership.tenant.slug, asset_id=op.asset_id)
