"""Plumbing shared by the CLI commands: the clock, loading the repo, connecting providers,
reading with progress. The shell is the one place that reads the clock (DESIGN 2)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.status import Status

from reconciler.cli.commands_desired import OutputFormat, load_desired_or_exit
from reconciler.errors import ReconcilerError
from reconciler.log import redact_text
from reconciler.model import DesiredState, EmergencyHold, Snapshot, System
from reconciler.settings import Settings, load_settings
from reconciler.state import StateStoreError

if TYPE_CHECKING:
    from reconciler.providers.base import Provider
    from reconciler.state import StateStore

# Provider modules (google-api-python-client, PyGithub, google-cloud-iam, grpc) take ~1.5 s
# to import: they are imported inside the functions that need them, so `validate`,
# `explain`, `audit` and `sandbox` start fast.

err_console = Console(stderr=True)


__all__ = ["OutputFormat", "load_desired_or_exit"]


def now() -> datetime:
    """The current instant, timezone-aware. Everything below the shell takes it as a value."""
    return datetime.now(UTC)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one plain `error: ...` line on stderr and exit with `code` (1 unless said):
    what a person reads instead of a traceback. The message is redacted and escaped."""
    err_console.print(f"[red]error:[/] {escape(redact_text(message))}", soft_wrap=True)
    raise typer.Exit(code)


def parse_at(value: str | None) -> datetime:
    """`--at 2026-12-01T09:00+09:00` for what-if planning; default: now. A value that is not
    an ISO 8601 instant with a zone exits 1 with a one-line error (exit 2 is "changes
    pending" for `plan`, so a usage error must not look like it)."""
    if value is None:
        return now()
    example = "write an ISO 8601 instant with a zone, e.g. 2026-12-01T09:00+09:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--at {value!r} is not a date and time: {example}")
    if moment.tzinfo is None:
        fail(f"--at {value!r} has no timezone: {example}")
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
        fail(str(exc))


def unknown_gcp_roles(
    desired: DesiredState, providers: Mapping[System, Provider], directory: Path
) -> list[str]:
    """One line per place roles.yaml names a GCP role IAM does not have (`directory`/
    roles.yaml:line:column, the field, the closest real role), or the reason the names could
    not be checked; empty when every role exists. `plan` and `apply` refuse to go on when
    this is not empty: a typo would otherwise fail at setIamPolicy halfway through a run."""
    from reconciler.desired.gcp_roles import role_parents, unknown_roles
    from reconciler.providers.base import ListsRoles

    provider = providers.get(System.GCP)
    parents = role_parents(desired)
    if not parents or not isinstance(provider, ListsRoles):
        return []
    try:
        known = provider.role_names(parents)
    except ReconcilerError as exc:
        return [f"could not check the GCP roles named in roles.yaml against IAM: {exc}"]
    return [error.render(directory.as_posix()) for error in unknown_roles(desired, known)]


def read_with_progress(
    providers: dict[System, Provider],
    desired: DesiredState,
    at: datetime,
    *,
    counts: StateStore | None,
) -> Snapshot:
    """Read every system, showing which are still being read (stderr, so stdout stays clean).

    Every full read is judged against the counts of the last complete read in `counts` (a
    member list that shrank suspiciously is treated as incomplete) and the new counts are
    stored there. The callers pass the run's state store; only the embedded demo sandbox
    passes None, since its invented world says nothing about the real systems."""

    from reconciler.providers.reading import read_all
    from reconciler.state.read_counts import judge_and_remember_read_counts

    states = dict.fromkeys(providers, "waiting")
    with Status("reading", console=err_console) as status:

        def progress(system: System, state: str) -> None:
            states[system] = state
            status.update("reading: " + ", ".join(f"{s.value} {st}" for s, st in states.items()))

        snapshot = read_all(providers, desired, at, on_progress=progress)
    if counts is not None:
        try:
            snapshot = judge_and_remember_read_counts(counts, snapshot, desired.organization)
        except StateStoreError as exc:
            err_console.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(1) from None
    for system, part in snapshot.parts.items():
        mark = "[green]complete[/]" if part.status.complete else "[bold yellow]INCOMPLETE[/]"
        detail = "; ".join(part.status.problems)
        err_console.print(
            f"read {system.value}: {mark} ({part.status.api_calls} calls, "
            f"{part.status.round_trips} round trips){' - ' + escape(detail) if detail else ''}",
            soft_wrap=True,  # one line per system, whatever the width: logs are grepped
        )
    return snapshot


def load_holds_or_exit() -> tuple[EmergencyHold, ...]:
    """The emergency holds every plan must respect; an unreadable holds document stops the
    command (planning without it could hand an emergency-offboarded person their access)."""
    from reconciler.state import LocalStateStore, StateStoreError
    from reconciler.state.holds import load_holds

    try:
        return load_holds(LocalStateStore(load_settings().state_dir))
    except StateStoreError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None


def settings() -> Settings:
    return load_settings()
