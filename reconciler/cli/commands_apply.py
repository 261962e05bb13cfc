"""`reconciler apply` and `reconciler offboard`: make the systems match the repo (or cut one
person's access at once), dry run unless --confirm; registered by `reconciler.cli`.

Both commands take the run lock (one run at a time) and call the same functions as the
daemon, `reconciler.runs.apply_changes` and `offboard_now`; they add only the shell around
them: options, the progress display, the printed plan and summary, the exit code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from json import JSONDecodeError
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape

from reconciler.audit import AuditLogError
from reconciler.cli import app
from reconciler.cli.common import (
    ConsoleEvents,
    LangOption,
    err_console,
    fail,
    git_commit,
    language_of,
    load,
    now,
    parse_at,
    providers_for,
)
from reconciler.cli.output import report_console
from reconciler.desired.emergency import load_for_offboarding
from reconciler.desired.problems import ValidationFailed
from reconciler.execute import (
    EXIT_REFUSED,
    ApplyReport,
    OutcomeStatus,
    new_run_id,
)
from reconciler.locking import RunLockBusy, RunLockLost
from reconciler.model import DesiredState, Person
from reconciler.reports.i18n import Language
from reconciler.reports.plans import render_text
from reconciler.runs import (
    RunContext,
    RunRefused,
    actor_name,
    apply_changes,
    offboard_now,
)
from reconciler.settings import Settings, load_settings
from reconciler.state import StateStoreError, open_state_store

EXIT_ERROR = 1


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def print_summary(report: ApplyReport, lang: Language, timezone: str) -> None:
    """The run's outcome, its notes and advice that matches what happened, so the operator
    (and the exit code, for a scheduler) can tell a clean run from a partial one; worded in
    `lang`, dates in `timezone` (the organisation's). Markup and identifiers stay outside the
    translated text."""
    _ = lang.gettext
    console = report_console()
    for note in report.notes:
        console.print("  " + _("note:") + f" {escape(lang.words(note, timezone))}")
    if report.refused:
        console.print("[bold red]REFUSED[/]: " + _("nothing was applied."))
        for reason in report.refused:
            console.print(f"  - {escape(lang.render(reason, timezone))}")
        _print_head(report, _)
        return
    if report.dry_run:
        console.print(
            _("dry run: %(count)d action(s) would be applied; nothing was changed.")
            % {"count": len(report.outcomes)}
            + " "
            + _("Run again with --confirm to apply.")
        )
        _print_partial(report, lang, timezone)
        return
    applied = [o for o in report.outcomes if o.status is OutcomeStatus.APPLIED and o.changed]
    unchanged = [o for o in report.outcomes if o.status is OutcomeStatus.APPLIED and not o.changed]
    failed = report.failures
    console.print(
        _(
            "run %(run)s: %(applied)d applied, %(unchanged)d unchanged (already in place), "
            "%(failed)d failed, 0 refused"
        )
        % {
            "run": report.run_id,
            "applied": len(applied),
            "unchanged": len(unchanged),
            "failed": len(failed),
        }
    )
    for outcome in failed:
        console.print(
            "  [red]"
            + escape(_("failed"))
            + f"[/] {escape(outcome.action.describe())}: {escape(outcome.message)}"
        )
    for person_id in report.offboarding_completed:
        console.print(
            "  " + escape(_("offboarding-complete recorded for %(person)s") % {"person": person_id})
        )
    for person_id in report.offboarding_incomplete:
        words = _("offboarding-incomplete recorded for %(person)s") % {"person": person_id}
        console.print(f"  [yellow]{escape(words)}[/]")
    _print_partial(report, lang, timezone)
    if failed:
        console.print(
            _(
                "Some actions failed; the others were applied. Re-run `reconciler apply "
                "--confirm` once the cause is fixed: every action is idempotent, the re-run "
                "converges."
            )
        )
    elif report.partial:
        console.print(
            _(
                "The run was partial (exit code 3): fix what is listed above, then re-run "
                "`reconciler apply --confirm`; `reconciler plan` shows what is still pending."
            )
        )
    elif report.outcomes:
        console.print(_("Check: `reconciler plan` should now show no changes (exit code 0)."))
    _print_head(report, _)


def _print_head(report: ApplyReport, _: Callable[[str], str]) -> None:
    """The run's closing audit head, to publish outside the log (anchoring)."""
    if report.audit_head:
        report_console().print(
            f"audit head {report.audit_head}: "
            + _(
                "publish it; `reconciler audit verify --expect-head %(head)s` later proves "
                "nothing before it was rewritten"
            )
            % {"head": report.audit_head},
            highlight=False,
        )


def _print_partial(report: ApplyReport, lang: Language, timezone: str) -> None:
    if report.partial:
        report_console().print("[bold yellow]PARTIAL[/]:")
        for reason in report.partial:
            report_console().print(f"  - {escape(lang.render(reason, timezone))}")


def _print_error(exc: Exception) -> None:
    """`error: ...`, once per line of the message (one per unknown role, say)."""
    for line in str(exc).splitlines():
        err_console.print(f"[red]error:[/] {escape(line)}", soft_wrap=True)


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
    directory: Path,
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
        desired_dir=directory,
        settings=settings,
        moment=parse_at(at),
        confirm=confirm,
        allow_mass_removal=allow_mass_removal,
        allow_mass_offboarding=allow_mass_offboarding,
        run_id=new_run_id(now()),
        actor=actor_name(),
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
        bool, typer.Option(help="Override the per-run removal limits of organization.yaml.")
    ] = False,
    allow_mass_offboarding: Annotated[
        bool,
        typer.Option(help="Allow more leavers in one run than limits.max_offboardings."),
    ] = False,
    sandbox: SandboxOption = False,
    at: AtOption = None,
    lang: LangOption = None,
) -> None:
    """Make Google Workspace, GitHub and GCP IAM match the repo. A dry run unless --confirm.

    Exit codes: 0 clean (everything applied, or in a dry run would be), 1 some actions failed
    or the run could not start, 2 the plan was refused by a safety rule (nothing applied),
    3 partial (an incomplete read, changes held back, access kept by a rule, an offboarding
    not proven complete).
    """
    refuse_if_read_only("apply")
    desired = load(directory)
    language = language_of(lang, desired)
    ctx = _context(
        at=at,
        confirm=confirm,
        sandbox=sandbox,
        directory=directory,
        allow_mass_removal=allow_mass_removal,
        allow_mass_offboarding=allow_mass_offboarding,
    )
    saved = read_plan_file(plan_file) if plan_file is not None else None
    lock = locked(ctx.settings, ctx.run_id, "apply") if confirm else _no_lock()
    try:
        with lock, providers_for(desired, sandbox=sandbox, at=ctx.moment) as providers:
            outcome = apply_changes(
                desired, providers, ctx, saved_plan=saved, events=ConsoleEvents(language)
            )
    except (RunRefused, AuditLogError) as exc:
        _print_error(exc)
        raise typer.Exit(EXIT_ERROR) from None
    plan, report = outcome.plan, outcome.report
    if report.dry_run and plan.has_changes and not report.refused:
        report_console().print(render_text(plan, desired, language))
    elif not plan.has_changes:
        report_console().print(language.gettext("no changes: the systems already match the repo."))
    print_summary(report, language, desired.organization.timezone)
    raise typer.Exit(report.exit_code)


