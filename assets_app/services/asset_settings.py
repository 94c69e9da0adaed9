"""Changing an asset's settings (API.md "PATCH semantics"): name, chunking, embedding
model, source parameters; a model or chunking change starts a REINDEX."""

from __future__ import annotations

from django.db import transaction

from config.errors import (
    ValidationFailed,
)
from operations_app.models import Operation, OperationType
from operations_app.services import operation_create

from ..embedding import provider_available
from ..models import (
    Asset,
    Membership,
    ModelPrice,
    Role,
)
from ..selectors import model_price_get
from ..sources.checks import source_parameters_changed
from .access import (
    _actor_name,
    _require_for_asset,
    validate_chunking,
)


def embedding_model_checked(
    *, provider: str, model: str, dimensions: int | None = None
) -> ModelPrice:
    """The ModelPrice row of ``provider``/``model``: a model assets may use here (the
    rows ``GET …/assets:embeddingModels`` lists; the ``local`` provider only where its
    extra is installed). ``dimensions``, if given, must be the row's. Raises
    ValidationFailed naming ``embeddingModel`` or ``embeddingDimensions`` (on the
    wire ``embedding.model`` / ``embedding.dimensions``)."""
    row = model_price_get(provider=provider, model=model)
    if row is None or not provider_available(provider):
        raise ValidationFailed(
            f"{provider}/{model} is not an embedding model of this server; "
            f"see assets:embeddingModels.",
            errors={"embeddingModel": [f"Unknown model {provider}/{model}."]},
        )
    if dimensions is not None and dimensions != row.dimensions:
        raise ValidationFailed(
            f"{provider}/{model} gives {row.dimensions} dimensions.",
            errors={"embeddingDimensions": [f"Must be {row.dimensions}."]},
        )
    return row


def _model_change(asset: Asset, provider, model, dimensions) -> dict | None:
    """The ``embedding_*`` fields a settings change gives ``asset``: None when the
    model stays (given values equal to the asset's are no change, so a body read
    back may be sent again, even for a model whose price row is gone). Raises
    ValidationFailed as embedding_model_checked."""
    provider = asset.embedding_provider if provider is None else provider
    model = asset.embedding_model if model is None else model
    if (provider, model) == (asset.embedding_provider, asset.embedding_model):
        current = asset.embedding_dimensions
        if dimensions not in (None, current):
            raise ValidationFailed(
                f"{provider}/{model} gives {current} dimensions.",
                errors={"embeddingDimensions": [f"Must be {current}."]},
            )
        return None
    if not asset.vectorized:
        raise ValidationFailed(
            "This asset is not vectorized, so it has no embedding model.",
            errors={"embeddingModel": ["Only vectorized assets have a model."]},
        )
    row = embedding_model_checked(provider=provider, model=model, dimensions=dimensions)
    return {
        "embedding_provider": provider,
        "embedding_model": model,
        "embedding_dimensions": row.dimensions,
    }


def asset_update_settings(
    *,
    actor: Membership,
    asset: Asset,
    display_name: str | None = None,
    embedding_provider: str | None = None,
    embedding_model: str | None = None,
    embedding_dimensions: int | None = None,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    source_parameters: dict | None = None,
    dry_run: bool = False,
) -> tuple[Asset, Operation | None]:
    """Change only the given fields (API.md "PATCH semantics"). A name change applies at
    once. A new embedding model (``embedding_provider``/``embedding_model``, a row of
    ``assets:embeddingModels``; its dimensions come from that row and
    ``embedding_dimensions``, if given, must equal them) or a new chunk size or
    overlap (tokens; the size within the new model's input limit) starts a REINDEX,
    or turns the queued operation into one (operation_create), returned with the
    asset. New ``source_parameters`` of a web or git asset (checked like on create;
    a secret not given keeps its stored value) start a REFRESH (a REINDEX re-reads
    them anyway).

    Budget limits stay as stored, in tokens, across a model change: a USD limit was
    converted with the old price when it was set and is not converted again (the
    server does not know which limits were given in USD; docs/api.md "Budgets").

    ``dry_run`` checks the role and the values and returns ``(asset, None)`` without
    saving (the dashboard's confirmation step). Raises PermissionDenied or
    ValidationFailed (errors keyed ``displayName``, ``embeddingModel``,
    ``embeddingDimensions``, ``chunkSize``, ``chunkOverlap`` or a source parameter);
    nothing is saved on error."""
    _require_for_asset(actor, asset, Role.EDITOR, "change asset settings")
    given = {
        "display_name": display_name, "embedding_provider": embedding_provider,
        "embedding_model": embedding_model,
        "embedding_dimensions": embedding_dimensions, "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap, "source_parameters": source_parameters,
    }  # fmt: skip
    if dry_run:
        _settings_checked(actor, asset, **given)
        return asset, None
    with transaction.atomic():
        # Checked against the locked row, so that a concurrent change (another
        # model, other chunking) cannot slip in between the check and the write.
        asset = Asset.objects.select_for_update().get(pk=asset.pk)
        changes, new_parameters = _settings_checked(actor, asset, **given)
        reindex = any(f != "display_name" for f in changes)
        for field, value in changes.items():
            setattr(asset, field, value)
        fields = [*changes, "modified_at"]
        if new_parameters is not None:
            asset.source_parameters = new_parameters
            fields.append("source_parameters")
        asset.save(update_fields=fields)
        op = None
        if reindex or new_parameters is not None:
            # After the save: the operation (or the queued one it joins) records the
            # model it will embed with.
            op = operation_create(
                asset=asset,
                created_by=_actor_name(actor),
                type=OperationType.REINDEX if reindex else OperationType.REFRESH,
            )
    return asset, op


def _settings_checked(
    actor: Membership, asset: Asset, *, display_name, embedding_provider,
    embedding_model, embedding_dimensions, chunk_size, chunk_overlap,
    source_parameters,
) -> tuple[dict, dict | None]:  # fmt: skip
    """``(Asset field → new value, new source parameters or None)`` of a settings
    change: a changed model or chunking among the fields means a REINDEX. Raises
    ValidationFailed with every field's errors (asset_update_settings)."""
    new_size = asset.chunk_size if chunk_size is None else chunk_size
    new_overlap = asset.chunk_overlap if chunk_overlap is None else chunk_overlap
    errors, changes = {}, {}
    if display_name is not None:
        if not display_name.strip():
            errors["displayName"] = ["The name cannot be empty."]
        changes["display_name"] = display_name.strip()[:200]
    try:
        model = _model_change(
            asset, embedding_provider, embedding_model, embedding_dimensions
        )
        changes.update(model or {})
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if "embeddingModel" not in errors:  # else there is no input limit to check with
        try:
            validate_chunking(
                provider=changes.get("embedding_provider", asset.embedding_provider),
                model=changes.get("embedding_model", asset.embedding_model),
                chunk_size=new_size, chunk_overlap=new_overlap,
            )  # fmt: skip
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if (new_size, new_overlap) != (asset.chunk_size, asset.chunk_overlap):
        changes.update(chunk_size=new_size, chunk_overlap=new_overlap)
    new_parameters = None
    if source_parameters is not None:
        try:
            new_parameters = source_parameters_changed(
                asset=asset, parameters=source_parameters,
                may_read_server=actor.allows(Role.ADMIN),
            )  # fmt: skip
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationFailed(
            "The settings are invalid; nothing was saved.", errors=errors
        )
    return changes, new_parameters
