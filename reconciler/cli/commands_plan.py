"""`reconciler plan`: read the systems, compare with desired_state/, show the plan (no changes)."""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from reconciler.cli import app
from reconciler.cli.common import (
    ConsoleEvents,
    LangOption,
    err_console,
    fail,
    language_of,
    load,
    parse_at,
    providers_for,
    settings,
    store_or_exit,
)
from reconciler.cli.output import report_console
from reconciler.errors import ProviderError
from reconciler.execute import EXIT_PARTIAL, partial_reasons
from reconciler.model import DesiredState, Plan, System
from reconciler.reports.i18n import Language
from reconciler.reports.plans import (
    PLAN_COMMENT_MARKER,
    render_json,
    render_markdown,
    render_pr_comment,
    render_text,
)
from reconciler.runs import RunRefused, plan_now

if TYPE_CHECKING:
    from reconciler.providers.base import Provider

EXIT_NO_CHANGES, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
# OWNER/REPO#NUMBER as GitHub spells a pull request reference.
_PR_REFERENCE = re.compile(
    r"^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/([A-Za-z0-9._-]{1,100})#([1-9][0-9]*)$"
)


def parse_pr_reference(value: str) -> tuple[str, int]:
    """`--pr-comment example-co/desired-state#12` -> ("example-co/desired-state", 12); any
    other spelling exits 1 with a one-line error before anything is read."""
    match = _PR_REFERENCE.match(value.strip())
    if match is None:
        fail(
            f"--pr-comment {value!r} is not a pull request: write OWNER/REPO#NUMBER, "
            "e.g. example-co/desired-state#12"
        )
    return f"{match.group(1)}/{match.group(2)}", int(match.group(3))


def artifact_url(option: str | None) -> str | None:
    """Where the full plan can be read: `--artifact-url`, else the GitHub Actions run that
    is making the plan (its page lists the run's artifacts), else nothing."""
    if option:
        return option
    parts = [os.environ.get(n, "").strip() for n in
             ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]  # fmt: skip
    if all(parts):
        server, repository, run_id = parts
        return f"{server.rstrip('/')}/{repository}/actions/runs/{run_id}"
    return None


def post_pr_comment(
    providers: dict[System, Provider],
    reference: tuple[str, int],
    result: Plan,
    desired: DesiredState,
    link: str | None,
    *,
    lang: Language | None = None,
) -> None:
    """Post the plan as the pull request's one plan comment, with RECONCILER_PR_COMMENT_TOKEN
    or else the GitHub provider (`connecting.pr_commenter` decides, and refuses the read-only
    credentials)."""
    from reconciler.providers.connecting import pr_commenter

    repository, number = reference
    try:
        commenter = pr_commenter(settings(), repository, providers.get(System.GITHUB))
    except ProviderError as exc:
        fail(f"--pr-comment {repository}#{number}: {exc}")
    body = render_pr_comment(result, desired, artifact_url=link, lang=lang)
    try:
        posted = commenter.upsert_issue_comment(repository, number, body, PLAN_COMMENT_MARKER)
    except ProviderError as exc:
        fail(f"--pr-comment {repository}#{number}: the plan comment could not be posted: {exc}")
    verb = "posted" if posted.created else "updated"
    err_console.print(f"plan comment {verb} on {repository}#{number}: {posted.url}", soft_wrap=True)


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
    pr_comment: Annotated[
        str | None,
        typer.Option(
            "--pr-comment",
            metavar="OWNER/REPO#N",
            help="Also post the plan as the pull request's one plan comment, updated in place.",
        ),
    ] = None,
    artifact: Annotated[
        str | None,
        typer.Option(
            "--artifact-url",
            help="Where the full plan is kept, linked from the comment (default: the GitHub "
            "Actions run, when GITHUB_RUN_ID is set).",
        ),
    ] = None,
    lang: LangOption = None,
) -> None:
    """Show what would change to match the repo, and the policy findings. Changes nothing.

    Reads Google Workspace, GitHub and GCP IAM (or the sandbox), compares them with the
    desired state at this moment (or --at), and prints actions grouped by person and system.

    Exit codes: 0 no changes, 2 changes pending, 3 partial (a system's read was incomplete,
    or a rule holds changes back), 1 error.
    """
    reference = parse_pr_reference(pr_comment) if pr_comment is not None else None
    desired = load(directory)
    language = language_of(lang, desired)
    moment = parse_at(at)
    store = store_or_exit()
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
                events=ConsoleEvents(language),
            ).plan
            if reference is not None:
                post_pr_comment(
                    providers, reference, result, desired, artifact_url(artifact), lang=language
                )
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
