"""The daemon's configuration: the settings and `serve` options resolved into what the
process needs (the webhook secret, the notification URL, the schedules, the poll interval),
with a one-line refusal for anything wrong; called by `reconciler serve` before it starts."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from croniter import croniter
from pydantic import SecretStr

from reconciler.daemon.jobs import Job, JobKind
from reconciler.errors import ReconcilerError
from reconciler.log import register_secret
from reconciler.settings import Settings
from reconciler.state import StateStoreError
from reconciler.state.inventory import inventory_target

ReadSecret = Callable[[str], str]


class ConfigError(ReconcilerError):
    """The daemon cannot start with this configuration; the message is one line naming the
    setting or option and its value (never a secret's value)."""


@dataclass(frozen=True)
class Schedule:
    """One in-process schedule: a cron expression (the organisation's timezone) and its job."""

    setting: str
    cron: str
    job: Job


@dataclass(frozen=True)
class DaemonConfig:
    settings: Settings
    repo_url: str
    webhook_secret: bytes | None
    notify_url: str | None
    poll_seconds: float | None
    schedules: tuple[Schedule, ...]

    @property
    def apply(self) -> bool:
        return self.settings.apply


def _secret(settings: Settings, name: str, *, sandbox: bool, read_secret: ReadSecret) -> str | None:
    """`RECONCILER_<NAME>_REF` (Secret Manager) or, only against a sandbox, the literal
    `RECONCILER_<NAME>`: a literal secret in a production environment would sit in the
    service's configuration, readable by anyone who can read that (policy 第4.1条)."""
    literal: SecretStr | None = getattr(settings, name)
    ref: str | None = getattr(settings, f"{name}_ref")
    variable = f"RECONCILER_{name.upper()}"
    if literal is not None and ref:
        raise ConfigError(f"{variable} and {variable}_REF are both set; set one")
    if literal is not None:
        if not sandbox:
            raise ConfigError(
                f"{variable} (a literal secret) is accepted only with a sandbox "
                f"(RECONCILER_SANDBOX_URL or --sandbox); give {variable}_REF, a Secret "
                "Manager reference (projects/P/secrets/S/versions/V)"
            )
        return literal.get_secret_value()
    if ref:
        try:
            value = read_secret(ref).strip()
        except ReconcilerError as exc:
            raise ConfigError(f"{variable}_REF={ref}: {exc}") from None
        register_secret(value)
        return value
    return None


def parse_interval(value: str) -> float:
    """`--poll 5m`: seconds from `30s`, `5m`, `1h` (at least 10 s: GitHub's fetch is not a
    busy loop)."""
    match = re.fullmatch(r"\s*(\d+)\s*([smh])\s*", value)
    if not match:
        raise ConfigError(f"--poll {value!r}: write a number and a unit, e.g. 30s, 5m or 1h")
    seconds = int(match[1]) * {"s": 1, "m": 60, "h": 3600}[match[2]]
    if seconds < 10:
        raise ConfigError(f"--poll {value!r}: poll at most every 10s")
    return float(seconds)


def schedules_of(settings: Settings) -> tuple[Schedule, ...]:
    """The enabled schedules (`RECONCILER_SCHEDULES=true`), each cron checked."""
    if not settings.schedules:
        return ()
    found: list[Schedule] = []
    for setting, job in (
        ("schedule_drift", Job(JobKind.DRIFT, "schedule-drift")),
        ("schedule_sweep", Job(JobKind.RECONCILE, "schedule-sweep")),
        ("schedule_resync", Job(JobKind.RECONCILE, "schedule-resync")),
    ):
        value: str = getattr(settings, setting)
        for cron in (c.strip() for c in value.split(";")):
            if not cron:
                continue
            if not croniter.is_valid(cron):
                raise ConfigError(
                    f"RECONCILER_{setting.upper()}={value!r}: {cron!r} is not a cron "
                    "expression (minute hour day month weekday, e.g. '0 2 * * *')"
                )
            found.append(Schedule(setting, cron, job))
    return tuple(found)


def configure(
    settings: Settings, *, sandbox: bool, poll: str | None, read_secret: ReadSecret
) -> DaemonConfig:
    """Everything `serve` needs, or a ConfigError naming what to fix."""
    if not settings.repo_url:
        raise ConfigError(
            "RECONCILER_REPO_URL is not set: give the desired-state repo (a git URL or a "
            "local path)"
        )
    try:
        # Checked now, not on the day of the yearly job: evidence headed for a disk that does
        # not last, or into the audit segments, is a deployment error.
        inventory_target(settings)
    except StateStoreError as exc:
        raise ConfigError(str(exc)) from None
    with_sandbox = sandbox or bool(settings.sandbox_url)
    webhook = _secret(settings, "webhook_secret", sandbox=with_sandbox, read_secret=read_secret)
    notify = _secret(settings, "notify_url", sandbox=with_sandbox, read_secret=read_secret)
    return DaemonConfig(
        settings=settings,
        repo_url=settings.repo_url,
        webhook_secret=webhook.encode() if webhook else None,
        notify_url=notify,
        poll_seconds=parse_interval(poll) if poll else None,
        schedules=schedules_of(settings),
    )
