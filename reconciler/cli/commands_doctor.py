"""`reconciler doctor`: check a deployment's credentials and permissions before its first run,
and print per system what works and what is missing with the exact fix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from reconciler.cli import app
from reconciler.cli.common import err_console, load, settings
from reconciler.cli.output import report_console
from reconciler.log import redact_text

EXIT_READY, EXIT_MISSING = 0, 1


@app.command()
def doctor(
    directory: Annotated[Path, typer.Option("--dir", help="The desired-state repo.")] = Path(
        "desired_state"
    ),
) -> None:
    """Check credentials and permissions for every system in scope, changing nothing.

    Google: each domain-wide delegation scope with a harmless read, and the admin subject.
    GitHub: the App installation and each permission it needs, or the token's owner role.
    GCP: testIamPermissions on every resource in scope. Also each configured Secret Manager
    reference, and the state store: a local directory must be writable; on gs:// a probe
    object is written, read back and deleted, a conflicting generation precondition must be
    refused, and the audit bucket must have a retention policy and must not let the runtime
    delete objects.

    Exit codes: 0 everything needed is there, 1 something is missing (each item is named,
    with its fix).
    """
    from reconciler.providers.doctor import run_checks
    from reconciler.providers.permissions import GcpTarget, gcp_permissions_on
    from reconciler.state.doctor import check_state_store

    desired = load(directory)
    config = settings()
    checks = run_checks(desired, config)
    checks += check_state_store(
        config,
        [p.permission for p in gcp_permissions_on(GcpTarget.STATE_BUCKET)],
        [p.permission for p in gcp_permissions_on(GcpTarget.AUDIT_BUCKET)],
    )
    out = report_console()
    system = ""
    for check in checks:
        if check.system != system:
            system = check.system
            out.print(f"[bold]{system}[/]")
        mark = (
            "[yellow]-[/]" if check.skipped else "[green]ok[/]" if check.ok else "[red]MISSING[/]"
        )
        out.print(
            f"  {mark} {escape(redact_text(check.item))}: {escape(redact_text(check.detail))}",
            soft_wrap=True,
        )
        if check.fix and not check.ok and not check.skipped:
            out.print(f"      fix: {escape(redact_text(check.fix))}", soft_wrap=True)
    missing = [c for c in checks if not c.ok and not c.skipped]
    if missing:
        names = "; ".join(f"{c.system}: {c.item}" for c in missing)
        err_console.print(
            f"[red]doctor:[/] {len(missing)} missing: {escape(redact_text(names))}",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_MISSING)
    err_console.print("[green]doctor:[/] everything the reconciler needs is in place")
    raise typer.Exit(EXIT_READY)
