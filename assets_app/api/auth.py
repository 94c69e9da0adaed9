"""GET /v1/tenants/{tenant}/auth/health."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from config.api import TenantAPIView
from config.openapi import TENANT_ERRORS, problems

from ..models import Role

HEALTH = inline_serializer(
    name="AuthHealth",
    fields={
        "user": serializers.CharField(help_text="The caller's username."),
        "tenant": serializers.CharField(help_text="The tenant's slug."),
        "tenantId": serializers.UUIDField(),
        "role": serializers.ChoiceField(choices=Role.choices),
        "credential": serializers.ChoiceField(choices=["JWT", "API_TOKEN"]),
        "expiresAt": serializers.IntegerField(
            allow_null=True,
            help_text="When the credential expires (epoch ms); null for API tokens.",
        ),
    },
)


class AuthHealthAPI(TenantAPIView):
    """GET /v1/tenants/{tenant}/auth/health — who the credential is, their role in the
    tenant and when the credential expires (epoch ms; null for API tokens). 401 without
    a valid credential, 403 for a non-member."""

    @extend_schema(
        operation_id="auth_health",
        tags=["auth"],
        responses={200: HEALTH, **problems(*TENANT_ERRORS)},
        examples=[
            OpenApiExample(
                "JWT",
                response_only=True,
                value={
                    "user": "admin",
                    "tenant": "demo",
                    "tenantId": "7d0c1c52-8a5e-4c55-9c07-1f2f7f1c9a11",
                    "role": "ADMIN",
                    "credential": "JWT",
                    "expiresAt": 1767225600000,
                },
            )
        ],
    )
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
