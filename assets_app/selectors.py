"""Every read of tenants, assets and documents. Always tenant-scoped: a missing object
and another tenant's object raise the same NotFound."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from config.errors import NotFound, PermissionDenied
from operations_app.models import ACTIVE_STATUSES

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


def asset_list(*, tenant: Tenant, search: str | None = None) -> QuerySet[Asset]:
    """The tenant's assets, newest first, annotated with ``n_documents``; ``search``
    filters by name, case-insensitively. (No chunk count: joining chunks as well would
    multiply rows; use ``asset_totals`` for one asset.)"""
    qs = Asset.objects.filter(tenant=tenant)
    if search := _search_term(search):
        qs = qs.filter(display_name__icontains=search)
    return qs.annotate(
        n_documents=Count("documents", distinct=True),
    ).order_by("-created_at", "-id")


def asset_get(*, tenant: Tenant, asset_id) -> Asset:
    """Raises NotFound when missing or of another tenant."""
    asset = Asset.objects.filter(tenant=tenant, id=_uuid(asset_id)).first()
    if asset is None:
        raise NotFound("No such asset in this tenant.")
    return asset


def asset_has_active_operations(*, asset: Asset) -> bool:
    """Whether an operation of the asset is PENDING or RUNNING (its page then polls)."""
    return asset.operations.filter(status__in=ACTIVE_STATUSES).exists()


def asset_totals(*, asset: Asset) -> dict:
    """``{"documents", "chunks", "tokens"}`` as stored now (tokens: cl100k_base)."""
    docs = Document.objects.filter(asset=asset).aggregate(
        documents=Count("id"), failed=Count("id", filter=Q(status="FAILED"))
    )
    # Only each document's current generation: a re-embed that was interrupted leaves
    # chunks of a newer version stored but not current (ingestion/documents.py).
    chunks = Chunk.objects.filter(asset=asset, document_version=F("document__version")).aggregate(
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
