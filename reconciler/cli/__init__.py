"""The `reconciler` command line. Each command lives in its own module and registers on `app`."""

from __future__ import annotations

import importlib
import os

import typer

app = typer.Typer(
    name="reconciler",
    help="Reconcile access rights (Google Workspace, GitHub, GCP IAM) with a desired-state repo.",
    no_args_is_help=True,
    rich_markup_mode="markdown",  # joins the docstrings' wrapped lines into paragraphs
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)


def _register_commands() -> None:
    # Imported for their side effect of adding commands to `app`.
    # In this order, which is the order `--help` lists them in: the daily path first.
    for module in (
        "commands_desired",  # validate, schema, explain
        "commands_plan",
        "commands_apply",  # apply, offboard
        "commands_hold",
        "commands_audit",
        "commands_serve",
        "commands_sandbox",
        "commands_demo",
    ):
        importlib.import_module(f"reconciler.cli.{module}")


@app.callback()
def _configure() -> None:
    """Logging for every command: readable on a terminal, JSON otherwise (settings.py). A
    setting that does not parse stops every command with one line naming the variable."""
    from pydantic import ValidationError

    from reconciler.log import configure_logging
    from reconciler.settings import load_settings

    try:
        settings = load_settings()
    except ValidationError as exc:
        problem = exc.errors()[0]
        name = "RECONCILER_" + "_".join(str(p) for p in problem["loc"]).upper()
        typer.echo(f"error: {name}: {problem['msg']}", err=True)
        raise typer.Exit(1) from None
    configure_logging(settings.log_format, settings.log_level)


def main() -> None:
    # gRPC's C core logs connection shutdowns (GOAWAY) at INFO to stderr; only errors matter.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    _register_commands()
    app()
