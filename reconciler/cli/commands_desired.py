"""`reconciler validate`, `reconciler schema` and `reconciler explain`: the desired-state repo
from the command line. The shell around `reconciler.desired`: it reads files and the clock."""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from reconciler.cli import app
from reconciler.cli.output import report_console
from reconciler.desired.expanding import EMPLOYMENT, access_on, expand_access
from reconciler.desired.formats import json_schema_text
from reconciler.desired.loading import load_desired_dir
from reconciler.desired.problems import ValidationFailed
from reconciler.model import DesiredState, Entitlement, Person, PersonStatus, System

DEFAULT_DIR = Path("desired_state")


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    GITHUB = "github"  # GitHub Actions annotations (validate only)


def load_desired_or_exit(directory: Path, commit: str | None, output: OutputFormat) -> DesiredState:
    """Load or print every error and exit 1 (the CLI's one place that renders them)."""
    try:
        return load_desired_dir(directory, commit=commit)
    except ValidationFailed as failed:
        if output is OutputFormat.JSON:
            errors = [
                {
                    "file": f"{directory.as_posix().rstrip('/')}/{e.file}",
                    "line": e.line,
                    "column": e.column,
                    "field": e.field,
                    "message": e.message,
                }
                for e in failed.errors
            ]
            typer.echo(json.dumps({"valid": False, "errors": errors}, ensure_ascii=False, indent=2))
        elif output is OutputFormat.GITHUB:
            for error in failed.errors:
                typer.echo(error.github_annotation(_repo_path(directory / error.file)))
            typer.echo(f"invalid: {len(failed.errors)} error(s)", err=True)
        else:
            for error in failed.errors:
                typer.echo(error.render(directory.as_posix()), err=False)
            typer.echo(f"invalid: {len(failed.errors)} error(s)", err=True)
        raise typer.Exit(1) from None


def _repo_path(path: Path) -> str:
    """`path` relative to the working directory, which in a GitHub Actions job is the
    checked-out repository's root: the form annotations need to land on the diff."""
    absolute = path.resolve()
    try:
        return absolute.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return absolute.as_posix()


@app.command()
def validate(
    directory: Annotated[Path, typer.Argument(help="the desired-state directory")] = DEFAULT_DIR,
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            help="text (file:line:col: ...), json, or github (Actions annotations on the PR)",
        ),
    ] = OutputFormat.TEXT,
    commit: Annotated[str | None, typer.Option(help="git commit of the repo, recorded")] = None,
) -> None:
    """Check every file of the desired-state repo; report every error with file:line:column.

    `--format github` prints each error as a GitHub Actions annotation, paths relative to the
    working directory (run it from the repository root, as a workflow does)."""
    state = load_desired_or_exit(directory, commit, output)
    if output is OutputFormat.JSON:
        summary = {"valid": True, "people": len(state.people), "roles": len(state.roles)}
        typer.echo(json.dumps({**summary, "commit": commit, "errors": []}, indent=2))
    else:
        typer.echo(f"valid: {len(state.people)} people, {len(state.roles)} roles")


@app.command()
def schema(
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    """Print the JSON Schema of organization.yaml, roles.yaml and people/*.yaml."""
    text = json_schema_text()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")


@app.command()
def explain(
    person: Annotated[str, typer.Argument(help="person id, email or GitHub login")],
    date: Annotated[
        str | None, typer.Option("--date", help="YYYY-MM-DD (default: now)", show_default=False)
    ] = None,
    directory: Annotated[Path, typer.Option("--dir", help="desired-state directory")] = DEFAULT_DIR,
) -> None:
    """Show what PERSON should hold in each system on a date, and why."""
    state = load_desired_or_exit(directory, None, OutputFormat.TEXT)
    found = _find_person(state, person)
    if found is None:
        typer.echo(f"no person '{person}' (give an id, an email or a GitHub login)", err=True)
        raise typer.Exit(2)
    if date is None:
        # The shell may read the clock; the core takes the moment as a parameter.
        access = expand_access(state, dt.datetime.now(dt.UTC))
        when = f"now ({access.at:%Y-%m-%d %H:%M %Z})"
    else:
        try:
            day = dt.date.fromisoformat(date)
        except ValueError:
            typer.echo(f"--date: '{date}' is not a date (YYYY-MM-DD)", err=True)
            raise typer.Exit(2) from None
        access = access_on(state, day)
        when = f"on {day} (as the day begins, {state.organization.timezone})"
    held = access.people[found.id]
    console = report_console()
    console.print(f"[bold]{escape(found.name)}[/bold] ({found.id}, {found.email}) {when}")
    console.print(f"status: {held.status.value}; {_employment_line(found, held.access_ends_at)}")
    if found.github:
        console.print(f"GitHub login: {found.github}")
    if held.status is not PersonStatus.ACTIVE:
        console.print("holds no access in any system")
        return
    table = Table(show_lines=False)
    table.add_column("access", no_wrap=True)
    table.add_column("target", overflow="fold")
    table.add_column("role", overflow="fold")
    table.add_column("why", overflow="fold")
    order = list(System)
    for ent in sorted(held.entitlements, key=lambda e: (order.index(e.grant.system), e.grant)):
        grant = ent.grant
        # escape(): values come from the repo; "[x]" would otherwise be read as rich markup.
        cells = (grant.kind.value.replace("_", " "), grant.target, grant.role, _why(ent))
        table.add_row(*(escape(c) for c in cells))
    console.print(table)


def _find_person(state: DesiredState, key: str) -> Person | None:
    if key in state.people:
        return state.people[key]
    if "@" in key:
        return state.person_by_email(key)
    return state.person_by_login(key)


def _employment_line(person: Person, ends: dt.datetime | None) -> str:
    job = person.employment
    text = f"{job.type.value} from {job.start}"
    if ends is not None:
        text += f", last day {job.end}, access ends {ends:%Y-%m-%d %H:%M %Z}"
    return text


def _why(ent: Entitlement) -> str:
    if ent.via_role == EMPLOYMENT:
        return "employed"
    text = f"role {ent.via_role}"
    if ent.approved_by is not None:
        text = f"grant {ent.via_role}, approved by {ent.approved_by}"
        text += f", until {ent.expires}" if ent.expires else ", no expiry"
        if ent.reason:
            text += f": {ent.reason}"
    if ent.privileged:
        text += " [privileged]"
    return text
