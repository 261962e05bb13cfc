"""Emulates Google's OAuth 2.0 token endpoint (POST /token, jwt-bearer grant) and IAM
Credentials signJwt for the sandbox server; listed in `server.API_MODULES`.

The service-account flow (RFC 7523) posts a JWT signed with the account's private key; with
domain-wide delegation the JWT's `sub` names the impersonated admin. The sandbox decodes the
JWT WITHOUT verifying its signature: it holds none of Google's keys and trusts no caller
anyway (it is a local test double). Every grant is recorded in world["google"]["oauth_grants"]
(issuer, subject, scopes) so tests can assert that delegation was used.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from reconciler.sandbox.http import Request, Response

if TYPE_CHECKING:
    from reconciler.sandbox.server import Sandbox


SERVES = "Google OAuth 2.0 token endpoint (/token) and IAM Credentials signJwt"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_jwt_unverified(token: str) -> dict[str, Any]:
    """The JWT's claims, signature NOT checked (see the module docstring for why)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT")
    claims = json.loads(_b64decode(parts[1]))
    if not isinstance(claims, dict):
        raise ValueError("JWT claims are not an object")
    return claims


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    # RFC 6749 section 5.2 error body, as oauth2.googleapis.com answers it.
    return Response.json({"error": error, "error_description": description}, status)


def _delegation_refusal(g: dict[str, Any], scopes: list[str]) -> Response | None:
    """With a "delegation" in the world (the client id and the scopes an admin authorised in
    Admin console > Security > API controls > Domain-wide delegation), the token endpoint
    answers as Google does: a JWT asking for any scope not authorised is refused whole
    (`unauthorized_client`). (Google also refuses a subject that is no user, `invalid_grant`;
    not emulated: worlds often leave the delegated admin out of their users.)"""
    delegation = g.get("delegation")
    if not isinstance(delegation, dict):
        return None
    granted = set(delegation.get("scopes", []))
    if not scopes or not set(scopes) <= granted:
        return _oauth_error(
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client "
            "not authorized for any of the scopes requested.",
            401,
        )
    return None


def register(app: Sandbox) -> None:
    """Register the token and signJwt endpoints on the sandbox."""

    def token(req: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(req.body.decode(), keep_blank_values=True).items()}
        if form.get("grant_type") != JWT_BEARER:
            return _oauth_error("unsupported_grant_type", "only jwt-bearer is emulated")
        try:
            claims = decode_jwt_unverified(form.get("assertion", ""))
        except (ValueError, UnicodeDecodeError):
            return _oauth_error("invalid_grant", "Invalid JWT")
        scopes = str(claims.get("scope", "")).split()
        with app.lock:
            g = app.world.setdefault("google", {})
            if g.get("token_error"):
                # e.g. "unauthorized_client": DWD not granted for these scopes.
                return _oauth_error(str(g["token_error"]), "token refused by world setting")
            refused = _delegation_refusal(g, scopes)
            if refused is not None:
                return refused
            # A fixed token when the world names one: tests need to know the secret the
            # client holds (the request log masks what it sends).
            issued = str(g.get("access_token") or f"sandbox-{secrets.token_hex(16)}")
            g.setdefault("oauth_grants", []).append(
                {
                    "iss": claims.get("iss"),
                    "sub": claims.get("sub"),
                    "scopes": scopes,
                    "at": int(time.time()),
                    # How the Directory API knows the token's scopes, without keeping the
                    # token itself where GET /_sandbox/state shows it.
                    "token_sha256": hashlib.sha256(issued.encode()).hexdigest(),
                }
            )
        return Response.json(
            {
                "access_token": issued,
                "expires_in": 3600,
                "token_type": "Bearer",
            }
        )

    def sign_jwt(req: Request) -> Response:
        # IAM Credentials projects.serviceAccounts.signJwt: {"payload": "<json>"} ->
        # {"keyId", "signedJwt"}. The sandbox "signs" with a fixed marker, since /token
        # does not verify signatures.
        payload = req.json().get("payload")
        if not isinstance(payload, str):
            return Response.json(
                {
                    "error": {
                        "code": 400,
                        "message": "payload is required",
                        "status": "INVALID_ARGUMENT",
                    }
                },
                400,
            )
        header = _b64encode(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "sandbox"}).encode())
        signed = f"{header}.{_b64encode(payload.encode())}.{_b64encode(b'sandbox-signature')}"
        with app.lock:
            app.world.setdefault("google", {}).setdefault("sign_jwt_calls", []).append(
                {"serviceAccount": req.params["name"], "at": int(time.time())}
            )
        return Response.json({"keyId": "sandbox", "signedJwt": signed})

    app.add_route("POST", "/token", token, name="google.oauth.token", api="google_auth")
    app.add_route(
        "POST",
        "/v1/projects/-/serviceAccounts/{name}:signJwt",
        sign_jwt,
        name="google.iamcredentials.signJwt",
        api="google_auth",
    )
