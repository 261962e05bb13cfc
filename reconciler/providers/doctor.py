"""The provider side of `reconciler doctor`: checks a deployment's credentials and permissions
in each system with harmless calls, before the first run; called by `cli.commands_doctor`.

Each check is a `Check` value (what, whether it works, and the exact fix when it does not),
never an exception, so one missing scope does not hide the next. What is checked comes from
`providers.permissions`, the one list of what the product needs:

- Google: a token per delegation scope, asked for alone (the token endpoint refuses a JWT
  whose scopes are not all authorised, so asking for all at once would only say "something
  is missing"), then one harmless read with that token: users.list, tokens.list of the admin
  subject, groups.list, members.list of one group; and users.get of the admin subject, which
  must be an administrator.
- GitHub: for an App, GET /orgs/{org}/installation as the App and its permissions map; for a
  token, that its account is an active owner of the organisation.
- GCP: testIamPermissions on every resource in scope, for the permissions of its kind.
- Secret references: each configured one is read from Secret Manager.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from github import Auth
from google.auth.exceptions import RefreshError

from reconciler.checks import Check, short_error
from reconciler.errors import ProviderError
from reconciler.model import DesiredState, GoogleScope
from reconciler.providers import google_auth
from reconciler.providers.permissions import (
    AppPermission,
    admin_scopes,
    app_permissions,
    gcp_permissions_for,
)
from reconciler.providers.retrying import RetryPolicy
from reconciler.settings import Settings

# A check is a handful of calls: a few quick retries, never the production minute of backoff.
DOCTOR_RETRY = RetryPolicy(attempts=2, initial_wait=0.5, max_wait=2.0, deadline=30)
DELEGATION_PAGE = "Admin console > Security > API controls > Domain-wide delegation"
_LEVELS = {"read": 1, "write": 2, "admin": 3}


# -- secrets ---------------------------------------------------------------------------------


def check_secrets(
    settings: Settings, read_secret: Callable[[str], str]
) -> tuple[list[Check], dict[str, str]]:
    """Each configured Secret Manager reference, read once; the values read are handed back
    (keyed by reference) for the checks that need them. Against the sandbox nothing is read:
    it has no Secret Manager, and its credentials need no secret."""
    references = {
        "RECONCILER_GOOGLE_CREDENTIALS_SECRET": settings.google_credentials_secret,
        "RECONCILER_GITHUB_PRIVATE_KEY_SECRET": settings.github_private_key_secret,
    }
    checks: list[Check] = []
    values: dict[str, str] = {}
    for variable, reference in references.items():
        if not reference:
            continue
        item = f"{variable} ({reference})"
        if settings.sandbox_url:
            checks.append(
                Check(
                    "secrets",
                    item,
                    False,
                    "not read: the sandbox has no Secret Manager",
                    skipped=True,
                )
            )
            continue
        try:
            values[reference] = read_secret(reference)
        except (ProviderError, RefreshError, OSError) as exc:
            checks.append(
                Check(
                    "secrets",
                    item,
                    False,
                    short_error(exc),
                    fix=f"grant the runtime identity roles/secretmanager.secretAccessor on "
                    f"{reference.rsplit('/versions/', 1)[0]}, or correct {variable}",
                )
            )
            continue
        checks.append(Check("secrets", item, True, "readable"))
    return checks, values


# -- Google ----------------------------------------------------------------------------------


class _GoogleCredentials:
    """Builds single-scope delegated credentials the way the product does, and knows the
    OAuth client id an admin authorises in the delegation page."""

    def __init__(self, settings: Settings, subject: str, secrets: dict[str, str]) -> None:
        self.settings = settings
        self.subject = subject
        self.endpoint: str | None = settings.sandbox_url
        self._key: dict[str, Any] | None = None
        if settings.sandbox_url:
            self.client_id = google_auth.SANDBOX_CLIENT_ID
        elif settings.google_impersonate_service_account:
            self.client_id = (
                f"of {settings.google_impersonate_service_account} (its unique id, "
                "IAM > Service accounts)"
            )
        elif settings.google_credentials_secret:
            import json

            text = secrets.get(settings.google_credentials_secret)
            self._key = json.loads(text) if text else None
            self.client_id = str((self._key or {}).get("client_id") or "of the key's account")
        else:
            self.client_id = ""

    @property
    def configured(self) -> bool:
        return bool(self.endpoint or self.settings.google_impersonate_service_account or self._key)

    def for_scope(self, scope: str) -> Any:
        if self.endpoint:
            return google_auth.sandbox_delegated_credentials(self.endpoint, self.subject, [scope])
        if self.settings.google_impersonate_service_account:
            return google_auth.keyless_delegated_credentials(
                self.settings.google_impersonate_service_account, self.subject, [scope]
            )
        assert self._key is not None
        return google_auth.key_delegated_credentials(self._key, self.subject, [scope])


def check_google(scope: GoogleScope, settings: Settings, secrets: dict[str, str]) -> list[Check]:
    """Every delegation scope with its harmless read, then the admin subject."""
    from reconciler.providers.google_workspace import GoogleWorkspaceProvider

    subject = (settings.google_admin_subject or scope.admin_subject or "").strip().lower()
    if not subject:
        return [
            Check(
                "google",
                "admin subject",
                False,
                "none configured",
                fix="set systems.google.admin_subject in organization.yaml or "
                "RECONCILER_GOOGLE_ADMIN_SUBJECT",
            )
        ]
    creds = _GoogleCredentials(settings, subject, secrets)
    if not creds.configured:
        return [
            Check(
                "google",
                "delegation credentials",
                False,
                "none configured",
                fix="set RECONCILER_GOOGLE_IMPERSONATE_SERVICE_ACCOUNT (keyless) or "
                "RECONCILER_GOOGLE_CREDENTIALS_SECRET",
            )
        ]
    customer = scope.customer or "my_customer"

    def directory(scope_url: str) -> GoogleWorkspaceProvider:
        return GoogleWorkspaceProvider(
            endpoint=creds.endpoint,
            credentials=creds.for_scope(scope_url),
            scope=scope,
            subject=subject,
            retry_policy=DOCTOR_RETRY,
        )

    groups: list[str] = []

    def users(d: GoogleWorkspaceProvider) -> str:
        return _count(
            d.call("users.list", customer=customer, maxResults=1, fields="users(primaryEmail)"),
            "users",
            "users.list",
        )

    def members(d: GoogleWorkspaceProvider) -> str:
        if not groups:
            return ""
        return _count(
            d.call("members.list", groupKey=groups[0], maxResults=1, fields="members(email)"),
            "members",
            f"members.list of {groups[0]}",
        )

    probes: dict[str, Callable[[GoogleWorkspaceProvider], str]] = {
        "user": users,
        "user.readonly": users,
        "user.security": lambda d: _count(
            d.call("tokens.list", userKey=subject, fields="items(clientId)"),
            "items",
            f"tokens.list of {subject}",
        ),
        "group.readonly": lambda d: _groups(
            d.call("groups.list", customer=customer, maxResults=1, fields="groups(email)"), groups
        ),
        "group.member": members,
        "group.member.readonly": members,
    }
    checks: list[Check] = []
    subject_refused = ""
    # Read-only credentials are authorised for the read-only scopes alone (asking for any
    # other would only show the token endpoint refusing it).
    scopes = admin_scopes(settings.read_only)
    for requirement in scopes:
        short = requirement.scope.rsplit("admin.directory.", 1)[-1]
        item = f"scope {requirement.scope}"
        fix = f"authorise {requirement.scope} for client id {creds.client_id} in {DELEGATION_PAGE}"
        probe = probes[short]
        try:
            detail = probe(directory(requirement.scope))
        except RefreshError as exc:
            reason = short_error(exc)
            if "invalid_grant" in reason:
                subject_refused = reason
                checks.append(
                    Check(
                        "google",
                        item,
                        False,
                        "not checked: the admin subject was refused",
                        skipped=True,
                    )
                )
            else:
                checks.append(Check("google", item, False, f"token refused: {reason}", fix=fix))
            continue
        except ProviderError as exc:
            if exc.status == 403:
                checks.append(
                    Check(
                        "google",
                        item,
                        False,
                        short_error(exc),
                        fix=f"give {subject} an admin role allowed to make this "
                        "call (Admin console > Account > Admin roles)",
                    )
                )
            else:
                checks.append(Check("google", item, False, short_error(exc)))
            continue
        if not detail:
            checks.append(Check("google", item, True, "authorised (no group to read members of)"))
        else:
            checks.append(Check("google", item, True, f"authorised: {detail}"))
    checks.append(_check_subject(subject, subject_refused, lambda: directory(scopes[0].scope)))
    return checks


def _count(answer: dict[str, Any], key: str, call: str) -> str:
    return f"{call} answered ({len(answer.get(key, []))} item(s))"


def _groups(answer: dict[str, Any], into: list[str]) -> str:
    into.extend(str(g["email"]) for g in answer.get("groups", []) if g.get("email"))
    return f"groups.list answered ({len(into)} item(s))"


def _check_subject(subject: str, refused: str, directory: Callable[[], Any]) -> Check:
    """users.get of the admin subject itself: it must exist and be an administrator."""
    item = f"admin subject {subject}"
    make_admin = (
        f"make {subject} a super administrator, or give it an admin role allowed to manage "
        "users, groups and security (Admin console > Account > Admin roles)"
    )
    if refused:
        return Check(
            "google",
            item,
            False,
            f"the token endpoint refused it: {refused}",
            fix=f"create {subject} in the Workspace domain, or correct "
            "systems.google.admin_subject",
        )
    try:
        user = directory().call(
            "users.get", userKey=subject, fields="primaryEmail,isAdmin,isDelegatedAdmin"
        )
    except (RefreshError, ProviderError) as exc:
        return Check(
            "google",
            item,
            False,
            f"not checked: users.get failed: {short_error(exc)}",
            skipped=True,
        )
    if user.get("isAdmin"):
        return Check("google", item, True, "a super administrator")
    if user.get("isDelegatedAdmin"):
        return Check(
            "google",
            item,
            True,
            "a delegated administrator: its role must allow users, groups and security",
        )
    return Check("google", item, False, "not an administrator", fix=make_admin)


# -- GitHub ----------------------------------------------------------------------------------


def check_github(org: str, settings: Settings, secrets: dict[str, str]) -> list[Check]:
    """A GitHub App: its installation on `org` and each permission it needs. A token: that
    its account is an active owner of `org`."""
    from reconciler.providers import github

    base_url = settings.sandbox_url or settings.github_api_url
    if settings.github_app_id and settings.github_installation_id:
        if settings.sandbox_url:
            key: str | None = google_auth.throwaway_private_key_pem()
        else:
            key = secrets.get(settings.github_private_key_secret or "")
        if not key:
            return [
                Check(
                    "github",
                    "App private key",
                    False,
                    "RECONCILER_GITHUB_PRIVATE_KEY_SECRET is missing or unreadable",
                    fix="store the App's private key in Secret Manager and set "
                    "RECONCILER_GITHUB_PRIVATE_KEY_SECRET to its version",
                )
            ]
        return _check_app(
            org,
            settings,
            base_url,
            key,
            org_installation=github.org_installation,
            mint_installation_token=github.mint_installation_token,
        )
    token = settings.github_token
    if token is None and settings.sandbox_url:
        token_value = github.SANDBOX_TOKEN
    elif token is None:
        return [
            Check(
                "github",
                "credentials",
                False,
                "none configured",
                fix="configure a GitHub App (RECONCILER_GITHUB_APP_ID, "
                "RECONCILER_GITHUB_INSTALLATION_ID, RECONCILER_GITHUB_PRIVATE_KEY_SECRET)"
                " or RECONCILER_GITHUB_TOKEN",
            )
        ]
    else:
        token_value = token.get_secret_value()
    provider = github.GitHubProvider(
        org=org, base_url=base_url, auth=Auth.Token(token_value), retry_policy=DOCTOR_RETRY
    )
    try:
        login = provider.acting_as()[0]
        membership = provider.own_org_role()
    except ProviderError as exc:
        return [
            Check(
                "github",
                "token",
                False,
                short_error(exc),
                fix="set RECONCILER_GITHUB_TOKEN to a valid token",
            )
        ]
    item = f"token account {login} in {org}"
    if membership == ("admin", "active"):
        return [Check("github", item, True, "an organisation owner")]
    detail = f"{membership[0]} ({membership[1]})" if membership else "not a member"
    return [
        Check(
            "github",
            item,
            False,
            detail,
            fix=f"make {login} an owner of {org} (Organization > People > Change role), "
            "or use a GitHub App",
        )
    ]


def _check_app(
    org: str,
    settings: Settings,
    base_url: str,
    key: str,
    *,
    org_installation: Callable[..., Any],
    mint_installation_token: Callable[..., Any],
) -> list[Check]:
    """The App's installation on `org` (as the App: its id and key), an installation token
    minted for RECONCILER_GITHUB_INSTALLATION_ID as every run mints one, and each
    permission the installation must have been granted."""
    app_id, wanted = settings.github_app_id, settings.github_installation_id
    assert app_id is not None and wanted is not None  # check_github looks at an App only then
    mismatch = (
        f"the private key in RECONCILER_GITHUB_PRIVATE_KEY_SECRET is not a key of App "
        f"{app_id}: check RECONCILER_GITHUB_APP_ID (App settings > General > App ID), or "
        "generate a private key of that App (App settings > Private keys) and add it as a "
        "new version of the secret"
    )
    try:
        installation = org_installation(base_url, app_id, key, org, retry_policy=DOCTOR_RETRY)
    except ProviderError as exc:
        fix = f"install the App (id {app_id}) on {org}" if exc.status == 404 else mismatch
        return [
            Check("github", f"App {app_id} installation on {org}", False, short_error(exc), fix=fix)
        ]
    slug = installation.app_slug or str(app_id)
    checks = []
    item = f"App {slug} installation on {org}"
    if installation.id != wanted:
        checks.append(
            Check(
                "github",
                item,
                False,
                f"RECONCILER_GITHUB_INSTALLATION_ID is {wanted}, the App's "
                f"installation on {org} is {installation.id}",
                fix=f"set RECONCILER_GITHUB_INSTALLATION_ID={installation.id}",
            )
        )
    else:
        checks.append(Check("github", item, True, f"installation {installation.id}"))
    checks.append(
        _check_token(
            base_url,
            app_id,
            key,
            wanted=wanted,
            installed=installation.id,
            mint_installation_token=mint_installation_token,
        )
    )
    checks += [
        _check_permission(org, slug, r, installation.permissions)
        for r in app_permissions(settings.read_only)
    ]
    return checks


def _check_token(
    base_url: str,
    app_id: int,
    key: str,
    *,
    wanted: int,
    installed: int,
    mint_installation_token: Callable[..., Any],
) -> Check:
    """An installation token for the configured installation id, minted the way a run
    mints it (the token itself is never shown)."""
    item = f"installation token for installation {wanted}"
    try:
        token = mint_installation_token(base_url, app_id, key, wanted, retry_policy=DOCTOR_RETRY)
    except ProviderError as exc:
        if exc.status == 404:
            fix = (
                f"set RECONCILER_GITHUB_INSTALLATION_ID={installed} (the App's installation "
                "on the organisation: the number in its settings page URL)"
            )
        else:
            fix = "check RECONCILER_GITHUB_APP_ID and the App's private key"
        return Check("github", item, False, f"cannot be minted: {short_error(exc)}", fix=fix)
    granted = ", ".join(f"{k}={v}" for k, v in sorted(token.permissions.items()))
    return Check(
        "github",
        item,
        True,
        f"minted, expires {token.expires_at:%Y-%m-%d %H:%M} UTC ({granted or 'no permissions'})",
    )


def _check_permission(
    org: str, slug: str, requirement: AppPermission, granted: dict[str, str]
) -> Check:
    name, level = requirement.key, requirement.level
    has = granted.get(name)
    item = f"App permission {name}: {level}"
    if has is not None and _LEVELS.get(has, 0) >= _LEVELS[level]:
        return Check("github", item, True, f"granted ({has})")
    return Check(
        "github",
        item,
        False,
        f"granted: {has or 'none'}",
        fix=f"give the App {slug} the permission {name} = {level} (GitHub App settings "
        f"> Permissions), then accept the new permission in {org}'s installation "
        "(Organization settings > GitHub Apps)",
    )


# -- GCP -------------------------------------------------------------------------------------


def check_gcp(desired: DesiredState, settings: Settings) -> list[Check]:
    """testIamPermissions on every resource in scope, for what its kind needs."""
    from reconciler.providers.gcp_iam import GcpIamProvider

    resources = [s.resource for s in desired.organization.systems.gcp]
    try:
        provider = GcpIamProvider.from_settings(settings, retry=DOCTOR_RETRY)
        who = (provider.acting_as() or ("the identity the tool runs as",))[0]
    except (ProviderError, OSError, RefreshError) as exc:
        return [
            Check(
                "gcp",
                "credentials",
                False,
                short_error(exc),
                fix="run with Application Default Credentials (workload identity)",
            )
        ]
    checks: list[Check] = []
    for resource in resources:
        needed = gcp_permissions_for(resource)
        try:
            held = provider.held_permissions(resource, [r.permission for r in needed])
        except ProviderError as exc:
            checks.append(
                Check(
                    "gcp",
                    resource,
                    False,
                    short_error(exc),
                    fix=f"check that {resource} exists and {who} can see it",
                )
            )
            continue
        missing = [r for r in needed if r.permission not in held]
        if not missing:
            checks.append(Check("gcp", resource, True, f"all {len(needed)} permissions held"))
        checks += [
            Check(
                "gcp",
                f"{resource} {r.permission}",
                False,
                f"not held ({r.why})",
                fix=f"grant {who} a role with {r.permission} on {resource}",
            )
            for r in missing
        ]
    return checks


def run_checks(desired: DesiredState, settings: Settings) -> list[Check]:
    """Every provider-side check for the systems organization.yaml puts in scope."""
    systems = desired.organization.systems
    checks, secrets = check_secrets(settings, google_auth.read_secret_text)
    if systems.google:
        checks += check_google(systems.google, settings, secrets)
    if systems.github:
        checks += check_github(systems.github.org, settings, secrets)
    if systems.gcp:
        checks += check_gcp(desired, settings)
    return checks
