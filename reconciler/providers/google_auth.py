"""Credentials for the Admin SDK Directory API with domain-wide delegation (DWD); called by
`providers.google_workspace.GoogleWorkspaceProvider.from_settings` / `from_sandbox`.

Production, preferred: keyless. The runtime's own identity (ADC: the Cloud Run / GCE
service account, or a developer's gcloud login) asks IAM Credentials `signJwt` to sign the
DWD assertion as the delegating service account, then trades it at Google's token endpoint.
No private key exists anywhere, so there is nothing to leak or rotate (policy 第4.1条).
`google.auth.impersonated_credentials` cannot do this by itself: it yields tokens of the
service account, but DWD needs a JWT carrying `sub` = the admin, which only a signature by
the service account (signJwt) can produce.

Production, allowed: a service-account key JSON kept in Secret Manager, fetched with the
Secret Manager REST API through google-auth's AuthorizedSession. The key is held in memory
only and never logged.

Every credential met here is registered with the redactor (`reconciler.log.register_secret`)
the moment it exists: keys and secrets read from Secret Manager, the signed delegation JWT and
each access token a refresh obtains (`register_refreshed_tokens` hooks google-auth's refresh),
so an API that echoes one back cannot carry it into output, plans or the audit log.

Sandbox: the real google-auth service-account flow (JWT with `sub`, jwt-bearer grant)
against the sandbox's /token, with a throwaway RSA key generated in-process.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import google.auth
import google.auth.credentials
import google.auth.transport
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

from reconciler.errors import PermanentProviderError
from reconciler.log import register_secret
from reconciler.providers.permissions import directory_scopes, scope_of_call

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
IAM_CREDENTIALS_URL = "https://iamcredentials.googleapis.com"
SECRET_MANAGER_URL = "https://secretmanager.googleapis.com"  # noqa: S105 - a URL
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

# Least privilege (policy 第5.1条): only what read/apply use, listed with why in
# `providers.permissions` (the same list the deployment and docs/permissions.md use).
DIRECTORY_SCOPES: tuple[str, ...] = directory_scopes()
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The OAuth client id of the sandbox's service account (`sandbox_delegated_credentials`): what
# the demo world's delegation authorises, and what `doctor` names in its fix.
SANDBOX_CLIENT_ID = "100000000000000000001"


def delegation_hint(call: str) -> str:
    """What to check when the Directory API answers 403 to `call` ("users.list"): the scope
    the call needs in the service account's domain-wide delegation, and the admin role of
    the impersonated subject (a scope alone is not enough: the subject must be allowed too)."""
    method = call.split(" ", 1)[0]
    scope = scope_of_call(method)
    needs = (
        f"the domain-wide delegation of the service account's client id must grant {scope}"
        if scope
        else "the domain-wide delegation must grant the Directory scopes the tool uses"
    )
    return (
        f"{needs} (Admin console > Security > API controls > Domain-wide delegation), and the "
        f"delegated admin (admin_subject) needs an admin role allowed to call {method}"
    )


C = TypeVar("C", bound=google.auth.credentials.Credentials)


def register_refreshed_tokens(credentials: C) -> C:
    """Register every access token `credentials` will obtain, right after each refresh.

    google-auth has no refresh hook, and its credentials classes (service account, compute
    engine, user, impersonated) each fetch tokens their own way; all of them are refreshed
    through `self.refresh(request)` (before_request and the background refresh alike), so
    this instance's `refresh` is wrapped. A refresh token (a developer's gcloud login) is
    registered at once: it is the longest-lived secret such credentials hold."""
    refresh = credentials.refresh

    def refresh_and_register(request: google.auth.transport.Request) -> None:
        refresh(request)  # type: ignore[no-untyped-call]
        register_secret(credentials.token)

    credentials.refresh = refresh_and_register  # type: ignore[method-assign]
    register_secret(getattr(credentials, "refresh_token", None))
    register_secret(credentials.token)
    return credentials


class SignJwtDelegatedCredentials(google.auth.credentials.Credentials):
    """Keyless DWD: `signJwt` as `service_account_email`, then the jwt-bearer grant."""

    def __init__(
        self,
        *,
        source_credentials: google.auth.credentials.Credentials,
        service_account_email: str,
        subject: str,
        scopes: Sequence[str] = DIRECTORY_SCOPES,
        token_uri: str = GOOGLE_TOKEN_URI,
        iam_credentials_url: str = IAM_CREDENTIALS_URL,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._source = source_credentials
        self.service_account_email = service_account_email
        self.subject = subject
        self._scopes = tuple(scopes)
        self._token_uri = token_uri
        self._iam_url = iam_credentials_url.rstrip("/")

    def refresh(self, request: google.auth.transport.Request) -> None:
        now = int(time.time())
        claims = {
            "iss": self.service_account_email,
            "sub": self.subject,
            "scope": " ".join(self._scopes),
            # The token endpoint checks `aud` against its canonical URL, whatever host the
            # request went to (google-auth does the same for key-based credentials).
            "aud": GOOGLE_TOKEN_URI,
            "iat": now,
            "exp": now + 3600,  # the maximum the token endpoint accepts for an assertion
        }
        url = (
            f"{self._iam_url}/v1/projects/-/serviceAccounts/"
            f"{quote(self.service_account_email, safe='@')}:signJwt"
        )
        headers: dict[str, str] = {"Content-Type": "application/json"}
        self._source.before_request(request, "POST", url, headers)  # type: ignore[no-untyped-call]
        signed = _json_response(
            request(url=url, method="POST", body=json.dumps({"payload": json.dumps(claims)}),
                    headers=headers),
            "IAM signJwt",
        )  # fmt: skip
        # The signed assertion can be traded for tokens until it expires: a secret too.
        register_secret(signed.get("signedJwt"))
        granted = _json_response(
            request(
                url=self._token_uri,
                method="POST",
                body=urlencode({"grant_type": JWT_BEARER, "assertion": signed["signedJwt"]}),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ),
            "OAuth token exchange",
        )
        self.token = granted["access_token"]
        register_secret(self.token)
        # google-auth compares expiry with naive UTC datetimes.
        expires = datetime.now(UTC) + timedelta(seconds=int(granted.get("expires_in", 3600)))
        self.expiry = expires.replace(tzinfo=None)


def _json_response(resp: Any, what: str) -> dict[str, Any]:
    """Parse a google.auth.transport.Response; never echo its body (it may carry a token)."""
    if resp.status != 200:
        raise PermanentProviderError(f"{what} failed with HTTP {resp.status}", status=resp.status)
    data = json.loads(resp.data)
    if not isinstance(data, dict):
        raise PermanentProviderError(f"{what} returned an unexpected body")
    return data


def keyless_delegated_credentials(
    service_account_email: str, subject: str, scopes: Sequence[str] = DIRECTORY_SCOPES
) -> SignJwtDelegatedCredentials:
    """Production DWD without a key: ADC signs via IAM Credentials signJwt."""
    source, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    return SignJwtDelegatedCredentials(
        source_credentials=register_refreshed_tokens(source),
        service_account_email=service_account_email,
        subject=subject,
        scopes=scopes,
    )


def read_secret_text(secret_version: str, *, session: AuthorizedSession | None = None) -> str:
    """Read one secret version from Secret Manager (`projects/P/secrets/S/versions/V`),
    the only place credentials may live (policy 第4.1条). Errors name the reference only."""
    if session is None:
        source, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
        session = AuthorizedSession(register_refreshed_tokens(source))  # type: ignore[no-untyped-call]
    resp = session.get(f"{SECRET_MANAGER_URL}/v1/{secret_version}:access", timeout=30)
    if resp.status_code != 200:
        raise PermanentProviderError(
            f"Secret Manager access to {secret_version} failed with HTTP {resp.status_code}",
            status=resp.status_code,
        )
    try:
        text = base64.b64decode(resp.json()["payload"]["data"]).decode()
    except (KeyError, ValueError, binascii.Error) as exc:
        raise PermanentProviderError(f"Secret {secret_version} has no readable payload") from exc
    register_secret(text)
    return text


def key_from_secret_manager(
    secret_version: str, *, session: AuthorizedSession | None = None
) -> dict[str, Any]:
    """Read a service-account key JSON from Secret Manager.

    The value is returned to the caller only; errors name the secret reference, not its value.
    """
    try:
        info = json.loads(read_secret_text(secret_version, session=session))
    except ValueError as exc:
        raise PermanentProviderError(
            f"Secret {secret_version} does not hold a service-account key JSON"
        ) from exc
    if not isinstance(info, dict):
        raise PermanentProviderError(f"Secret {secret_version} does not hold a JSON object")
    return info


def key_delegated_credentials(
    info: dict[str, Any], subject: str, scopes: Sequence[str] = DIRECTORY_SCOPES
) -> service_account.Credentials:
    """DWD from a key JSON (e.g. read by `key_from_secret_manager`). The private key is
    registered here (inside the JSON its newlines were escaped, so registering the secret's
    text did not cover the key itself); `client_id` and `client_email` are ids, not secrets."""
    register_secret(info.get("private_key"))
    creds: service_account.Credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        info, scopes=list(scopes), subject=subject
    )
    return register_refreshed_tokens(creds)


@functools.lru_cache(maxsize=1)
def throwaway_private_key_pem() -> str:
    """An RSA key for the sandbox's service account and GitHub App: the clients must sign
    their JWTs, the sandbox never checks them. Generated per process, never written."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def sandbox_delegated_credentials(
    base_url: str,
    subject: str,
    scopes: Sequence[str] = DIRECTORY_SCOPES,
    service_account_email: str = "reconciler@example-sandbox.iam.gserviceaccount.com",
) -> service_account.Credentials:
    """The real key-based DWD flow, with the token endpoint moved to the sandbox."""
    info = {
        "type": "service_account",
        "project_id": "example-sandbox",
        "private_key_id": "sandbox",
        "private_key": throwaway_private_key_pem(),
        "client_email": service_account_email,
        "client_id": SANDBOX_CLIENT_ID,
        "token_uri": base_url.rstrip("/") + "/token",
    }
    return key_delegated_credentials(info, subject, scopes)
