"""Personal API tokens: create (shown once), revoke, authenticate.

A token is ``rdk_<prefix>_<secret>`` (prefix 8 hex, secret 43 url-safe chars, 256
bits). Only its SHA-256 is stored; lookup is by prefix and the hash is compared in
constant time. ``last_used_at`` is updated at most once a minute per token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.utils import timezone

from config.errors import NotFound, ValidationFailed

from .models import ApiToken

PREFIX = "rdk_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns the row and the plain token, which is never
    available again. Raises ValidationFailed for an empty name."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the token a name.", errors={"name": ["Required."]})
    prefix = secrets.token_hex(4)
    plain = f"{PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(user=user, name=name[:100], prefix=prefix,
                                    token_hash=_hash(plain))
    return token, plain


def api_token_revoke(*, user, token_id: int) -> ApiToken:
    """Revoke one of ``user``'s tokens (idempotent). Raises NotFound otherwise."""
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_authenticate(plain: str) -> ApiToken | None:
    """The live token matching ``plain``, with its user, or None."""
    parts = plain.split("_")
    if len(parts) < 3 or not plain.startswith(PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(prefix=parts[1], revoked_at__isnull=True)
        .first()
    )
    if token is None or not hmac.compare_digest(token.token_hash, _hash(plain)):
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
