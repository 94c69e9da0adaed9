"""DRF views of tenants' assets, documents, chunks, catalogues and auth: parse, call a
selector or service, render (API.md "Endpoints").

Decisions the contract leaves open:

- Create, ``:file`` and ``:refresh`` answer 200 ``{asset, operation}``; PATCH answers
  ``{asset, operation}`` with ``operation`` null when nothing was started.
- The catalogues are lists in the usual envelope, unpaged (``nextPageToken`` null).
- ``ETag`` versions the asset's settings (id + modification time): it changes with
  what PATCH can change, not with the live counters (``documentCount``, …), so an
  ingestion in progress does not turn every PATCH into a 412.
- The embedding model cannot be chosen yet: ``embedding.provider``, ``model`` and
  ``dimensions`` are accepted only with the values the asset has (so a client may send
  back what it read); another value is a 400 saying it is not supported yet.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response

from config.api import TenantAPIView, paginate
from config.errors import ApplicationError, ValidationFailed
from config.idempotency import idempotent
from operations_app.serializers import OperationSerializer

from . import selectors, services
from .api_reads import (
    asset_with_details,
    assets_with_details,
    chunk_list,
    model_price_list,
)
from .ingestion.parsing import SUPPORTED_TYPES
from .models import Asset, SourceType
from .serializers import (
    AssetCreateInput,
    AssetPatchInput,
    AssetSerializer,
    ChunkSerializer,
    DocumentSerializer,
    EmbeddingModelSerializer,
    RefreshInput,
    UploadPayloadInput,
    source_type_data,
)
from .sources.descriptors import SOURCE_TYPES, parameters_check

ASSET_ORDER = ["-created_at", "-id"]
DOCUMENT_ORDER = ["file_name", "id"]
CHUNK_ORDER = ["chunk_index", "id"]


class PreconditionFailed(ApplicationError):
    status = 412
    code = "precondition-failed"
    title = "Precondition failed"


# -- helpers -----
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


def _chunking(embedding: dict | None, asset: Asset | None = None) -> dict:
    """``chunk_size``/``chunk_overlap`` keyword arguments from an ``embedding`` body,
    refusing a model other than the asset's (or the default one on create)."""
    embedding = embedding or {}
    current = (
        {
            "provider": asset.embedding_provider,
            "model": asset.embedding_model,
            "dimensions": asset.embedding_dimensions,
        }
        if asset
        else _DEFAULTS
    )
    errors = {
        f"embedding.{name}": [
            f"Choosing the embedding model is not supported yet; "
            f"it is {current[name]!r}."
        ]
        for name in ("provider", "model", "dimensions")
        if name in embedding and embedding[name] != current[name]
    }
    if errors:
        raise ValidationFailed(
            "Choosing the embedding model is not supported yet.", errors=errors
        )
    kwargs = {}
    if "chunkSize" in embedding:
        kwargs["chunk_size"] = embedding["chunkSize"]
    if "chunkOverlap" in embedding:
        kwargs["chunk_overlap"] = embedding["chunkOverlap"]
    return kwargs


