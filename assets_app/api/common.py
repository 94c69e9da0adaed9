"""What the asset, document and catalogue views share: parsing bodies into
ValidationFailed with dotted field paths, the chunking arguments, the renderers,
and the asset's ETag / If-Match (RFC 9110)."""

from __future__ import annotations

import hashlib
from contextlib import contextmanager

from rest_framework.response import Response

from config.errors import ApplicationError, ValidationFailed
from operations_app.serializers import OperationSerializer

from ..autoupdate.webhooks import public_url
from ..budget_limits import budget_limits_from_input
from ..models import Asset
from ..selectors import asset_with_details
from ..serializers import AssetSerializer, AssetWebhookSerializer
from ..services import embedding_model_checked


class PreconditionFailed(ApplicationError):
    status = 412
    code = "precondition-failed"
    title = "Precondition failed"


def _dotted(errors, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as ``{"embedding.chunkSize": [...]}``."""
    if isinstance(errors, dict):
        out = {}
        for key, value in errors.items():
            name = "body" if key == "non_field_errors" else str(key)
            out.update(_dotted(value, f"{prefix}.{name}" if prefix else name))
        return out
    if (
        isinstance(errors, list)
        and errors
        and not all(isinstance(e, str) for e in errors)
    ):
        out = {}
        for i, e in enumerate(errors):
            out.update(_dotted(e, f"{prefix}[{i}]"))
        return out
    return {
        prefix or "body": [
            str(e) for e in (errors if isinstance(errors, list) else [errors])
        ]
    }


def _parse(serializer_class, data) -> dict:
    """The validated body, or ValidationFailed with errors by dotted field path."""
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise ValidationFailed(
            "The request body is invalid; see errors for each field.",
            errors=_dotted(serializer.errors),
        )
    return serializer.validated_data


# The model a new asset gets (Asset's field defaults).
_DEFAULTS = {
    name: Asset._meta.get_field(field).default
    for name, field in (
        ("provider", "embedding_provider"),
        ("model", "embedding_model"),
        ("dimensions", "embedding_dimensions"),
    )
}


def _budget_limits(data: dict, asset: Asset | None = None) -> dict:
    """Token limits from the ``budget`` and ``currencyBudget`` members of a create
    or PATCH body, converted with the price of the asset's model (call it after a
    model change of the same PATCH is saved: USD converts at the new model's price)
    or on create of the default model; raises ValidationFailed
    (budget_limits.budget_limits_from_input)."""
    return budget_limits_from_input(
        provider=asset.embedding_provider if asset else _DEFAULTS["provider"],
        model=asset.embedding_model if asset else _DEFAULTS["model"],
        budget=data.get("budget"), currency_budget=data.get("currencyBudget"),
    )  # fmt: skip


# ``embedding`` members → the settings services' keyword arguments.
_EMBEDDING_ARGUMENTS = {
    "provider": "embedding_provider",
    "model": "embedding_model",
    "dimensions": "embedding_dimensions",
    "chunkSize": "chunk_size",
    "chunkOverlap": "chunk_overlap",
}


def _chunking(embedding: dict | None, asset: Asset | None = None) -> dict:
    """Keyword arguments of the services from an ``embedding`` body. On create (no
    ``asset``): the chosen model's ``embedding_provider``/``_model``/``_dimensions``
    (a row of ``assets:embeddingModels``, default the built-in one) and the
    chunking given. On PATCH and ``:estimate``: only the members given, which
    services.asset_update_settings checks (a new model starts a REINDEX)."""
    embedding = embedding or {}
    kwargs = {
        _EMBEDDING_ARGUMENTS[name]: value
        for name, value in embedding.items()
        if name in _EMBEDDING_ARGUMENTS
    }
    if asset is None:
        kwargs.update(_chosen_model(embedding))
    return kwargs


def _chosen_model(embedding: dict) -> dict:
    provider = embedding.get("provider", _DEFAULTS["provider"])
    model = embedding.get("model", _DEFAULTS["model"])
    row = embedding_model_checked(
        provider=provider, model=model, dimensions=embedding.get("dimensions")
    )
    return {
        "embedding_provider": provider,
        "embedding_model": model,
        "embedding_dimensions": row.dimensions,
    }


# The services name fields as the dashboard's forms do; on the wire they are paths of
# the request body (and the multipart part is called ``file``).
WIRE_NAMES = {
    "embeddingModel": "embedding.model",
    "embeddingDimensions": "embedding.dimensions",
    "chunkSize": "embedding.chunkSize",
    "chunkOverlap": "embedding.chunkOverlap",
    "path": "config.parameters.path",
    "glob": "config.parameters.glob",
    "files": "file",
}


@contextmanager
def _wire_names():
    """Re-key the ``errors`` of an ApplicationError raised inside by WIRE_NAMES."""
    try:
        yield
    except ApplicationError as exc:
        exc.errors = {WIRE_NAMES.get(k, k): v for k, v in exc.errors.items()}
        raise


def _catalogue(items: list) -> dict:
    return {"items": items, "nextPageToken": None, "totalCount": len(items)}


def _asset(asset: Asset) -> dict:
    return AssetSerializer(asset).data


def _operation(op) -> dict | None:
    return None if op is None else OperationSerializer(op).data


def asset_etag(asset: Asset) -> str:
    """A strong entity tag of the asset's settings version (id + modified_at)."""
    digest = hashlib.sha256(f"{asset.id}:{asset.modified_at.isoformat()}".encode())
    return f'"{digest.hexdigest()[:32]}"'


def _check_if_match(request, asset: Asset) -> None:
    """RFC 9110 §13.1.1, strong comparison: raise PreconditionFailed unless If-Match
    is absent, ``*``, or lists the asset's current ETag."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return
    if asset_etag(asset) not in {tag.strip() for tag in header.split(",")}:
        raise PreconditionFailed(
            "The asset was changed since you read it. GET it again, re-apply your "
            "change and send its new ETag in If-Match."
        )


def _asset_and_operation(
    asset: Asset, op, *, request=None, minted=None, headers=None
) -> Response:
    """``{asset, operation}``, and ``webhook`` when ``minted`` (a MintedWebhook):
    shown this once, so not cached, and replayed to an Idempotency-Key without its
    URL and secret (config.idempotency)."""
    body = {"asset": _asset(asset_with_details(asset)), "operation": _operation(op)}
    if minted is None:
        return Response(body, headers=headers)
    shown = _webhook(request, minted)
    response = Response(
        {**body, "webhook": shown}, headers={**(headers or {}), **NO_STORE}
    )
    response.replay_data = {
        **body, "webhook": {**shown, "webhookUrl": None, "signingSecret": None}
    }
    return response


NO_STORE = {"Cache-Control": "no-store"}


def _webhook(request, minted) -> dict:
    """A minted webhook with its absolute URL (RAGDESK_PUBLIC_URL, else the
    request's host) and signing secret: the one response that shows them."""
    url = public_url(request, minted.path)
    context = {"url": url, "secret": minted.signing_secret}
    return AssetWebhookSerializer(minted.webhook, context=context).data
