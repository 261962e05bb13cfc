"""The drift report value, from plain-data worlds through the real planner: drift both ways,
findings with catalogue titles, the offboarding SLA, standing holds, and what changed since
the previous report's JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from reconciler.model import EmergencyHold, Person, PersonStatus, System
from reconciler.plan import plan_changes
from reconciler.reports.drift import DriftReport, drift_report, render_drift_json
from reconciler.reports.i18n import language
from tests.plan.builders import NOW, ORG, g_user, gh_user, world
from tests.policy.test_findings import TARO, taro

HANAKO = "hanako.sato@example.co.jp"


def _report(
    *people: Person,
    statuses: dict[str, PersonStatus] | None = None,
    ends_at: dict[str, datetime] | None = None,
    holds: tuple[EmergencyHold, ...] = (),
    history: dict[str, Any] | None = None,
    now: datetime = NOW,
    **state: Any,
) -> DriftReport:
    desired, access, snap = world(list(people), statuses=statuses, ends_at=ends_at, **state)
    plan = plan_changes(desired, access, snap, now, holds=holds)
    return drift_report(desired, access, snap, plan, now, history)


def test_a_leaver_past_the_offboarding_time_with_access_left_is_overdue_by_the_hour() -> None:
    report = _report(
        taro(),
        statuses={"e0042": PersonStatus.DEPARTED},
        ends_at={"e0042": NOW - timedelta(hours=5)},
        g_users=[g_user(TARO)],
    )
    (late,) = report.overdue_leavers
    assert (late.person_id, late.email, late.hours_overdue) == ("e0042", TARO, 5.0)
    assert "an active Google account" in {str(h) for h in late.held}


def test_a_leaver_before_the_offboarding_time_or_with_nothing_left_is_not_overdue() -> None:
    ahead = _report(
        taro(),
        statuses={"e0042": PersonStatus.DEPARTED},
        ends_at={"e0042": NOW + timedelta(hours=2)},
        g_users=[g_user(TARO)],
    )
    done = _report(
        taro(),
        statuses={"e0042": PersonStatus.DEPARTED},
        ends_at={"e0042": NOW - timedelta(hours=5)},
        g_users=[g_user(TARO, suspended=True)],
    )
    assert ahead.overdue_leavers == () and done.overdue_leavers == ()


def test_drift_lists_what_exists_unasked_and_what_the_repo_asks_that_is_missing() -> None:
    report = _report(
        taro(),
        g_users=[g_user(TARO), g_user("ghost@example.co.jp")],
        gh_members=[gh_user("stranger", 77)],
    )
    unmanaged = {(d.subject, d.what, d.planned) for d in report.unmanaged}
    assert ("ghost@example.co.jp", "unmanaged-account", False) in unmanaged  # a human decides
    assert (f"{ORG} member for stranger", "remove_org_member", True) in unmanaged
    assert ("stranger", "unmanaged-account", False) not in unmanaged  # listed once, as planned
    missing = {(d.what, d.person_id) for d in report.missing}
    assert ("add_group_member", "e0042") in missing  # taro is an engineer without eng@
    assert all(d.system in (System.GOOGLE, System.GITHUB, System.GCP) for d in report.missing)


def test_findings_carry_their_catalogue_titles() -> None:
    report = _report(g_users=[g_user("ghost@example.co.jp")])
    (ghost,) = [
        f
        for f in report.findings
        if f.subject == "ghost@example.co.jp" and f.code == "unmanaged-account"
    ]
    assert ghost.title_en == "An account nobody in the repo owns"
    assert ghost.title_ja == "リポジトリに記載のないアカウント"
    assert (ghost.severity, ghost.article) == ("high", "第5.1条")


def test_a_standing_emergency_hold_the_repo_has_not_caught_up_with_is_listed() -> None:
    hold = EmergencyHold("e0042", NOW - timedelta(hours=1), NOW.date(), "run-1", "cto", TARO)
    report = _report(taro(), holds=(hold,))
    assert [(f.code, f.person_id) for f in report.holds_not_in_repo] == [
        ("emergency-hold-not-in-repo", "e0042")
    ]


def test_changes_since_the_previous_report_new_resolved_and_still_open_with_age() -> None:
    first = _report(g_users=[g_user("ghost@example.co.jp"), g_user("dev-team@example.co.jp")])
    history = json.loads(_json(first))
    later = NOW + timedelta(hours=30)
    # dev-team was suspended; ghost is still there; a new stranger appeared
    second = _report(
        g_users=[
            g_user("ghost@example.co.jp"),
            g_user("dev-team@example.co.jp", suspended=True),
            g_user("phantom@example.co.jp"),
        ],
        history=history,
        now=later,
    )
    ghost = ("unmanaged-account", "ghost@example.co.jp", "")
    assert ghost in second.still_open and ghost not in second.new
    (aged,) = [f for f in second.findings if f.key == ghost]
    assert (aged.first_seen, aged.age_hours) == (NOW, 30.0)
    assert ("unmanaged-account", "phantom@example.co.jp", "") in second.new
    resolved = {(r.code, r.subject) for r in second.resolved}
    assert ("shared-account", "dev-team@example.co.jp") in resolved
    assert second.previous_at == NOW
    assert all(r.resolved_at == later and r.first_seen == NOW for r in second.resolved)


def test_the_first_report_or_one_of_another_format_makes_everything_new() -> None:
    first = _report(g_users=[g_user("ghost@example.co.jp")])
    assert set(first.new) == {f.key for f in first.findings} and first.resolved == ()
    old = json.loads(_json(first)) | {"format": 0}
    again = _report(g_users=[g_user("ghost@example.co.jp")], history=old)
    assert again.still_open == () and again.resolved == ()


def _json(report: DriftReport, lang: str = "en") -> str:
    return render_drift_json(report, language(lang), "Asia/Tokyo")


def test_the_json_form_words_messages_in_its_language_with_the_same_id_and_params() -> None:
    report = _report(g_users=[g_user("ghost@example.co.jp")])
    english, japanese = (json.loads(_json(report, lang)) for lang in ("en", "ja"))
    assert (english["lang"], japanese["lang"]) == ("en", "ja")
    en = next(f for f in english["findings"] if f["code"] == "unmanaged-account")
    ja = next(f for f in japanese["findings"] if f["code"] == "unmanaged-account")
    assert en["message"].startswith("Workspace account ghost@example.co.jp belongs to nobody")
    assert ja["message"].startswith(
        "Workspace アカウント ghost@example.co.jp はリポジトリの誰にも対応していません"
    )
    assert en["message_id"] == ja["message_id"] and en["params"] == ja["params"]
    assert ja["params"] == {"account": "ghost@example.co.jp"}


def test_the_json_form_names_its_format_and_reads_back() -> None:
    report = _report(g_users=[g_user("ghost@example.co.jp")])
    document = json.loads(_json(report))
    assert document["format"] == 1
    assert document["generated_at"] == NOW.isoformat()
    assert {f["code"] for f in document["findings"]} >= {"unmanaged-account"}
    assert all("first_seen" in f and "title_ja" in f for f in document["findings"])
