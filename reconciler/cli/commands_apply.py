"""`reconciler apply` and `reconciler offboard`: make the systems match the repo (or cut one
person's access at once), dry run unless --confirm; registered by `reconciler.cli`.

Both commands follow the same steps as the daemon: take the run lock (DESIGN 6.8), read,
plan, hand the plan to `execute.apply_plan` (safety valves, ordering, audit log). The
functions `apply_with` and `offboard_with` take ready providers, so the end-to-end tests
can pass providers with a short retry policy; the commands only add the shell around them.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from reconciler.audit import AuditLogError, AuditTrail, RecordType
from reconciler.cli import app
from reconciler.cli.common import (
    err_console,
    git_commit,
    load,
    now,
    parse_at,
    providers_for,
    read_with_progress,
)
from reconciler.cli.output import report_console
from reconciler.desired.emergency import load_for_offboarding
from reconciler.desired.expanding import expand_access
from reconciler.desired.holding import new_hold, standing_holds
from reconciler.desired.problems import ValidationFailed
from reconciler.errors import ProviderError
from reconciler.execute import (
    ActionOutcome,
    ApplyReport,
    OutcomeStatus,
    SavedPlanError,
    apply_plan,
    new_run_id,
    verify_saved_plan,
)
from reconciler.locking import RunLockBusy, RunLockLost
from reconciler.log import redact_text
from reconciler.model import DesiredState, EmergencyHold, Person, Plan, Snapshot, System
from reconciler.plan import plan_changes
from reconciler.providers.base import Provider
from reconciler.providers.connecting import own_identities
from reconciler.providers.reading import read_person_everywhere
from reconciler.reports.plans import render_text
from reconciler.settings import Settings, load_settings
from reconciler.state import StateStore, StateStoreError, open_state_store
from reconciler.state.holds import hold_to_json, load_holds, save_holds

EXIT_ERROR = 1


def actor_name() -> str:
    """Who runs this, for the audit log: RECONCILER_ACTOR (set by CI / the daemon's unit),
    else user@host of the shell."""
    explicit = os.environ.get("RECONCILER_ACTOR")
    if explicit:
        return explicit
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # a container user without a passwd entry
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class RunContext:
    """What a confirmed or dry run needs besides the providers."""

    settings: Settings
    moment: datetime
    confirm: bool
    allow_mass_removal: bool = False
    allow_mass_offboarding: bool = False
    run_id: str = ""
    actor: str = ""
    show_progress: bool = True
    backdated: bool = False  # `--at` was given: a what-if instant, recorded in run-start

    def audit(self) -> AuditTrail | None:
        return self.store().audit_log() if self.confirm else None

    def store(self) -> StateStore:
        try:
            return open_state_store(self.settings)
        except StateStoreError as exc:  # a bad RECONCILER_STATE_URL: one line, exit 1
            raise CommandFailed(str(exc)) from None


class CommandFailed(Exception):
    """A refusal the command reports in plain words and exits 1 on (stale plan, ...)."""


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Progress | None]:
    if not enabled or total == 0:
        yield None
        return
    with Progress(
        TextColumn("applying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=err_console,
        transient=True,
    ) as bar:
        yield bar


def run_plan(
    plan: Plan,
    providers: Mapping[System, Provider],
    snapshot: Snapshot,
    desired: DesiredState,
    ctx: RunContext,
    *,
    own: tuple[str, ...],
    held: tuple[str, ...] = (),
) -> ApplyReport:
    """`apply_plan` with the audit log, actor, own identities (`own`, from
    `acting_identities`), the people under an emergency hold and a progress bar (stderr)."""
    with _progress(len(plan.actions), ctx.show_progress and ctx.confirm) as bar:
        task = bar.add_task("", total=len(plan.actions)) if bar is not None else None

        def on_progress(done: int, total: int, outcome: ActionOutcome) -> None:
            if bar is not None and task is not None:
                bar.update(task, completed=done, description=outcome.action.describe())

        return apply_plan(
            plan,
            providers,
            snapshot=snapshot,
            desired=desired,
            limits=desired.organization.limits,
            audit=ctx.audit(),
            confirm=ctx.confirm,
            allow_mass_removal=ctx.allow_mass_removal,
            allow_mass_offboarding=ctx.allow_mass_offboarding,
            actor=ctx.actor or actor_name(),
            self_identities=own,
            held=held,
            run_id=ctx.run_id or None,
            backdated_to=ctx.moment if ctx.backdated else None,
            on_progress=on_progress,
        )


def acting_identities(
    settings: Settings, desired: DesiredState, providers: Mapping[System, Provider]
) -> tuple[str, ...]:
    """Every identity the tool acts as (settings and each provider's `acting_as`), learnt
    before anything is read or changed. A provider that cannot say who it is (GitHub's
    `GET /user` failing) stops the run here: applying without the own-identity guard could
    remove the very account the run uses (DESIGN 6.4), so refusing is the safe side."""
    try:
        return own_identities(settings, desired, providers)
    except ProviderError as exc:
        raise CommandFailed(
            f"refusing to start: could not learn the identity the reconciler acts as, which "
            f"the own-identity guard needs (DESIGN 6.4): {redact_text(str(exc))}"
        ) from None


def apply_with(
    desired: DesiredState,
    providers: Mapping[System, Provider],
    ctx: RunContext,
    *,
    saved_plan: str | None = None,
) -> tuple[Plan, ApplyReport]:
    """Learn who the tool acts as, read everything, plan (or check the saved plan against
    the fresh read), apply."""
    store = ctx.store()
    holds = _load_holds(store)
    own = acting_identities(ctx.settings, desired, providers)
    snapshot = read_with_progress(dict(providers), desired, ctx.moment)
    access = expand_access(desired, ctx.moment)
    standing = standing_holds(desired, access, holds)
    if saved_plan is not None:
        try:
            plan = verify_saved_plan(saved_plan, snapshot)
        except SavedPlanError as exc:
            raise CommandFailed(f"saved plan refused ({exc.code}): {exc}") from exc
    else:
        plan = plan_changes(desired, access, snapshot, ctx.moment, holds=standing)
    held = tuple(h.person_id for h in standing)
    report = run_plan(plan, providers, snapshot, desired, ctx, own=own, held=held)
    if ctx.confirm and not report.refused:
        _end_holds(store, ctx, desired, holds, standing)
    return plan, report


def _load_holds(store: StateStore) -> tuple[EmergencyHold, ...]:
    try:
        return load_holds(store)
    except StateStoreError as exc:
        raise CommandFailed(str(exc)) from None


def _end_holds(
    store: StateStore,
    ctx: RunContext,
    desired: DesiredState,
    holds: tuple[EmergencyHold, ...],
    standing: tuple[EmergencyHold, ...],
) -> None:
    """Drop the holds the repo has caught up with (its own end date now keeps the person
    out), each recorded as `hold-ended` in the audit log."""
    ended = [h for h in holds if h not in standing]
    if not ended:
        return
    audit = ctx.audit()
    assert audit is not None  # a confirmed run
    for hold in ended:
        person = desired.people.get(hold.person_id)
        audit.append(
            RecordType.HOLD_ENDED,
            run_id=ctx.run_id,
            actor=ctx.actor or actor_name(),
            desired_commit=desired.commit,
            person_id=hold.person_id,
            details={
                "hold": hold_to_json(hold),
                "repo_end": person.employment.end.isoformat()
                if person and person.employment.end
                else None,
            },
        )
    save_holds(store, standing)


def _place_hold(ctx: RunContext, desired: DesiredState, person: Person) -> None:
    """Record the emergency hold in the state store and the audit log (an existing hold for
    the person is kept: the earliest instant is the one the evidence needs)."""
    store = ctx.store()
    holds = _load_holds(store)
    if any(h.person_id == person.id for h in holds):
        return
    hold = new_hold(desired, person, ctx.moment, run_id=ctx.run_id, actor=ctx.actor or actor_name())
    audit = ctx.audit()
    assert audit is not None  # a confirmed run
    audit.append(
        RecordType.HOLD_PLACED,
        run_id=ctx.run_id,
        actor=hold.actor,
        desired_commit=desired.commit,
        person_id=person.id,
        details={"hold": hold_to_json(hold)},
    )
    save_holds(store, (*holds, hold))


def leaving_now(desired: DesiredState, person: Person, moment: datetime) -> DesiredState:
    """The repo as if `person`'s employment had ended today, with access cut at `moment`:
    their last day is today (what the printed YAML change says) and the organisation's cut-off
    time is moved back to `moment`'s minute, so they are DEPARTED from this instant on."""
    org = desired.organization
    local = moment.astimezone(ZoneInfo(org.timezone))
    today = local.date()
    employment = replace(person.employment, start=min(person.employment.start, today), end=today)
    cut = local.time().replace(second=0, microsecond=0, tzinfo=None)
    return replace(
        desired,
        organization=replace(org, offboarding_time=cut),
        people={**desired.people, person.id: replace(person, employment=employment)},
    )


def offboard_with(
    desired: DesiredState,
    person: Person,
    providers: Mapping[System, Provider],
    ctx: RunContext,
) -> tuple[Plan, ApplyReport]:
    """Emergency offboarding: reverse look-ups for one person (cost independent of the
    organisation's size, DESIGN 5b), a plan as if they left now, only their actions."""
    leaving = leaving_now(desired, person, ctx.moment)
    own = acting_identities(ctx.settings, desired, providers)
    if ctx.confirm:
        # The hold goes in first: a crash between two cuts must not leave the next `apply`
        # free to hand back what was already taken.
        _place_hold(ctx, leaving, person)
    snapshot = read_person_everywhere(providers, leaving.people[person.id], ctx.moment)
    for system, part in snapshot.parts.items():
        mark = "complete" if part.status.complete else "INCOMPLETE"
        detail = "; ".join(part.status.problems)
        err_console.print(
            f"read {system.value} for {person.id}: {mark} ({part.status.api_calls} calls)"
            + (f" - {escape(detail)}" if detail else "")
        )
    full = plan_changes(leaving, expand_access(leaving, ctx.moment), snapshot, ctx.moment)
    # The reverse look-ups see only this person, so everyone else looks absent to the
    # planner; everything not about this person is dropped, not applied.
    plan = replace(
        full,
        actions=tuple(a for a in full.actions if a.person_id == person.id and a.offboarding),
        findings=tuple(f for f in full.findings if f.person_id == person.id),
        notes=tuple(n for n in full.notes if person.id in n or person.email in n),
    )
    return plan, run_plan(plan, providers, snapshot, leaving, ctx, own=own)


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def print_summary(report: ApplyReport) -> None:
    """The run's outcome, its notes and advice that matches what happened, so the operator
    (and the exit code, for a scheduler) can tell a clean run from a partial one."""
    console = report_console()
    for note in report.notes:
        console.print(f"  note: {escape(note)}")
    if report.refused:
        console.print("[bold red]REFUSED[/]: nothing was applied.")
        for reason in report.refused:
            console.print(f"  - {escape(reason)}")
        return
    if report.dry_run:
        console.print(
            f"dry run: {len(report.outcomes)} action(s) would be applied; nothing was changed. "
            "Run again with [bold]--confirm[/] to apply."
        )
        _print_partial(report)
        return
    applied = [o for o in report.outcomes if o.status is OutcomeStatus.APPLIED and o.changed]
    unchanged = [o for o in report.outcomes if o.status is OutcomeStatus.APPLIED and not o.changed]
    failed = report.failures
    console.print(
        f"run {report.run_id}: {len(applied)} applied, {len(unchanged)} unchanged "
        f"(already in place), {len(failed)} failed, 0 refused"
    )
    for outcome in failed:
        console.print(
            f"  [red]failed[/] {escape(outcome.action.describe())}: {escape(outcome.message)}"
        )
    for person_id in report.offboarding_completed:
        console.print(f"  offboarding-complete recorded for {escape(person_id)}")
    for person_id in report.offboarding_incomplete:
        console.print(f"  [yellow]offboarding-incomplete[/] recorded for {escape(person_id)}")
    _print_partial(report)
    if failed:
        console.print(
            "Some actions failed; the others were applied. Re-run `reconciler apply --confirm` "
            "once the cause is fixed: every action is idempotent, the re-run converges."
        )
    elif report.partial:
        console.print(
            "The run was partial (exit code 3): fix what is listed above, then re-run "
            "`reconciler apply --confirm`; `reconciler plan` shows what is still pending."
        )
    elif report.outcomes:
        console.print("Check: `reconciler plan` should now show no changes (exit code 0).")


def _print_partial(report: ApplyReport) -> None:
    if report.partial:
        report_console().print("[bold yellow]PARTIAL[/]:")
        for reason in report.partial:
            report_console().print(f"  - {escape(reason)}")


@contextmanager
def locked(settings: Settings, run_id: str, command: str) -> Iterator[None]:
    """The run lock for a confirmed run (flock or GCS lease, by the state store); a second
    run exits 1 naming the holder."""
    try:
        with open_state_store(settings).lock(run_id=run_id, command=command):
            yield
    except (RunLockBusy, RunLockLost, StateStoreError) as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_ERROR) from None


def _context(
    *,
    at: str | None,
    confirm: bool,
    sandbox: bool,
    allow_mass_removal: bool = False,
    allow_mass_offboarding: bool = False,
) -> RunContext:
    settings = load_settings()
    if at is not None and confirm and not (sandbox or settings.sandbox_url):
        # A what-if is for reading: applying a plan made for another instant would act on
        # a world that is not today's (a past instant gives leavers their access back).
        err_console.print(
            f"[red]error:[/] --at {escape(at)} with --confirm is refused: a what-if never "
            "writes to real systems. Drop --at to apply now, or use --sandbox."
        )
        raise typer.Exit(EXIT_ERROR)
    return RunContext(
        settings=settings,
        moment=parse_at(at),
        confirm=confirm,
        allow_mass_removal=allow_mass_removal,
        allow_mass_offboarding=allow_mass_offboarding,
        run_id=new_run_id(now()),
        actor=actor_name(),
        show_progress=err_console.is_terminal,
        backdated=at is not None,
    )


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------

DirOption = Annotated[Path, typer.Option("--dir", help="The desired-state repo.")]
SandboxOption = Annotated[
    bool, typer.Option(help="Start the embedded sandbox with the demo world (throw-away).")
]
AtOption = Annotated[
    str | None, typer.Option(help="Act as of this instant (ISO 8601 with zone); default now.")
]


@app.command()
def apply(  # noqa: PLR0917 - typer passes options by name; the signature is the CLI
    directory: DirOption = Path("desired_state"),
    plan_file: Annotated[
        Path | None,
        typer.Option("--plan", help="Apply this saved plan (`plan --out`) if still current."),
    ] = None,
    confirm: Annotated[bool, typer.Option(help="Really change the systems.")] = False,
    allow_mass_removal: Annotated[
        bool, typer.Option(help="Override the per-run removal limits.")
    ] = False,
    allow_mass_offboarding: Annotated[
        bool,
        typer.Option(help="Allow more leavers in one run than limits.max_offboardings."),
    ] = False,
    sandbox: SandboxOption = False,
    at: AtOption = None,
) -> None:
    """Make Google Workspace, GitHub and GCP IAM match the repo. A dry run unless --confirm.

    Exit codes: 0 clean (everything applied, or in a dry run would be), 1 some actions failed
    or the run could not start, 2 the plan was refused by a safety rule (nothing applied),
    3 partial (an incomplete read, changes held back, access kept by a rule, an offboarding
    not proven complete).
    """
    desired = load(directory)
    ctx = _context(
        at=at,
        confirm=confirm,
        sandbox=sandbox,
        allow_mass_removal=allow_mass_removal,
        allow_mass_offboarding=allow_mass_offboarding,
    )
    saved = plan_file.read_text(encoding="utf-8") if plan_file is not None else None
    lock = locked(ctx.settings, ctx.run_id, "apply") if confirm else _no_lock()
    try:
        with lock, providers_for(desired, sandbox=sandbox, at=ctx.moment) as providers:
            plan, report = apply_with(desired, providers, ctx, saved_plan=saved)
    except (CommandFailed, AuditLogError) as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_ERROR) from None
    if report.dry_run and plan.has_changes and not report.refused:
        report_console().print(render_text(plan, desired))
    elif not plan.has_changes:
        report_console().print("no changes: the systems already match the repo.")
    print_summary(report)
    raise typer.Exit(report.exit_code)


