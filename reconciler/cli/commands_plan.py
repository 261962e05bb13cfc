"""`reconciler plan`: read the systems, compare with desired_state/, show the plan (no changes)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from reconciler.cli import app
from reconciler.cli.common import (
    ConsoleEvents,
    LangOption,
    err_console,
    language_of,
    load,
    parse_at,
    providers_for,
    settings,
)
from reconciler.cli.output import report_console
from reconciler.execute import EXIT_PARTIAL, partial_reasons
from reconciler.reports.plans import render_json, render_markdown, render_text
from reconciler.runs import RunRefused, plan_now
from reconciler.state import StateStoreError, open_state_store

EXIT_NO_CHANGES, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


class PlanFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"


@app.command()
def plan(  # noqa: PLR0917 - typer passes options by name; the signature is the CLI
    directory: Annotated[Path, typer.Option("--dir", help="The desired-state repo.")] = Path(
        "desired_state"
    ),
    output: Annotated[
        PlanFormat, typer.Option("--format", help="How to show the plan.")
    ] = PlanFormat.TEXT,
    out: Annotated[
        Path | None, typer.Option(help="Also save the plan as JSON, for `apply --plan`.")
    ] = None,
    sandbox: Annotated[
        bool, typer.Option(help="Start the embedded sandbox with the demo world.")
    ] = False,
    at: Annotated[
        str | None, typer.Option(help="Plan as of this instant (ISO 8601 with zone).")
    ] = None,
    lang: LangOption = None,
) -> None:
    """Show what would change to match the repo, and the policy findings. Changes nothing.

    Reads Google Workspace, GitHub and GCP IAM (or the sandbox), compares them with the
    desired state at this moment (or --at), and prints actions grouped by person and system.

    Exit codes: 0 no changes, 2 changes pending, 3 partial (a system's read was incomplete,
    or a rule holds changes back), 1 error.
    """
    desired = load(directory)
    language = language_of(lang, desired)
    moment = parse_at(at)
    try:
        store = open_state_store(settings())
    except StateStoreError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_ERROR) from None
    try:
        with providers_for(desired, sandbox=sandbox, at=moment) as providers:
            # The embedded demo world is invented: its counts must not become the real ones.
            result = plan_now(
                desired,
                providers,
                store=store,
                moment=moment,
                directory=directory,
                remember_counts=not sandbox,
                events=ConsoleEvents(),
            ).plan
    except RunRefused as exc:
        for line in str(exc).splitlines():
            err_console.print(f"[red]error:[/] {escape(line)}", soft_wrap=True)
        raise typer.Exit(EXIT_ERROR) from None
    if out is not None:
        out.write_text(render_json(result) + "\n", encoding="utf-8")
        err_console.print(f"plan saved to {out} (checksum {result.checksum[:12]})")
    if output is PlanFormat.JSON:
        typer.echo(render_json(result))
    elif output is PlanFormat.MARKDOWN:
        typer.echo(render_markdown(result, desired, language))
    else:
        report_console().print(render_text(result, desired, language))
    if partial_reasons(result):
        raise typer.Exit(EXIT_PARTIAL)
    raise typer.Exit(EXIT_CHANGES if result.has_changes else EXIT_NO_CHANGES)
