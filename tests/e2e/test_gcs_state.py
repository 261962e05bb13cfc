"""End to end with the state store on GCS: the real CLI, providers and google-cloud-storage
client against the sandbox (whose demo world has the state and audit buckets). A confirmed run
takes the lease, writes its audit log as segments + head, releases the lease; a run while
another holds the lease changes nothing and names the holder."""

from __future__ import annotations

from pathlib import Path

from reconciler.audit import RecordType
from reconciler.sandbox.server import SandboxServer
from reconciler.state.gcs import GcsLocation, GcsStateStore, storage_client
from tests.e2e.scenario import cli, setup, writes

STATE_URL = "gs://example-reconciler-state/prod"
AUDIT_URL = "gs://example-reconciler-audit/prod"


def _store(sandbox: SandboxServer) -> GcsStateStore:
    return GcsStateStore(
        storage_client(sandbox.url),
        GcsLocation.parse(STATE_URL),
        audit=GcsLocation.parse(AUDIT_URL),
    )


def _gcs_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    gcs = {**env, "RECONCILER_STATE_URL": STATE_URL, "RECONCILER_AUDIT_URL": AUDIT_URL}
    gcs["RECONCILER_STATE_DIR"] = str(tmp_path / "must-not-be-used")
    return gcs


def test_a_confirmed_run_keeps_its_lock_and_audit_log_on_gcs(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    env = _gcs_env(env, tmp_path)

    result = cli(["apply", "--dir", str(directory), "--confirm"], env)

    assert result.exit_code == 0, result.output
    assert not (tmp_path / "must-not-be-used").exists()
    records = _store(sandbox).audit_log().records()
    assert records[0].type == RecordType.RUN_START
    assert any(r.type == RecordType.RUN_END for r in records)
    assert all(r.where.startswith(AUDIT_URL + "/") for r in records)
    log = sandbox.sandbox.telemetry.log
    lease_creates = [
        r
        for r in log
        if r.endpoint == "storage.objects.insert"
        and r.query.get("ifGenerationMatch") == ["0"]
        and r.body is None  # multipart bodies are not logged; the path names the bucket
        and "/b/example-reconciler-state/" in r.path
    ]
    assert lease_creates, "the lease is created only if absent"
    client = storage_client(sandbox.url)
    assert client.bucket("example-reconciler-state").get_blob("prod/run.lock") is None  # released
    verified = cli(["audit", "verify"], env)
    assert verified.exit_code == 0, verified.output
    assert f"{AUDIT_URL}: OK, {len(records)} records" in verified.output


def test_a_run_while_another_holds_the_lease_changes_nothing(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    env = _gcs_env(env, tmp_path)

    with _store(sandbox).lock(run_id="20261126T010000Z-holder", command="apply --confirm"):
        result = cli(["apply", "--dir", str(directory), "--confirm"], env)

    assert result.exit_code == 1
    assert "another run is in progress" in result.stderr
    assert "20261126T010000Z-holder" in result.stderr
    assert f"{STATE_URL}/run.lock" in result.stderr
    system_writes = [w for w in writes(sandbox) if "/storage/v1/" not in w[1]]
    assert system_writes == []
