"""Plumbing shared by the CLI commands: the clock, loading the repo, connecting providers,
reading with progress. The shell is the one place that reads the clock (DESIGN 2)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.status import Status

from reconciler.cli.commands_desired import OutputFormat, load_desired_or_exit
from reconciler.errors import ReconcilerError
from reconciler.log import redact_text
from reconciler.model import DesiredState, EmergencyHold, Snapshot, System
from reconciler.settings import Settings, load_settings

if TYPE_CHECKING:
    from reconciler.providers.base import Provider

# Provider modules (google-api-python-client, PyGithub, google-cloud-iam, grpc) take ~1.5 s
# to import: they are imported inside the functions that need them, so `validate`,
# `explain`, `audit` and `sandbox` start fast.

err_console = Console(stderr=True)


__all__ = ["OutputFormat", "load_desired_or_exit"]


def now() -> datetime:
    """The current instant, timezone-aware. Everything below the shell takes it as a value."""
    return datetime.now(UTC)


def parse_at(value: str | None) -> datetime:
    """`--at 2026-12-01T09:00+09:00` for what-if planning; default: now."""
    if value is None:
        return now()
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise typer.BadParameter("--at needs a timezone, e.g. 2026-12-01T09:00+09:00")
    return moment


def git_commit(directory: Path) -> str | None:
    """The desired-state repo's commit, recorded in plans and the audit log (None if not git)."""
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv, no shell
            ["git", "-C", str(directory), "rev-parse", "HEAD"],  # noqa: S607 - git from PATH
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def load(directory: Path) -> DesiredState:
    return load_desired_or_exit(directory, git_commit(directory), OutputFormat.TEXT)


@contextmanager
def embedded_sandbox(desired: DesiredState, at: datetime) -> Iterator[str]:
    """Start the sandbox in-process with the demo world built from `desired` (`--sandbox`)."""
    from reconciler.demo.world import build_world
    from reconciler.sandbox.server import Sandbox, SandboxServer

    world, _ = build_world(desired, at)
    with SandboxServer(Sandbox(world)) as server:
        yield server.url


@contextmanager
def providers_for(
    desired: DesiredState, *, sandbox: bool, at: datetime
) -> Iterator[dict[System, Provider]]:
    """Providers for this run: an embedded sandbox (`--sandbox`), the sandbox named by
    RECONCILER_SANDBOX_URL, or production credentials."""

    from reconciler.providers.connecting import connect, connect_sandbox

    settings = load_settings()
    try:
        if sandbox:
            with embedded_sandbox(desired, at) as url:
                yield connect_sandbox(url, desired)
        else:
            yield connect(settings, desired)
    except ReconcilerError as exc:
        err_console.print(f"[red]error:[/] {escape(redact_text(str(exc)))}")
        raise typer.Exit(1) from None


def read_with_progress(
    providers: dict[System, Provider], desired: DesiredState, at: datetime
) -> Snapshot:
    """Read every system, showing which are still being read (stderr, so stdout stays clean)."""

    from reconciler.providers.reading import read_all

    states = dict.fromkeys(providers, "waiting")
    with Status("reading", console=err_console) as status:

        def progress(system: System, state: str) -> None:
            states[system] = state
            status.update("reading: " + ", ".join(f"{s.value} {st}" for s, st in states.items()))

        snapshot = read_all(providers, desired, at, on_progress=progress)
    for system, part in snapshot.parts.items():
        mark = "[green]complete[/]" if part.status.complete else "[bold yellow]INCOMPLETE[/]"
        detail = "; ".join(part.status.problems)
        err_console.print(
            f"read {system.value}: {mark} ({part.status.api_calls} calls, "
            f"{part.status.round_trips} round trips){' - ' + detail if detail else ''}"
        )
    return snapshot


def load_holds_or_exit() -> tuple[EmergencyHold, ...]:
    """The emergency holds every plan must respect; an unreadable holds document stops the
    command (planning without it could hand an emergency-offboarded person their access)."""
    from reconciler.state import StateStoreError, open_state_store
    from reconciler.state.holds import load_holds

    try:
        return load_holds(open_state_store(load_settings()))
    except StateStoreError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None


def settings() -> Settings:
    return load_settings()
