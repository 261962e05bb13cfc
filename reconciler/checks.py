"""The `Check` value `reconciler doctor` prints: made by the provider-side checks
(`providers.doctor`) and the state store's (`state.doctor`), which may not import each other,
and printed by `cli.commands_doctor`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One thing doctor looked at. `ok` False with `fix` when it is missing; `skipped` when
    it could not be looked at here (it neither passes nor fails the run)."""

    system: str  # "google", "github", "gcp", "secrets", "state"
    item: str
    ok: bool
    detail: str = ""
    fix: str = ""
    skipped: bool = False


def short_error(exc: BaseException) -> str:
    """The first line of an error's message (google-auth's RefreshError carries the OAuth
    error text as its first argument and the raw answer as its second)."""
    text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
