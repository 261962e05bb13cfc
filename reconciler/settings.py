"""Runtime configuration from the environment (`RECONCILER_*`) and `.env`, via pydantic-settings.

Secrets are given as Secret Manager references (policy 第4.1条) or `SecretStr` values; they
are never printed: `SecretStr` renders as `**********`, and every secret value is registered
with the redactor (`reconciler.log.register_secret`) as soon as the settings are loaded, so an
API that echoes it back cannot carry it into output, plans or the audit log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reconciler.log import register_secret


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

    @model_validator(mode="after")
    def _register_secrets(self) -> Settings:
        """Every `SecretStr` field, whatever its name: the moment a configured secret exists
        in the process is the moment the redactor must know it."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                register_secret(value)
        return self

    def audit_log_path(self) -> Path:
        return self.state_dir / "audit.jsonl"


def load_settings() -> Settings:
    return Settings()
