"""DRF views of tenants' assets and auth: parse, call a selector or service, render."""

from rest_framework.response import Response

from config.api import TenantAPIView


class AuthHealthAPI(TenantAPIView):
    """GET /v1/tenants/{tenant}/auth/health — who the credential is, their role in the
    tenant and when the credential expires (epoch ms; null for API tokens). 401 without
    a valid credential, 403 for a non-member."""

    def get(self, request, tenant):
        expires = None
        auth = request.auth
        if auth is not None and hasattr(auth, "payload"):  # a simplejwt token
            expires = int(auth.payload["exp"]) * 1000
        return Response({
            "user": request.user.get_username(),
            "tenant": self.tenant.slug,
            "tenantId": str(self.tenant.id),
            "role": self.membership.role,
            "credential": "API_TOKEN" if hasattr(auth, "prefix") else "JWT",
            "expiresAt": expires,
        })
