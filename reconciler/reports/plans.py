"""Plan renderers: a terminal view for people, Markdown for pull-request comments, JSON for tools.

Pure: each function turns a Plan (and the desired state, for names) into a value; the CLI
prints it. One renderer per format (STYLE: one way to do a thing).
"""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from collections.abc import Iterable

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from reconciler.model import (
    Action,
    ActionKind,
    DesiredState,
    Finding,
    Plan,
    Severity,
    System,
    to_jsonable,
)

PLAN_FORMAT = 2  # bump when the JSON form changes incompatibly (docs/plan-format.md)

_SYMBOL = {True: ("-", "red"), False: ("+", "green")}
_CHANGES = {ActionKind.CHANGE_GROUP_ROLE, ActionKind.CHANGE_ORG_ROLE, ActionKind.CHANGE_TEAM_ROLE}
_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
_SYSTEM_LABEL = {System.GOOGLE: "Google Workspace", System.GITHUB: "GitHub", System.GCP: "GCP IAM"}
UNMANAGED = "(not in the repo)"


def _symbol(action: Action) -> tuple[str, str]:
    if action.kind in _CHANGES:
        return "~", "yellow"
    return _SYMBOL[action.is_removal]


def _person_label(person_id: str | None, desired: DesiredState | None) -> str:
    if person_id is None:
        return UNMANAGED
    person = desired.people.get(person_id) if desired else None
    return f"{person.name} ({person_id}, {person.email})" if person else person_id


def group_by_person(actions: Iterable[Action]) -> dict[str | None, list[Action]]:
    grouped: dict[str | None, list[Action]] = defaultdict(list)
    for action in actions:
        grouped[action.person_id].append(action)
    return dict(sorted(grouped.items(), key=lambda kv: (kv[0] is None, kv[0] or "")))


def summarise(plan: Plan) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for action in plan.actions:
        counts["removals" if action.is_removal else "additions"] += 1
        counts[f"system:{action.system.value}"] += 1
        if action.offboarding:
            counts["offboarding"] += 1
    for finding in plan.findings:
        counts[f"severity:{finding.severity.value}"] += 1
    return dict(counts)


def render_text(plan: Plan, desired: DesiredState | None = None) -> RenderableType:
    """The rich terminal view: actions grouped by person and system, then findings."""
    parts: list[RenderableType] = []
    counts = summarise(plan)
    head = Text()
    head.append(f"{len(plan.actions)} changes", style="bold")
    head.append(f"  (+{counts.get('additions', 0)} / -{counts.get('removals', 0)}")
    head.append(f", {counts.get('offboarding', 0)} offboarding)")
    head.append(f"   {len(plan.findings)} findings")
    sev = [
        f"{counts[f'severity:{s.value}']} {s.value}"
        for s in Severity
        if counts.get(f"severity:{s.value}")
    ]
    if sev:
        head.append(f" ({', '.join(sev)})")
    head.append(f"\nstate {plan.state_fingerprint[:12]}  plan {plan.checksum[:12]}", style="dim")
    if plan.desired_commit:
        head.append(f"  desired-state commit {plan.desired_commit[:12]}", style="dim")
    parts.append(Panel(head, title="Plan", expand=False))
    if plan.incomplete_systems:
        names = ", ".join(_SYSTEM_LABEL[s] for s in plan.incomplete_systems)
        parts.append(
            Text(
                f"⚠ incomplete read: {names} - changes held back there, except removing "
                "leavers' grants the read did show",
                "bold yellow",
            )
        )
    for note in plan.notes:
        parts.append(Text(f"  note: {note}", "yellow"))

    if plan.actions:
        table = Table(title="Changes", title_justify="left", show_lines=False, expand=True)
        table.add_column("person", overflow="fold", ratio=3)
        table.add_column("system", ratio=2)
        table.add_column("", width=1)
        table.add_column("change", overflow="fold", ratio=6)
        table.add_column("why", overflow="fold", ratio=4, style="dim")
        for person_id, actions in group_by_person(plan.actions).items():
            first = True
            for action in actions:
                symbol, style = _symbol(action)
                label = _person_label(person_id, desired) if first else ""
                change = Text(f"{action.kind.value} ", style=style)
                change.append(action.principal if person_id is None else "", style="bold")
                change.append(f"{' ' if person_id is None else ''}{action.target}")
                if action.role:
                    change.append(f" ({action.role})", style="italic")
                why = ("offboarding; " if action.offboarding else "") + action.reason
                table.add_row(label, _SYSTEM_LABEL[action.system], Text(symbol, style), change, why)
                first = False
            table.add_section()
        parts.append(table)
    else:
        parts.append(Text("No changes: the systems match desired_state.", "bold green"))

    if plan.findings:
        table = Table(title="Findings", title_justify="left", expand=True)
        table.add_column("severity", no_wrap=True)
        table.add_column("article", no_wrap=True)
        table.add_column("finding", no_wrap=True)
        table.add_column("subject", overflow="fold", ratio=2, min_width=24)
        table.add_column("detail", overflow="fold", ratio=3, min_width=30)
        for f in plan.findings:
            table.add_row(
                Text(f.severity.value, _SEVERITY_STYLE[f.severity]),
                f.article,
                f.code,
                f.subject,
                f.message,
            )
        parts.append(table)
    return Group(*parts)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# The hidden first line of the pull-request comment `plan --pr-comment` keeps up to date: how a
