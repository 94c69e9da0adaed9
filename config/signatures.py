"""API.md's webhook signature scheme, for inbound deliveries (assets_app.autoupdate)
and outbound notifications (operations_app.notifications) alike:
``X-Signature-256: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` keyed with the
secret's UTF-8 bytes, ``X-Signature-Timestamp: <Unix seconds>``."""

from __future__ import annotations

import hashlib
import hmac


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    """Hex HMAC-SHA256 of ``message`` keyed with ``secret`` (UTF-8)."""
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def timestamped_signature_hex(secret: str, timestamp: int | str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"`` (``timestamp`` in Unix seconds)."""
    return hmac_sha256_hex(secret, f"{timestamp}.".encode() + body)
