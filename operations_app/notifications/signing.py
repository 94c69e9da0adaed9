"""The signing secret of an endpoint: minted, sealed (encrypted) for storage, opened
to sign, and the signature itself.

- Signature: API.md's scheme for inbound webhooks, used the other way round:
  ``X-Signature-256: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` keyed with
  the secret (its UTF-8 bytes), ``X-Signature-Timestamp: <seconds since the epoch>``.
- Storage: the secret must be read back to sign, so it is not hashed but encrypted
  with Fernet (AES-128-CBC + HMAC-SHA256, ``cryptography``) under a key derived from
  SECRET_KEY by HKDF-SHA256 with a purpose label. Changing SECRET_KEY makes the
  stored secrets unreadable: deliveries then fail saying so, and a new endpoint
  (new secret) is needed."""

from __future__ import annotations

import base64
import functools
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from config.signatures import timestamped_signature_hex

SECRET_PREFIX = "whsec_"
SIGNATURE_HEADER = "X-Signature-256"
TIMESTAMP_HEADER = "X-Signature-Timestamp"


class SecretUnreadable(Exception):
    """The sealed secret cannot be opened (SECRET_KEY changed)."""


@functools.cache
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None,
        info=b"ragdesk notification endpoint secrets",
    ).derive(secret_key.encode())  # fmt: skip
    return Fernet(base64.urlsafe_b64encode(key))


def mint_secret() -> str:
    """A new signing secret: ``whsec_`` + 43 URL-safe characters (256 bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def seal(secret: str) -> str:
    return _fernet(settings.SECRET_KEY).encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str:
    """The secret. Raises SecretUnreadable."""
    try:
        return _fernet(settings.SECRET_KEY).decrypt(sealed.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "The endpoint's signing secret cannot be decrypted (SECRET_KEY changed?); "
            "delete the endpoint and register it again."
        ) from exc


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of ``"<timestamp>.<body>"`` keyed with ``secret``."""
    return "sha256=" + timestamped_signature_hex(secret, timestamp, body)
