"""The audit log on GCS through the real google-cloud-storage client against the sandbox:
one immutable segment per record plus a head advanced by generation; verify names a deleted
or edited segment and a cut-off end; two writers can never both append; a crash between the
head and its segment loses nothing; the retention policy refuses early deletes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from google.api_core import exceptions as gexc

from reconciler.audit import AuditLogError, Problem, RecordType, audit_head, check_anchor
from reconciler.sandbox.server import SandboxServer
from reconciler.state.gcs import GcsAuditLog
from tests.state.gcs_world import AUDIT_BUCKET, STATE_BUCKET, gcs_store, storage_world

RUN = "20261130T090000Z-1a2b3c4d"
ACTION = {"id": "a1", "kind": "remove_org_member", "principal": "hsuzuki", "target": "example"}


def _clock() -> datetime:
    return datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _write_run(log: GcsAuditLog, run_id: str = RUN) -> None:
    log.append(RecordType.RUN_START, run_id=run_id, actor="ops@example.co.jp")
    log.append(RecordType.INTENT, run_id=run_id, actor="ops@example.co.jp", action=ACTION)
    log.append(
        RecordType.RESULT, run_id=run_id, actor="ops@example.co.jp", action=ACTION,
        result={"action_id": "a1", "ok": True, "changed": True, "message": ""},
    )  # fmt: skip
    log.append(RecordType.RUN_END, run_id=run_id, actor="ops@example.co.jp")


def _names(sandbox: SandboxServer, bucket: str) -> list[str]:
    return [b.name for b in gcs_store(sandbox).client.list_blobs(bucket)]


def test_segments_and_head_verify(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(storage_world())
    _write_run(gcs_store(sandbox).audit_log(_clock))
    _write_run(gcs_store(sandbox).audit_log(_clock), run_id="20261201T090000Z-5e6f7a8b")
    assert _names(sandbox, AUDIT_BUCKET)[:2] == [
        f"prod/000000000001-{RUN}.jsonl",
        f"prod/000000000002-{RUN}.jsonl",
    ]
    assert len(_names(sandbox, AUDIT_BUCKET)) == 8
    assert _names(sandbox, STATE_BUCKET) == ["prod/audit/HEAD"]
    creates = [r for r in sandbox.sandbox.telemetry.log if r.endpoint == "storage.objects.insert"]
    segment_creates = [r for r in creates if f"/b/{AUDIT_BUCKET}/" in r.path]
    assert all(r.query.get("ifGenerationMatch") == ["0"] for r in segment_creates)
    head_writes = [r for r in creates if f"/b/{STATE_BUCKET}/" in r.path]
    assert all(r.query.get("ifGenerationMatch") for r in head_writes)  # never blind
    report = gcs_store(sandbox).audit_log().verify()
    assert report.ok and report.records == 8
    assert audit_head(gcs_store(sandbox).audit_log()) == (8, report.head_hash)
    records = gcs_store(sandbox).audit_log().records()
    assert [r.seq for r in records] == list(range(1, 9))


def test_a_deleted_segment_is_named(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(storage_world(audit_retention=False))
    _write_run(gcs_store(sandbox).audit_log(_clock))
    bucket = gcs_store(sandbox).client.bucket(AUDIT_BUCKET)
    bucket.blob(f"prod/000000000002-{RUN}.jsonl").delete()
    report = gcs_store(sandbox).audit_log().verify()
    assert report.first_bad is not None
    assert report.first_bad.seq == 3
    assert Problem.BROKEN_CHAIN in report.first_bad.problems
    assert report.first_bad.where.endswith(f"000000000003-{RUN}.jsonl")


def test_an_edited_segment_is_named(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(storage_world(audit_retention=False))
    _write_run(gcs_store(sandbox).audit_log(_clock))
    blob = gcs_store(sandbox).client.bucket(AUDIT_BUCKET).blob(f"prod/000000000002-{RUN}.jsonl")
    blob.upload_from_string(blob.download_as_bytes().replace(b"hsuzuki", b"someoneelse"))
    report = gcs_store(sandbox).audit_log().verify()
    assert report.first_bad is not None and report.first_bad.seq == 2
    assert report.first_bad.problems == (Problem.HASH_MISMATCH,)


def test_a_cut_off_end_is_caught_by_the_head(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(storage_world(audit_retention=False))
    _write_run(gcs_store(sandbox).audit_log(_clock))
    gcs_store(sandbox).client.bucket(AUDIT_BUCKET).blob(f"prod/000000000004-{RUN}.jsonl").delete()
    gcs_store(sandbox).client.bucket(AUDIT_BUCKET).blob(f"prod/000000000003-{RUN}.jsonl").delete()
    report = gcs_store(sandbox).audit_log().verify()
    assert report.tampered
    assert "the head says seq 4" in report.describe()


def test_two_writers_can_never_both_append(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(storage_world())
    first, second = gcs_store(sandbox).audit_log(_clock), gcs_store(sandbox).audit_log(_clock)
    first.append(RecordType.RUN_START, run_id="run-a", actor="ops@example.co.jp")
    second.append(RecordType.RUN_START, run_id="run-b", actor="ops@example.co.jp")  # seq 2
    with pytest.raises(AuditLogError, match="another writer advanced the audit log head"):
        first.append(RecordType.RUN_END, run_id="run-a", actor="ops@example.co.jp")  # also 2
    report = gcs_store(sandbox).audit_log().verify()
    assert report.ok and report.records == 2
    assert [r.run_id for r in gcs_store(sandbox).audit_log().records()] == ["run-a", "run-b"]
    assert len(_names(sandbox, AUDIT_BUCKET)) == 2  # the loser wrote nothing


def test_a_crash_between_head_and_segment_loses_nothing(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(storage_world())
    log = gcs_store(sandbox).audit_log(_clock)
    log.append(RecordType.RUN_START, run_id=RUN, actor="ops@example.co.jp")
    sandbox.sandbox.add_fault(
        {"path": f"^/upload/storage/v1/b/{AUDIT_BUCKET}/o$", "method": "POST", "nth": 1,
         "status": 403, "body": {"error": {"code": 403, "message": "simulated crash"}}}
    )  # fmt: skip
    with pytest.raises(AuditLogError, match="cannot write audit record seq 2"):
        log.append(RecordType.INTENT, run_id=RUN, actor="ops@example.co.jp", action=ACTION)
    sandbox.sandbox.clear_faults()
    report = gcs_store(sandbox).audit_log().verify()
    assert report.ok and report.records == 2  # the intent is durable: it is in the head
    assert [u.action_id for u in report.unfinished_intents] == ["a1"]
    rerun = gcs_store(sandbox).audit_log(_clock)
    rerun.append(RecordType.RUN_START, run_id="20261130T100000Z-9c", actor="ops@example.co.jp")
    assert len(_names(sandbox, AUDIT_BUCKET)) == 3  # the missing segment was completed
    assert gcs_store(sandbox).audit_log().verify().records == 3


def test_the_retention_policy_refuses_an_early_delete_and_appends_still_work(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(storage_world())
    _write_run(gcs_store(sandbox).audit_log(_clock))
    blob = gcs_store(sandbox).client.bucket(AUDIT_BUCKET).blob(f"prod/000000000002-{RUN}.jsonl")
    with pytest.raises(gexc.Forbidden, match="retention policy"):
        blob.delete()
    with pytest.raises(gexc.Forbidden, match="retention policy"):
        blob.upload_from_string(b"{}\n")
    _write_run(gcs_store(sandbox).audit_log(_clock), run_id="20261201T090000Z-5e6f7a8b")
    assert gcs_store(sandbox).audit_log().verify().records == 8


def test_the_head_cannot_share_a_bucket_with_a_retention_policy(sandbox: SandboxServer) -> None:
    world = storage_world()
    world["storage"]["buckets"][0]["retention_period"] = 3600
    sandbox.sandbox.load_world(world)
    log = gcs_store(sandbox).audit_log(_clock)
    log.append(RecordType.RUN_START, run_id=RUN, actor="ops@example.co.jp")
    with pytest.raises(AuditLogError, match="retention policy"):
        log.append(RecordType.RUN_END, run_id=RUN, actor="ops@example.co.jp")


def test_a_rewritten_and_rehashed_history_is_caught_by_the_published_head(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(storage_world(audit_retention=False))
    _write_run(gcs_store(sandbox).audit_log(_clock))
    published = gcs_store(sandbox).audit_log().verify().head_hash
    _forge(sandbox)
    forged = gcs_store(sandbox).audit_log().verify()
    assert forged.ok and forged.records == 4  # the chain alone cannot tell
    assert check_anchor(forged, published) is not None
    assert check_anchor(gcs_store(sandbox).audit_log().verify(), forged.head_hash) is None


def _forge(sandbox: SandboxServer) -> None:
    """What someone with write access to both buckets can do without Bucket Lock: rewrite
    record 2, recompute every hash after it, replace the segments and the head."""
    from reconciler.audit import canonical_json, record_hash

    client = gcs_store(sandbox).client
    audit = client.bucket(AUDIT_BUCKET)
    blobs = sorted(client.list_blobs(AUDIT_BUCKET), key=lambda b: b.name)
    prev = None
    record: dict[str, object] = {}
    for blob in blobs:
        record = json.loads(blob.download_as_bytes())
        if record["seq"] == 2:
            record["action"] = {**ACTION, "principal": "someoneelse"}
        if prev is not None:
            record["prev_hash"] = prev
        record["hash"] = record_hash(record)
        prev = record["hash"]
        audit.blob(blob.name).upload_from_string((canonical_json(record) + "\n").encode())
    head = client.bucket(STATE_BUCKET).blob("prod/audit/HEAD")
    head_data = json.loads(head.download_as_bytes())
    head_data.update(hash=prev, record=record)
    head.upload_from_string(canonical_json(head_data).encode())
