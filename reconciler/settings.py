"""Runtime configuration from the environment (`RECONCILER_*`) and `.env`, via pydantic-settings.

Secrets are given as Secret Manager references (policy 第4.1条) or `SecretStr` values; they
are never printed: `SecretStr` renders as `**********`, and every secret value is registered
with the redactor (`reconciler.log.register_secret`) as soon as the settings are loaded, so an
API that echoes it back cannot carry it into output, plans or the audit log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reconciler.log import register_secret


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECONCILER_", env_file=".env", extra="ignore")

    desired_state: Path = Path("desired_state")
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "warning"  # the daemon sets info

    # Point every provider at a running sandbox (http://127.0.0.1:PORT); empty in production.
    sandbox_url: str | None = None

    # Read-only credentials (the desired-state repo's pull-request plans): the delegation
    # asks only for the read-only Directory scopes, OAuth tokens and app passwords are not
    # read (no read-only scope lists them; the plan says so), `doctor` checks the read-only
    # scopes and App permissions, and every command that changes access refuses to run.
    # Explicit, never implied by `plan`: the service's own plans read tokens to show what an
    # offboarding will revoke.
    read_only: bool = False
    # The token `plan --pr-comment` posts the comment with (in the workflow, its own
    # GITHUB_TOKEN with pull-requests: write on the desired-state repo), so the credential
    # that reads the organisation never needs to write anything. Unset: the GitHub
    # provider's credentials post it, which read-only mode refuses.
    pr_comment_token: SecretStr | None = None

    # Google Workspace: domain-wide delegation. Keyless (impersonate this service account via
    # IAM signJwt) is preferred; a key file or Secret Manager reference is allowed.
    google_impersonate_service_account: str | None = None
    google_credentials_secret: str | None = None  # projects/P/secrets/S/versions/V
    google_admin_subject: str | None = None

    # GitHub: a GitHub App is preferred; a token is allowed.
    github_app_id: int | None = None
    github_installation_id: int | None = None
    github_private_key_secret: str | None = None  # Secret Manager reference
    github_token: SecretStr | None = None
    github_api_url: str = "https://api.github.com"

    # How one API call that the system answers with "try again later" (429, 5xx, a dropped
    # connection) is retried: jittered exponential backoff starting at retry_initial_wait
    # seconds, never sooner than the server's Retry-After, at most retry_attempts tries
    # within retry_deadline seconds. The defaults follow Google's and GitHub's guidance; a
    # call still failing after them makes its read incomplete or its action failed.
    retry_attempts: int = Field(6, ge=1, le=20)
    retry_initial_wait: float = Field(0.5, gt=0, le=60)
    retry_deadline: float = Field(120.0, gt=0, le=3600)

    # Where the run state, the run lock and the audit log live: a directory, or
    # gs://BUCKET/PREFIX (reconciler.state.open_state_store). Unset: state_dir, the local
    # default, which RECONCILER_STATE_DIR still sets.
    state_url: str | None = None
    state_dir: Path = Path("var")
    # Where the daemon's yearly inventory job archives its files (<location>/<year>/<run
    # id>/): gs://BUCKET/PREFIX or a directory. Unset: with a gs:// state store the audit
    # bucket's inventory/, else inventory_dir (default <state_dir>/inventory); resolved by
    # reconciler.state.inventory. `reconciler inventory --out` chooses its own directory.
    inventory_url: str | None = None
    inventory_dir: Path | None = None
    # gs:// only: put the audit segments in another bucket, one with a retention policy
    # (Bucket Lock); the mutable state and the audit head stay under state_url.
    audit_url: str | None = None

    def state_location(self) -> str:
        """The state store's location: RECONCILER_STATE_URL, else RECONCILER_STATE_DIR."""
        return self.state_url.strip() if self.state_url else str(self.state_dir)

    # `reconciler serve` (docs/daemon.md). The desired-state repo: a git URL or a local path,
    # cloned into `work_dir` at start and fetched after; only `repo_branch` is reconciled.
    repo_url: str | None = None
    repo_branch: str = "main"
    work_dir: Path = Path("var/daemon")
    # Changes need an explicit setting: without it every triggered run is a dry run.
    apply: bool = False
    # The GitHub webhook secret: a Secret Manager reference in production; a literal only
    # against a sandbox (the daemon refuses to start otherwise).
    webhook_secret_ref: str | None = None
    webhook_secret: SecretStr | None = None
    # Where notifications go (a Slack-compatible or generic webhook URL, itself a secret).
    notify_url_ref: str | None = None
    notify_url: SecretStr | None = None
    notify_format: Literal["generic", "slack"] = "generic"
    # Cloud Scheduler's OIDC tokens: the audience (this service's URL) and the service
    # account they must name; the certificates are Google's (the sandbox's with a sandbox).
    service_url: str | None = None
    scheduler_service_account: str | None = None
    oidc_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    # In-process schedules (cron, the organisation's timezone), off unless enabled; several
    # times for one job are separated by ";".
    schedules: bool = False
    schedule_drift: str = "0 2 * * *"
    schedule_sweep: str = "0 18 * * *;30 23 * * *"
    schedule_resync: str = "0 3 * * 0"

    @model_validator(mode="after")
    def _register_secrets(self) -> Settings:
        """Every `SecretStr` field, whatever its name: the moment a configured secret exists
        in the process is the moment the redactor must know it."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                register_secret(value)
        return self

    def write_refusal(self, command: str) -> str | None:
        """The one-line refusal of a command that changes access under read-only
        credentials, or None when it may run. One place, so `apply`, `offboard` and `serve`
        with RECONCILER_APPLY=true say the same thing."""
        if not self.read_only:
            return None
        return (
            f"{command} refused: RECONCILER_READ_ONLY=true (read-only credentials can only "
            "plan); run it with the service's credentials, without RECONCILER_READ_ONLY"
        )

    def audit_log_path(self) -> Path:
        """The local audit log file. Prefer `open_state_store(settings).audit_log()`, which
        works for both stores; a gs:// location has no local path (and must never become a
        directory named "gs:")."""
        location = self.state_location()
        if location.startswith("gs://"):
            raise ValueError(
                f"the audit log of {location} is not a local file; "
                "use reconciler.state.open_state_store(settings).audit_log()"
            )
        return Path(location) / "audit.jsonl"


def load_settings() -> Settings:
    return Settings()
