"""Saved plans (DESIGN 6.6): a plan survives the JSON round trip unchanged, and is refused when
the file was edited or the systems changed since it was made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.execute import (
    EditedPlan,
    MalformedPlan,
    StalePlan,
    load_plan,
    save_plan,
    verify_saved_plan,
)
from reconciler.model import (
    Finding,
    Grant,
    GrantKind,
    Note,
    NoteKind,
    Plan,
    ReadStatus,
    Severity,
    Snapshot,
    SnapshotPart,
    System,
)
from tests.execute.test_apply_plan import LEAVER_ACTIONS, NEWCOMER_ACTIONS, NOW, _snapshot

FINDINGS = (
    Finding("leaver-has-access", Severity.CRITICAL, "第5.2条3", System.GITHUB, "hsuzuki",
            "鈴木 花子 left on 2026-11-30 but is still an org member", "e0042"),
    Finding("no-2sv", Severity.HIGH, "第5.3条", None, "org", "2SV not enforced"),
)  # fmt: skip


def _plan(snapshot: Snapshot) -> Plan:
    return Plan(
        NOW,
        (*LEAVER_ACTIONS, *NEWCOMER_ACTIONS),
        FINDINGS,
        snapshot.fingerprint(),
        desired_commit="c0ffee",
        incomplete_systems=(System.GITHUB,),
        notes=(
            Note(
                NoteKind.HELD_BACK,
                "github read incomplete: 2 change(s) held back",
                system=System.GITHUB,
            ),
        ),
    )


def test_a_saved_plan_loads_back_equal_with_the_same_checksum(tmp_path: Path) -> None:
    plan = _plan(_snapshot())
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    loaded = load_plan(path)
    assert loaded == plan
    assert loaded.checksum == plan.checksum
    assert json.loads(path.read_text())["checksum"] == plan.checksum


def test_a_saved_plan_is_accepted_against_an_unchanged_fresh_read(tmp_path: Path) -> None:
    snapshot = _snapshot()
    path = tmp_path / "plan.json"
    save_plan(_plan(snapshot), path)
    later = Snapshot.of(NOW.replace(hour=12), snapshot.parts.values())  # read again later
    assert verify_saved_plan(path.read_text(), later) == _plan(snapshot)


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("role widened", lambda d: d["plan"]["actions"][6].__setitem__("role", "OWNER")),
        ("action added", lambda d: d["plan"]["actions"].append(d["plan"]["actions"][0])),
        ("action dropped", lambda d: d["plan"]["actions"].pop(0)),
        ("fingerprint replaced", lambda d: d["plan"].__setitem__("state_fingerprint", "0" * 64)),
    ],
)
def test_an_edited_saved_plan_is_refused(tmp_path: Path, name: str, edit: object) -> None:
    snapshot = _snapshot()
    path = tmp_path / "plan.json"
    save_plan(_plan(snapshot), path)
    data = json.loads(path.read_text())
    edit(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))
    with pytest.raises(EditedPlan, match="changed after it was made"):
        load_plan(path)
    with pytest.raises(EditedPlan):
        verify_saved_plan(path.read_text(), snapshot)


def test_a_saved_plan_is_refused_when_the_systems_changed_since(tmp_path: Path) -> None:
    snapshot = _snapshot()
    path = tmp_path / "plan.json"
    save_plan(_plan(snapshot), path)
    someone_added_by_hand = Grant(GrantKind.GITHUB_ORG, "example", "intruder", "admin")
    changed = Snapshot.of(
        NOW,
        [
            *(p for s, p in snapshot.parts.items() if s is not System.GITHUB),
            SnapshotPart(
                System.GITHUB,
                ReadStatus(System.GITHUB, complete=True),
                grants=(someone_added_by_hand,),
            ),
        ],
    )
    with pytest.raises(StalePlan, match="systems changed since the plan was made"):
        verify_saved_plan(path.read_text(), changed)


@pytest.mark.parametrize(
    "text", ["not json", "{}", '{"format": 99, "checksum": "x", "plan": {}}', "[1, 2]"]
)
def test_a_file_that_is_not_a_saved_plan_is_refused_as_malformed(text: str) -> None:
    with pytest.raises(MalformedPlan):
        verify_saved_plan(text, _snapshot())
