"""The `reconciler` command line. Each command lives in its own module and registers on `app`."""

from __future__ import annotations

import importlib
import os
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

app = typer.Typer(
    name="reconciler",
    help="Reconcile access rights (Google Workspace, GitHub, GCP IAM) with a desired-state repo.",
    no_args_is_help=True,
    rich_markup_mode="markdown",  # joins the docstrings' wrapped lines into paragraphs
    pretty_exceptions_show_locals=False,  # locals may hold credentials
    context_settings={"help_option_names": ["-h", "--help"]},  # every command, subcommands too
)


def package_version() -> str:
    """The installed distribution's version (pyproject.toml, via the package metadata), so
    `--version` always names what is installed; a source tree run without installing says
    so instead of guessing."""
    try:
        return version("reconciler")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"reconciler {package_version()}")
        raise typer.Exit()


def _register_commands() -> None:
    # Imported for their side effect of adding commands to `app`.
    # In this order, which is the order `--help` lists them in: the daily path first.
    for module in (
        "commands_desired",  # validate, schema, explain
        "commands_plan",
        "commands_drift",
        "commands_findings",
        "commands_apply",  # apply, offboard
        "commands_hold",
        "commands_audit",
        "commands_doctor",
        "commands_serve",
        "commands_inventory",  # inventory, review
        "commands_sandbox",
        "commands_demo",
    ):
        importlib.import_module(f"reconciler.cli.{module}")


@app.callback()
def _configure(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,  # before settings are read: a bad .env must not hide the version
            help="Print the installed version and exit.",
        ),
    ] = False,
) -> None:
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
