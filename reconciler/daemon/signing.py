"""GitHub webhook signatures (`X-Hub-Signature-256`: HMAC-SHA256 of the raw body with the
webhook secret); checked by the webhook endpoint before the body is parsed, made by tests
and the bench to send signed deliveries."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: bytes, body: bytes) -> str:
    """The header value GitHub would send for `body`."""
    return PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    """True only for a SHA-256 signature of exactly these bytes. The legacy SHA-1 header
    (`X-Hub-Signature`) is never accepted: SHA-1 HMACs are what a downgrade would aim for.
    compare_digest, so the time taken says nothing about how much of a guess was right."""
    if not header or not header.startswith(PREFIX) or not secret:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())