@contextmanager
def _no_lock() -> Iterator[None]:
    # A dry run changes nothing, so it does not wait for (or block) a confirmed run.
    yield


@app.command()
def offboard(  # noqa: PLR0917 - typer passes options by name; the signature is the CLI
    person: Annotated[str, typer.Argument(help="person id, email or GitHub login")],
    at_once: Annotated[
        bool,
        typer.Option("--now", help="Cut all access now, without waiting for the repo edit."),
    ] = False,
    confirm: Annotated[bool, typer.Option(help="Really change the systems.")] = False,
    directory: DirOption = Path("desired_state"),
    email: Annotated[
        str | None,
        typer.Option(help="The person's Workspace email, when their file is missing or broken."),
    ] = None,
    github: Annotated[
        str | None,
        typer.Option(help="The person's GitHub login, when their file is missing or broken."),
    ] = None,
    sandbox: SandboxOption = False,
    at: AtOption = None,
) -> None:
    """Cut all of PERSON's access now (compromise, abrupt departure), without the repo edit.

    Google sessions first, then GitHub, then GCP, found by reverse look-ups. Reads only
    organization.yaml and PERSON's file (problems elsewhere in the repo never block it);
    records an emergency hold so no later run gives the access back, and prints the repo
    change to commit.

    Exit codes as for `apply`.
    """
    if not at_once:
        err_console.print(
            "[red]error:[/] `offboard` is for emergencies and needs --now. For a planned "
            "departure set employment.end in the person's file and let `apply` do it."
        )
        raise typer.Exit(EXIT_ERROR)
    desired, found = _load_for_offboarding(directory, person, email=email, github=github)
    ctx = _context(at=at, confirm=confirm, sandbox=sandbox)
    lock = locked(ctx.settings, ctx.run_id, f"offboard {found.id}") if confirm else _no_lock()
    try:
        with lock, providers_for(desired, sandbox=sandbox, at=ctx.moment) as providers:
            plan, report = offboard_with(desired, found, providers, ctx)
    except (CommandFailed, AuditLogError) as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_ERROR) from None
    console = report_console()
    if plan.has_changes:
        if report.dry_run:
            console.print(render_text(plan, desired))
    else:
        console.print(f"{found.id} holds no access the reverse look-ups can find.")
    print_summary(report)
    today = ctx.moment.astimezone(ZoneInfo(desired.organization.timezone)).date()
    _print_repo_change(found, today, directory, dry_run=not confirm)
    raise typer.Exit(report.exit_code)


