"""Plan renderers: a terminal view for people, Markdown for pull-request comments, JSON for tools.

Pure: each function turns a Plan (and the desired state, for names) into a value; the CLI
prints it. One renderer per format. The fixed words (headings, column names, summary lines)
go through the gettext catalogue of the chosen language (`reconciler.reports.i18n`), and so
do the findings' and notes' words (their messages); the JSON form is the same in every
language.
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
from reconciler.reports.i18n import Language, language

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
SYSTEM_LABEL = {System.GOOGLE: "Google Workspace", System.GITHUB: "GitHub", System.GCP: "GCP IAM"}


def _symbol(action: Action) -> tuple[str, str]:
    if action.kind in _CHANGES:
        return "~", "yellow"
    return _SYMBOL[action.is_removal]


def person_label(
    person_id: str | None, desired: DesiredState | None, lang: Language | None = None
) -> str:
    """How a report names a person: "name (id, email)", or "(not in the repo)"."""
    if person_id is None:
        return (lang or language("en")).gettext("(not in the repo)")
    person = desired.people.get(person_id) if desired else None
    return f"{person.name} ({person_id}, {person.email})" if person else person_id


def timezone_of(desired: DesiredState | None) -> str:
    """The timezone a plan's dates are shown in: the organisation's (UTC without a repo)."""
    return desired.organization.timezone if desired else "UTC"


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


def render_text(
    plan: Plan, desired: DesiredState | None = None, lang: Language | None = None
) -> RenderableType:
    """The rich terminal view: actions grouped by person and system, then findings."""
    lang = lang or language("en")
    _ = lang.gettext
    parts: list[RenderableType] = []
    counts = summarise(plan)
    head = Text()
    head.append(_("%(count)d changes") % {"count": len(plan.actions)}, style="bold")
    head.append(f"  (+{counts.get('additions', 0)} / -{counts.get('removals', 0)}")
    head.append(", " + _("%(count)d offboarding") % {"count": counts.get("offboarding", 0)} + ")")
    head.append("   " + _("%(count)d findings") % {"count": len(plan.findings)})
    sev = [
        f"{counts[f'severity:{s.value}']} {s.value}"
        for s in Severity
        if counts.get(f"severity:{s.value}")
    ]
    if sev:
        head.append(f" ({', '.join(sev)})")
    head.append(
        "\n"
        + _("state %(state)s  plan %(plan)s")
        % {"state": plan.state_fingerprint[:12], "plan": plan.checksum[:12]},
        style="dim",
    )
    if plan.desired_commit:
        head.append(
            "  " + _("desired-state commit %(commit)s") % {"commit": plan.desired_commit[:12]},
            style="dim",
        )
    parts.append(Panel(head, title=_("Plan"), expand=False))
    if plan.incomplete_systems:
        names = ", ".join(SYSTEM_LABEL[s] for s in plan.incomplete_systems)
        parts.append(
            Text(
                "⚠ "
                + _(
                    "incomplete read: %(systems)s - changes held back there, except removing "
                    "leavers' grants the read did show"
                )
                % {"systems": names},
                "bold yellow",
            )
        )
    note_word = _("note:")
    tz = timezone_of(desired)
    for note in plan.notes:
        parts.append(Text(f"  {note_word} {lang.words(note, tz)}", "yellow"))

    if plan.actions:
        table = Table(title=_("Changes"), title_justify="left", show_lines=False, expand=True)
        table.add_column(_("person"), overflow="fold", ratio=3)
        table.add_column(_("system"), ratio=2)
        table.add_column("", width=1)
        table.add_column(_("change"), overflow="fold", ratio=6)
        table.add_column(_("why"), overflow="fold", ratio=4, style="dim")
        for person_id, actions in group_by_person(plan.actions).items():
            first = True
            for action in actions:
                symbol, style = _symbol(action)
                label = person_label(person_id, desired, lang) if first else ""
                change = Text(f"{action.kind.value} ", style=style)
                change.append(action.principal if person_id is None else "", style="bold")
                change.append(f"{' ' if person_id is None else ''}{action.target}")
                if action.role:
                    change.append(f" ({action.role})", style="italic")
                why = (_("offboarding; ") if action.offboarding else "") + _(action.reason)
                table.add_row(label, SYSTEM_LABEL[action.system], Text(symbol, style), change, why)
                first = False
            table.add_section()
        parts.append(table)
    else:
        parts.append(Text(_("No changes: the systems match desired_state."), "bold green"))

    if plan.findings:
        table = Table(title=_("Findings"), title_justify="left", expand=True)
        table.add_column(_("severity"), no_wrap=True)
        table.add_column(_("article"), no_wrap=True)
        table.add_column(_("finding"), no_wrap=True)
        table.add_column(_("subject"), overflow="fold", ratio=2, min_width=24)
        table.add_column(_("detail"), overflow="fold", ratio=3, min_width=30)
        for f in plan.findings:
            table.add_row(
                Text(f.severity.value, _SEVERITY_STYLE[f.severity]),
                f.article,
                f.code,
                f.subject,
                lang.words(f, tz),
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


def _markdown_summary(plan: Plan, lang: Language) -> list[str]:
    """The head every Markdown form starts with: counts, findings by severity, checksums and
    the incomplete-read warning, so even a comment cut down to its summary says what matters."""
    _ = lang.gettext
    counts = summarise(plan)
    summary = _(
        "**%(changes)d changes** (+%(additions)d / -%(removals)d, %(offboarding)d offboarding),"
        " **%(findings)d findings**."
    ) % {
        "changes": len(plan.actions),
        "additions": counts.get("additions", 0),
        "removals": counts.get("removals", 0),
        "offboarding": counts.get("offboarding", 0),
        "findings": len(plan.findings),
    }
    severities = [
        f"{counts[f'severity:{s.value}']} {s.value}"
        for s in Severity
        if counts.get(f"severity:{s.value}")
    ]
    if severities:
        # Inside the sentence, before its full stop (the translations end with one too).
        stop = summary[-1] if summary[-1:] in (".", "。") else ""
        summary = summary[: len(summary) - len(stop)] + f" ({', '.join(severities)}){stop}"
    ids = _("State `%(state)s`, plan checksum `%(plan)s`") % {
        "state": plan.state_fingerprint[:12],
        "plan": plan.checksum[:12],
    }
    if plan.desired_commit:
        ids += ", " + _("desired-state commit `%(commit)s`") % {"commit": plan.desired_commit[:12]}
    lines = ["## " + _("Access plan"), "", summary + "  ", ids + ".", ""]
    if plan.incomplete_systems:
        names = ", ".join(SYSTEM_LABEL[s] for s in plan.incomplete_systems)
        lines += [
            "> ⚠️ "
            + _(
                "Incomplete read of %(systems)s: changes there are held back, except removing "
                "leavers' grants the read did show."
            )
            % {"systems": names},
            "",
        ]
    return lines


def render_markdown(
    plan: Plan, desired: DesiredState | None = None, lang: Language | None = None
) -> str:
    """Markdown for a pull-request comment: summary, changes per person (each person folded
    in a `<details>` block, so a long plan stays scannable), findings."""
    lang = lang or language("en")
    _ = lang.gettext
    lines = _markdown_summary(plan, lang)
    note_word = _("note:")
    tz = timezone_of(desired)
    for note in plan.notes:
        lines.append(f"- {note_word} {_md_escape(lang.words(note, tz))}")
    if plan.notes:
        lines.append("")
    if plan.actions:
        lines += ["### " + _("Changes"), ""]
        head = ("", _("system"), _("change"), _("target"), _("role"), _("why"))
        for person_id, actions in group_by_person(plan.actions).items():
            label = _md_escape(person_label(person_id, desired, lang))
            count = _("%(count)d change(s)") % {"count": len(actions)}
            lines += [
                "<details>",
                f"<summary><b>{html.escape(label)}</b>: {count}</summary>",
                "",
                "| " + " | ".join(head) + " |",
                "|---|---|---|---|---|---|",
            ]
            for a in actions:
                symbol, _style = _symbol(a)
                why = (_("offboarding; ") if a.offboarding else "") + _(a.reason)
                lines.append(
                    f"| `{symbol}` | {SYSTEM_LABEL[a.system]} | {a.kind.value}"
                    f" `{_md_escape(a.principal)}` | `{_md_escape(a.target)}`"
                    f" | {_md_escape(a.role)} | {_md_escape(why)} |"
                )
            lines += ["", "</details>", ""]
    else:
        lines += [_("No changes: the systems match desired_state."), ""]
    if plan.findings:
        columns = (_("severity"), _("article"), _("finding"), _("subject"), _("detail"))
        lines += [
            "### " + _("Findings"),
            "",
            "| " + " | ".join(columns) + " |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {f.severity.value} | {f.article} | `{f.code}`"
            f" | `{_md_escape(f.subject)}` | {_md_escape(lang.words(f, tz))} |"
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
    lang: Language | None = None,
) -> str:
    """The body of the one pull-request comment `plan --pr-comment` keeps: the marker, the
    Markdown plan and a link to the full plan artifact. When that would exceed `limit`
    (GitHub refuses longer comments, and a plan of hundreds of changes is one), the comment
    keeps only the summary (counts, findings by severity, incomplete reads) and points to
    the artifact, so the review never silently loses its head or fails to post."""
    lang = lang or language("en")
    link = f"Full plan: [{artifact_url}]({artifact_url})" if artifact_url else ""
    full = "\n".join(
        [PLAN_COMMENT_MARKER, render_markdown(plan, desired, lang), *([link, ""] if link else [])]
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
        *_markdown_summary(plan, lang),
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
