"""The nightly drift report as a value: what exists that the repo does not say, what the repo
says that does not exist, the findings with their catalogue titles, the offboarding SLA, the
emergency holds the repo has not caught up with, and what changed since the previous report;
built by `drift_report` from a plan, rendered by `render_drift_json`. Pure: "now" and the
previous report are parameters; the caller reads and stores them.

Everything is derived from what the planner and the checks already decided (the plan's
actions, the findings, `views.access_held`), so the report can never disagree with the plan.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.model import (
    Action,
    DesiredAccess,
    DesiredState,
    Finding,
    Message,
    MessageParam,
    PersonStatus,
    Plan,
    Snapshot,
    System,
    to_jsonable,
)
from reconciler.policy.catalogue import finding_type
from reconciler.reports.i18n import Language
from reconciler.views import StateViews, access_held

DRIFT_REPORT_FORMAT = 1  # bump when the JSON form changes incompatibly

# Findings that are drift themselves: access that exists and the plan leaves in place.
_UNMANAGED_CODES = frozenset({"unmanaged-account", "unmanaged-grant"})
_HOLD_CODE = "emergency-hold-not-in-repo"


@dataclass(frozen=True)
class DriftItem:
    """One difference between the repo and a system."""

    system: System | None
    subject: str
    person_id: str | None  # whose it is, when someone in the repo
    what: str  # the action the plan takes, or the finding code when the plan leaves it
    planned: bool  # the plan changes it (False: reported only, a human decides)


@dataclass(frozen=True)
class ReportedFinding:
    """A finding with its catalogue titles and how long it has been open."""

    code: str
    severity: str
    article: str
    title_en: str
    title_ja: str
    system: System | None
    subject: str
    message: str  # English (`Finding.message`); `text` is worded per language when rendered
    person_id: str | None
    first_seen: datetime  # the first report that listed it (this one, when it is new)
    age_hours: float
    text: Message

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.code, self.subject, self.person_id or "")


@dataclass(frozen=True)
class OverdueLeaver:
    """A leaver past their offboarding time who still holds something (policy 第5.2条3)."""

    person_id: str
    email: str
    access_ends_at: datetime
    hours_overdue: float
    held: tuple[Message, ...]


@dataclass(frozen=True)
class ResolvedFinding:
    code: str
    subject: str
    person_id: str | None
    first_seen: datetime
    resolved_at: datetime


@dataclass(frozen=True)
class DriftReport:
    generated_at: datetime
    previous_at: datetime | None
    unmanaged: tuple[DriftItem, ...]  # exists, the repo does not say so
    missing: tuple[DriftItem, ...]  # the repo says so, does not exist
    findings: tuple[ReportedFinding, ...]
    overdue_leavers: tuple[OverdueLeaver, ...]
    holds_not_in_repo: tuple[ReportedFinding, ...]
    new: tuple[tuple[str, str, str], ...]  # finding keys not in the previous report
    still_open: tuple[tuple[str, str, str], ...]
    resolved: tuple[ResolvedFinding, ...]


def drift_report(  # noqa: PLR0917 - the inputs of a report, in the order every caller has them
    desired: DesiredState,
    access: DesiredAccess,
    snapshot: Snapshot,
    plan: Plan,
    now: datetime,
    history: Mapping[str, Any] | None = None,
) -> DriftReport:
    """The drift report at `now` for `plan` (made from `desired`, `access` and `snapshot`).

    `history` is the previous report as `render_drift_json` wrote it (parsed), or None for the
    first one: a finding it listed keeps its `first_seen`, so its age counts from the report
    that first saw it, and what it listed that is gone now is reported as resolved."""
    previous = _previous_findings(history)
    findings = tuple(_reported(f, previous, now) for f in plan.findings)
    keys = {f.key for f in findings}
    resolved = tuple(
        ResolvedFinding(code, subject, person or None, first, now)
        for (code, subject, person), first in sorted(previous.items())
        if (code, subject, person) not in keys
    )
    return DriftReport(
        generated_at=now,
        previous_at=_parse_time(history.get("generated_at")) if history else None,
        unmanaged=_unmanaged(plan),
        missing=tuple(_planned(a) for a in plan.actions if not a.is_removal),
        findings=findings,
        overdue_leavers=_overdue_leavers(desired, access, snapshot, now),
        holds_not_in_repo=tuple(f for f in findings if f.code == _HOLD_CODE),
        new=tuple(f.key for f in findings if f.key not in previous),
        still_open=tuple(f.key for f in findings if f.key in previous),
        resolved=resolved,
    )


def _unmanaged(plan: Plan) -> tuple[DriftItem, ...]:
    """Removals the plan makes outside an offboarding (a leaver's are the SLA's), then the
    unmanaged accounts and grants the plan leaves for a human (a finding about an account the
    plan already removes is not listed twice)."""
    removals = [a for a in plan.actions if a.is_removal and not a.offboarding]
    removed = {(a.system, a.principal) for a in removals}
    return (
        *(_planned(a) for a in removals),
        *(
            DriftItem(f.system, f.subject, f.person_id, f.code, planned=False)
            for f in plan.findings
            if f.code in _UNMANAGED_CODES and (f.system, f.subject) not in removed
        ),
    )


def _planned(action: Action) -> DriftItem:
    role = f" {action.role}" if action.role else ""
    subject = f"{action.target}{role} for {action.principal}"
    return DriftItem(action.system, subject, action.person_id, action.kind.value, planned=True)


def _overdue_leavers(
    desired: DesiredState, access: DesiredAccess, snapshot: Snapshot, now: datetime
) -> tuple[OverdueLeaver, ...]:
    views = StateViews.of(desired, access, snapshot, now)
    overdue: list[OverdueLeaver] = []
    for person in sorted(desired.people.values(), key=lambda p: p.id):
        entry = access.people.get(person.id)
        if entry is None or entry.status is not PersonStatus.DEPARTED:
            continue
        ends = entry.access_ends_at
        if ends is None or ends >= now:
            continue
        held = access_held(views.ids, views.index, snapshot, person)
        if held:
            hours = round((now - ends).total_seconds() / 3600, 1)
            overdue.append(OverdueLeaver(person.id, person.email, ends, hours, held))
    return tuple(sorted(overdue, key=lambda o: (-o.hours_overdue, o.person_id)))


def _reported(
    finding: Finding, previous: Mapping[tuple[str, str, str], datetime], now: datetime
) -> ReportedFinding:
    entry = finding_type(finding.code)
    key = (finding.code, finding.subject, finding.person_id or "")
    first = previous.get(key, now)
    return ReportedFinding(
        code=finding.code,
        severity=finding.severity.value,
        article=finding.article,
        title_en=entry.title_en,
        title_ja=entry.title_ja,
        system=finding.system,
        subject=finding.subject,
        message=finding.message,
        person_id=finding.person_id,
        first_seen=first,
        age_hours=round((now - first).total_seconds() / 3600, 1),
        text=finding.words,
    )


def _previous_findings(history: Mapping[str, Any] | None) -> dict[tuple[str, str, str], datetime]:
    """Each finding of the previous report by key, with when it was first seen. A report of
    another format is ignored rather than misread (every finding is then new)."""
    if not history or history.get("format") != DRIFT_REPORT_FORMAT:
        return {}
    found: dict[tuple[str, str, str], datetime] = {}
    for f in history.get("findings", []):
        first = _parse_time(f.get("first_seen"))
        if first is not None:
            found[(str(f["code"]), str(f["subject"]), str(f.get("person_id") or ""))] = first
    return found


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def drift_document(report: DriftReport, lang: Language, timezone: str) -> dict[str, Any]:
    """The report as plain JSON data; `history` for the next report reads this back. Each
    finding's `message` and each overdue leaver's `held` are worded in `lang` (instants in
    `timezone`); `message_id` and `params` (nested messages in English) are the same in every
    language, for tools."""
    document = to_jsonable(report)
    assert isinstance(document, dict)
    for finding, data in (
        *zip(report.findings, document["findings"], strict=True),
        *zip(report.holds_not_in_repo, document["holds_not_in_repo"], strict=True),
    ):
        del data["text"]
        data["message"] = lang.render(finding.text, timezone)
        data["message_id"] = finding.text.msgid
        data["params"] = {name: _plain(value) for name, value in finding.text.params}
    for leaver, data in zip(report.overdue_leavers, document["overdue_leavers"], strict=True):
        data["held"] = [lang.render(h, timezone) for h in leaver.held]
    return {"format": DRIFT_REPORT_FORMAT, "lang": lang.code, **document}


def _plain(value: MessageParam) -> Any:
    """A message's value as plain JSON: a nested message as its English words."""
    if isinstance(value, Message):
        return str(value)
    if isinstance(value, tuple):
        return [str(v) for v in value]
    return to_jsonable(value)


def render_drift_json(report: DriftReport, lang: Language, timezone: str) -> str:
    document = drift_document(report, lang, timezone)
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
