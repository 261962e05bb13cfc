"""`reconciler findings`: print the finding catalogue (every code, its severity, policy
article, titles, explanation and remediation); `make docs` writes docs/findings.md with it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from reconciler.cli import app
from reconciler.cli.output import report_console
from reconciler.policy.catalogue import CATALOGUE
from reconciler.reports.catalogue import render_catalogue_json, render_catalogue_markdown


class CatalogueFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"


@app.command()
def findings(
    output: Annotated[
        CatalogueFormat, typer.Option("--format", help="text, markdown (docs/findings.md) or json")
    ] = CatalogueFormat.TEXT,
) -> None:
    """List every finding code with its severity, policy article and what to do."""
    if output is CatalogueFormat.MARKDOWN:
        typer.echo(render_catalogue_markdown(), nl=False)
        return
    if output is CatalogueFormat.JSON:
        typer.echo(render_catalogue_json(), nl=False)
        return
    table = Table(show_lines=True)
    for column in ("code", "severity", "article", "title", "what to do"):
        table.add_column(column, overflow="fold")
    for e in CATALOGUE.values():
        severity = e.severity.value + "".join(f"\n({v.severity.value})" for v in e.variants)
        article = e.article + "".join(f"\n({v.article})" for v in e.variants)
        cells = (e.code, severity, article, f"{e.title_en}\n{e.title_ja}", e.remediation_en)
        table.add_row(*(escape(c) for c in cells))
    report_console().print(table)