# The services name fields as the dashboard's forms do; on the wire they are paths of
# the request body (and the multipart part is called ``file``).
WIRE_NAMES = {
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


# -- catalogues -----
class SourceTypesAPI(TenantAPIView):
    """GET …/assets:sourceTypes — what each source type takes and can do."""

    def get(self, request, tenant):
        return Response(
            _catalogue([source_type_data(d) for d in SOURCE_TYPES.values()])
        )


class EmbeddingModelsAPI(TenantAPIView):
    """GET …/assets:embeddingModels — price in USD per 1,000,000 tokens."""

    def get(self, request, tenant):
        items = EmbeddingModelSerializer(model_price_list(), many=True).data
        return Response(_catalogue(list(items)))


class SupportedTypesAPI(TenantAPIView):
    """GET …/assets:supportedTypes — content types accepted by upload, their
    extensions and the size limit per file (bytes)."""

    def get(self, request, tenant):
        limit = settings.RAGDESK_MAX_UPLOAD_BYTES
        return Response(
            _catalogue(
                [
                    {"contentType": ct, "extensions": list(exts), "maxFileSize": limit}
                    for ct, exts in SUPPORTED_TYPES.items()
                ]
            )
        )


# -- assets -----
def _create_folder(actor, name: str, parameters: dict, chunking: dict):
    return services.asset_create_from_folder(
        actor=actor,
        display_name=name,
        path=parameters["path"],
        glob=parameters.get("glob") or "**/*",
        **chunking,
    )


# Source types created from a JSON body; upload is created with POST assets:file.
JSON_CREATORS = {SourceType.FOLDER: _create_folder}


def _source_config(config: dict | None, *, upload: bool) -> tuple[str, dict]:
    """``(sourceType, parameters)`` of a create body's ``config``, checked against the
    source-type table and the endpoint (JSON for JSON_CREATORS, else assets:file)."""
    if config is None:  # only assets:file may leave it out
        return SourceType.UPLOAD, {}
    source_type, parameters = config["sourceType"], config["parameters"]
    if upload and source_type != SourceType.UPLOAD:
        raise ValidationFailed(
            "assets:file creates upload assets; create other types with POST …/assets.",
            errors={"config.sourceType": ["Must be 'upload' here."]},
        )
    if not upload and source_type not in JSON_CREATORS:
        raise ValidationFailed(
            f"Assets of source type {source_type!r} are created with a multipart "
            "POST to assets:file.",
            errors={"config.sourceType": ["Use POST …/assets:file."]},
        )
    if errors := parameters_check(SOURCE_TYPES[source_type], parameters):
        raise ValidationFailed(
            "The source parameters are invalid; see errors for each one.",
            errors={f"config.parameters.{k}": v for k, v in errors.items()},
        )
    return source_type, parameters


def _asset_and_operation(asset: Asset, op) -> Response:
    return Response(
        {"asset": _asset(asset_with_details(asset)), "operation": _operation(op)}
    )


class AssetListAPI(TenantAPIView):
    """GET …/assets — newest first, ``search`` by name; POST …/assets — create
    from ``{config, name?, embedding?}`` and start its INGEST (Idempotency-Key)."""

    parser_classes = [JSONParser]

    def get(self, request, tenant):
        qs = selectors.asset_list(
            tenant=self.tenant, search=request.query_params.get("search") or None
        )
        query = request.query_params
        return Response(
            paginate(qs, query, ASSET_ORDER, _asset, prepare=assets_with_details)
        )

    @idempotent
    def post(self, request, tenant):
        data = _parse(AssetCreateInput, request.data)
        source_type, parameters = _source_config(data["config"], upload=False)
        with _wire_names():
            asset, op = JSON_CREATORS[source_type](
                self.membership,
                data.get("name", ""),
                parameters,
                _chunking(data.get("embedding")),
            )
        return _asset_and_operation(asset, op)


def _upload_payload(request) -> dict:
    """The ``payload`` part (a form field or a file part) as JSON; any part other
    than ``file`` and ``payload`` is a 400 naming it."""
    unknown = sorted(set(request.data) - {"file", "payload"})
    if unknown:
        raise ValidationFailed(
            f"Unknown part{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            "this request takes file, payload.",
            errors={k: ["Unknown part."] for k in unknown},
        )
    raw = request.FILES.get("payload") or request.data.get("payload")
    if raw is None:
        return {}
    try:
        return json.loads(raw.read() if hasattr(raw, "read") else raw)
    except ValueError:
        raise ValidationFailed(
            "The payload part is not valid JSON.",
            errors={"payload": ["Not valid JSON."]},
        ) from None


class AssetUploadAPI(TenantAPIView):
    """POST …/assets:file — multipart: one or several ``file`` parts (≤ 50 MB each,
    else 413; unsupported type 415) and an optional ``payload`` JSON part like the
    create body. Starts the INGEST (Idempotency-Key)."""

    parser_classes = [MultiPartParser]

    @idempotent
    def post(self, request, tenant):
        data = _parse(UploadPayloadInput, _upload_payload(request))
        _source_config(data.get("config"), upload=True)
        files = [
            services.UploadInput(name=f.name, size=f.size, stream=f)
            for f in request.FILES.getlist("file")
        ]
        with _wire_names():
            asset, op = services.asset_create_from_uploads(
                actor=self.membership,
                display_name=data.get("name", ""),
                files=files,
                **_chunking(data.get("embedding")),
            )
        return _asset_and_operation(asset, op)


class AssetDetailAPI(TenantAPIView):
    """GET (with ETag), PATCH (``displayName``, ``embedding.chunkSize`` /
    ``chunkOverlap`` — a REINDEX; honours If-Match, 412), DELETE (204) of one asset."""

    parser_classes = [JSONParser]

    def get(self, request, tenant, asset_id):
        asset = selectors.asset_get(tenant=self.tenant, asset_id=asset_id)
        return Response(
            _asset(asset_with_details(asset)), headers={"ETag": asset_etag(asset)}
        )

    def patch(self, request, tenant, asset_id):
        asset = selectors.asset_get(tenant=self.tenant, asset_id=asset_id)
        data = _parse(AssetPatchInput, request.data)
        with transaction.atomic(), _wire_names():
            # The If-Match check and the write must see the same version: lock the row
            # (the service takes the same lock again, within this transaction).
            asset = Asset.objects.select_for_update().get(pk=asset.pk)
            _check_if_match(request, asset)
            asset, op = services.asset_update_settings(
                actor=self.membership,
                asset=asset,
                display_name=data.get("displayName"),
                **_chunking(data.get("embedding"), asset),
            )
        return Response(
            {"asset": _asset(asset_with_details(asset)), "operation": _operation(op)},
            headers={"ETag": asset_etag(asset)},
        )

    def delete(self, request, tenant, asset_id):
        asset = selectors.asset_get(tenant=self.tenant, asset_id=asset_id)
        services.asset_delete(actor=self.membership, asset=asset)
        return Response(status=204)


class AssetRefreshAPI(TenantAPIView):
    """POST …/assets/{asset}:refresh — ``{documentIds?, force?}``; starts or joins the
    queued REFRESH (Idempotency-Key)."""

    parser_classes = [JSONParser]

    @idempotent
    def post(self, request, tenant, asset_id):
        asset = selectors.asset_get(tenant=self.tenant, asset_id=asset_id)
        data = _parse(RefreshInput, request.data)
        op = services.asset_refresh(
            actor=self.membership,
            asset=asset,
            document_ids=data.get("documentIds"),
            force=data["force"],
        )
        return _asset_and_operation(asset, op)


# -- documents and chunks -----
class DocumentListAPI(TenantAPIView):
    """GET …/assets/{asset}/documents — by file name, ``search`` by file name."""

    def get(self, request, tenant, asset_id):
        asset = selectors.asset_get(tenant=self.tenant, asset_id=asset_id)
        qs = selectors.document_list(
            asset=asset, search=request.query_params.get("search") or None
        )
        return Response(
            paginate(
                qs,
                request.query_params,
                DOCUMENT_ORDER,
                lambda d: DocumentSerializer(d).data,
            )
        )


class DocumentDetailAPI(TenantAPIView):
    """GET / DELETE (204, ADMIN; chunks go too) …/documents/{document}."""

    def _document(self, asset_id, document_id):
        asset = selectors.asset_get(tenant=self.tenant, asset_id=asset_id)
        return selectors.document_get(asset=asset, document_id=document_id)

    def get(self, request, tenant, asset_id, document_id):
        return Response(DocumentSerializer(self._document(asset_id, document_id)).data)

    def delete(self, request, tenant, asset_id, document_id):
        document = self._document(asset_id, document_id)
        services.document_delete(actor=self.membership, document=document)
        return Response(status=204)


class ChunkListAPI(TenantAPIView):
    """GET …/documents/{document}/chunks — in chunk order, paged."""

    def get(self, request, tenant, asset_id, document_id):
        asset = selectors.asset_get(tenant=self.tenant, asset_id=asset_id)
        document = selectors.document_get(asset=asset, document_id=document_id)
        return Response(
            paginate(
                chunk_list(document=document),
                request.query_params,
                CHUNK_ORDER,
                lambda c: ChunkSerializer(c).data,
            )
        )


class AuthHealthAPI(TenantAPIView):
    """GET /v1/tenants/{tenant}/auth/health — who the credential is, their role in the
    tenant and when the credential expires (epoch ms; null for API tokens). 401 without
    a valid credential, 403 for a non-member."""

    def get(self, request, tenant):
        expires = None
        auth = request.auth
        if auth is not None and hasattr(auth, "payload"):  # a simplejwt token
            expires = int(auth.payload["exp"]) * 1000
        return Response(
            {
                "user": request.user.get_username(),
                "tenant": self.tenant.slug,
                "tenantId": str(self.tenant.id),
                "role": self.membership.role,
                "credential": "API_TOKEN" if hasattr(auth, "prefix") else "JWT",
                "expiresAt": expires,
            }
        )
