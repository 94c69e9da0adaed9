"""Every read of tenants, assets and documents. Always tenant-scoped: a missing object
and another tenant's object raise the same NotFound."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from config.errors import NotFound, PermissionDenied
from operations_app.models import ACTIVE_STATUSES, Operation

from .models import Asset, Chunk, Document, Membership, ModelPrice, Tenant


def _uuid(value) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound("No such object.") from None


def _search_term(search: str | None) -> str:
    """``search`` without NUL characters, which PostgreSQL text cannot hold (a query
    with one fails with DataError); what remains is searched as typed."""
    return (search or "").replace("\x00", "")


def memberships_of(*, user) -> QuerySet[Membership]:
    """The user's memberships with their tenants, by tenant slug."""
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__slug")


def membership_get(*, user, tenant_slug: str) -> Membership:
    """The user's membership of the tenant. Raises NotFound for an unknown tenant and
    PermissionDenied when the user is not a member (API.md: 403 for non-members)."""
    membership = (
        Membership.objects.filter(user=user, tenant__slug=tenant_slug)
        .select_related("tenant")
        .first()
        if user.is_authenticated
        else None
    )  # one query on every authorised request; the checks below only on refusal
    if membership is None:
        if not Tenant.objects.filter(slug=tenant_slug).exists():
            raise NotFound(f"No tenant {tenant_slug!r}.")
        raise PermissionDenied(f"You are not a member of tenant {tenant_slug!r}.")
    return membership


def membership_with_user(*, user_lookup: dict, tenant_slug: str) -> Membership | None:
    """The membership of the user matching ``user_lookup`` (e.g. ``{"id": 7}``) in
    the tenant, with its user and tenant, in one query; None when there is none.
    For authentication, which then checks the user itself (config.api_auth)."""
    lookup = {f"user__{name}": value for name, value in user_lookup.items()}
    return (
        Membership.objects.filter(tenant__slug=tenant_slug, **lookup)
        .select_related("user", "tenant")
        .first()
    )


def asset_list(*, tenant: Tenant, search: str | None = None) -> QuerySet[Asset]:
    """The tenant's assets, newest first, annotated with ``n_documents``; ``search``
    filters by name, case-insensitively. (No chunk count: joining chunks as well would
    multiply rows; use ``asset_totals`` for one asset.)"""
    qs = Asset.objects.filter(tenant=tenant).select_related("auto_update")
    if search := _search_term(search):
        qs = qs.filter(display_name__icontains=search)
    return qs.annotate(
        n_documents=Count("documents", distinct=True),
    ).order_by("-created_at", "-id")


def asset_get(*, tenant: Tenant, asset_id) -> Asset:
    """Raises NotFound when missing or of another tenant. Its auto-update settings
    come in the same query."""
    asset = (
        Asset.objects.filter(tenant=tenant, id=_uuid(asset_id))
        .select_related("auto_update")
        .first()
    )
    if asset is None:
        raise NotFound("No such asset in this tenant.")
    return asset


def asset_has_active_operations(*, asset: Asset) -> bool:
    """Whether an operation of the asset is PENDING or RUNNING (its page then polls)."""
    return asset.operations.filter(status__in=ACTIVE_STATUSES).exists()


def current_chunks() -> QuerySet[Chunk]:
    """Chunks of each document's current generation (``document.version``): a
    re-embedding writes the next one, and an interrupted one leaves it stored but not
    current (ingestion/documents.py); a re-index switches them all at its end
    (ingestion/switch.py). Counts and reads of chunks go through here."""
    return Chunk.objects.filter(document_version=F("document__version"))


def asset_totals(*, asset: Asset) -> dict:
    """``{"documents", "chunks", "tokens"}`` as stored now (tokens: cl100k_base)."""
    docs = Document.objects.filter(asset=asset).aggregate(
        documents=Count("id"), failed=Count("id", filter=Q(status="FAILED"))
    )
    chunks = current_chunks().filter(asset=asset).aggregate(
        chunks=Count("id"), tokens=Coalesce(Sum("token_count"), 0)
    )
    return {**docs, **chunks}