def read_plan_file(path: Path) -> str:
    """The saved plan's text, checked to be JSON before anything is read or locked; a missing,
    unreadable or non-JSON file exits 1 with one line naming it (whether it is an unedited,
    current plan is `verify_saved_plan`'s question, after the fresh read)."""
    again = "make one with `reconciler plan --out FILE`"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"--plan {path}: no such file; {again}")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"--plan {path}: cannot read it ({getattr(exc, 'strerror', None) or exc}); {again}")
    try:
        json.loads(text)
    except JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        fail(f"--plan {path}: not a saved plan, the file is not JSON ({where}); {again}")
    return text


def refuse_if_read_only(command: str) -> None:
    """Under RECONCILER_READ_ONLY nothing that changes access runs, not even a dry run that
    would read with credentials meant for planning only: one line, exit 2 (refused by a
    safety rule, nothing applied), before anything is read."""
    refusal = load_settings().write_refusal(command)
    if refusal is not None:
        fail(refusal, EXIT_REFUSED)


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
    lang: LangOption = None,
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
    refuse_if_read_only("offboard")
    desired, found = _load_for_offboarding(directory, person, email=email, github=github)
    language = language_of(lang, desired)
    ctx = _context(at=at, confirm=confirm, sandbox=sandbox, directory=directory)
    lock = locked(ctx.settings, ctx.run_id, f"offboard {found.id}") if confirm else _no_lock()
    try:
        with lock, providers_for(desired, sandbox=sandbox, at=ctx.moment) as providers:
            outcome = offboard_now(desired, found, providers, ctx, events=ConsoleEvents(language))
    except (RunRefused, AuditLogError) as exc:
        _print_error(exc)
        raise typer.Exit(EXIT_ERROR) from None
    plan, report = outcome.plan, outcome.report
    console = report_console()
    if plan.has_changes:
        if report.dry_run:
            console.print(render_text(plan, desired, language))
    else:
        console.print(
            language.gettext("%(person)s holds no access the reverse look-ups can find.")
            % {"person": found.id}
        )
    print_summary(report, language, desired.organization.timezone)
    today = ctx.moment.astimezone(ZoneInfo(desired.organization.timezone)).date()
    _print_repo_change(found, today, directory, language, dry_run=not confirm)
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


def _print_repo_change(
    person: Person, today: date, directory: Path, lang: Language, *, dry_run: bool
) -> None:
    """The edit that makes the repo agree with what was just done, so the next `apply` does
    not re-grant the access."""
    _ = lang.gettext
    path = directory / "people" / f"{person.id}.yaml"
    job = person.employment
    advice = (
        _("Commit this change to %(path)s after confirming, so the repo and reality agree:")
        if dry_run
        else _("Commit this change to %(path)s now, so the repo and reality agree:")
    )
    line = (
        f"employment: {{type: {job.type.value}, start: {job.start}, end: {today}"
        + (f", nda: {job.nda}" if job.nda else "")
        + "}"
    )
    report_console().print(
        "\n"
        + advice % {"path": path}
        + f"\n  employment.end: {today}\n  ("
        + _("the line becomes: %(line)s") % {"line": line}
        + ")",
        highlight=False,
    )


__all__ = ["locked", "print_summary"]
