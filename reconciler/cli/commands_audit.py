"""`reconciler audit verify|show|leavers|repair`: the auditors' view of the hash-chained audit log
(reconciler/audit.py), local or on GCS alike through `AuditTrail`; registered on the CLI by
`reconciler.cli._register_commands`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reconciler.audit import (
    AuditLog,
    AuditLogError,
    AuditRecord,
    AuditTrail,
    RecordType,
    check_anchor,
    find_unfinished_intents,
    leaver_evidence,
    repair_truncated_tail,
)
from reconciler.cli import app
from reconciler.errors import ReconcilerError

audit_app = typer.Typer(
    help="Verify and read the append-only audit log (hash chain, runs, leavers).",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")

PathArg = Annotated[
    str | None,
    typer.Argument(
        help="The audit log: a local file, or the gs://BUCKET/PREFIX of a state store "
        "(default: the configured state store's log).",
        metavar="LOG",
    ),
]

EXIT_TAMPERED = 1  # also: `audit leavers` found a late or incomplete leaver
EXIT_TRUNCATED = 2  # a crash, not tampering: told apart so monitoring can page differently


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False, width=160)


def _resolve(path: str | None) -> AuditTrail:
    from reconciler.settings import load_settings
    from reconciler.state import open_audit_trail

    return open_audit_trail(load_settings(), path)


@contextmanager
def _refusing_errors(console: Console) -> Iterator[None]:
    """An unreadable store or bucket is one line and exit 1, never a traceback."""
    try:
        yield
    except (AuditLogError, ReconcilerError, OSError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(EXIT_TAMPERED) from None


@audit_app.command("verify")
def verify_command(
    path: PathArg = None,
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            help="A head hash published after an earlier run: fail unless it is the hash of "
            "a record in the chain (catches a history rewritten with recomputed hashes).",
        ),
    ] = None,
) -> None:
    """Check every record's hash, the chain and the sequence; exit 1 naming the first bad
    record if anything was edited, deleted, inserted or reordered."""
    console = _console()
    with _refusing_errors(console):
        trail = _resolve(path)
        if not trail.exists():
            console.print(f"[red]{escape(trail.describe())}: no such audit log[/red]")
            raise typer.Exit(EXIT_TAMPERED)
        report = trail.verify()
    if report.tampered:
        console.print(f"[bold red]{escape(report.describe())}[/bold red]")
        raise typer.Exit(EXIT_TAMPERED)
    if expect_head is not None:
        problem = check_anchor(report, expect_head)
        if problem is not None:
            console.print(
                f"[bold red]{escape(str(report.path))}: TAMPERED: {escape(problem)}[/]",
                soft_wrap=True,  # one line: monitoring greps it
            )
            raise typer.Exit(EXIT_TAMPERED)
    if report.truncated_tail is not None:
        console.print(f"[yellow]{escape(report.describe())}[/yellow]")
        raise typer.Exit(EXIT_TRUNCATED)
    console.print(f"[green]{escape(report.describe())}[/green]")
    if expect_head is not None:
        console.print(f"the published head {expect_head.strip().lower()} is in the chain")
    if report.unfinished_intents:
        console.print(
            f"[yellow]{len(report.unfinished_intents)} intent(s) without a result (a run "
            "stopped mid-action; its re-run converges): see `reconciler audit show`[/yellow]"
        )


@audit_app.command("repair")
def repair_command(path: PathArg = None) -> None:
    """Move an incomplete last line (left by a crash mid-write) aside so runs can resume.
    Refuses if the rest of the log does not verify."""
    console = _console()
    with _refusing_errors(console):
        trail = _resolve(path)
    if not isinstance(trail, AuditLog):
        # GCS segments are written whole: there is never a half-written record to move aside.
        console.print(f"nothing to repair: {escape(trail.describe())} is not a local file")
        return
    result = repair_truncated_tail(trail.path)
    console.print(result.message)
    if not result.repaired and result.message.startswith("refused"):
        raise typer.Exit(EXIT_TAMPERED)


def _describe_action(action: Mapping[str, Any] | None) -> str:
    if not action:
        return ""
    role = f" ({action['role']})" if action.get("role") else ""
    who, where = action.get("principal", "?"), action.get("target", "?")
    return f"{action.get('kind', '?')} {who} on {where}{role}"


def _describe_result(record: AuditRecord) -> str:
    result = record.result
    if record.type == RecordType.RESULT and result is not None:
        state = "ok" if result.get("ok") else "FAILED"
        changed = ", changed" if result.get("changed") else ", no change"
        message = f": {result['message']}" if result.get("message") else ""
        return f"{state}{changed if result.get('ok') else ''}{message}"
    if record.type in (RecordType.RUN_START, RecordType.RUN_END):
        return ", ".join(f"{k}={v}" for k, v in sorted(record.details.items()))
    if record.type == RecordType.OFFBOARDING_COMPLETE:
        return f"last access removed {record.details.get('removed_at', '?')}"
    return ""


@audit_app.command("show")
def show_command(
    path: PathArg = None,
    run: Annotated[str | None, typer.Option("--run", help="Only this run id.")] = None,
    person: Annotated[str | None, typer.Option("--person", help="Only this person id.")] = None,
) -> None:
    """List records as a table; intents whose result is missing (a crashed run) are flagged."""
    console = _console()
    with _refusing_errors(console):
        trail = _resolve(path)
        records = trail.records()
        report = trail.verify()
    if not report.ok:
        console.print(f"[bold red]warning: {escape(report.describe())}[/bold red]")
    unfinished = {(r.where, r.line) for r in find_unfinished_intents(records)}
    table = Table(title=f"audit log {escape(trail.describe())}", show_lines=False)
    for column in ("seq", "time (UTC)", "type", "run", "actor", "person", "action", "result"):
        table.add_column(column, overflow="fold")
    shown = 0
    for record in records:
        if run is not None and record.run_id != run:
            continue
        if person is not None and record.person_id != person:
            continue
        result = _describe_result(record)
        if (record.where, record.line) in unfinished:
            result = "[bold yellow]NO RESULT: run stopped before this action finished[/]"
        table.add_row(
            str(record.seq),
            str(record.data.get("ts", ""))[:19],
            record.type,
            record.run_id,
            str(record.data.get("actor") or ""),
            record.person_id or "",
            _describe_action(record.action),
            result,
        )
        shown += 1
    console.print(table)
    console.print(f"{shown} of {len(records)} records")


@audit_app.command("leavers")
def leavers_command(path: PathArg = None) -> None:
    """For every leaver: last day, the moment access ended and when their last access was
    removed (system time where the API gave one, policy 第14.3条): evidence for 第5.2条3.
    Verifies the hash chain first. Exit 0 only when the log verifies and every leaver was
    offboarded the same day; 1 when it is tampered or missing, or any leaver was late or
    never completed; 2 when all were on time but the last line was cut by a crash."""
    console = _console()
    with _refusing_errors(console):
        trail = _resolve(path)
        if not trail.exists():
            console.print(f"[red]{escape(trail.describe())}: no such audit log[/red]")
            raise typer.Exit(EXIT_TAMPERED)
        report = trail.verify()
    if report.tampered:
        # Verdicts read from an edited log prove nothing: none are shown.
        console.print(f"[bold red]{escape(report.describe())}[/bold red]")
        console.print("[bold red]leavers not evaluated: the audit log does not verify[/]")
        raise typer.Exit(EXIT_TAMPERED)
    table = Table(title="leavers: last access removed vs last day (policy 第5.2条3)")
    for column in (
        "person",
        "last day",
        "access ended",
        "last access removed",
        "clock",
        "same day",
    ):
        table.add_column(column)
    evidence = leaver_evidence(report.verified)
    for leaver in evidence:
        verdict = (
            "[green]yes[/]"
            if leaver.ok
            else f"[bold red]NO ({leaver.verdict}): {escape(leaver.detail)}[/]"
        )
        table.add_row(
            escape(leaver.person_id),
            leaver.last_day.isoformat() if leaver.last_day else "",
            leaver.access_ends_at or "",
            leaver.removed_at.isoformat(timespec="seconds") if leaver.removed_at else "",
            leaver.removed_at_source,
            verdict,
        )
    console.print(table)
    failing = [e for e in evidence if not e.ok]
    console.print(f"{len(evidence)} leaver(s), {len(failing)} not offboarded the same day")
    if report.truncated_tail is not None:
        console.print(f"[yellow]{escape(report.describe())}[/yellow]")
    if failing:
        for leaver in failing:
            console.print(
                f"[bold red]{escape(leaver.person_id)}: {leaver.verdict} (line {leaver.line}): "
                f"{escape(leaver.detail)}[/]"
            )
        raise typer.Exit(EXIT_TAMPERED)
    if report.truncated_tail is not None:
        raise typer.Exit(EXIT_TRUNCATED)
