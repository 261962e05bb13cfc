"""`reconciler inventory` (the yearly access inventory, 棚卸) and `reconciler review start|status`
(the yearly access review); registered by `reconciler.cli`. The shell around
`reports.inventory` and `desired.reviewing`: it reads the clock, runs `git blame` for the
provenance of each granting line, and writes the files."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from reconciler.cli import app
from reconciler.cli.common import (
    ConsoleEvents,
    err_console,
    fail,
    load,
    parse_at,
    providers_for,
    store_or_exit,
)
from reconciler.cli.output import report_console
from reconciler.desired.expanding import expand_access
from reconciler.desired.reviewing import NoReviewer, completeness, review_files
from reconciler.reports.i18n import language
from reconciler.reports.inventory_files import inventory_files, render_manifest
from reconciler.runs import RunRefused, git_provenance, inventory_now

DEFAULT_DIR = Path("desired_state")
EXIT_INCOMPLETE = 1


class Lang(StrEnum):
    JA = "ja"
    EN = "en"


def _year(value: int) -> int:
    if not 2000 <= value <= 9999:
        fail(f"--year {value} is not a year (write it as YYYY, e.g. 2026)")
    return value


@app.command()
def inventory(  # noqa: PLR0917 - typer passes options positionally
    year: Annotated[int, typer.Option(help="The year the inventory is for (YYYY).")],
    out: Annotated[Path, typer.Option(help="Directory to write the files to.")],
    lang: Annotated[Lang, typer.Option(help="Language of headers and labels.")] = Lang.JA,
    directory: Annotated[Path, typer.Option("--dir", help="The desired-state repo.")] = DEFAULT_DIR,
    sandbox: Annotated[
        bool, typer.Option(help="Start the embedded sandbox with the demo world.")
    ] = False,
    at: Annotated[str | None, typer.Option(help="As of this instant (ISO 8601 with zone).")] = None,
) -> None:
    """Write the access inventory (棚卸, policy 第5.2条2): every account and grant in every
    system, matched to a person or marked unmanaged, orphaned, external or non-human.

    Files in OUT: google.csv, github.csv, gcp.csv, people.csv, review.csv (UTF-8 with BOM),
    inventory.xlsx, inventory.html, inventory.md and manifest.json (SHA-256 of each file, the
    state fingerprint and the audit log head). Changes nothing in the systems.
    """
    year = _year(year)
    desired = load(directory)
    moment = parse_at(at)
    if out.exists() and not out.is_dir():
        fail(f"--out {out} exists and is not a directory")
    store = store_or_exit()
    # Not in git (desired.commit unset): no provenance, and no thousand failing git calls.
    provenance = git_provenance(directory, desired)
    try:
        with providers_for(desired, sandbox=sandbox, at=moment) as providers:
            result = inventory_now(
                desired,
                providers,
                store=store,
                moment=moment,
                year=year,
                provenance=provenance,
                remember_counts=not sandbox,
                events=ConsoleEvents(language(lang.value)),
            )
    except RunRefused as exc:
        fail(str(exc))
    files = inventory_files(result.inventory, lang.value)
    files["manifest.json"] = render_manifest(files, result.inventory, result.audit_head)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (out / name).write_bytes(data)
    except OSError as exc:
        fail(f"cannot write the inventory to {out}: {exc.strerror}")
    inv = result.inventory
    err_console.print(
        f"inventory {year}: {len(inv.rows)} rows, {inv.count('unmanaged')} unmanaged, "
        f"{inv.count('orphaned')} orphaned, {inv.count('external')} external; "
        f"{len(files)} files in {out}"
    )
    if inv.incomplete:
        fail("incomplete read of " + ", ".join(s.value for s in inv.incomplete), code=3)


review_app = typer.Typer(
    help="The yearly access review: who reviews which grant, and how far it is.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")


@review_app.command("start")
def review_start(
    year: Annotated[int, typer.Option(help="The review's year (YYYY).")],
    directory: Annotated[Path, typer.Option("--dir", help="The desired-state repo.")] = DEFAULT_DIR,
) -> None:
    """Write reviews/YYYY/<reviewer>.yaml: every grant of every active person, for their
    manager (or the role's owner) to decide keep or revoke; privileged grants go to the
    security officer. Existing review files are never overwritten."""
    year = _year(year)
    desired = load(directory)
    now = datetime.now(UTC)
    try:
        files = review_files(desired, expand_access(desired, now), year)
    except NoReviewer as exc:
        fail(str(exc))
    existing = sorted(name for name in files if (directory / name).exists())
    if existing:
        fail(f"the {year} review has already started ({directory / existing[0]} exists)")
    try:
        for name, content in files.items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write the review files: {exc.strerror}")
    for name in files:
        typer.echo(f"wrote {directory / name}")
    err_console.print(
        f"review {year}: {len(files)} reviewer file(s); fill in every decision, commit, and "
        f"follow it with `reconciler review status --year {year}`"
    )


@review_app.command("status")
def review_status(
    year: Annotated[int, typer.Option(help="The review's year (YYYY).")],
    directory: Annotated[Path, typer.Option("--dir", help="The desired-state repo.")] = DEFAULT_DIR,
) -> None:
    """How complete the year's review is, by reviewer and by system. Exit 0 when every
    grant has a decision, 1 while some are missing (or there is no review that year)."""
    year = _year(year)
    desired = load(directory)
    status = completeness(desired, year)
    if not status.total:
        fail(f"no review for {year} (start it with `reconciler review start --year {year}`)")
    console = report_console()
    for title, rows in (
        ("reviewer", dict(status.by_reviewer)),
        ("system", {k.value: v for k, v in status.by_system.items()}),
    ):
        table = Table(title=f"review {year} by {title}")
        table.add_column(title)
        table.add_column("decided", justify="right")
        table.add_column("total", justify="right")
        for key, (done, total) in rows.items():
            table.add_row(key, str(done), str(total))
        console.print(table)
    state = "complete" if status.complete else "INCOMPLETE"
    typer.echo(
        f"review {year}: {state}, {status.decided}/{status.total} decided, {status.revoked} revoked"
    )
    if not status.complete:
        raise typer.Exit(EXIT_INCOMPLETE)
