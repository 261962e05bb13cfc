"""The drift report history as a value: the last reports' counts and open finding keys with
when each was first seen; built and read by `reconciler.state.report_history` (which stores
it as `report-history.json`) and read by the drift renderers for the trend chart.

Pure: the caller reads and writes the document. Each entry has the shape `drift_report`
takes as `history` (`format`, `generated_at`, `findings` with `first_seen`), so the previous
entry is passed to it as is. Bounded to `HISTORY_KEEP` entries: a nightly report adds one a
day, and the document is read whole on every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.model import Severity
from reconciler.reports.drift import DRIFT_REPORT_FORMAT, DriftReport

HISTORY_VERSION = 1
HISTORY_KEEP = 90  # about three months of nightly reports
TREND_POINTS = 14  # the chart shows the last two weeks of nightly reports


@dataclass(frozen=True)
class TrendPoint:
    at: datetime
    open_findings: int
    critical_or_high: int


def history_entry(report: DriftReport) -> dict[str, Any]:
    """What the history keeps of `report`: its counts and its open findings' keys."""
    severe = {Severity.CRITICAL.value, Severity.HIGH.value}
    return {
        "format": DRIFT_REPORT_FORMAT,
        "generated_at": report.generated_at.isoformat(),
        "counts": {
            "findings": len(report.findings),
            "critical_or_high": sum(1 for f in report.findings if f.severity in severe),
            "unmanaged": len(report.unmanaged),
            "missing": len(report.missing),
            "overdue_leavers": len(report.overdue_leavers),
            "new": len(report.new),
            "resolved": len(report.resolved),
        },
        "findings": [
            {
                "code": f.code,
                "subject": f.subject,
                "person_id": f.person_id,
                "first_seen": f.first_seen.isoformat(),
            }
            for f in report.findings
        ],
    }


def parse_history(document: Any) -> list[dict[str, Any]]:
    """The entries of a stored history, oldest first. Raises ValueError when the document is
    not a history this version wrote (the caller names the document and what to do)."""
    if document is None:
        return []
    if not isinstance(document, Mapping) or document.get("version") != HISTORY_VERSION:
        raise ValueError(f"not a report history of version {HISTORY_VERSION}")
    entries = document.get("reports")
    if not isinstance(entries, list) or not all(
        isinstance(e, Mapping) and _time(e) is not None for e in entries
    ):
        raise ValueError("'reports' must be a list of entries with a generated_at time")
    return sorted((dict(e) for e in entries), key=_sort_key)


def previous_entry(entries: list[dict[str, Any]], now: datetime) -> dict[str, Any] | None:
    """The latest report before `now`: what a report at `now` is compared with (a what-if
    report for an earlier instant compares with what was known then)."""
    before = [e for e in entries if _sort_key(e) < now]
    return before[-1] if before else None


def with_report(
    entries: list[dict[str, Any]], report: DriftReport, keep: int = HISTORY_KEEP
) -> dict[str, Any]:
    """The history document with `report` added (replacing one made at the same instant),
    keeping the newest `keep` entries."""
    entry = history_entry(report)
    kept = [e for e in entries if _sort_key(e) != report.generated_at]
    ordered = sorted([*kept, entry], key=_sort_key)[-keep:]
    return {"version": HISTORY_VERSION, "reports": ordered}


def trend(entries: list[dict[str, Any]], report: DriftReport) -> tuple[TrendPoint, ...]:
    """Open findings over the last reports before `report`, and `report` itself, last."""
    points = [
        TrendPoint(
            _sort_key(e),
            int(e.get("counts", {}).get("findings", 0)),
            int(e.get("counts", {}).get("critical_or_high", 0)),
        )
        for e in entries
        if _sort_key(e) < report.generated_at
    ]
    now = history_entry(report)["counts"]
    points.append(TrendPoint(report.generated_at, now["findings"], now["critical_or_high"]))
    return tuple(points[-TREND_POINTS:])


def _time(entry: Mapping[str, Any]) -> datetime | None:
    value = entry.get("generated_at")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _sort_key(entry: Mapping[str, Any]) -> datetime:
    moment = _time(entry)
    assert moment is not None  # parse_history keeps only entries with a time
    return moment
