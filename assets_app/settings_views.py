"""The asset settings page (HTMX dashboard): name, embedding model, chunking,
budget, source parameters and auto-update in one form; a model or chunking change
is confirmed with the REINDEX's estimate first; a webhook minted or rotated here is
shown once."""

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from config.dashboard import tenant_view
from config.errors import ApplicationError

from . import autoupdate, selectors, services
from .autoupdate.selectors import auto_update_of, webhook_active_of
from .autoupdate.webhooks import public_url
from .budget_limits import asset_set_budget
from .forms import AssetSettingsForm, AutoUpdateForm, add_service_errors
from .models import Role
from .sources.descriptors import SOURCE_TYPES
from .views import DESCRIBED_KINDS


@tenant_view
def asset_settings(request, membership, asset_id):
    """Name, embedding model, chunking, budget, source parameters (web, git) and
    auto-update. A model or chunking change asks for confirmation first, with the
    REINDEX's estimate priced with the new model (nothing is saved until then); a
    webhook minted by the save is shown once on the page it answers with."""
    asset = selectors.asset_get(tenant=membership.tenant, asset_id=asset_id)
    described = SOURCE_TYPES.get(asset.source_type)
    described = described if asset.source_type in DESCRIBED_KINDS else None
    form = AssetSettingsForm(request.POST or None, instance=asset, descriptor=described)
    auto_form = _auto_update_form(asset, request.POST or None)
    reindex_documents = minted = estimate = estimate_error = None
    forms_valid = form.is_valid() & (auto_form is None or auto_form.is_valid())
    if request.method == "POST" and forms_valid:
        try:
            confirming, minted = _save_settings(
                membership, asset, form, auto_form, parameters=described is not None
            )
            if confirming:
                reindex_documents = selectors.asset_totals(asset=asset)["documents"]
                estimate, estimate_error = _reindex_estimate(membership, asset, form)
            elif minted is None:
                slug = membership.tenant.slug
                return redirect("assets:detail", tenant=slug, asset_id=asset.id)
        except ApplicationError as exc:
            about_auto_update = any(k.startswith("autoUpdate") for k in exc.errors)
            add_service_errors(auto_form if about_auto_update else form, exc)
    if minted is not None:  # the page shows the new settings and the webhook once
        return _settings_page(request, membership, asset.id, minted=minted)
    return _settings_page(
        request, membership, asset.id, asset=asset, form=form, auto_form=auto_form,
        reindex_documents=reindex_documents, estimate=estimate,
        estimate_error=estimate_error,
        status=400 if form.errors or (auto_form and auto_form.errors) else 200,
    )  # fmt: skip


def _auto_update_form(asset, data):
    """The auto-update section; None for a source type without auto-update, and
    for a post without the section (which then leaves the settings as they are)."""
    descriptor = SOURCE_TYPES[asset.source_type]
    if not descriptor.auto_update or (data is not None and "au-strategy" not in data):
        return None
    row = auto_update_of(asset)
    return AutoUpdateForm(data, descriptor=descriptor, row=row)


def _save_settings(membership, asset, form, auto_form, *, parameters: bool):
    """Save both forms in one transaction (a reindex to confirm: check only);
    ``parameters``: the form has the source's parameters. Returns ``(confirming,
    minted webhook or None)``."""
    data = form.cleaned_data
    reindex = form.chunking_changed() or form.model_changed()
    confirming = reindex and not data["confirm_reindex"]
    provider, model = form.chosen_model()
    auto = auto_form.settings() if auto_form is not None else None
    with transaction.atomic():
        services.asset_update_settings(
            actor=membership, asset=asset, display_name=data["display_name"],
            embedding_provider=provider, embedding_model=model,
            chunk_size=data["chunk_size"], chunk_overlap=data["chunk_overlap"],
            source_parameters=form.parameters() if parameters else None,
            dry_run=confirming,
        )  # fmt: skip
        if not confirming:
            asset_set_budget(actor=membership, asset=asset, limits=form.budget_limits())
        if auto_form is None:
            return confirming, None
        if confirming:  # nothing is saved yet; errors are shown now all the same
            if auto is not None:
                autoupdate.auto_update_check(
                    source_type=asset.source_type, settings=auto
                )
            return confirming, None
        return False, autoupdate.asset_set_auto_update(
            actor=membership, asset=asset, settings=auto
        )


def _settings_page(
    request,
    membership,
    asset_id,
    *,
    minted=None,
    asset=None,
    form=None,
    auto_form=None,
    reindex_documents=None,
    estimate=None,
    estimate_error=None,
    status=200,
):
    """The settings page; ``minted``: with the webhook's URL and secret, shown this
    once (not cached), and forms filled from the saved settings."""
    if asset is None:
        asset = selectors.asset_get(tenant=membership.tenant, asset_id=asset_id)
    if form is None:
        described = SOURCE_TYPES[asset.source_type]
        form = AssetSettingsForm(
            instance=asset,
            descriptor=described if asset.source_type in DESCRIBED_KINDS else None,
        )
        auto_form = _auto_update_form(asset, None)
    response = render(request, "assets_app/asset_settings.html", {
        "asset": asset, "form": form, "auto_form": auto_form,
        "reindex_documents": reindex_documents,
        "reindex_estimate": estimate, "reindex_estimate_error": estimate_error,
        "auto_update": auto_update_of(asset), "webhook": webhook_active_of(asset),
        "minted": minted and {
            "webhook": minted.webhook, "secret": minted.signing_secret,
            "url": public_url(request, minted.path),
        },
        "read_only": request.method == "GET" and not membership.allows(Role.EDITOR),
        "can_manage_webhooks": membership.allows(Role.ADMIN),
        "takes_webhook": SOURCE_TYPES[asset.source_type].webhook_registration,
    }, status=status)  # fmt: skip
    if minted is not None:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
@tenant_view
def asset_regenerate_webhook(request, membership, asset_id):
    """Rotate the asset's webhook: the settings page with the new URL and secret,
    shown once; the old URL answers 404 from now on."""
    asset = selectors.asset_get(tenant=membership.tenant, asset_id=asset_id)
    try:
        minted = autoupdate.asset_regenerate_webhook(actor=membership, asset=asset)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        slug = membership.tenant.slug
        return redirect("assets:settings", tenant=slug, asset_id=asset.id)
    return _settings_page(request, membership, asset.id, minted=minted)


def _reindex_estimate(membership, asset, form):
    """(the REINDEX's estimate, None) or (None, why there is none): the confirmation
    shows tokens and cost before a re-index (issue 5), priced with the chosen
    model."""
    from .estimates import asset_estimate

    data = form.cleaned_data
    provider, model = form.chosen_model()
    try:
        return asset_estimate(
            actor=membership, asset=asset,
            embedding_provider=provider, embedding_model=model,
            chunk_size=data["chunk_size"], chunk_overlap=data["chunk_overlap"],
        ), None  # fmt: skip
    except ApplicationError as exc:
        return None, exc.message