# later run finds the comment to edit instead of adding another.
PLAN_COMMENT_MARKER = "<!-- reconciler-plan -->"
# GitHub refuses a comment body over 65,536 characters (422). It counts characters its own way
# (an emoji can count double), so the comment stays well below.
COMMENT_BODY_LIMIT = 60_000


def _markdown_summary(plan: Plan) -> list[str]:
    """The head every Markdown form starts with: counts, findings by severity, checksums and
    the incomplete-read warning, so even a comment cut down to its summary says what matters."""
    counts = summarise(plan)
    severities = [
        f"{counts[f'severity:{s.value}']} {s.value}"
        for s in Severity
        if counts.get(f"severity:{s.value}")
    ]
    lines = [
        "## Access plan",
        "",
        f"**{len(plan.actions)} changes** (+{counts.get('additions', 0)}"
        f" / -{counts.get('removals', 0)}, {counts.get('offboarding', 0)} offboarding),"
        f" **{len(plan.findings)} findings**"
        + (f" ({', '.join(severities)})" if severities else "")
        + ".  ",
        f"State `{plan.state_fingerprint[:12]}`, plan checksum `{plan.checksum[:12]}`"
        + (f", desired-state commit `{plan.desired_commit[:12]}`" if plan.desired_commit else "")
        + ".",
        "",
    ]
    if plan.incomplete_systems:
        names = ", ".join(_SYSTEM_LABEL[s] for s in plan.incomplete_systems)
        lines += [
            f"> ⚠️ Incomplete read of {names}: changes there are held back, except removing "
            "leavers' grants the read did show.",
            "",
        ]
    return lines


def render_markdown(plan: Plan, desired: DesiredState | None = None) -> str:
    """Markdown for a pull-request comment: summary, changes per person (each person folded
    in a `<details>` block, so a long plan stays scannable), findings."""
    lines = _markdown_summary(plan)
    for note in plan.notes:
        lines.append(f"- note: {_md_escape(str(note))}")
    if plan.notes:
        lines.append("")
    if plan.actions:
        lines += ["### Changes", ""]
        for person_id, actions in group_by_person(plan.actions).items():
            label = _md_escape(_person_label(person_id, desired))
            lines += [
                "<details>",
                f"<summary><b>{html.escape(label)}</b>: {len(actions)} change(s)</summary>",
                "",
                "| | system | change | target | role | why |",
                "|---|---|---|---|---|---|",
            ]
            for a in actions:
                symbol, _ = _symbol(a)
                why = ("offboarding; " if a.offboarding else "") + a.reason
                lines.append(
                    f"| `{symbol}` | {_SYSTEM_LABEL[a.system]} | {a.kind.value}"
                    f" `{_md_escape(a.principal)}` | `{_md_escape(a.target)}`"
                    f" | {_md_escape(a.role)} | {_md_escape(why)} |"
                )
            lines += ["", "</details>", ""]
    else:
        lines += ["No changes: the systems match desired_state.", ""]
    if plan.findings:
        lines += [
            "### Findings",
            "",
            "| severity | article | finding | subject | detail |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {f.severity.value} | {f.article} | `{f.code}`"
            f" | `{_md_escape(f.subject)}` | {_md_escape(f.message)} |"
            for f in plan.findings
        ]
        lines.append("")
    return "\n".join(lines)


def render_pr_comment(
    plan: Plan,
    desired: DesiredState | None = None,
    *,
    artifact_url: str | None = None,
    limit: int = COMMENT_BODY_LIMIT,
) -> str:
    """The body of the one pull-request comment `plan --pr-comment` keeps: the marker, the
    Markdown plan and a link to the full plan artifact. When that would exceed `limit`
    (GitHub refuses longer comments, and a plan of hundreds of changes is one), the comment
    keeps only the summary (counts, findings by severity, incomplete reads) and points to
    the artifact, so the review never silently loses its head or fails to post."""
    link = f"Full plan: [{artifact_url}]({artifact_url})" if artifact_url else ""
    full = "\n".join(
        [PLAN_COMMENT_MARKER, render_markdown(plan, desired), *([link, ""] if link else [])]
    )
    if len(full) <= limit:
        return full
    where = (
        f"the full plan is the run's artifact: [{artifact_url}]({artifact_url})"
        if artifact_url
        else "see the full plan in the run's log or its `--out` file"
    )
    lines = [
        PLAN_COMMENT_MARKER,
        *_markdown_summary(plan),
        f"> The full plan ({len(full):,} characters) is too long for a pull-request comment; "
        f"{where}.",
        "",
    ]
    return "\n".join(lines)


def plan_document(plan: Plan) -> dict[str, object]:
    """The documented JSON form (docs/plan-format.md): format, checksum of `plan`, and the
    plan's content; `execute.load_plan` reads it back and checks the checksum."""
    return {"format": PLAN_FORMAT, "checksum": plan.checksum, "plan": plan.content()}


def render_json(plan: Plan) -> str:
    return json.dumps(plan_document(plan), ensure_ascii=False, indent=2, sort_keys=True)


def findings_to_json(findings: Iterable[Finding]) -> list[object]:
    return [to_jsonable(f) for f in findings]
