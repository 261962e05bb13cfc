"""`reconciler audit verify|show|leavers|repair` on real log files: exit codes, the named bad
record, flagged unfinished intents and the leavers' same-day evidence."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from reconciler.audit import AuditLog, RecordType
from reconciler.cli import _register_commands, app

_register_commands()
runner = CliRunner()
ACTION = {
    "id": "a1",
    "kind": "remove_org_member",
    "principal": "hsuzuki",
    "target": "example",
    "role": "",
}


def _log(path: Path) -> AuditLog:
    log = AuditLog(path, clock=lambda: datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    log.append(RecordType.RUN_START, run_id="run-1", actor="ops@host")
    log.append(RecordType.INTENT, run_id="run-1", actor="ops@host", person_id="e0042",
               action=ACTION)  # fmt: skip
    log.append(
        RecordType.RESULT, run_id="run-1", actor="ops@host", person_id="e0042", action=ACTION,
        result={"action_id": "a1", "ok": True, "changed": True, "message": ""},
    )  # fmt: skip
    return log


def _leaver(log: AuditLog, person: str, last_day: str, removed_at: str) -> None:
    log.append(
        RecordType.OFFBOARDING_COMPLETE,
        run_id="run-1",
        actor="ops@host",
        person_id=person,
        provider_time=datetime.fromisoformat(removed_at),
        details={
            "removed_at": removed_at,
            "removed_at_source": "provider",
            "last_day": last_day,
            "access_ends_at": f"{last_day}T18:00:00+09:00",
            "timezone": "Asia/Tokyo",
        },
    )


def test_verify_exits_0_on_an_intact_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path)
    result = runner.invoke(app, ["audit", "verify", str(path)])
    assert result.exit_code == 0, result.output
    assert "OK, 3 records" in result.output


def test_verify_exits_1_and_names_the_edited_record(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path)
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace("hsuzuki", "someoneelse")
    path.write_text("".join(lines))
    result = runner.invoke(app, ["audit", "verify", str(path)])
    assert result.exit_code == 1
    assert "TAMPERED at line 2 (seq 2): hash mismatch" in result.output


def test_verify_exits_2_on_a_truncated_tail_and_repair_fixes_it(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path)
    path.write_bytes(path.read_bytes()[:-25])
    result = runner.invoke(app, ["audit", "verify", str(path)])
    assert result.exit_code == 2
    assert "incomplete" in result.output and "audit repair" in result.output
    repaired = runner.invoke(app, ["audit", "repair", str(path)])
    assert repaired.exit_code == 0 and "moved the incomplete line 3" in repaired.output
    assert runner.invoke(app, ["audit", "verify", str(path)]).exit_code == 0


def test_show_flags_an_intent_without_result_and_filters_by_person(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = _log(path)
    log.append(RecordType.INTENT, run_id="run-1", actor="ops@host", person_id="e0099",
               action={**ACTION, "id": "a2", "principal": "tyamada"})  # fmt: skip
    everything = runner.invoke(app, ["audit", "show", str(path)])
    assert everything.exit_code == 0, everything.output
    assert "NO RESULT" in everything.output
    assert "4 of 4 records" in everything.output
    one = runner.invoke(app, ["audit", "show", str(path), "--person", "e0042"])
    assert "2 of 4 records" in one.output
    assert "NO RESULT" not in one.output
    assert "remove_org_member hsuzuki on example" in one.output
    other_run = runner.invoke(app, ["audit", "show", str(path), "--run", "run-2"])
    assert "0 of 4 records" in other_run.output


def test_leavers_exits_0_when_every_leaver_was_offboarded_on_their_last_day(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    log = _log(path)
    _leaver(log, "e0042", "2026-11-30", "2026-11-30T09:00:07+00:00")  # 18:00:07 in Tokyo
    _leaver(log, "e0043", "2026-11-30", "2026-11-30T14:59:59+00:00")  # 23:59:59 in Tokyo
    result = runner.invoke(app, ["audit", "leavers", str(path)])
    assert result.exit_code == 0, result.output
    e42 = next(line for line in result.output.splitlines() if "e0042" in line)
    assert "2026-11-30T18:00:07+09:00" in e42 and "yes" in e42
    assert "2 leaver(s), 0 not offboarded the same day" in result.output


def test_leavers_exits_1_naming_a_leaver_whose_access_was_removed_after_their_last_day(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    log = _log(path)
    _leaver(log, "e0042", "2026-11-30", "2026-11-30T09:00:07+00:00")  # on time
    _leaver(log, "e0050", "2026-11-29", "2026-11-29T15:00:00+00:00")  # 00:00 next day, Tokyo
    result = runner.invoke(app, ["audit", "leavers", str(path)])
    assert result.exit_code == 1, result.output
    e50 = next(line for line in result.output.splitlines() if "│ e0050" in line)
    assert "NO (late): 1 day(s) late" in e50
    assert "2 leaver(s), 1 not offboarded the same day" in result.output
    assert "e0050: late (line 5): 1 day(s) late" in result.output


def test_leavers_exits_1_for_an_offboarding_begun_but_never_recorded_complete(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    log = _log(path)
    offboarding = {**ACTION, "id": "a9", "principal": "kfujita", "offboarding": True}
    log.append(RecordType.INTENT, run_id="run-1", actor="ops@host", person_id="e0077",
               action=offboarding)  # fmt: skip
    result = runner.invoke(app, ["audit", "leavers", str(path)])
    assert result.exit_code == 1, result.output
    assert "e0077: incomplete (line 4): no offboarding-complete" in result.output


def test_leavers_refuses_a_tampered_log_naming_the_first_bad_record(tmp_path: Path) -> None:
    """The edit a late leaver's manager would make: the removal time moved to the last day."""
    path = tmp_path / "audit.jsonl"
    log = _log(path)
    _leaver(log, "e0050", "2026-11-29", "2026-11-30T03:00:00+00:00")  # 12:00 next day, Tokyo
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace("2026-11-30T03:00:00+00:00", "2026-11-29T10:00:00+00:00")
    path.write_text("".join(lines))
    result = runner.invoke(app, ["audit", "leavers", str(path)])
    assert result.exit_code == 1, result.output
    assert "TAMPERED at line 4 (seq 4): hash mismatch" in result.output
    assert "leavers not evaluated: the audit log does not verify" in result.output
    assert "yes" not in result.output


