"""Personal API tokens: list, create (shown once), revoke, authenticate.

A token is ``rdk_<prefix>_<secret>`` (prefix 8 hex, secret 43 url-safe chars, 256
bits). Only its SHA-256 is stored; lookup is by prefix and the hash is compared in
constant time. ``last_used_at`` is updated at most once a minute per token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from config.errors import NotFound, ValidationFailed

from .models import ApiToken

PREFIX = "rdk_"
NAME_MAX = 100  # ApiToken.name
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_tokens_of(*, user) -> QuerySet[ApiToken]:
    """The user's tokens, live and revoked, newest first (never the plain tokens)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")


def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns the row and the plain token, which is never
    available again (only its SHA-256 is stored). Raises ValidationFailed for an
    empty name or one over NAME_MAX characters."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the token a name.", errors={"name": ["Required."]})
    if len(name) > NAME_MAX:
        raise ValidationFailed(
            f"A token name has at most {NAME_MAX} characters.",
            errors={"name": [f"At most {NAME_MAX} characters."]},
        )
    retries = 2  # 32 random bits of prefix: a collision is rare, not impossible
    while True:
        prefix = secrets.token_hex(4)
        plain = f"{PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user, name=name, prefix=prefix, token_hash=_hash(plain)
                )
            return token, plain
        except IntegrityError:
            if not retries:
                raise
            retries -= 1


def api_token_revoke(*, user, token_id) -> ApiToken:
    """Revoke one of ``user``'s tokens at once (idempotent: revoking a revoked token
    returns it unchanged). Raises NotFound for a token of another user, an unknown or
    a malformed id: the three are not told apart."""
    try:
        pk = int(token_id)
    except (TypeError, ValueError):
        raise NotFound("No such token.") from None
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(user=user, pk=pk).first()
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
