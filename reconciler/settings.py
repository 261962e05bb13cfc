"""Runtime configuration from the environment (`RECONCILER_*`) and `.env`, via pydantic-settings.

Secrets are given as Secret Manager references (policy 第4.1条) or `SecretStr` values; they
are never printed: `SecretStr` renders as `**********` and the log processor redacts them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECONCILER_", env_file=".env", extra="ignore")

    desired_state: Path = Path("desired_state")
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "warning"  # the daemon sets info

    # Point every provider at a running sandbox (http://127.0.0.1:PORT); empty in production.
    sandbox_url: str | None = None

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

    # Where the audit log and run state live.
    state_dir: Path = Path("var")

    def audit_log_path(self) -> Path:
        return self.state_dir / "audit.jsonl"


def load_settings() -> Settings:
    return Settings()
