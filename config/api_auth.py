"""Bearer authentication (personal API tokens; JWTs via simplejwt) and per-credential
throttling. Kept apart from config.api: DRF imports these while it loads its views."""

from rest_framework import authentication, exceptions
from rest_framework.throttling import SimpleRateThrottle


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
