"""`reconciler hold list|release`: the emergency holds `offboard --now --confirm` places, which
keep a person offboarded until the repo says so too; registered by `reconciler.cli`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Table

from reconciler.audit import AuditLogError
from reconciler.cli import app
from reconciler.cli.commands_apply import EXIT_ERROR, locked
from reconciler.cli.common import err_console, fail, now, store_or_exit
from reconciler.cli.output import report_console
from reconciler.desired.expanding import expand_access
from reconciler.desired.holding import hold_has_ended, repo_caught_up
from reconciler.desired.loading import load_desired_dir
from reconciler.desired.problems import ValidationFailed
from reconciler.execute import new_run_id
from reconciler.model import DesiredState, EmergencyHold
from reconciler.runs import RunContext, RunRefused, load_holds_or_refuse, release_hold
from reconciler.settings import load_settings
from reconciler.state import StateStore
from reconciler.state.holds import hold_to_json

hold_app = typer.Typer(
    help="Emergency holds: people kept offboarded until the repo catches up.",
    no_args_is_help=True,
)
app.add_typer(hold_app, name="hold")


def _holds(store: StateStore) -> tuple[EmergencyHold, ...]:
    try:
        return load_holds_or_refuse(store)
    except RunRefused as exc:
        fail(str(exc))


def _status(desired: DesiredState | None, hold: EmergencyHold) -> str:
    if desired is None:
        return "unknown (the desired state did not load)"
    if not repo_caught_up(desired, hold):
        return f"repo not caught up: commit employment.end: {hold.day}"
    access = expand_access(desired, now())
    if hold_has_ended(desired, access, hold):
        return "repo caught up: the next confirmed apply ends the hold"
    return "repo caught up: the hold ends once the repo's offboarding time has passed"


@hold_app.command("list")
def list_command(
    directory: Annotated[Path, typer.Option("--dir", help="The desired-state repo.")] = Path(
        "desired_state"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show every emergency hold, and whether the repo has caught up with it."""
    holds = _holds(store_or_exit())
    try:
        desired: DesiredState | None = load_desired_dir(directory)
    except ValidationFailed:
        desired = None  # the holds still show; their status says why it is unknown
    if as_json:
        rows = [{**hold_to_json(h), "status": _status(desired, h)} for h in holds]
        typer.echo(json.dumps({"holds": rows}, ensure_ascii=False, indent=2))
        return
    console = report_console()
    if not holds:
        console.print("no emergency holds")
        return
    tz = ZoneInfo(desired.organization.timezone) if desired else None
    table = Table("person", "since", "run", "by", "status")
    for hold in holds:
        since = hold.placed_at.astimezone(tz) if tz else hold.placed_at
        table.add_row(
            escape(hold.person_id),
            since.isoformat(timespec="minutes"),
            escape(hold.run_id),
            escape(hold.actor),
            escape(_status(desired, hold)),
        )
    console.print(table)


@hold_app.command("release")
def release_command(
    person: Annotated[str, typer.Argument(help="The person id of the hold.")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why the hold is lifted (recorded in the audit log).")
    ],
) -> None:
    """Lift PERSON's emergency hold, so plans follow the repo for them again (the next
    `apply` may give their access back). Recorded in the audit log with who did it and why."""
    if not reason.strip():
        err_console.print("[red]error:[/] --reason must say why the hold is lifted")
        raise typer.Exit(EXIT_ERROR)
    settings = load_settings()
    ctx = RunContext(settings=settings, moment=now(), confirm=True, run_id=new_run_id(now()))
    with locked(settings, ctx.run_id, f"hold release {person}"):
        try:
            hold = release_hold(ctx, person, reason.strip())
        except (RunRefused, AuditLogError) as exc:
            err_console.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(EXIT_ERROR) from None
    report_console().print(
        f"released the emergency hold on {escape(person)} (placed {hold.placed_at.isoformat()} "
        f"by {escape(hold.actor)}); plans follow the repo for them again"
    )
