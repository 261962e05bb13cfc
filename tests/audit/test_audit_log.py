"""The audit chain: appends verify, and any edit, deletion, insertion, reordering or crash
is detected and the first bad record is named."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.audit import (
    GENESIS,
    AuditLog,
    AuditLogError,
    Problem,
    RecordType,
    read_records,
    record_hash,
    repair_truncated_tail,
    verify,
)

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _clock() -> Callable[[], datetime]:
    ticks = iter(range(10_000))
    return lambda: T0 + timedelta(seconds=next(ticks))


def _write_run(path: Path, run_id: str = "run-1", actions: int = 2) -> None:
    log = AuditLog(path, clock=_clock())
    log.append(RecordType.RUN_START, run_id=run_id, actor="ops@host", desired_commit="abc123")
    for n in range(actions):
        action = {"id": f"a{n}", "kind": "remove_group_member", "principal": "hanako@example.com"}
        log.append(RecordType.INTENT, run_id=run_id, actor="ops@host", action=action)
        log.append(
            RecordType.RESULT,
            run_id=run_id,
            actor="ops@host",
            action=action,
            result={"action_id": f"a{n}", "ok": True, "changed": True, "message": ""},
        )
    log.append(RecordType.RUN_END, run_id=run_id, actor="ops@host")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_appended_records_form_a_chain_from_genesis_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write_run(path)
    records = read_records(path)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[0].data["prev_hash"] == GENESIS
    for before, after in itertools.pairwise(records):
        assert after.data["prev_hash"] == before.data["hash"]
    assert all(r.data["hash"] == record_hash(r.data) for r in records)
    report = verify(path)
    assert report.ok, report.describe()
    assert report.records == 6
    assert report.head_hash == records[-1].data["hash"]


def test_seq_and_chain_continue_across_runs_and_log_instances(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write_run(path, "run-1", actions=1)
    _write_run(path, "run-2", actions=1)
    records = read_records(path)
    assert [r.seq for r in records] == list(range(1, 9))
    assert records[4].run_id == "run-2"
    assert records[4].data["prev_hash"] == records[3].data["hash"]
    assert verify(path).ok


def test_records_carry_the_documented_fields_and_utc_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, clock=_clock())
    jst = datetime(2026, 11, 30, 18, 0, 5, tzinfo=UTC)
    rec = log.append(
        RecordType.RESULT,
        run_id="r",
        actor="daemon@reconciler",
        approver="e0002",
        person_id="e0042",
        provider_time=jst,
        action={"id": "x"},
        result={"ok": True, "changed": False, "message": "already absent"},
    )
    assert set(rec) >= {
        "seq", "prev_hash", "hash", "run_id", "ts", "provider_time", "type",
        "desired_commit", "actor", "approver", "action", "result",
    }  # fmt: skip
    assert rec["ts"] == "2026-11-30T09:00:00+00:00"
    assert rec["provider_time"] == "2026-11-30T18:00:05+00:00"
    assert json.loads(path.read_text()) == rec


@pytest.mark.parametrize(
    ("name", "tamper", "line", "seq", "problem"),
    [
        (
            "edit a result",
            lambda ls: ls.__setitem__(2, ls[2].replace('"ok":true', '"ok":false')),
            3,
            3,
            Problem.HASH_MISMATCH,
        ),
        ("delete a record", lambda ls: ls.__delitem__(1), 2, 3, Problem.BROKEN_CHAIN),
        ("insert a copy", lambda ls: ls.insert(2, ls[1]), 3, 2, Problem.BROKEN_CHAIN),
        (
            "swap two records",
            lambda ls: ls.__setitem__(slice(1, 3), [ls[2], ls[1]]),
            2,
            3,
            Problem.BROKEN_CHAIN,
        ),
        ("delete the first record", lambda ls: ls.__delitem__(0), 1, 2, Problem.BROKEN_CHAIN),
        ("garbage line", lambda ls: ls.insert(4, "not json\n"), 5, None, Problem.UNPARSEABLE),
    ],
)
def test_verify_names_the_first_tampered_record(
    tmp_path: Path,
    name: str,
    tamper: Callable[[list[str]], None],
    line: int,
    seq: int | None,
    problem: Problem,
) -> None:
    path = tmp_path / "audit.jsonl"
    _write_run(path)
    lines = _lines(path)
    tamper(lines)
    path.write_text("".join(lines))
    report = verify(path)
    assert not report.ok and report.tampered, name
    assert report.first_bad is not None
    assert (report.first_bad.line, report.first_bad.seq) == (line, seq), name
    assert problem in report.first_bad.problems, name
    assert f"line {line}" in report.describe()


def test_an_edit_with_a_recomputed_hash_still_breaks_the_chain_at_the_next_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    _write_run(path)
    lines = _lines(path)
    forged = json.loads(lines[2])
    forged["result"]["ok"] = False
    forged["hash"] = record_hash(forged)
    lines[2] = json.dumps(forged) + "\n"
    path.write_text("".join(lines))
    report = verify(path)
    assert report.first_bad is not None
    assert (report.first_bad.line, report.first_bad.seq) == (4, 4)
    assert report.first_bad.problems == (Problem.BROKEN_CHAIN,)


def test_deleting_a_record_is_reported_as_a_seq_gap_too(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write_run(path)
    lines = _lines(path)
    del lines[3]
    path.write_text("".join(lines))
    bad = verify(path).first_bad
    assert bad is not None
    assert Problem.SEQ_GAP in bad.problems
    assert "expected seq 4, found 5" in bad.detail


def test_truncated_last_line_is_reported_apart_from_tampering_and_blocks_appends(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    _write_run(path)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 40])  # crash in the middle of the last write
    report = verify(path)
    assert not report.ok and not report.tampered
    assert report.truncated_tail is not None
    assert report.truncated_tail.line == 6
    assert report.truncated_tail.problems == (Problem.TRUNCATED_TAIL,)
    assert report.records == 5
    with pytest.raises(AuditLogError, match="incomplete line"):
        AuditLog(path).append(RecordType.RUN_START, run_id="r2", actor="ops@host")


def test_repair_moves_the_truncated_tail_aside_and_appends_resume_the_chain(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    _write_run(path)
    whole = path.read_bytes()
    path.write_bytes(whole[:-40])
    result = repair_truncated_tail(path)
    assert result.repaired and result.saved_to is not None
    assert result.saved_to.read_bytes() == whole[whole.rstrip(b"\n").rfind(b"\n") + 1 : -40]
    assert verify(path).ok
    AuditLog(path).append(RecordType.RUN_START, run_id="r2", actor="ops@host")
    report = verify(path)
    assert report.ok and report.head_seq == 6


def test_repair_refuses_a_tampered_log_and_a_log_with_nothing_to_repair(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write_run(path)
    assert not repair_truncated_tail(path).repaired
    lines = _lines(path)
    del lines[1]
    path.write_text("".join(lines) + '{"seq": 9')
    result = repair_truncated_tail(path)
    assert not result.repaired and "tampered" in result.message


def test_appending_to_a_tampered_log_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write_run(path)
    lines = _lines(path)
    del lines[2]
    path.write_text("".join(lines))
    with pytest.raises(AuditLogError, match="tampered"):
        AuditLog(path).append(RecordType.RUN_START, run_id="r2", actor="ops@host")


def test_intents_without_results_are_listed_as_unfinished_but_the_chain_verifies(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, clock=_clock())
    log.append(RecordType.RUN_START, run_id="crashed", actor="ops@host")
    log.append(RecordType.INTENT, run_id="crashed", actor="ops@host", action={"id": "a1"})
    # the process died here: no result, no run-end
    report = verify(path)
    assert report.ok
    assert [r.action_id for r in report.unfinished_intents] == ["a1"]


def test_naive_timestamps_are_rejected(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl", clock=lambda: datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        log.append(RecordType.RUN_START, run_id="r", actor="a")
