"""Who may do what (API.md "Roles") and the chunking rules every service checks."""

from __future__ import annotations

from config.errors import (
    NotFound,
    PermissionDenied,
    ValidationFailed,
)

from ..models import (
    Asset,
    Membership,
)
from ..selectors import model_max_input_tokens

MIN_CHUNK_SIZE = 16  # tokens; smaller chunks carry too little meaning to embed


def _require(actor: Membership, role: str, action: str) -> None:
    if not actor.allows(role):
        raise PermissionDenied(
            f"Your role {actor.role} in this tenant cannot {action}."
        )


def _require_for_asset(actor: Membership, asset: Asset, role: str, action: str) -> None:
    """As _require, and the asset must be of the actor's tenant (NotFound otherwise, as
    for every cross-tenant access)."""
    if asset.tenant_id != actor.tenant_id:
        raise NotFound("No such asset in this tenant.")
    _require(actor, role, action)


def _actor_name(actor: Membership) -> str:
    return actor.user.get_username()


def validate_chunking(*, provider: str, model: str, chunk_size, chunk_overlap) -> None:
    """Raise ValidationFailed (errors by field) unless MIN_CHUNK_SIZE ≤ chunk_size ≤
    the model's max input tokens and 0 ≤ chunk_overlap < chunk_size."""
    errors: dict[str, list[str]] = {}
    limit = model_max_input_tokens(provider=provider, model=model)
    if not isinstance(chunk_size, int) or not MIN_CHUNK_SIZE <= chunk_size <= limit:
        errors["chunkSize"] = [
            f"Chunk size must be a whole number of tokens from {MIN_CHUNK_SIZE} to {limit} "
            f"(the input limit of {model})."
        ]
    if not isinstance(chunk_overlap, int) or chunk_overlap < 0:
        errors["chunkOverlap"] = ["Chunk overlap must be a whole number of tokens ≥ 0."]
    elif isinstance(chunk_size, int) and chunk_overlap >= chunk_size:
        errors["chunkOverlap"] = ["Chunk overlap must be smaller than the chunk size."]
    if errors:
        raise ValidationFailed("The chunking settings are invalid.", errors=errors)
