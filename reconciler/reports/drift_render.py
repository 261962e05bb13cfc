"""Drift report renderers: plain text for a terminal, Markdown for an issue or a chat, one
self-contained HTML page for people; called by `reconciler drift` (and the daemon's nightly
run). The JSON form is `reconciler.reports.drift.render_drift_json`.

Every format is a Jinja2 template in `reconciler/reports/templates/` fed by one view
(`drift_view`), so the three show the same numbers in the same order; the templates only lay
them out. Words go through the gettext catalogue of the chosen language, finding titles and
remediations come from the finding catalogue in that language, and dates are shown in the
organisation's timezone. The HTML is autoescaped; Markdown cells are escaped by the `md`
filter.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from reconciler.model import DesiredState, Severity, System
from reconciler.policy.catalogue import finding_type
from reconciler.reports.drift import DriftItem, DriftReport, ReportedFinding
from reconciler.reports.history import TrendPoint
from reconciler.reports.i18n import Language
from reconciler.reports.plans import SYSTEM_LABEL, person_label

SEVERITIES = tuple(s.value for s in Severity)  # most severe first
_CHART_WIDTH, _CHART_HEIGHT, _CHART_PAD, _CHART_LEFT = 360, 96, 14, 30  # left: axis labels


@dataclass(frozen=True)
class FindingRow:
    severity: str
    rank: int  # 0 = critical: sorts most severe first
    code: str
    article: str
    title: str
    remediation: str
    system: str  # the system's value ("" when none), for filtering
    system_label: str
    person: str
    subject: str
    message: str
    first_seen: str
    age_hours: float
    is_new: bool


@dataclass(frozen=True)
class DriftRow:
    system: str
    system_label: str
    person: str
    subject: str
    what: str
    planned: bool


@dataclass(frozen=True)
class Section:
    """One system's or one person's part of the report."""

    key: str
    heading: str
    findings: tuple[FindingRow, ...]
    unmanaged: tuple[DriftRow, ...]
    missing: tuple[DriftRow, ...]


@dataclass(frozen=True)
class Chart:
    """The trend of open findings as SVG coordinates, computed here so the template only
    draws; `points` pairs each report's position with its label and count."""

    width: int
    height: int
    left: int  # where the plot starts (the axis labels are left of it)
    baseline: int  # the y of zero findings
    polyline: str
    points: tuple[tuple[float, float, str, int], ...]
    maximum: int


def drift_view(
    report: DriftReport,
    desired: DesiredState,
    lang: Language,
    trend: Sequence[TrendPoint] = (),
) -> dict[str, Any]:
    """Everything a template shows, in the language `lang`, dates in the organisation's
    timezone: summary counts, the findings, the SLA table, the holds, the changes since the
    previous report, one section per system and per person, and the trend chart."""
    tz = desired.organization.timezone

    def when(moment: datetime) -> str:
        return lang.datetime(moment, tz)

    new = set(report.new)
    rows = tuple(_finding_row(f, desired, lang, tz, f.key in new) for f in report.findings)
    by_key = {f.key: row for f, row in zip(report.findings, rows, strict=True)}
    unmanaged = tuple(_drift_row(d, desired, lang) for d in report.unmanaged)
    missing = tuple(_drift_row(d, desired, lang) for d in report.missing)
    severities = Counter(r.severity for r in rows)
    return {
        "lang": lang.code,
        "organization": desired.organization.name,
        "generated_at": when(report.generated_at),
        "previous_at": when(report.previous_at) if report.previous_at else None,
        "severities": SEVERITIES,
        "systems": [(s.value, SYSTEM_LABEL[s]) for s in System],
        "counts": {
            "findings": len(rows),
            "by_severity": [(s, severities.get(s, 0)) for s in SEVERITIES],
            "new": len(report.new),
            "resolved": len(report.resolved),
            "still_open": len(report.still_open),
            "unmanaged": len(unmanaged),
            "missing": len(missing),
            "overdue": len(report.overdue_leavers),
            "holds": len(report.holds_not_in_repo),
        },
        "findings": rows,
        "new": tuple(by_key[k] for k in report.new),
        "still_open": tuple(sorted((by_key[k] for k in report.still_open), key=_oldest_first)),
        "resolved": tuple(
            {
                "title": lang.title(finding_type(r.code)),
                "code": r.code,
                "subject": r.subject,
                "person": person_label(r.person_id, desired, lang) if r.person_id else "",
                "first_seen": when(r.first_seen),
                "resolved_at": when(r.resolved_at),
            }
            for r in report.resolved
        ),
        "overdue": tuple(
            {
                "person": person_label(o.person_id, desired, lang),
                "email": o.email,
                "last_day": when(o.access_ends_at),
                "hours_overdue": o.hours_overdue,
                "held": lang.gettext(", ").join(lang.render(h, tz) for h in o.held),
            }
            for o in report.overdue_leavers
        ),
        "holds": tuple(by_key[f.key] for f in report.holds_not_in_repo),
        "unmanaged": unmanaged,
        "missing": missing,
        "by_system": _sections_by_system(rows, unmanaged, missing),
        "by_person": _sections_by_person(report, rows, unmanaged, missing, desired, lang),
        "chart": _chart(trend, lang, tz) if trend else None,
    }


def render_drift_text(view: dict[str, Any], lang: Language) -> str:
    return _template("drift.txt.j2", lang).render(view)


def render_drift_markdown(view: dict[str, Any], lang: Language) -> str:
    return _template("drift.md.j2", lang).render(view)


