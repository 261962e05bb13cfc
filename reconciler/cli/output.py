"""Consoles for the CLI's reports (used by every command that prints a table)."""

from __future__ import annotations

from rich.console import Console


def report_console() -> Console:
    """Stdout console for plans and reports: the terminal's width, or 160 columns when piped
    (rich's 80-column default squeezes the tables into unreadable slivers in CI logs)."""
    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console = Console(soft_wrap=False, width=160)
    return console