def test_leavers_exits_1_on_unreadable_evidence_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = _log(path)
    log.append(RecordType.OFFBOARDING_COMPLETE, run_id="run-1", actor="ops@host",
               person_id="e0060", details={"removed_at": "yesterday", "last_day": "2026-11-29",
                                           "timezone": "Asia/Tokyo"})  # fmt: skip
    log.append(RecordType.OFFBOARDING_COMPLETE, run_id="run-1", actor="ops@host",
               person_id="e0061", details={"removed_at": "2026-11-29T03:00:00+00:00"})  # fmt: skip
    result = runner.invoke(app, ["audit", "leavers", str(path)])
    assert result.exit_code == 1, result.output
    assert "e0060: unproven (line 4): unreadable evidence: ValueError" in result.output
    assert "e0061: unproven (line 5): no last day recorded" in result.output


def test_leavers_exits_2_on_a_truncated_tail_and_1_on_a_missing_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = _log(path)
    _leaver(log, "e0042", "2026-11-30", "2026-11-30T09:00:07+00:00")
    path.write_bytes(path.read_bytes() + b'{"seq": 5, "ty')
    result = runner.invoke(app, ["audit", "leavers", str(path)])
    assert result.exit_code == 2, result.output
    assert "1 leaver(s), 0 not offboarded the same day" in result.output
    assert "incomplete" in result.output and "audit repair" in result.output
    missing = runner.invoke(app, ["audit", "leavers", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 1 and "no such audit log" in missing.output
