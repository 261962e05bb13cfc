"""Emulates Google-signed OIDC ID tokens (what Cloud Scheduler sends as `Authorization:
Bearer`) and the certificates that verify them; `server.Sandbox._register_all` calls `register`.

`POST /_sandbox/oidc/token` mints an RS256 ID token for the audience and service-account email
it is given, signed with a key the sandbox makes when it starts; `GET /oauth2/v1/certs`
serves that key's X.509 certificate in the shape `https://www.googleapis.com/oauth2/v1/certs`
has (`{"<kid>": "-----BEGIN CERTIFICATE-----..."}`), so a verifier pointed at the sandbox runs
google-auth's real verification path (signature, expiry, audience) unchanged.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from reconciler.sandbox.http import Request, Response

if TYPE_CHECKING:
    from reconciler.sandbox.server import Sandbox

ISSUER = "https://accounts.google.com"  # what Google puts in `iss` of an ID token
TOKEN_LIFETIME = 3600  # seconds, as Google's ID tokens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class OidcIssuer:
    """One RSA key and its self-signed certificate, made once per sandbox (2048 bits: what
    Google uses; about 50 ms to generate)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox.accounts.example.com")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(self.key, hashes.SHA256())
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        self.kid = hashlib.sha1(der, usedforsecurity=False).hexdigest()
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()

    def mint(self, claims: dict[str, Any]) -> str:
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        signing_input = (
            f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}".encode()
        )
        signature = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input.decode()}.{_b64(signature)}"


SERVES = (
    "Google-signed OIDC ID tokens for Cloud Scheduler (/_sandbox/oidc/token) and their "
    "certificates (/oauth2/v1/certs)"
)


def register(app: Sandbox) -> None:
    """Register the token-minting control endpoint and the certificate endpoint. The key is
    made on first use, so sandboxes that never see an ID token do not pay for it."""
    made: list[OidcIssuer] = []

    def issuer_of() -> OidcIssuer:
        with app.lock:
            if not made:
                made.append(OidcIssuer())
            return made[0]

    def token(req: Request) -> Response:
        # {"audience": ..., "email": ..., "email_verified": true, "expires_in": 3600}
        try:
            payload = req.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not all(
            isinstance(payload.get(k), str) and payload.get(k) for k in ("audience", "email")
        ):
            return Response.json({"error": "give 'audience' and 'email' (strings)"}, 400)
        now = int(time.time())
        email = str(payload["email"])
        claims = {
            "iss": ISSUER,
            "aud": payload["audience"],
            "azp": email,
            # Google's `sub` is the account's numeric unique id; a stable stand-in per email.
            "sub": str(int(hashlib.sha256(email.encode()).hexdigest()[:15], 16)),
            "email": email,
            "email_verified": bool(payload.get("email_verified", True)),
            "iat": now,
            "exp": now + int(payload.get("expires_in", TOKEN_LIFETIME)),
        }
        return Response.json({"id_token": issuer_of().mint(claims), "claims": claims})

    def certs(req: Request) -> Response:
        issuer = issuer_of()
        return Response.json(
            {issuer.kid: issuer.cert_pem}, headers={"Cache-Control": "public, max-age=3600"}
        )

    app.add_route(
        "POST", "/_sandbox/oidc/token", token, name="sandbox.oidc.token.post", api="control"
    )
    app.add_route("GET", "/oauth2/v1/certs", certs, name="google.oauth2.certs", api="google_auth")
