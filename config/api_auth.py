"""Bearer authentication (personal API tokens; JWTs via simplejwt) and per-credential
throttling. Kept apart from config.api: DRF imports these while it loads its views."""

from rest_framework import authentication, exceptions
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.utils import get_md5_hash_password


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer rdk_…`` personal API tokens. JWTs are left to
    simplejwt's JWTAuthentication, listed after this class."""

    def authenticate(self, request):
        from assets_app.api_tokens import PREFIX, api_token_authenticate

        header = authentication.get_authorization_header(request).decode(errors="replace")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.startswith(PREFIX):
            return None
        token = api_token_authenticate(credential.strip())
        if token is None:
            raise exceptions.AuthenticationFailed("The API token is unknown or revoked.")
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="ragdesk"'


class TenantJWTAuthentication(JWTAuthentication):
    """simplejwt's JWT authentication, with one query less on tenant URLs.

    On ``/v1/tenants/{tenant}/…`` the token's user is read together with their
    membership of that tenant (one query, not a user query and then a membership
    query); the membership is left on the request as ``tenant_membership`` for
    TenantAPIView. When there is no such membership, or the user fails one of
    simplejwt's checks (active; password unchanged since the token, with
    CHECK_REVOKE_TOKEN), simplejwt's own ``get_user`` runs and answers as always:
    the user, or AuthenticationFailed / InvalidToken (401)."""

    def authenticate(self, request):
        kwargs = (getattr(request, "parser_context", None) or {}).get("kwargs") or {}
        self._tenant_slug = kwargs.get("tenant")
        self._membership = None
        result = super().authenticate(request)
        if result is not None and self._membership is not None:
            request.tenant_membership = self._membership
        return result

    def get_user(self, validated_token):
        from assets_app.selectors import membership_with_user

        user_id = validated_token.get(jwt_settings.USER_ID_CLAIM)
        if self._tenant_slug and user_id is not None:
            membership = membership_with_user(
                user_lookup={jwt_settings.USER_ID_FIELD: user_id},
                tenant_slug=self._tenant_slug,
            )
            if membership and self._passes(membership.user, validated_token):
                self._membership = membership
                return membership.user
        return super().get_user(validated_token)

    @staticmethod
    def _passes(user, token) -> bool:
        """simplejwt's checks of ``JWTAuthentication.get_user`` (5.5); a failure
        falls back to it, so that its errors are the ones answered."""
        if jwt_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            return False
        return not jwt_settings.CHECK_REVOKE_TOKEN or token.get(
            jwt_settings.REVOKE_TOKEN_CLAIM
        ) == get_md5_hash_password(user.password)


class PerTokenThrottle(SimpleRateThrottle):
    """Rate limit per credential (API token or JWT subject), else per client IP."""

    scope = "token"

    def get_cache_key(self, request, view):
        auth = request.auth
        if auth is not None and hasattr(auth, "prefix"):
            ident = f"tok:{auth.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
