"""Build the three providers for a run: against a sandbox URL, or with production credentials.
Called by the CLI and the daemon; the only place that knows how each provider is constructed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.errors import PermanentProviderError
from reconciler.model import DesiredState, System
from reconciler.providers.base import DocumentCache, PostsComments, Provider
from reconciler.providers.retrying import DEFAULT_POLICY, RetryPolicy
from reconciler.settings import Settings

# The provider modules import the client libraries (~1.5 s together); they are imported in
# the functions that build providers, so importing this module stays cheap for the CLI.


def sandbox_info(base_url: str) -> dict[str, Any]:
    """`GET /_sandbox/`: the sandbox's base URLs, gRPC address and seeded names."""
    import requests

    try:
        resp = requests.get(f"{base_url.rstrip('/')}/_sandbox/", timeout=10)
        resp.raise_for_status()
    except requests.RequestException as exc:
        raise PermanentProviderError(f"no sandbox answering at {base_url}: {exc}") from exc
    info: dict[str, Any] = resp.json()
    return info


def retry_policy_of(settings: Settings | None) -> RetryPolicy:
    """The retry policy the settings ask for (RECONCILER_RETRY_*), else the default."""
    if settings is None:
        return DEFAULT_POLICY
    return RetryPolicy(
        attempts=settings.retry_attempts,
        initial_wait=settings.retry_initial_wait,
        max_wait=max(settings.retry_initial_wait, DEFAULT_POLICY.max_wait),
        deadline=settings.retry_deadline,
    )


def connect_sandbox(
    base_url: str,
    desired: DesiredState,
    settings: Settings | None = None,
    *,
    github_cache: DocumentCache | None = None,
) -> dict[System, Provider]:
    """Providers for every system in scope, pointed at the sandbox at `base_url`. A GitHub
    token configured in `settings` is used instead of the sandbox's default one, so a run
    against the sandbox holds the same kind of credential as production. `github_cache`
    keeps the GitHub provider's validators and data between runs (a state document)."""
    from reconciler.providers.gcp_iam import GcpIamProvider
    from reconciler.providers.github import SANDBOX_TOKEN, GitHubProvider
    from reconciler.providers.google_workspace import GoogleWorkspaceProvider

    info = sandbox_info(base_url)
    policy = retry_policy_of(settings)
    systems = desired.organization.systems
    providers: dict[System, Provider] = {}
    if systems.google:
        providers[System.GOOGLE] = GoogleWorkspaceProvider.from_sandbox(
            base_url,
            systems.google,
            retry_policy=policy,
            read_only=settings is not None and settings.read_only,
        )
    if systems.github:
        token = settings.github_token if settings is not None else None
        providers[System.GITHUB] = GitHubProvider.from_sandbox(
            base_url,
            systems.github.org,
            token=token.get_secret_value() if token is not None else SANDBOX_TOKEN,
            cache=github_cache,
            retry_policy=policy,
        )
    if systems.gcp:
        providers[System.GCP] = GcpIamProvider.from_sandbox(info, retry=policy)
    return providers


def connect(
    settings: Settings, desired: DesiredState, *, github_cache: DocumentCache | None = None
) -> dict[System, Provider]:
    """Providers for every system in scope: the sandbox when `RECONCILER_SANDBOX_URL` is set,
    otherwise production credentials (DWD for Google, a GitHub App or token, GCP ADC)."""
    if settings.sandbox_url:
        return connect_sandbox(settings.sandbox_url, desired, settings, github_cache=github_cache)
    from reconciler.providers.gcp_iam import GcpIamProvider
    from reconciler.providers.github import GitHubProvider
    from reconciler.providers.google_auth import read_secret_text
    from reconciler.providers.google_workspace import GoogleWorkspaceProvider

    policy = retry_policy_of(settings)
    systems = desired.organization.systems
    providers: dict[System, Provider] = {}
    if systems.google:
        providers[System.GOOGLE] = GoogleWorkspaceProvider.from_settings(
            settings, systems.google, retry_policy=policy
        )
    if systems.github:
        providers[System.GITHUB] = GitHubProvider.from_settings(
            settings,
            systems.github.org,
            read_secret=read_secret_text,
            cache=github_cache,
            retry_policy=policy,
        )
    if systems.gcp:
        organization = next(
            (s.resource for s in systems.gcp if s.resource.startswith("organizations/")), None
        )
        providers[System.GCP] = GcpIamProvider.from_settings(
            settings, organization=organization, retry=policy
        )
    return providers


def pr_commenter(settings: Settings, repository: str, github: Provider | None) -> PostsComments:
    """Who posts `plan --pr-comment`'s comment on `repository` ("owner/name"): the token of
    RECONCILER_PR_COMMENT_TOKEN when set (the workflow's own GITHUB_TOKEN, pull-requests:
    write on the desired-state repo only), so the credential that reads the organisation
    needs no write; else the GitHub provider `github`, which read-only mode refuses: its
    credentials are read-only by contract. Raises a PermanentProviderError naming the fix."""
    from github import Auth

    from reconciler.providers.github import GitHubProvider

    token = settings.pr_comment_token
    if token is not None:
        return GitHubProvider(
            org=repository.split("/", 1)[0],
            base_url=settings.sandbox_url or settings.github_api_url,
            auth=Auth.Token(token.get_secret_value()),
        )
    if settings.read_only:
        raise PermanentProviderError(
            "RECONCILER_READ_ONLY=true never writes with the read-only credentials: set "
            "RECONCILER_PR_COMMENT_TOKEN (in the workflow, the job's own GITHUB_TOKEN with "
            "pull-requests: write) to post the plan comment"
        )
    if not isinstance(github, PostsComments):
        raise PermanentProviderError(
            "--pr-comment posts with the GitHub credentials, and organization.yaml has no "
            "systems.github: set RECONCILER_PR_COMMENT_TOKEN"
        )
    return github


def own_identities(
    settings: Settings, desired: DesiredState, providers: Mapping[System, Provider]
) -> tuple[str, ...]:
    """The identities the tool itself acts as, never the subject of an action:
    the delegated admin and impersonated service account from the settings, merged with what
    each provider says it authenticates as (`Provider.acting_as`: the GitHub token's login,
    the GCP service account...), so the guard needs no entry in `protected_accounts`.

    Raises the provider's ProviderError when one cannot learn its identity: the caller must
    refuse to start rather than apply without the guard."""
    found: list[str] = []
    google = desired.organization.systems.google
    subject = settings.google_admin_subject or (google.admin_subject if google else None)
    if subject:
        found.append(subject.strip().lower())
    if settings.google_impersonate_service_account:
        found.append(settings.google_impersonate_service_account.strip().lower())
    for provider in providers.values():
        found.extend(provider.acting_as())
    return tuple(dict.fromkeys(i for i in found if i))
