"""HTMX dashboard views for assets: parse input, call a selector or service, render."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import TooManyFilesSent
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from config.dashboard import tenant_view
from config.errors import ApplicationError
from operations_app.selectors import operations_recent

from . import search, selectors, services, usage
from .autoupdate.selectors import auto_update_of
from .charts import usage_chart_svg
from .forms import (
    MAX_FILES_AT_ONCE,
    FolderAssetForm,
    SearchForm,
    SourceAssetForm,
    UploadAssetForm,
    add_service_errors,
)
from .ingestion.switch import index_pending
from .models import Role, SourceType
from .sources.descriptors import SOURCE_TYPES

# Source types whose create and settings forms are built from their descriptor.
DESCRIBED_KINDS = (SourceType.WEB, SourceType.GIT)

RECENT_OPERATIONS = 20
CHUNKS_PER_PAGE = 100


@login_required
def home(request):
    first = selectors.memberships_of(user=request.user).first()
    if first is None:
        return render(request, "assets_app/no_tenant.html", status=403)
    return redirect("assets:list", tenant=first.tenant.slug)


@tenant_view
def asset_list(request, membership):
    tenant = membership.tenant
    assets = selectors.asset_list(tenant=tenant, search=request.GET.get("search"))
    operations = operations_recent(tenant=tenant, limit=RECENT_OPERATIONS)
    totals = usage.tenant_usage(tenant)
    return render(request, "assets_app/asset_list.html", {
        "assets": assets, "operations": operations, "search": request.GET.get("search", ""),
        "totals": totals, "usage_chart": usage_chart_svg(
            totals["daily"], label="The tenant's tokens and cost per UTC day"),
    })


@csrf_exempt  # checked by _asset_create once the upload is parsed, see the docstring
@tenant_view
def asset_create(request, membership):
    """The New asset page. Django refuses an upload of more than
    DATA_UPLOAD_MAX_NUMBER_FILES files while parsing it, and the CSRF middleware would
    parse it first (bare 400 page). So this view parses it, shows that refusal on the
    Files field (writing nothing), and only then checks CSRF (the Django docs' "view
    needs protection for one path" pattern)."""
    try:
        request.FILES  # noqa: B018 -- parses the body
    except TooManyFilesSent:
        form = UploadAssetForm(prefix="up")
        form.add_files_error_unbound(f"Choose at most {MAX_FILES_AT_ONCE} files at once.")
        return _create_page(request, membership, "upload", upload_form=form)
    return _asset_create(request, membership)


@csrf_protect
def _asset_create(request, membership):
    kind = request.POST.get("kind") or request.GET.get("kind") or "upload"
    data = request.POST or None
    if kind in DESCRIBED_KINDS:
        form = SourceAssetForm(data, prefix=kind, descriptor=SOURCE_TYPES[kind])
    elif kind == "folder":
        form = FolderAssetForm(data, prefix="folder")
    else:
        kind, form = "upload", UploadAssetForm(data, request.FILES or None, prefix="up")
    if request.method == "POST" and form.is_valid():
        try:
            asset = _create(membership, kind, form)
            slug = membership.tenant.slug
            return redirect("assets:detail", tenant=slug, asset_id=asset.id)
        except ApplicationError as exc:
            add_service_errors(form, exc)
    return _create_page(request, membership, kind, **{f"{kind}_form": form})


def _create_page(request, membership, kind, *, upload_form=None, folder_form=None,
                 web_form=None, git_form=None):  # fmt: skip
    """The New asset page; the form of ``kind`` (or a blank one)."""
    if kind in DESCRIBED_KINDS:
        source_form = web_form or git_form or SourceAssetForm(
            prefix=kind, descriptor=SOURCE_TYPES[kind]
        )
    return render(request, "assets_app/asset_create.html", {
        "upload_form": upload_form or UploadAssetForm(prefix="up"),
        "folder_form": folder_form or FolderAssetForm(prefix="folder"),
        "source_form": source_form if kind in DESCRIBED_KINDS else None,
        "described_kinds": [(k, SOURCE_TYPES[k].display_name) for k in DESCRIBED_KINDS],
        "kind": kind, "can_use_folders": membership.allows(Role.ADMIN),
        # A VIEWER learns it before filling the form in; a POST is still refused by
        # the service, with its message on the form.
        "read_only": request.method == "GET" and not membership.allows(Role.EDITOR),
    }, status=400 if request.method == "POST" else 200)


def _create(membership, kind, form):
    data = form.cleaned_data
    chunking = {"chunk_size": data["chunk_size"], "chunk_overlap": data["chunk_overlap"],
                **form.embedding()}  # fmt: skip
    if kind in DESCRIBED_KINDS:
        asset, _ = services.asset_create_from_source(
            actor=membership, display_name=data["display_name"], source_type=kind,
            parameters=form.parameters(), **chunking,
        )
        return asset
    if kind == "folder":
        asset, _ = services.asset_create_from_folder(
            actor=membership, display_name=data["display_name"], path=data["path"],
            glob=data["glob"], **chunking,
        )
        return asset
    files = [services.UploadInput(name=f.name, size=f.size, stream=f) for f in data["files"]]
    asset, _ = services.asset_create_from_uploads(
        actor=membership, display_name=data["display_name"], files=files, **chunking
    )
    return asset


@tenant_view
def asset_detail(request, membership, asset_id):
    """The asset page; for htmx, its ``asset-contents`` fragment, which polls every
    2 s while an operation of the asset is PENDING or RUNNING and gets 286 (stop
    polling) once none is."""
    asset = selectors.asset_get(tenant=membership.tenant, asset_id=asset_id)
    active = selectors.asset_has_active_operations(asset=asset)
    template = "assets_app/asset_detail.html"
    if request.htmx:
        template += "#asset-contents"
    response = render(request, template, {
        "asset": asset, "active": active,
        "totals": selectors.asset_totals(asset=asset),
        "documents": selectors.document_list(asset=asset)[:200],
        "operations": operations_recent(
            tenant=membership.tenant, asset=asset, limit=RECENT_OPERATIONS
        ),
        "price": selectors.asset_price_per_million(asset),
        **_usage_context(asset),
        "auto_update": auto_update_of(asset),
        "index_pending": asset.vectorized and index_pending(asset),
    })
    if request.htmx and not active:
        response.status_code = HttpResponseStopPolling.status_code
    return response


def _usage_context(asset) -> dict:
    """The budget table and the 30-day chart of the asset page."""
    daily = usage.asset_usage(asset)["daily"]
    return {
        "budget": usage.asset_budget(asset),
        "usage_chart": usage_chart_svg(daily, label="Tokens and cost per UTC day"),
    }


@require_POST
@tenant_view
def asset_refresh(request, membership, asset_id):
    asset = selectors.asset_get(tenant=membership.tenant, asset_id=asset_id)
    try:
        services.asset_refresh(actor=membership, asset=asset, force=bool(request.POST.get("force")))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("assets:detail", tenant=membership.tenant.slug, asset_id=asset.id)


@tenant_view
def asset_search(request, membership, asset_id):
    """The search playground of one asset."""
    asset = selectors.asset_get(tenant=membership.tenant, asset_id=asset_id)
    return _search_page(request, membership, asset)


@tenant_view
def tenant_search(request, membership):
    """The search playground over all vectorized assets of the tenant."""
    return _search_page(request, membership, None)


def _search_page(request, membership, asset):
    """The playground (GET, so a search is a link); for htmx, its ``search-results``
    fragment. Errors show in that fragment; htmx gets them with 200, because htmx 2
    does not swap error responses."""
    form = SearchForm(request.GET if "query" in request.GET else None)
    outcome, highlights, status = None, {}, 200
    if form.is_bound and form.is_valid():
        params = form.params()
        try:
            outcome = (
                search.search_asset(actor=membership, asset=asset, params=params)
                if asset else search.search_tenant(actor=membership, params=params)
            )  # fmt: skip
            highlights = search.search_highlights(
                chunk_ids=[h.chunk.id for h in outcome.hits], query=params.query
            )
        except ApplicationError as exc:
            add_service_errors(form, exc)
            status = exc.status
    elif form.is_bound:
        status = 400
    template = "assets_app/search.html"
    if request.htmx:
        template, status = template + "#search-results", 200
    return render(
        request,
        template,
        {
            "asset": asset,
            "form": form,
            "outcome": outcome,
            "results": [
                # the page of the document's chunk list that holds the hit
                (
                    h,
                    highlights.get(h.chunk.id),
                    h.chunk.chunk_index // CHUNKS_PER_PAGE * CHUNKS_PER_PAGE,
                )
                for h in (outcome.hits if outcome else [])
            ],
            "can_search": membership.allows(search.SEARCH_ROLE),
        },
        status=status,
    )


@tenant_view
def document_detail(request, membership, asset_id, document_id):
    """A document's current chunks, CHUNKS_PER_PAGE at a time from chunk ``start``;
    each chunk is anchored ``#chunk-<id>`` (search results link to it)."""
    asset = selectors.asset_get(tenant=membership.tenant, asset_id=asset_id)
    document = selectors.document_get(asset=asset, document_id=document_id)
    raw = request.GET.get("start", "0")
    start = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 0
    chunks = list(
        selectors.chunk_list(document=document).filter(chunk_index__gte=start)[
            : CHUNKS_PER_PAGE + 1
        ]
    )
    more = len(chunks) > CHUNKS_PER_PAGE
    return render(
        request,
        "assets_app/document_detail.html",
        {
            "asset": asset,
            "document": document,
            "chunks": chunks[:CHUNKS_PER_PAGE],
            "next_start": chunks[-1].chunk_index if more else None,
            "previous_start": max(0, start - CHUNKS_PER_PAGE) if start else None,
        },
    )