def _load_for_offboarding(
    directory: Path, who: str, *, email: str | None, github: str | None
) -> tuple[DesiredState, Person]:
    """organization.yaml and the person only: an unrelated broken file, or 10,000 others to
    parse, must never delay an emergency. Problems that do not stop it are warnings."""
    try:
        found = load_for_offboarding(directory, who, email=email, github=github)
    except ValidationFailed as failed:
        for error in failed.errors:
            err_console.print(escape(error.render(directory.as_posix())), highlight=False)
        err_console.print(
            "[red]error:[/] organization.yaml is needed for an emergency offboarding (scope, "
            "protected accounts); fix it first"
        )
        raise typer.Exit(EXIT_ERROR) from None
    except ValueError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_ERROR) from None
    for line in (*found.warnings, *found.problems):
        err_console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False)
    if found.person is None:
        err_console.print(
            f"[red]error:[/] cannot offboard '{escape(who)}': their file was not found or "
            "cannot be read; give their identity with --email (and --github)"
        )
        raise typer.Exit(EXIT_ERROR)
    desired = replace(found.desired_state(), commit=git_commit(directory))
    return desired, found.person


def _print_repo_change(person: Person, today: date, directory: Path, *, dry_run: bool) -> None:
    """The edit that makes the repo agree with what was just done, so the next `apply` does
    not re-grant the access (DESIGN 4: "the two never disagree for long")."""
    path = directory / "people" / f"{person.id}.yaml"
    job = person.employment
    when = "after confirming" if dry_run else "now"
    report_console().print(
        f"\nCommit this change to {path} {when}, so the repo and reality agree:\n"
        f"  employment.end: {today}\n"
        f"  (the line becomes: employment: {{type: {job.type.value}, start: {job.start}, "
        f"end: {today}" + (f", nda: {job.nda}" if job.nda else "") + "})",
        highlight=False,
    )


__all__ = [
    "RunContext",
    "acting_identities",
    "actor_name",
    "apply_with",
    "leaving_now",
    "offboard_with",
    "run_plan",
]