def document_list(*, asset: Asset, search: str | None = None) -> QuerySet[Document]:
    """The asset's documents by file name; ``search`` filters by file name,
    case-insensitively."""
    qs = Document.objects.filter(asset=asset)
    if search := _search_term(search):
        qs = qs.filter(file_name__icontains=search)
    return qs.order_by("file_name", "id")


def document_get(*, asset: Asset, document_id) -> Document:
    document = Document.objects.filter(asset=asset, id=_uuid(document_id)).first()
    if document is None:
        raise NotFound("No such document in this asset.")
    return document


def model_price_get(*, provider: str, model: str) -> ModelPrice | None:
    return ModelPrice.objects.filter(provider=provider, model=model).first()


def model_price_per_million(*, provider: str, model: str) -> Decimal:
    """USD per 1,000,000 billed tokens of the model now; 0 when unpriced."""
    price = model_price_get(provider=provider, model=model)
    return price.price_per_million_tokens if price else Decimal("0")


def asset_price_per_million(asset: Asset) -> Decimal:
    """USD per 1,000,000 billed tokens for the asset's model now; 0 when unpriced."""
    cache = getattr(asset, "_price_cache", None)
    if cache is None:
        price = model_price_get(provider=asset.embedding_provider, model=asset.embedding_model)
        cache = price.price_per_million_tokens if price else Decimal("0")
        asset._price_cache = cache
    return cache


def model_max_input_tokens(*, provider: str, model: str) -> int:
    """The model's input limit in tokens (8191, OpenAI's, when the model is unknown)."""
    price = model_price_get(provider=provider, model=model)
    return price.max_input_tokens if price else 8191


def model_price_list() -> QuerySet[ModelPrice]:
    """Every embedding model with its price (USD per 1,000,000 tokens)."""
    return ModelPrice.objects.order_by("provider", "model", "id")


def embedding_models() -> list[ModelPrice]:
    """The models an asset can use here: every ModelPrice row, less the ``local``
    provider's when its extra is not installed (GET …/assets:embeddingModels and the
    dashboard's model picker)."""
    from .embedding import provider_available

    return [m for m in model_price_list() if provider_available(m.provider)]


def assets_with_details(assets: list[Asset]) -> list[Asset]:
    """Set ``n_documents`` (if not annotated yet), ``n_chunks`` and ``last_operation``
    (newest by creation, or None) on each asset, in four queries whatever the number
    of assets. The operations' ``cost`` then needs no query of its own."""
    if not assets:
        return assets
    by_id = {a.id: a for a in assets}
    if not all(hasattr(a, "n_documents") for a in assets):
        docs = dict(
            Document.objects.filter(asset_id__in=by_id)
            .values("asset_id")
            .annotate(n=Count("id"))
            .values_list("asset_id", "n")
        )
        for a in assets:
            a.n_documents = docs.get(a.id, 0)
    chunks = dict(
        current_chunks()
        .filter(asset_id__in=by_id)
        .values("asset_id")
        .annotate(n=Count("id"))
        .values_list("asset_id", "n")
    )
    from operations_app.selectors import operations_load_prices  # it imports us

    last_ops = list(
        Operation.objects.filter(asset_id__in=by_id)
        .order_by("asset_id", "-created_at", "-id")
        .distinct("asset_id")
    )
    for a in assets:
        a.n_chunks, a.last_operation = chunks.get(a.id, 0), None
    for op in last_ops:
        op.asset = by_id[op.asset_id]
        op.asset.last_operation = op
    operations_load_prices(last_ops)  # their cost, in one query
    return assets


def asset_with_details(asset: Asset) -> Asset:
    """One asset with ``n_documents``, ``n_chunks`` and ``last_operation`` set, counted
    as ``asset_totals`` counts them."""
    totals = asset_totals(asset=asset)
    asset.n_documents, asset.n_chunks = totals["documents"], totals["chunks"]
    op = Operation.objects.filter(asset=asset).order_by("-created_at", "-id").first()
    if op is not None:
        op.asset = asset
    asset.last_operation = op
    return asset


def chunk_list(*, document: Document) -> QuerySet[Chunk]:
    """The document's chunks of its current generation (``document.version``), in
    order. A re-embedding in progress writes the next generation, shown once the
    document completes."""
    return current_chunks().filter(document=document).order_by("chunk_index", "id")
