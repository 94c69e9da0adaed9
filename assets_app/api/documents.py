"""Documents of an asset (list, get, delete) and a document's chunks."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from config.api import TenantAPIView
from config.openapi import (
    PAGE_PARAMETERS,
    SEARCH_PARAMETER,
    TENANT_ERRORS,
    page_of,
    problems,
    uuid_path,
)
from config.pagination import paginate

from .. import selectors, services
from ..selectors import chunk_list
from ..serializers import ChunkSerializer, DocumentSerializer

DOCUMENT_ORDER = ["file_name", "id"]
CHUNK_ORDER = ["chunk_index", "id"]

ASSET = uuid_path("asset_id", "asset")
DOCUMENT = uuid_path("document_id", "document")


class DocumentListAPI(TenantAPIView):
    """GET …/assets/{asset}/documents — by file name, ``search`` by file name."""

    @extend_schema(
        operation_id="documents_list",
        tags=["documents"],
        parameters=[ASSET, SEARCH_PARAMETER, *PAGE_PARAMETERS],
        responses={
            200: page_of(DocumentSerializer, "DocumentPage"),
            **problems(400, *TENANT_ERRORS),
        },
    )
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

    @extend_schema(
        operation_id="documents_get",
        tags=["documents"],
        parameters=[ASSET, DOCUMENT],
        responses={200: DocumentSerializer, **problems(*TENANT_ERRORS)},
    )
    def get(self, request, tenant, asset_id, document_id):
        return Response(DocumentSerializer(self._document(asset_id, document_id)).data)

    @extend_schema(
        operation_id="documents_delete",
        tags=["documents"],
        parameters=[ASSET, DOCUMENT],
        responses={
            204: None,
            **problems(*TENANT_ERRORS, 409),
        },
        description="ADMIN only. Deletes the document and its chunks; a later full "
        "refresh brings it back. 409 while an operation of the asset is RUNNING.",
    )
    def delete(self, request, tenant, asset_id, document_id):
        document = self._document(asset_id, document_id)
        services.document_delete(actor=self.membership, document=document)
        return Response(status=204)


class ChunkListAPI(TenantAPIView):
    """GET …/documents/{document}/chunks — in chunk order, paged."""

    @extend_schema(
        operation_id="chunks_list",
        tags=["documents"],
        parameters=[ASSET, DOCUMENT, *PAGE_PARAMETERS],
        responses={
            200: page_of(ChunkSerializer, "ChunkPage"),
            **problems(400, *TENANT_ERRORS),
        },
    )
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
