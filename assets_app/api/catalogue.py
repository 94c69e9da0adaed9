"""GET …/assets:sourceTypes, :embeddingModels, :supportedTypes: the catalogues, as
lists in the usual envelope, unpaged (``nextPageToken`` null)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from config.api import TenantAPIView
from config.openapi import TENANT_ERRORS, page_of, problems

from ..ingestion.parsing import SUPPORTED_TYPES
from ..selectors import embedding_models
from ..serializers import EmbeddingModelSerializer, source_type_data
from ..sources.descriptors import SOURCE_TYPES
from .common import _catalogue


# Shapes of the dicts the catalogues render, for the schema only.
class SourceTypeParameterSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    required = serializers.BooleanField()
    secret = serializers.BooleanField(help_text="Write-only: read back as '********'.")
    default = serializers.JSONField(allow_null=True)
    options = serializers.ListField(child=serializers.CharField(), allow_null=True)
    help = serializers.CharField()


class CapabilitiesSerializer(serializers.Serializer):
    autoUpdate = serializers.BooleanField()
    webhookRegistration = serializers.BooleanField()
    pollSchedule = serializers.BooleanField()


class SourceTypeSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="config.sourceType of a create body.")
    displayName = serializers.CharField()
    parameters = SourceTypeParameterSerializer(many=True)
    capabilities = CapabilitiesSerializer()
    createWith = serializers.ChoiceField(
        choices=["assets", "assets:file"], help_text="The request that creates one."
    )


class SupportedTypeSerializer(serializers.Serializer):
    contentType = serializers.CharField()
    extensions = serializers.ListField(child=serializers.CharField())
    maxFileSize = serializers.IntegerField(help_text="Bytes per file.")


class SourceTypesAPI(TenantAPIView):
    """GET …/assets:sourceTypes — what each source type takes and can do."""

    @extend_schema(
        operation_id="assets_source_types",
        tags=["catalogues"],
        responses={
            200: page_of(SourceTypeSerializer, "SourceTypeList"),
            **problems(*TENANT_ERRORS),
        },
    )
    def get(self, request, tenant):
        return Response(
            _catalogue([source_type_data(d) for d in SOURCE_TYPES.values()])
        )


class EmbeddingModelsAPI(TenantAPIView):
    """GET …/assets:embeddingModels — the models an asset can be created with
    (ModelPrice rows; ``local`` only with its extra installed): dimensions,
    maxInputTokens (tokens per input), price in USD per 1,000,000 tokens."""

    @extend_schema(
        operation_id="assets_embedding_models",
        tags=["catalogues"],
        responses={
            200: page_of(EmbeddingModelSerializer, "EmbeddingModelList"),
            **problems(*TENANT_ERRORS),
        },
    )
    def get(self, request, tenant):
        items = EmbeddingModelSerializer(embedding_models(), many=True).data
        return Response(_catalogue(list(items)))


class SupportedTypesAPI(TenantAPIView):
    """GET …/assets:supportedTypes — content types accepted by upload, their
    extensions and the size limit per file (bytes)."""

    @extend_schema(
        operation_id="assets_supported_types",
        tags=["catalogues"],
        responses={
            200: page_of(SupportedTypeSerializer, "SupportedTypeList"),
            **problems(*TENANT_ERRORS),
        },
    )
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
