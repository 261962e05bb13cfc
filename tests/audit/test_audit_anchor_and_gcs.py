"""`reconciler audit verify|show|leavers` on a GCS log (real client against the sandbox) as on a
local file, and `--expect-head`: a history rewritten with recomputed hashes verifies on its
own but not against the head hash published before the rewrite."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.audit import AuditLog, RecordType, canonical_json, record_hash
from reconciler.cli import _register_commands, app
from reconciler.sandbox.server import SandboxServer
from tests.state.gcs_world import STATE_URL, gcs_store, storage_world
from tests.state.test_gcs_audit import _forge, _write_run

_register_commands()
runner = CliRunner()


def _clock() -> datetime:
    return datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _local_log(path: Path) -> str:
    log = AuditLog(path, clock=_clock)
    for type_ in (RecordType.RUN_START, RecordType.INTENT, RecordType.RUN_END):
        record = log.append(type_, run_id="run-1", actor="ops@example.co.jp", person_id="e0042")
    return str(record["hash"])


def _rewrite_and_rehash(path: Path) -> None:
    prev = None
    out = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["seq"] == 2:
            record["person_id"] = "e0099"
        if prev is not None:
            record["prev_hash"] = prev
        record["hash"] = prev = record_hash(record)
        out.append(canonical_json(record) + "\n")
    path.write_text("".join(out))


def test_expect_head_catches_a_rewritten_local_history(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    published = _local_log(path)
    ok = runner.invoke(app, ["audit", "verify", str(path), "--expect-head", published])
    assert ok.exit_code == 0, ok.output
    assert f"the published head {published} is in the chain" in ok.output
    _rewrite_and_rehash(path)
    alone = runner.invoke(app, ["audit", "verify", str(path)])
    assert alone.exit_code == 0, alone.output  # the chain itself was recomputed
    anchored = runner.invoke(app, ["audit", "verify", str(path), "--expect-head", published])
    assert anchored.exit_code == 1
    assert f"the published head {published} is not the hash of any record" in anchored.output


def test_an_earlier_published_head_still_verifies_after_later_runs(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    published = _local_log(path)
    AuditLog(path).append(RecordType.RUN_START, run_id="run-2", actor="ops@example.co.jp")
    result = runner.invoke(app, ["audit", "verify", str(path), "--expect-head", published])
    assert result.exit_code == 0, result.output


def test_expect_head_must_be_a_hash(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _local_log(path)
    result = runner.invoke(app, ["audit", "verify", str(path), "--expect-head", "abc"])
    assert result.exit_code == 1
    assert "--expect-head 'abc' is not a sha256 hash" in result.output


@pytest.fixture
def gcs_env(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    sandbox.sandbox.load_world(storage_world(audit_retention=False))
    monkeypatch.setenv("RECONCILER_SANDBOX_URL", sandbox.url)
    monkeypatch.setenv("RECONCILER_STATE_URL", STATE_URL)
    monkeypatch.setenv("RECONCILER_AUDIT_URL", "gs://example-reconciler-audit/prod")
    return sandbox


def test_verify_and_show_read_the_configured_gcs_log(gcs_env: SandboxServer) -> None:
    _write_run(gcs_store(gcs_env).audit_log(_clock))
    head = gcs_store(gcs_env).audit_log().verify().head_hash
    verified = runner.invoke(app, ["audit", "verify", "--expect-head", head])
    assert verified.exit_code == 0, verified.output
    assert "gs://example-reconciler-audit/prod: OK, 4 records" in verified.output
    shown = runner.invoke(app, ["audit", "show"])
    assert shown.exit_code == 0, shown.output
    assert "4 of 4 records" in shown.output
    leavers = runner.invoke(app, ["audit", "leavers"])
    assert leavers.exit_code == 0 and "0 leaver(s)" in leavers.output


def test_expect_head_catches_a_rewritten_gcs_history(gcs_env: SandboxServer) -> None:
    _write_run(gcs_store(gcs_env).audit_log(_clock))
    published = gcs_store(gcs_env).audit_log().verify().head_hash
    _forge(gcs_env)
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
    anchored = runner.invoke(app, ["audit", "verify", "--expect-head", published])
    assert anchored.exit_code == 1
    assert "TAMPERED" in anchored.output and published in anchored.output


def test_a_deleted_gcs_segment_fails_verify(gcs_env: SandboxServer) -> None:
    _write_run(gcs_store(gcs_env).audit_log(_clock))
    client = gcs_store(gcs_env).client
    name = next(b.name for b in client.list_blobs("example-reconciler-audit") if "002-" in b.name)
    client.bucket("example-reconciler-audit").blob(name).delete()
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert "TAMPERED at gs://example-reconciler-audit/prod/000000000003-" in result.output


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "RECONCILER_STATE_URL",
            "gs://Bad_Bucket!/x",
            "RECONCILER_STATE_URL: 'gs://Bad_Bucket!/x'",
        ),
        ("RECONCILER_STATE_URL", "gs://no-such-bucket/prod", "no-such-bucket"),
    ],
)
def test_a_bad_state_url_is_a_one_line_error(
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
) -> None:
    sandbox.sandbox.load_world(storage_world())
    monkeypatch.setenv("RECONCILER_SANDBOX_URL", sandbox.url)
    monkeypatch.setenv(variable, value)
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
