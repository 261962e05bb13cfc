"""The `reconciler` command line. Each command lives in its own module and registers on `app`."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="reconciler",
    help="Reconcile access rights (Google Workspace, GitHub, GCP IAM) with a desired-state repo.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)


def _register_commands() -> None:
    # Imported for their side effect of adding commands to `app`.
    from reconciler.cli import (
        commands_audit,  # noqa: F401
        commands_desired,  # noqa: F401
        commands_sandbox,  # noqa: F401
    )


def main() -> None:
    _register_commands()
    app()
