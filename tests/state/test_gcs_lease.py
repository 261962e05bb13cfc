"""The run lease on GCS between real processes, through the real google-cloud-storage client
against the sandbox: exactly one runs, the other fails naming the holder or waits for it; an
expired lease is taken over, a live one never; release deletes only our own lease; the holder
renews it while it runs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.locking import RunLockBusy, RunLockLost
from reconciler.sandbox.server import SandboxServer
from tests.state.gcs_world import STATE_BUCKET, STATE_URL, gcs_store, storage_world

LOCK = "prod/run.lock"
SCRIPT = textwrap.dedent(
    """
    import sys
    from reconciler.locking import RunLockBusy
    from reconciler.state.gcs import GcsLocation, GcsStateStore, storage_client

    url, run_id, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    store = GcsStateStore(storage_client(url), GcsLocation.parse(sys.argv[4]))
    try:
        with store.lock(run_id=run_id, command="apply --confirm", timeout=timeout,
                        poll_interval=0.05):
            print("locked", flush=True)
            sys.stdin.readline()  # hold until the test says so
    except RunLockBusy as exc:
        print(f"busy: {exc}", flush=True)
        sys.exit(1)
    print("released", flush=True)
    """
)


def _start(url: str, run_id: str, timeout: float = 0.0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, url, run_id, str(timeout), STATE_URL],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def holder(sandbox: SandboxServer) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lease until its stdin gets a line."""
    sandbox.sandbox.load_world(storage_world())
    proc = _start(sandbox.url, "nightly-1")
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


def _lease(sandbox: SandboxServer) -> tuple[dict[str, object], int] | None:
    bucket = gcs_store(sandbox).client.bucket(STATE_BUCKET)
    blob = bucket.get_blob(LOCK)
    if blob is None:
        return None
    return json.loads(blob.download_as_bytes()), int(blob.generation or 0)


def test_a_second_process_fails_naming_the_holder(
    sandbox: SandboxServer, holder: subprocess.Popen[str]
) -> None:
    second = _start(sandbox.url, "manual-2")
    out, _ = second.communicate(timeout=60)
    assert second.returncode == 1
    assert f"run nightly-1 (apply --confirm) by pid {holder.pid}" in out
    assert f"gs://{STATE_BUCKET}/prod/run.lock" in out
    assert "DESIGN" not in out


def test_a_waiting_process_runs_once_the_holder_releases(
    sandbox: SandboxServer, holder: subprocess.Popen[str]
) -> None:
    waiter = _start(sandbox.url, "webhook-2", timeout=120)
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "released"
    assert waiter.stdout is not None
    assert waiter.stdout.readline().strip() == "locked"  # only after the holder released
    lease = _lease(sandbox)
    assert lease is not None and lease[0]["run_id"] == "webhook-2"
    waiter.communicate("\n", timeout=60)
    assert waiter.returncode == 0
    assert _lease(sandbox) is None  # released: deleted


def _seeded_lease(expires: datetime) -> dict[str, str]:
    record = {
        "pid": 4242, "host": "old-runner", "run_id": "crashed-1", "command": "apply --confirm",
        "started_at": "2026-11-30T09:00:00+00:00", "expires_at": expires.isoformat(),
    }  # fmt: skip
    return {"name": LOCK, "content": json.dumps(record), "content_type": "application/json"}


def test_an_expired_lease_is_taken_over_by_generation(sandbox: SandboxServer) -> None:
    past = datetime.now(UTC) - timedelta(minutes=5)
    sandbox.sandbox.load_world(storage_world(_seeded_lease(past)))
    before = _lease(sandbox)
    assert before is not None
    with gcs_store(sandbox).lock(run_id="after-crash", command="apply --confirm") as me:
        assert me.run_id == "after-crash"
        now = _lease(sandbox)
        assert now is not None and now[0]["run_id"] == "after-crash"
    takeovers = [
        r for r in sandbox.sandbox.telemetry.log
        if r.endpoint == "storage.objects.insert"
        and r.query.get("ifGenerationMatch") == [str(before[1])]
    ]  # fmt: skip
    assert len(takeovers) == 1  # replaced only the generation it saw expired


def test_a_live_lease_of_a_crashed_looking_holder_is_not_taken(sandbox: SandboxServer) -> None:
    future = datetime.now(UTC) + timedelta(minutes=5)
    sandbox.sandbox.load_world(storage_world(_seeded_lease(future)))
    with pytest.raises(RunLockBusy, match=r"run crashed-1 .* by pid 4242 on old-runner"):  # noqa: SIM117
        with gcs_store(sandbox).lock(run_id="r2", command="apply"):
            pass
    lease = _lease(sandbox)
    assert lease is not None and lease[0]["run_id"] == "crashed-1"


def test_release_never_deletes_a_lease_someone_else_took_over(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(storage_world())
    store = gcs_store(sandbox)
    with pytest.raises(RunLockLost, match="lost while run r1 held it"):  # noqa: SIM117
        with store.lock(run_id="r1", command="apply --confirm"):
            # Another host decided our lease had expired and replaced it.
            blob = store.client.bucket(STATE_BUCKET).blob(LOCK)
            blob.upload_from_string(json.dumps({"run_id": "r2"}).encode())
    lease = _lease(sandbox)
    assert lease is not None and lease[0] == {"run_id": "r2"}


def test_the_holder_renews_its_lease_while_it_runs(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(storage_world())
    store = gcs_store(sandbox, renew_seconds=0.05)
    with store.lock(run_id="r1", command="apply --confirm"):
        first = _lease(sandbox)
        assert first is not None
        log = sandbox.sandbox.telemetry.log
        renewal = [str(first[1])]
        deadline = time.monotonic() + 60  # waits for the event; a hang bound, not a timing
        while time.monotonic() < deadline:  # until the thread replaced our own generation
            if any(r.query.get("ifGenerationMatch") == renewal and r.status == 200 for r in log):
                break
            time.sleep(0.02)
        renewed = _lease(sandbox)
    assert renewed is not None and renewed[1] != first[1]
    assert str(renewed[0]["expires_at"]) > str(first[0]["expires_at"])
    assert _lease(sandbox) is None
