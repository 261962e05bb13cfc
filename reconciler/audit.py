"""Append-only, hash-chained JSONL audit log and its verifier; written by the executor, read by
`reconciler audit` and by auditors.

Each line is one JSON record. `hash` is the sha256 of the record's canonical JSON without the
`hash` key; `prev_hash` is the previous record's `hash` (GENESIS for the first record of the
file); `seq` counts 1..n across every run that appended to the file. Editing, deleting,
inserting or reordering a record therefore breaks the chain at (or right after) that record,
and `verify` names it. The chain proves integrity, not authenticity: whoever can rewrite the
whole file can recompute it, so operators anchor the head hash elsewhere and check it with
`check_anchor` (`reconciler audit verify --expect-head`, docs/audit-log.md).

`AuditTrail` is what writers and readers use; `AuditLog` is the local one-file log, and the
GCS state store has its own (reconciler/state/gcs.py) built on the same record and chain code.

Standard library only: the auditors' tooling must be able to read this module.
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

GENESIS = "0" * 64  # prev_hash of the first record in a file


class RecordType(StrEnum):
    RUN_START = "run-start"
    INTENT = "intent"
    RESULT = "result"
    RUN_END = "run-end"
    OFFBOARDING_COMPLETE = "offboarding-complete"
    OFFBOARDING_INCOMPLETE = "offboarding-incomplete"  # what a fresh read still showed, and why
    HOLD_PLACED = "hold-placed"  # an emergency offboarding holds the person as departed
    HOLD_ENDED = "hold-ended"  # the repo caught up: its own end date now keeps them out
    HOLD_RELEASED = "hold-released"  # an operator lifted the hold (`hold release`, with reason)


class AuditLogError(Exception):
    """The log cannot be appended to safely (e.g. a truncated last line awaiting repair)."""


class Problem(StrEnum):
    HASH_MISMATCH = "hash mismatch"  # the record was edited after it was written
    BROKEN_CHAIN = "broken chain"  # prev_hash is not the previous record's hash
    SEQ_GAP = "seq gap"  # seq is not the previous seq + 1
    UNPARSEABLE = "unparseable"  # a complete line that is not a JSON record
    TRUNCATED_TAIL = "truncated tail"  # the last line was cut short by a crash mid-write


def canonical_json(value: Any) -> str:
    """The one serialisation that is hashed and written: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def record_hash(record: Mapping[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    """One parsed line of the log."""

    line: int  # 1-based line number in the file (in the segment object, for a GCS log)
    data: Mapping[str, Any]
    where: str = ""  # the segment object holding it (GCS); "" for the local one-file log

    @property
    def seq(self) -> int | None:
        seq = self.data.get("seq")
        return seq if isinstance(seq, int) else None

    @property
    def type(self) -> str:
        return str(self.data.get("type", ""))

    @property
    def run_id(self) -> str:
        return str(self.data.get("run_id", ""))

    @property
    def person_id(self) -> str | None:
        value = self.data.get("person_id")
        return str(value) if value is not None else None

    @property
    def action(self) -> Mapping[str, Any] | None:
        value = self.data.get("action")
        return value if isinstance(value, Mapping) else None

    @property
    def result(self) -> Mapping[str, Any] | None:
        value = self.data.get("result")
        return value if isinstance(value, Mapping) else None

    @property
    def details(self) -> Mapping[str, Any]:
        value = self.data.get("details")
        return value if isinstance(value, Mapping) else {}

    @property
    def action_id(self) -> str | None:
        for part in (self.action, self.result):
            if part is not None and part.get("id", part.get("action_id")) is not None:
                return str(part.get("id", part.get("action_id")))
        return None


@dataclass(frozen=True)
class BadRecord:
    line: int
    seq: int | None
    problems: tuple[Problem, ...]
    detail: str
    where: str = ""  # the segment object (GCS), "" for the local log

    def describe(self) -> str:
        seq = f"seq {self.seq}" if self.seq is not None else "seq unknown"
        what = ", ".join(p.value for p in self.problems)
        where = f"{self.where} " if self.where else ""
        return f"{where}line {self.line} ({seq}): {what}: {self.detail}"


@dataclass(frozen=True)
class VerifyReport:
    path: Path | str  # the local file, or the gs:// location of a GCS log
    records: int  # complete, parseable records read
    head_hash: str  # hash of the last good record (GENESIS for an empty log)
    head_seq: int  # seq of the last good record (0 for an empty log)
    first_bad: BadRecord | None = None
    truncated_tail: BadRecord | None = None  # reported apart: a crash, not tampering
    unfinished_intents: tuple[AuditRecord, ...] = ()  # intents with no result (crashed run)
    verified: tuple[AuditRecord, ...] = ()  # the records that passed, in file order
    hashes: frozenset[str] = field(default=frozenset(), repr=False)  # every good record's hash

    @property
    def ok(self) -> bool:
        return self.first_bad is None and self.truncated_tail is None

    @property
    def tampered(self) -> bool:
        return self.first_bad is not None

    def describe(self) -> str:
        if self.first_bad is not None:
            return f"{self.path}: TAMPERED at {self.first_bad.describe()}"
        if self.truncated_tail is not None:
            return (
                f"{self.path}: {self.records} records verified, but the last line is "
                f"incomplete ({self.truncated_tail.describe()}); a crash cut it short. "
                "`reconciler audit repair` moves it aside after you have looked at it."
            )
        return f"{self.path}: OK, {self.records} records, chain intact, head {self.head_hash}"


def split_lines(raw: bytes) -> tuple[list[bytes], bytes | None]:
    """Complete (newline-terminated) lines, and the unterminated tail if there is one."""
    if not raw:
        return [], None
    parts = raw.split(b"\n")
    tail = parts.pop()  # b"" when the file ends with a newline
    return parts, (tail if tail else None)


def parse_line(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _check(
    data: dict[str, Any] | None, line_no: int, prev_hash: str, prev_seq: int
) -> BadRecord | None:
    if data is None:
        return BadRecord(line_no, None, (Problem.UNPARSEABLE,), "not a JSON object")
    seq = data.get("seq") if isinstance(data.get("seq"), int) else None
    problems: list[Problem] = []
    details: list[str] = []
    if data.get("hash") != record_hash(data):
        problems.append(Problem.HASH_MISMATCH)
        details.append("its content does not match its hash (the record was edited)")
    if data.get("prev_hash") != prev_hash:
        problems.append(Problem.BROKEN_CHAIN)
        details.append(
            "prev_hash is not the hash of the record before it (a record before this "
            "line was deleted, inserted or moved)"
        )
    if seq != prev_seq + 1:
        problems.append(Problem.SEQ_GAP)
        details.append(f"expected seq {prev_seq + 1}, found {seq}")
    if not problems:
        return None
    return BadRecord(line_no, seq, tuple(problems), "; ".join(details))


def verify(path: Path | str) -> VerifyReport:
    """Check every record's hash, the chain and the sequence; name the first bad record."""
    path = Path(path)
    raw = path.read_bytes() if path.exists() else b""
    lines, tail = split_lines(raw)
    return verify_lines(path, (("", n, line) for n, line in enumerate(lines, start=1)), tail)


def verify_lines(
    location: Path | str,
    lines: Iterable[tuple[str, int, bytes]],
    tail: bytes | None = None,
    *,
    tail_line: int | None = None,
) -> VerifyReport:
    """The chain check shared by every log layout: `lines` are (segment, line number, bytes)
    in log order, `tail` an unterminated last line (a crash mid-write), reported apart."""
    prev_hash, prev_seq, count = GENESIS, 0, 0
    records: list[AuditRecord] = []
    first_bad: BadRecord | None = None
    last_line = 0
    for where, index, line in lines:
        last_line = index
        data = parse_line(line)
        bad = _check(data, index, prev_hash, prev_seq)
        if bad is not None:
            first_bad = BadRecord(bad.line, bad.seq, bad.problems, bad.detail, where)
            break
        assert data is not None
        records.append(AuditRecord(index, data, where))
        prev_hash, prev_seq, count = data["hash"], data["seq"], count + 1
    truncated: BadRecord | None = None
    if first_bad is None and tail is not None:
        # A line without its newline is what a crash between write() and the newline leaves
        # behind (appends write the whole line at once, so it is the last line only).
        data = parse_line(tail)
        seq = data.get("seq") if data is not None and isinstance(data.get("seq"), int) else None
        truncated = BadRecord(
            tail_line if tail_line is not None else last_line + 1,
            seq,
            (Problem.TRUNCATED_TAIL,),
            f"{len(tail)} bytes without a terminating newline",
        )
    return VerifyReport(
        path=location,
        records=count,
        head_hash=prev_hash,
        head_seq=prev_seq,
        first_bad=first_bad,
        truncated_tail=truncated,
        unfinished_intents=tuple(find_unfinished_intents(records)),
        verified=tuple(records),
        hashes=frozenset(r.data["hash"] for r in records),
    )


def check_anchor(report: VerifyReport, expected_head: str) -> str | None:
    """Why the log does not contain a head hash published earlier, or None if it does.

    A forger who rewrites history and recomputes every hash produces a chain that verifies;
    it cannot contain the hash of a record it changed or cut off. So a head hash published
    after a run (run report, ticket, inventory) must still be the hash of some record."""
    wanted = expected_head.strip().lower()
    if len(wanted) != 64 or any(c not in "0123456789abcdef" for c in wanted):
        return f"--expect-head {expected_head!r} is not a sha256 hash (64 hex digits)"
    if report.tampered:
        return None  # the chain itself is broken: that is the stronger finding
    if wanted in report.hashes:
        return None
    return (
        f"the published head {wanted} is not the hash of any record in {report.path} "
        f"(now {report.records} records, head {report.head_hash}): records up to that head "
        "were rewritten or cut off"
    )


def audit_head(trail: AuditTrail) -> tuple[int, str]:
    """The seq and hash of the last verified record (0 and GENESIS for an empty log): the
    value to publish after a confirmed run, and to give to `audit verify --expect-head`."""
    report = trail.verify()
    return report.head_seq, report.head_hash


def find_unfinished_intents(records: list[AuditRecord]) -> Iterator[AuditRecord]:
    """Intents with no result in the same run: the action may or may not have happened (a
    crash); the next run re-reads the systems and converges, since every action is idempotent."""
    done = {(r.run_id, r.action_id) for r in records if r.type == RecordType.RESULT}
    for record in records:
        if record.type == RecordType.INTENT and (record.run_id, record.action_id) not in done:
            yield record


def pending_offboardings(records: Iterable[AuditRecord]) -> dict[str, AuditRecord]:
    """Leavers whose offboarding began (an offboarding intent) with no `offboarding-complete`
    after it: person id -> their last such intent. The executor completes them once a fresh
    read shows nothing left; `audit leavers` reports them as not done."""
    pending: dict[str, AuditRecord] = {}
    for record in records:
        person = record.person_id
        if person is None:
            continue
        if record.type == RecordType.OFFBOARDING_COMPLETE:
            pending.pop(person, None)
        elif record.type == RecordType.INTENT and (record.action or {}).get("offboarding"):
            pending[person] = record
    return pending


class Verdict(StrEnum):
    ON_TIME = "on time"
    LATE = "late"
    INCOMPLETE = "incomplete"  # offboarding began, no offboarding-complete
    UNPROVEN = "unproven"  # an offboarding-complete whose deadline or time cannot be read


@dataclass(frozen=True)
class LeaverEvidence:
    """What the log proves about one leaver's offboarding (policy 第5.2条3)."""

    person_id: str
    verdict: Verdict
    detail: str  # why, in a few words: "same day", "1 day(s) late", ...
    line: int  # the offboarding-complete record, or the last offboarding intent
    last_day: date | None = None
    access_ends_at: str | None = None
    removed_at: datetime | None = None  # in the organisation's timezone
    removed_at_source: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.ON_TIME


def _completed(record: AuditRecord) -> LeaverEvidence:
    """Judge one `offboarding-complete`: on time when the last access was removed on the last
    day itself, before midnight in the organisation's timezone (the same day, 第5.2条3).
    Removal always follows `access_ends_at` (the planner cuts access once it has passed), so
    the deadline is the end of that day, not the instant itself."""
    details = record.details
    person = record.person_id or "?"
    base = LeaverEvidence(person, Verdict.UNPROVEN, "", record.line)
    try:
        zone = ZoneInfo(str(details.get("timezone") or "UTC"))
        removed = datetime.fromisoformat(str(details["removed_at"])).astimezone(zone)
        ends = details.get("access_ends_at")
        last_day = (
            date.fromisoformat(str(details["last_day"]))
            if details.get("last_day")
            else datetime.fromisoformat(str(ends)).astimezone(zone).date()
            if ends
            else None
        )
    except (KeyError, ValueError, TypeError, ZoneInfoNotFoundError) as exc:
        return replace(base, detail=f"unreadable evidence: {type(exc).__name__}: {exc}")
    found = replace(
        base,
        last_day=last_day,
        access_ends_at=str(ends) if ends else None,
        removed_at=removed,
        removed_at_source=str(details.get("removed_at_source", "")),
    )
    if last_day is None:
        return replace(found, detail="no last day recorded: same-day removal cannot be shown")
    deadline = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), zone)
    if removed < deadline:
        return replace(found, verdict=Verdict.ON_TIME, detail="same day")
    late = (removed.date() - last_day).days
    return replace(found, verdict=Verdict.LATE, detail=f"{late} day(s) late")


def leaver_evidence(records: Iterable[AuditRecord]) -> list[LeaverEvidence]:
    """Every leaver the log knows, in file order: each `offboarding-complete` judged on time
    or late, then every offboarding begun and never completed. Pass verified records only
    (`VerifyReport.verified`): a verdict from an edited log proves nothing."""
    records = list(records)
    found = [_completed(r) for r in records if r.type == RecordType.OFFBOARDING_COMPLETE]
    for person, intent in sorted(pending_offboardings(records).items()):
        found.append(
            LeaverEvidence(
                person,
                Verdict.INCOMPLETE,
                f"no offboarding-complete after the offboarding begun at {intent.data.get('ts')}",
                intent.line,
            )
        )
    return found


def read_records(path: Path | str) -> list[AuditRecord]:
    """Every complete, parseable record, in file order (for `audit show` and reports).
    Use `verify` to know whether they can be trusted."""
    path = Path(path)
    if not path.exists():
        return []
    lines, _ = split_lines(path.read_bytes())
    out: list[AuditRecord] = []
    for index, line in enumerate(lines, start=1):
        data = parse_line(line)
        if data is not None:
            out.append(AuditRecord(index, data))
    return out


@dataclass(frozen=True)
class RepairResult:
    repaired: bool
    message: str
    saved_to: Path | None = None


def repair_truncated_tail(path: Path | str) -> RepairResult:
    """Move an incomplete last line aside to `<log>.truncated-<n>` so appends can resume.

    Explicit only (an operator command), never automatic: the operator should see that a crash
    happened. Refuses when the rest of the log does not verify, so repair cannot hide tampering.
    """
    path = Path(path)
    report = verify(path)
    if report.first_bad is not None:
        return RepairResult(False, f"refused: the log is tampered: {report.describe()}")
    if report.truncated_tail is None:
        return RepairResult(False, "nothing to repair: the last line is complete")
    raw = path.read_bytes()
    cut = raw.rfind(b"\n") + 1  # 0 when the only line is the broken one
    n = 1
    while (aside := path.with_name(f"{path.name}.truncated-{n}")).exists():
        n += 1
    aside.write_bytes(raw[cut:])
    with path.open("r+b") as handle:
        handle.truncate(cut)
        handle.flush()
        os.fsync(handle.fileno())
    return RepairResult(
        True,
        f"moved the incomplete line {report.truncated_tail.line} "
        f"({len(raw) - cut} bytes) to {aside}",
        aside,
    )


class AuditTrail(ABC):
    """An append-only, hash-chained audit log: what the executor writes to and what
    `reconciler audit` reads, whatever the storage (local file or GCS objects).

    One writer at a time is guaranteed by the run lock, so the head is read once, on the
    first append, and then kept in memory; storages that can check it (GCS) do so anyway.
    """

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self._head: tuple[int, str] | None = None

    @abstractmethod
    def describe(self) -> str:
        """Where the log lives, for messages."""

    @abstractmethod
    def exists(self) -> bool:
        """Whether anything was ever written (verify reports a missing log as an error)."""

    @abstractmethod
    def verify(self) -> VerifyReport:
        """Check the whole chain; name the first bad record."""

    @abstractmethod
    def records(self) -> list[AuditRecord]:
        """Every readable record in log order (use `verify` to know if they can be trusted)."""

    @abstractmethod
    def _write(self, record: dict[str, Any], line: bytes) -> None:
        """Make one record durable before returning (intent before action)."""

    def _load_head(self) -> tuple[int, str]:
        report = self.verify()
        if report.truncated_tail is not None:
            raise AuditLogError(
                f"{self.describe()} ends with an incomplete line from a crash "
                f"({report.truncated_tail.describe()}); inspect it and run "
                "`reconciler audit repair` before applying changes"
            )
        if report.first_bad is not None:
            # Appending after a tampered record would bury the evidence under new records.
            raise AuditLogError(f"refusing to append to a tampered log: {report.describe()}")
        return report.head_seq, report.head_hash

    def append(
        self,
        type: RecordType,
        *,
        run_id: str,
        actor: str,
        desired_commit: str | None = None,
        approver: str | None = None,
        person_id: str | None = None,
        action: Mapping[str, Any] | None = None,
        result: Mapping[str, Any] | None = None,
        provider_time: datetime | None = None,
        details: Mapping[str, Any] | None = None,
        ts: datetime | None = None,
    ) -> dict[str, Any]:
        """Write one record and make it durable before returning: an intent must be stored
        before the action it announces is sent, or a crash could hide an action that
        happened."""
        if self._head is None:
            self._head = self._load_head()
        seq, prev_hash = self._head
        record: dict[str, Any] = {
            "seq": seq + 1,
            "prev_hash": prev_hash,
            "type": RecordType(type).value,
            "run_id": run_id,
            "ts": _iso(ts or self.clock()),
            "provider_time": _iso(provider_time) if provider_time else None,
            "desired_commit": desired_commit,
            "actor": actor,
            "approver": approver,
            "person_id": person_id,
            "action": dict(action) if action is not None else None,
            "result": dict(result) if result is not None else None,
            "details": dict(details) if details else {},
        }
        record["hash"] = record_hash(record)
        self._write(record, (canonical_json(record) + "\n").encode())
        self._head = (record["seq"], record["hash"])
        return record


class AuditLog(AuditTrail):
    """The local log: one JSONL file, appended with one write() + fsync per record."""

    def __init__(self, path: Path | str, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(clock)
        self.path = Path(path)

    def describe(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    def verify(self) -> VerifyReport:
        return verify(self.path)

    def records(self) -> list[AuditRecord]:
        return read_records(self.path)

    def _write(self, record: dict[str, Any], line: bytes) -> None:
        created = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND: one write() per record, so a crash leaves at most one partial last line.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self.path.parent)  # make the new file's directory entry durable too


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories; the data itself is synced
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
