"""Webhook secrets and the checks of a delivery: no database writes here (the
services in services.py do those).

Two ways to authenticate a delivery (API.md, ``AssetWebhook.authMode``):

- ``URL_SECRET``: ``POST /v1/webhooks/{id}/{secret}``. The secret is 256 random bits;
  only its SHA-256 is stored and a delivery's is compared in constant time.
- ``HMAC_SHA256``: ``POST /v1/webhooks/{id}`` with ``X-Signature-256: sha256=<hex>``,
  the HMAC-SHA256 of ``"<timestamp>.<raw body>"`` under the signing secret, and
  ``X-Signature-Timestamp`` (Unix seconds, at most 5 minutes off). For git sources
  GitHub's own scheme is accepted too: ``X-Hub-Signature-256``, the HMAC of the raw
  body alone (GitHub sends no timestamp; its ``X-GitHub-Delivery`` id and the
  signature are what a replay is recognised by).

An HMAC cannot be checked against a hash of its key, so the signing secret is not
random-and-forgotten like the URL secret: it is derived, ``whsec_`` + HMAC-SHA256
of the webhook's id and a random salt under a key derived from ``SECRET_KEY``
(Django's ``salted_hmac``). The database holds the salt and a SHA-256 fingerprint,
never the secret; a database copy alone cannot sign a delivery. Changing
``DJANGO_SECRET_KEY`` invalidates every signing secret (regenerate the webhooks)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

import pathspec
from django.conf import settings
from django.utils.crypto import salted_hmac

from config.errors import ApplicationError
from config.signatures import hmac_sha256_hex, timestamped_signature_hex

TIMESTAMP_TOLERANCE_SECONDS = 300  # API.md: "more than 5 minutes off → 401"
SIGNING_PREFIX = "whsec_"
_KEY_SALT = "ragdesk.autoupdate.webhook-signing-secret"


class WebhookUnauthenticated(ApplicationError):
    """A delivery whose signature or timestamp does not check out."""

    status = 401
    code = "invalid-signature"
    title = "Invalid webhook signature"


class WebhookReplayed(ApplicationError):
    status = 409
    code = "webhook-replayed"
    title = "Webhook delivery replayed"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_url_secret() -> str:
    """256 random bits, URL-safe (no ``/`` or ``:``)."""
    return secrets.token_urlsafe(32)


def new_signing_salt() -> str:
    return secrets.token_hex(16)


def signing_secret(webhook_id, salt: str) -> str:
    """The HMAC signing secret of a webhook (module docstring)."""
    digest = salted_hmac(_KEY_SALT, f"{webhook_id}:{salt}", algorithm="sha256")
    return SIGNING_PREFIX + digest.hexdigest()


def public_url(request, path: str) -> str:
    """The absolute URL of ``path`` (a minted webhook's) as senders must call it:
    under RAGDESK_PUBLIC_URL when set (behind a proxy), else the request's host."""
    base = settings.RAGDESK_PUBLIC_URL
    return f"{base}{path}" if base else request.build_absolute_uri(path)


def url_secret_matches(given: str, secret_hash: str) -> bool:
    return hmac.compare_digest(sha256_hex(given), secret_hash)


def _signature_value(header: str | None) -> str | None:
    """The hex digest of a ``sha256=<hex>`` header, or None."""
    if not header or not header.startswith("sha256="):
        return None
    return header[len("sha256="):].strip().lower()


@dataclass(frozen=True)
class VerifiedDelivery:
    """What identifies a verified delivery for the replay check: its id header (if
    any) and, for signed ones, the signature (bound to body and timestamp)."""

    replay_keys: tuple[str, ...]


def verify_hmac_delivery(
    *, key: str, headers: Mapping[str, str], body: bytes, now: float,
    github_style: bool,
) -> VerifiedDelivery:  # fmt: skip
    """Check an HMAC_SHA256 delivery against signing secret ``key`` (digests compared
    with ``hmac.compare_digest``). ``github_style``: an ``X-Hub-Signature-256`` of
    the body alone is accepted as well. ``now`` is Unix seconds. Raises
    WebhookUnauthenticated saying what is wrong."""
    if github_style and (given := _signature_value(headers.get("X-Hub-Signature-256"))):
        if not hmac.compare_digest(given, hmac_sha256_hex(key, body)):
            raise WebhookUnauthenticated(
                "X-Hub-Signature-256 does not match the body: check the webhook's "
                "secret (regenerate it if it was lost)."
            )
        delivery = headers.get("X-GitHub-Delivery", "").strip()
        keys = (f"sig:{given}",) + ((f"id:{delivery[:150]}",) if delivery else ())
        return VerifiedDelivery(replay_keys=keys)
    given = _signature_value(headers.get("X-Signature-256"))
    stamp = (headers.get("X-Signature-Timestamp") or "").strip()
    if given is None or not stamp.isdigit():
        raise WebhookUnauthenticated(
            "Sign the delivery: X-Signature-256: sha256=<hex HMAC-SHA256 of "
            "'<timestamp>.<body>'> and X-Signature-Timestamp: <Unix seconds>."
        )
    expected = timestamped_signature_hex(key, stamp, body)
    if not hmac.compare_digest(given, expected):
        raise WebhookUnauthenticated(
            "X-Signature-256 does not match: sign '<timestamp>.<raw body>' with the "
            "webhook's signing secret (regenerate it if it was lost)."
        )
    if abs(now - int(stamp)) > TIMESTAMP_TOLERANCE_SECONDS:
        raise WebhookUnauthenticated(
            f"X-Signature-Timestamp is more than {TIMESTAMP_TOLERANCE_SECONDS // 60} "
            "minutes off the server's clock; sign with the current time."
        )
    return VerifiedDelivery(replay_keys=(f"sig:{given}", *_delivery_id(headers)))


def url_delivery(headers: Mapping[str, str]) -> VerifiedDelivery:
    """A URL_SECRET delivery (already authenticated by its URL): only a delivery id
    header identifies it."""
    return VerifiedDelivery(replay_keys=_delivery_id(headers))


def _delivery_id(headers: Mapping[str, str]) -> tuple[str, ...]:
    for name in ("X-Delivery-Id", "X-GitHub-Delivery"):
        if value := (headers.get(name) or "").strip():
            return (f"id:{value[:150]}",)
    return ()


# -- what a delivery asks to update ------------------------------------------
@dataclass(frozen=True)
class PushChanges:
    """The files a GitHub-style push changed on ``ref``; ``complete`` is False when
    the payload cannot name them all (a forced push, a new branch, a truncated
    commit list): then the whole source must be re-read."""

    ref: str
    default_branch: str
    changed: frozenset[str]  # added or modified
    removed: frozenset[str]
    complete: bool
    deleted: bool  # the branch was deleted


MAX_LISTED_COMMITS = 2048  # GitHub lists at most this many commits in a push


def push_changes(body: bytes) -> PushChanges | None:
    """The changes of a GitHub-style push payload, or None when ``body`` is not one
    (not a JSON object with a ``commits`` list). A file both changed and later
    removed in the push counts as removed."""
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("commits"), list):
        return None
    changed: set[str] = set()
    removed: set[str] = set()
    for commit in payload["commits"]:
        if not isinstance(commit, dict):
            continue
        for name in ("added", "modified", "removed"):
            for path in commit.get(name) or []:
                if not isinstance(path, str):
                    continue
                if name == "removed":
                    removed.add(path)
                    changed.discard(path)
                else:
                    changed.add(path)
                    removed.discard(path)
    repository = payload.get("repository") or {}
    return PushChanges(
        ref=str(payload.get("ref") or ""),
        default_branch=str(repository.get("default_branch") or ""),
        changed=frozenset(changed),
        removed=frozenset(removed),
        complete=not (
            payload.get("forced")
            or payload.get("created")
            or len(payload["commits"]) >= MAX_LISTED_COMMITS
        ),
        deleted=bool(payload.get("deleted")),
    )


def filter_spec(pattern: str) -> pathspec.GitIgnoreSpec:
    """The auto-update ``filter`` (one gitignore-style pattern, like a git asset's
    include patterns). Raises ValueError when it is not a valid pattern."""
    return pathspec.GitIgnoreSpec.from_lines([pattern])
