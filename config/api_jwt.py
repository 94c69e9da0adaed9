"""POST /v1/auth/token and /v1/auth/token:refresh: simplejwt's views, made strict.

simplejwt ignores unknown body members; API.md wants a 400 naming them. Its refresh
also answers 500 when the token's user was deleted and keeps minting access tokens
after a password change, which (with ``CHECK_REVOKE_TOKEN``) revokes every JWT of the
user; both are a 401 here."""

from django.contrib.auth import get_user_model
from rest_framework import exceptions
from rest_framework_simplejwt.serializers import (
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
)
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from config.api import RejectUnknownFieldsMixin


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


class TokenObtainAPI(TokenObtainPairView):
    """``{username, password}`` → 200 ``{access, refresh}``; wrong credentials → 401."""

    serializer_class = StrictTokenObtainPairSerializer


class TokenRefreshAPI(TokenRefreshView):
    """``{refresh}`` → 200 ``{access}``; a bad, expired or revoked token → 401."""

    serializer_class = StrictTokenRefreshSerializer
