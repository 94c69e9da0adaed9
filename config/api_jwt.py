"""POST /v1/auth/token and /v1/auth/token:refresh: simplejwt's views, made strict.

simplejwt ignores unknown body members; API.md wants a 400 naming them. Its refresh
also answers 500 when the token's user was deleted and keeps minting access tokens
after a password change, which (with ``CHECK_REVOKE_TOKEN``) revokes every JWT of the
user; both are a 401 here."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers
from rest_framework_simplejwt.serializers import (
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
)
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from config.api import RejectUnknownFieldsMixin
from config.openapi import problems


class StrictTokenObtainPairSerializer(
    RejectUnknownFieldsMixin, TokenObtainPairSerializer
):
    default_error_messages = {
        "no_active_account": "Wrong username or password, or the account is inactive."
    }


class StrictTokenRefreshSerializer(RejectUnknownFieldsMixin, TokenRefreshSerializer):
    def validate(self, attrs):
        refresh = RefreshToken(attrs["refresh"])  # TokenError → 401 in the view
        user_id = refresh.payload.get(api_settings.USER_ID_CLAIM)
        user = (
            get_user_model()
            .objects.filter(**{api_settings.USER_ID_FIELD: user_id})
            .first()
        )
        revoked = (
            api_settings.CHECK_REVOKE_TOKEN
            and user is not None
            and refresh.payload.get(api_settings.REVOKE_TOKEN_CLAIM)
            != get_md5_hash_password(user.password)
        )
        if user is None or not api_settings.USER_AUTHENTICATION_RULE(user) or revoked:
            raise exceptions.AuthenticationFailed(
                "The refresh token's account is gone, inactive or has a new "
                "password; log in again with POST /v1/auth/token."
            )
        return super().validate(attrs)


_ACCESS = serializers.CharField(help_text="JWT (HS256), valid 15 minutes.")
_REFRESH = serializers.CharField(help_text="JWT for :refresh, valid 1 day.")


@extend_schema_view(
    post=extend_schema(
        operation_id="auth_token",
        tags=["auth"],
        auth=[],
        responses={
            200: inline_serializer(
                name="TokenPair", fields={"access": _ACCESS, "refresh": _REFRESH}
            ),
            **problems(400, 401, 429),
        },
        examples=[
            OpenApiExample(
                "Log in",
                request_only=True,
                value={"username": "admin", "password": "s3cret-pass"},
            )
        ],
    )
)
class TokenObtainAPI(TokenObtainPairView):
    """``{username, password}`` → 200 ``{access, refresh}``; wrong credentials → 401."""

    serializer_class = StrictTokenObtainPairSerializer


@extend_schema_view(
    post=extend_schema(
        operation_id="auth_token_refresh",
        tags=["auth"],
        auth=[],
        responses={
            200: inline_serializer(name="AccessToken", fields={"access": _ACCESS}),
            **problems(400, 401, 429),
        },
    )
)
class TokenRefreshAPI(TokenRefreshView):
    """``{refresh}`` → 200 ``{access}``; a bad, expired or revoked token → 401."""

    serializer_class = StrictTokenRefreshSerializer
