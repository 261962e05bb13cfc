"""The report history document: bounded, ordered, the previous entry is the last one before
the report's instant, and its entries are what `drift_report` takes as `history`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.plan import plan_changes
from reconciler.reports.drift import drift_report
from reconciler.reports.history import (
    HISTORY_KEEP,
    parse_history,
    previous_entry,
    trend,
    with_report,
)
from tests.plan.builders import NOW, g_user, world


def _report(now=NOW, history=None):  # type: ignore[no-untyped-def]
    desired, access, snap = world([], g_users=[g_user("ghost@example.co.jp")])
    plan = plan_changes(desired, access, snap, now)
    return drift_report(desired, access, snap, plan, now, history)


def test_the_history_keeps_the_newest_entries_only() -> None:
    entries: list[dict[str, object]] = []
    for day in range(HISTORY_KEEP + 5):
        entries = parse_history(with_report(entries, _report(NOW + timedelta(days=day))))
    assert len(entries) == HISTORY_KEEP
    assert entries[0]["generated_at"] == (NOW + timedelta(days=5)).isoformat()


def test_a_report_at_the_same_instant_replaces_the_earlier_one() -> None:
    once = parse_history(with_report([], _report()))
    assert len(parse_history(with_report(once, _report()))) == 1


def test_the_previous_entry_is_the_last_before_the_instant_and_drift_report_reads_it() -> None:
    entries = parse_history(with_report([], _report(NOW - timedelta(days=1))))
    entries = parse_history(with_report(entries, _report(NOW + timedelta(days=1))))
    previous = previous_entry(entries, NOW)
    assert (
        previous is not None and previous["generated_at"] == (NOW - timedelta(days=1)).isoformat()
    )
    again = _report(NOW, previous)
    assert again.new == () and again.still_open  # the ghost account was there yesterday
    assert again.findings[0].age_hours == 24.0
    assert [p.at for p in trend(entries, again)] == [NOW - timedelta(days=1), NOW]


def test_a_history_of_another_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version 1"):
        parse_history({"version": 2, "reports": []})
    with pytest.raises(ValueError, match="generated_at"):
        parse_history({"version": 1, "reports": [{"generated_at": "yesterday"}]})
