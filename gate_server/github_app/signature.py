"""X-Hub-Signature-256: GitHub signs each webhook body with HMAC-SHA256 and the
App's webhook secret ("Validating webhook deliveries")."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def signature_for(secret: bytes, body: bytes) -> str:
    return PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def is_valid_signature(secret: bytes, body: bytes, header: str) -> bool:
    """True only when the header is exactly the body's signature; compared in constant time."""
    if not secret or not header or not header.startswith(PREFIX):
        return False
    return hmac.compare_digest(signature_for(secret, body).encode(), header.strip().encode())