def render_drift_html(view: dict[str, Any], lang: Language) -> str:
    """One self-contained page: inline CSS and JS, system fonts, no URL outside itself."""
    return _template("drift.html.j2", lang).render(view)


def _oldest_first(row: FindingRow) -> tuple[float, int]:
    return (-row.age_hours, row.rank)


def _finding_row(
    finding: ReportedFinding,
    desired: DesiredState,
    lang: Language,
    timezone: str,
    is_new: bool,
) -> FindingRow:
    entry = finding_type(finding.code)
    return FindingRow(
        severity=finding.severity,
        rank=Severity(finding.severity).rank,
        code=finding.code,
        article=finding.article,
        title=lang.title(entry),
        remediation=lang.remediation(entry),
        system=finding.system.value if finding.system else "",
        system_label=SYSTEM_LABEL[finding.system] if finding.system else "",
        person=person_label(finding.person_id, desired, lang) if finding.person_id else "",
        subject=finding.subject,
        message=lang.render(finding.text, timezone),
        first_seen=lang.datetime(finding.first_seen, timezone),
        age_hours=finding.age_hours,
        is_new=is_new,
    )


def _drift_row(item: DriftItem, desired: DesiredState, lang: Language) -> DriftRow:
    return DriftRow(
        system=item.system.value if item.system else "",
        system_label=SYSTEM_LABEL[item.system] if item.system else "",
        person=person_label(item.person_id, desired, lang),
        subject=item.subject,
        what=item.what,
        planned=item.planned,
    )


def _sections_by_system(
    rows: Sequence[FindingRow], unmanaged: Sequence[DriftRow], missing: Sequence[DriftRow]
) -> tuple[Section, ...]:
    sections = []
    for system in System:
        section = Section(
            key=system.value,
            heading=SYSTEM_LABEL[system],
            findings=tuple(r for r in rows if r.system == system.value),
            unmanaged=tuple(d for d in unmanaged if d.system == system.value),
            missing=tuple(d for d in missing if d.system == system.value),
        )
        if section.findings or section.unmanaged or section.missing:
            sections.append(section)
    return tuple(sections)


def _sections_by_person(  # noqa: PLR0917 - the report and its rows, side by side
    report: DriftReport,
    rows: Sequence[FindingRow],
    unmanaged: Sequence[DriftRow],
    missing: Sequence[DriftRow],
    desired: DesiredState,
    lang: Language,
) -> tuple[Section, ...]:
    """One section per person in the repo with a finding or a difference, by person id."""
    findings: dict[str, list[FindingRow]] = defaultdict(list)
    for finding, finding_row in zip(report.findings, rows, strict=True):
        if finding.person_id:
            findings[finding.person_id].append(finding_row)
    extra: dict[str, list[DriftRow]] = defaultdict(list)
    lacking: dict[str, list[DriftRow]] = defaultdict(list)
    for item, row in zip(report.unmanaged, unmanaged, strict=True):
        if item.person_id:
            extra[item.person_id].append(row)
    for item, row in zip(report.missing, missing, strict=True):
        if item.person_id:
            lacking[item.person_id].append(row)
    people = sorted(set(findings) | set(extra) | set(lacking))
    return tuple(
        Section(
            key=pid,
            heading=person_label(pid, desired, lang),
            findings=tuple(findings[pid]),
            unmanaged=tuple(extra[pid]),
            missing=tuple(lacking[pid]),
        )
        for pid in people
    )


def _chart(trend: Sequence[TrendPoint], lang: Language, timezone: str) -> Chart:
    maximum = max(1, *(p.open_findings for p in trend))
    inner_w = _CHART_WIDTH - _CHART_LEFT - 2 * _CHART_PAD  # room for the last value's label
    inner_h = _CHART_HEIGHT - 2 * _CHART_PAD
    step = inner_w / (len(trend) - 1) if len(trend) > 1 else 0
    points = tuple(
        (
            round(_CHART_LEFT + i * step if len(trend) > 1 else _CHART_WIDTH / 2, 1),
            round(_CHART_PAD + inner_h * (1 - p.open_findings / maximum), 1),
            lang.datetime(p.at, timezone),
            p.open_findings,
        )
        for i, p in enumerate(trend)
    )
    return Chart(
        width=_CHART_WIDTH,
        height=_CHART_HEIGHT,
        left=_CHART_LEFT,
        baseline=_CHART_HEIGHT - _CHART_PAD,
        polyline=" ".join(f"{x},{y}" for x, y, _, _ in points),
        points=points,
        maximum=maximum,
    )


def _md_cell(value: object) -> str:
    """A Markdown table cell: a pipe would end the cell, a newline the row."""
    return str(value).replace("|", "\\|").replace("\n", " ")


@cache
def _environment(html: bool, lang: Language) -> Environment:
    """One environment per escaping mode and language (gettext is bound to an environment,
    so a process rendering both languages, the daemon, never mixes them)."""
    env = Environment(
        loader=PackageLoader("reconciler.reports", "templates"),
        # HTML is autoescaped; Markdown and text are not HTML (Markdown cells: the md filter)
        autoescape=html,  # noqa: S701
        undefined=StrictUndefined,  # a misspelt name fails the render (and its test), not blank
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.install_gettext_translations(lang.translations, newstyle=True)  # type: ignore[attr-defined]
    env.filters["md"] = _md_cell
    return env


def _template(name: str, lang: Language) -> Template:
    return _environment(name.endswith(".html.j2"), lang).get_template(name)
