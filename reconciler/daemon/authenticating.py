"""Cloud Scheduler's calls to `/run/...`: a Google-signed OIDC ID token (`Authorization:
Bearer`) checked with google-auth's own verification (signature against Google's
certificates, expiry, audience), then the issuer, the scheduler's service account and
`email_verified`. Used by the scheduler endpoints; the sandbox serves certificates for tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
from google.oauth2 import id_token

from reconciler.log import get_logger

log = get_logger(__name__)

ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})


class OidcVerifier:
    def __init__(self, *, audience: str, email: str, certs_url: str) -> None:
        self.audience = audience
        self.email = email.strip().lower()
        self.certs_url = certs_url

    def refusal(self, authorization: str | None) -> str | None:
        """Why the call is refused, or None when the token is good. Blocking (fetches the
        certificates): call it from a worker thread."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "no bearer token"
        try:
            claims: Mapping[str, Any] = id_token.verify_token(
                token.strip(),
                google.auth.transport.requests.Request(),
                audience=self.audience,
                certs_url=self.certs_url,
            )
        except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
            # google-auth's messages quote claims (audience, expiry), never the token.
            return f"token not verified: {type(exc).__name__}: {exc}"
        if claims.get("iss") not in ISSUERS:
            return f"token issuer {claims.get('iss')!r} is not Google"
        if str(claims.get("email", "")).lower() != self.email:
            return f"token names {claims.get('email')!r}, not the scheduler's service account"
        if claims.get("email_verified") is not True:
            return "token email is not verified"
        return None
