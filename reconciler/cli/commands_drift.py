"""`reconciler drift`: read the systems, build the nightly drift report, print it and write
it to a directory; the report joins the history in the state store."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli import app
from reconciler.cli.common import (
    ConsoleEvents,
    LangOption,
    fail,
    language_of,
    load,
    parse_at,
    providers_for,
    store_or_exit,
)
from reconciler.model import Severity
from reconciler.reports.drift import DriftReport, render_drift_json
from reconciler.reports.drift_render import (
    drift_view,
    render_drift_html,
    render_drift_markdown,
    render_drift_text,
)
from reconciler.reports.history import trend
from reconciler.runs import RunRefused, drift_now

EXIT_CLEAN, EXIT_ERROR, EXIT_PARTIAL, EXIT_FINDINGS = 0, 1, 3, 4
FILES = ("drift.json", "drift.md", "drift.html")


class DriftFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"
    HTML = "html"


@app.command()
def drift(  # noqa: PLR0917 - typer passes options by keyword
    directory: Annotated[Path, typer.Option("--dir", help="The desired-state repo.")] = Path(
        "desired_state"
    ),
    out: Annotated[
        Path | None,
        typer.Option(help="Also write drift.json, drift.md and drift.html into this directory."),
    ] = None,
    output: Annotated[
        DriftFormat, typer.Option("--format", help="What to print on stdout.")
    ] = DriftFormat.TEXT,
    lang: LangOption = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            help="Exit 4 when a finding at or above this severity (critical, high, medium, "
            "low, info) is open."
        ),
    ] = None,
    sandbox: Annotated[
        bool, typer.Option(help="Start the embedded sandbox with the demo world.")
    ] = False,
    at: Annotated[
        str | None, typer.Option(help="Report as of this instant (ISO 8601 with zone).")
    ] = None,
) -> None:
    """The drift report: what exists that the repo does not say, what the repo says that is
    missing, the findings, leavers past the offboarding SLA, emergency holds not yet in the
    repo, and what is new or resolved since the previous report. Changes nothing.

    Exit codes: 0 done, 3 a system's read was incomplete, 4 a finding at or above
    --fail-on is open, 1 error.
    """
    threshold = _severity_option(fail_on)
    desired = load(directory)
    language = language_of(lang, desired)
    moment = parse_at(at)
    if out is not None and out.exists() and not out.is_dir():
        fail(f"--out {out}: not a directory")
    store = store_or_exit()
    try:
        with providers_for(desired, sandbox=sandbox, at=moment) as providers:
            # The embedded demo world is invented: it joins neither the read counts nor the
            # report history.
            outcome = drift_now(
                desired,
                providers,
                store=store,
                moment=moment,
                directory=directory,
                remember=not sandbox,
                events=ConsoleEvents(language),
            )
    except RunRefused as exc:
        fail(str(exc))
    report = outcome.report
    view = drift_view(report, desired, language, trend(list(outcome.history), report))
    rendered = {
        DriftFormat.JSON: lambda: render_drift_json(
            report, language, desired.organization.timezone
        ),
        DriftFormat.MARKDOWN: lambda: render_drift_markdown(view, language),
        DriftFormat.HTML: lambda: render_drift_html(view, language),
        DriftFormat.TEXT: lambda: render_drift_text(view, language),
    }
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
            for name, form in zip(
                FILES, (DriftFormat.JSON, DriftFormat.MARKDOWN, DriftFormat.HTML), strict=True
            ):
                (out / name).write_text(rendered[form](), encoding="utf-8")
        except OSError as exc:
            fail(f"--out {out}: cannot write the report ({exc.strerror or exc})")
    typer.echo(rendered[output](), nl=False)
    raise typer.Exit(exit_code(bool(outcome.plan.incomplete_systems), report, threshold))


def _severity_option(value: str | None) -> Severity | None:
    if value is None:
        return None
    try:
        return Severity(value.lower())
    except ValueError:
        names = ", ".join(s.value for s in Severity)
        fail(f"--fail-on {value!r} is not a severity: use one of {names}")


def exit_code(incomplete: bool, report: DriftReport, fail_on: Severity | None) -> int:
    """3 when a read was incomplete (the report may miss what the read missed: as for `plan`,
    partial comes first), else 4 when a finding at or above `fail_on` is open, else 0."""
    if incomplete:
        return EXIT_PARTIAL
    # rank 0 is critical: "at or above" is a rank no greater than the threshold's
    if fail_on is not None and any(
        Severity(f.severity).rank <= fail_on.rank for f in report.findings
    ):
        return EXIT_FINDINGS
    return EXIT_CLEAN
