"""The `reconciler` command line. Each command lives in its own module and registers on `app`."""

from __future__ import annotations

import os

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
        commands_apply,  # noqa: F401
        commands_audit,  # noqa: F401
        commands_demo,  # noqa: F401
        commands_desired,  # noqa: F401
        commands_plan,  # noqa: F401
        commands_sandbox,  # noqa: F401
    )


@app.callback()
def _configure() -> None:
    """Logging for every command: readable on a terminal, JSON otherwise (settings.py)."""
    from reconciler.log import configure_logging
    from reconciler.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)


def main() -> None:
    # gRPC's C core logs connection shutdowns (GOAWAY) at INFO to stderr; only errors matter.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    _register_commands()
    app()
