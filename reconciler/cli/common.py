"""Plumbing shared by the CLI commands: the clock, loading the repo, connecting providers,
reading with progress, the output language. The shell is the one place that reads the clock."""

from __future__ import annotations

import subprocess
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.status import Status

from reconciler.cli.commands_desired import OutputFormat, load_desired_or_exit
from reconciler.errors import ReconcilerError
from reconciler.log import redact_text
from reconciler.model import DesiredState, Person, Snapshot, System
from reconciler.reports.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    Language,
    language,
    resolve_language,
)
from reconciler.runs import RunEvents
from reconciler.settings import Settings, load_settings

if TYPE_CHECKING:
    from reconciler.execute import ActionOutcome
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


LangOption = Annotated[
    str | None,
    typer.Option(
        "--lang", help="ja or en for the report's fixed words (default: organization.yaml)."
    ),
]


def language_of(option: str | None, desired: DesiredState) -> Language:
    """`--lang` (ja or en), else organization.yaml's `language`, else English. A value that is
    not a language exits 1 with a one-line error."""
    if option is not None and option.lower() not in LANGUAGES:
        fail(f"--lang {option!r} is not a language: use one of {', '.join(LANGUAGES)}")
    return resolve_language(option.lower() if option else None, desired.organization.language)


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


def require_sandbox_extra() -> None:
    """The sandbox's GitHub GraphQL endpoint needs graphql-core, which production installs
    (the container image) leave out: say how to get it instead of failing on the first
    GraphQL request."""
    import importlib.util

    if importlib.util.find_spec("graphql") is None:
        fail(
            "the sandbox is not installed here (production install without the 'sandbox' "
            "extra): install reconciler[sandbox] to run it"
        )


@contextmanager
def embedded_sandbox(desired: DesiredState, at: datetime) -> Iterator[str]:
    """Start the sandbox in-process with the demo world built from `desired` (`--sandbox`)."""
    require_sandbox_extra()
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
    from reconciler.state import open_state_store
    from reconciler.state.documents import GITHUB_CACHE_DOCUMENT, StoredDocument

    settings = load_settings()
    try:
        if sandbox:
            with embedded_sandbox(desired, at) as url:
                yield connect_sandbox(url, desired)
        else:
            # The GitHub provider's validators live in the state store, so the next run (a
            # new process) revalidates with free 304s instead of re-reading everything.
            cache = StoredDocument(open_state_store(settings), GITHUB_CACHE_DOCUMENT)
            yield connect(settings, desired, github_cache=cache)
    except ReconcilerError as exc:
        fail(str(exc))


class ConsoleEvents(RunEvents):
    """A run's progress on stderr (stdout stays for the plan): a status line while the
    systems are read, one line per system after it, a progress bar while actions apply."""

    def __init__(self, lang: Language | None = None, *, show_progress: bool | None = None) -> None:
        self.gettext = (lang or language(DEFAULT_LANGUAGE)).gettext
        self.show_progress = err_console.is_terminal if show_progress is None else show_progress
        self._states: dict[System, str] = {}
        self._status: Status | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def read_started(self, systems: Collection[System]) -> None:
        self._states = dict.fromkeys(systems, "waiting")
        if self.show_progress:
            self._status = Status("reading", console=err_console)
            self._status.start()

    def read_progress(self, system: System, state: str) -> None:
        self._states[system] = state
        if self._status is not None:
            self._status.update(
                "reading: " + ", ".join(f"{s.value} {st}" for s, st in self._states.items())
            )

    def read_finished(self, snapshot: Snapshot, *, person: Person | None = None) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        _ = self.gettext
        for system, part in snapshot.parts.items():
            read = {"system": system.value, "person": person.id if person else ""}
            mark = (
                "[green]" + escape(_("complete")) + "[/]"
                if part.status.complete
                else "[bold yellow]" + escape(_("INCOMPLETE")) + "[/]"
            )
            counts = {"calls": part.status.api_calls, "round_trips": part.status.round_trips}
            detail = "; ".join(part.status.problems)
            err_console.print(
                escape(
                    _("read %(system)s for %(person)s:") % read
                    if person is not None
                    else _("read %(system)s:") % read
                )
                + f" {mark} ("
                + escape(_("%(calls)s calls, %(round_trips)s round trips") % counts)
                + ")"
                + (f" - {escape(detail)}" if detail else ""),
                soft_wrap=True,  # one line per system, whatever the width: logs are grepped
            )

    def apply_started(self, total: int) -> None:
        if not self.show_progress or total == 0:
            return
        self._bar = Progress(
            TextColumn("applying"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=err_console,
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task("", total=total)

    def action_done(self, done: int, total: int, outcome: ActionOutcome) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, description=outcome.action.describe())

    def apply_finished(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def store_or_exit() -> StateStore:
    """The configured state store (RECONCILER_STATE_URL, else RECONCILER_STATE_DIR); a value
    that cannot be opened is one line and exit 1, before anything is read."""
    from reconciler.state import StateStoreError, open_state_store

    try:
        return open_state_store(load_settings())
    except StateStoreError as exc:
        fail(str(exc))


def settings() -> Settings:
    return load_settings()
