"""docs/permissions.md's table is `reconciler.providers.permissions`, row for row: the doc
cannot drift from what the code asks for. Regenerate it with
`.venv/bin/python -m tests.deploy.test_permissions_doc` after changing the module."""

from __future__ import annotations

from pathlib import Path

from reconciler.providers.permissions import (
    ADMIN_SCOPES,
    GCP_PERMISSIONS,
    GITHUB_APP_EVENTS,
    GITHUB_APP_PERMISSIONS,
    READ_ONLY_ADMIN_SCOPES,
    READ_ONLY_GITHUB_APP_PERMISSIONS,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
BEGIN = "<!-- generated from reconciler/providers/permissions.py: do not edit by hand -->"
END = "<!-- end of generated table -->"


def table() -> str:
    rows = [
        "| kind | name | where | what for | policy |",
        "|---|---|---|---|---|",
    ]
    for s in ADMIN_SCOPES:
        calls = ", ".join(f"`{c}`" for c in s.calls)
        rows.append(
            f"| Admin SDK scope | `{s.scope}` | delegation ({calls}) | {s.why} | {s.article} |"
        )
    for s in READ_ONLY_ADMIN_SCOPES:
        calls = ", ".join(f"`{c}`" for c in s.calls)
        rows.append(
            f"| Admin SDK scope | `{s.scope}` | read-only delegation ({calls}) | {s.why} "
            f"| {s.article} |"
        )
    for p in GITHUB_APP_PERMISSIONS:
        rows.append(
            f"| GitHub App permission | {p.name}: {p.level} | {p.scope} | {p.why} | {p.article} |"
        )
    for p in READ_ONLY_GITHUB_APP_PERMISSIONS:
        rows.append(
            f"| GitHub App permission | {p.name}: {p.level} | read-only App, {p.scope} | {p.why} "
            f"| {p.article} |"
        )
    for e in GITHUB_APP_EVENTS:
        rows.append(f"| GitHub App event | `{e.name}` | webhook | {e.why} | {e.article} |")
    for g in GCP_PERMISSIONS:
        plan = " (also the pull-request plan identity)" if g.plan else ""
        rows.append(
            f"| GCP permission | `{g.permission}` | {g.target.value}{plan} | {g.why} (`{g.call}`) "
            f"| {g.article} |"
        )
    return "\n".join([BEGIN, *rows, END])


def test_the_doc_holds_the_generated_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == table(), (
        "docs/permissions.md is out of date: python -m tests.deploy.test_permissions_doc"
    )


if __name__ == "__main__":
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOC.write_text(text[:start] + table() + text[end:], encoding="utf-8")
