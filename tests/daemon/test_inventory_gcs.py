"""The daemon's yearly inventory with the state store on Cloud Storage: a real `reconciler
serve` subprocess, the real google-cloud-storage client against the sandbox's emulation. The
job archives every file and its manifest in the audit bucket (retained), under
`inventory/<year>/<run id>/`, each object created only if absent, the manifest last; a second
run of the same year lands beside the first and changes none of its objects; a file that
cannot be written fails the job and is notified; the audit log still verifies."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import requests
from google.cloud import storage  # type: ignore[attr-defined]

from reconciler.audit import RecordType
from reconciler.sandbox.server import SandboxServer
from reconciler.state.gcs import GcsLocation, GcsStateStore, storage_client
from tests.daemon.served import converged_world, daemon_env, make_repo, receiver, serve, wait_for
from tests.e2e.scenario import cli

AUDIENCE = "https://reconciler.example.com"
SCHEDULER = "scheduler@example-prod.iam.gserviceaccount.com"
STATE_URL = "gs://example-reconciler-state/prod"
AUDIT_BUCKET = "example-reconciler-audit"
AUDIT_URL = f"gs://{AUDIT_BUCKET}/prod"
INVENTORY = f"gs://{AUDIT_BUCKET}/inventory/"


def _blobs(client: storage.Client, folder: str) -> dict[str, storage.Blob]:
    """name in the folder -> blob, for a gs://BUCKET/PATH folder URL."""
    bucket, _, path = folder.removeprefix("gs://").partition("/")
    found = client.list_blobs(bucket, prefix=path.rstrip("/") + "/")
    return {b.name.rsplit("/", 1)[-1]: b for b in found}


def _check_folder(client: storage.Client, folder: str, manifest_sha256: str) -> dict[str, int]:
    """Every file the manifest names matches its SHA-256 read back; the manifest is the last
    object created (generations are a bucket-wide counter); name -> generation."""
    blobs = _blobs(client, folder)
    raw = blobs["manifest.json"].download_as_bytes()
    assert hashlib.sha256(raw).hexdigest() == manifest_sha256
    manifest = json.loads(raw)
    assert set(manifest["files"]) | {"manifest.json"} == set(blobs)
    assert manifest["audit_head"]["seq"] == 1  # anchored to the audit log
    assert {"google.csv", "github.csv", "gcp.csv", "inventory.xlsx"} <= set(manifest["files"])
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(blobs[name].download_as_bytes()).hexdigest() == digest, name
    generations = {name: int(b.generation) for name, b in blobs.items()}
    assert max(generations, key=lambda n: generations[n]) == "manifest.json"
    return generations


def test_the_inventory_job_archives_to_the_audit_bucket_never_overwrites_and_fails_loudly(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    repo, desired = make_repo(tmp_path)
    converged_world(sandbox, desired)  # the demo world's state and audit buckets
    client = storage_client(sandbox.url)
    store = GcsStateStore(client, GcsLocation.parse(STATE_URL), audit=GcsLocation.parse(AUDIT_URL))
    log = store.audit_log()  # an earlier run's record, in the bucket the inventory goes to
    log.append(RecordType.RUN_START, run_id="20260105T090000Z-0a1b2c3d", actor="ops@example.com")
    with receiver() as notified:
        env = daemon_env(
            sandbox, tmp_path, repo,
            RECONCILER_NOTIFY_URL=notified.url, RECONCILER_SERVICE_URL=AUDIENCE,
            RECONCILER_SCHEDULER_SERVICE_ACCOUNT=SCHEDULER,
            RECONCILER_STATE_URL=STATE_URL, RECONCILER_AUDIT_URL=AUDIT_URL,
        )  # fmt: skip
        with serve(env, tmp_path) as daemon:
            daemon.wait_ready()
            token = requests.post(
                f"{sandbox.url}/_sandbox/oidc/token",
                json={"audience": AUDIENCE, "email": SCHEDULER},
                timeout=10,
            ).json()["id_token"]

            def run_inventory(runs: int) -> None:
                queued = requests.post(
                    f"{daemon.url}/run/inventory",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=10,
                )
                assert queued.status_code == 202
                wait_for(
                    lambda: daemon.runs("scheduler-inventory") == runs and daemon.idle(),
                    f"inventory run {runs}",
                )

            run_inventory(1)
            [first] = notified.events("inventory")
            where = first["details"]["location"]
            assert where.startswith(f"{INVENTORY}{first['details']['year']}/")
            assert where.endswith("/" + first["details"]["run_id"])
            before = _check_folder(client, where, first["details"]["manifest_sha256"])
            inserts = [
                r
                for r in sandbox.sandbox.telemetry.log
                if r.endpoint == "storage.objects.insert" and f"/b/{AUDIT_BUCKET}/" in r.path
            ]
            assert len(inserts) == len(before) + 1  # the audit segment, then every file
            assert all(r.query.get("ifGenerationMatch") == ["0"] for r in inserts)

            run_inventory(2)  # the same year again: a folder of its own
            second = notified.events("inventory")[1]["details"]
            assert second["year"] == first["details"]["year"]
            assert second["location"] != where
            _check_folder(client, second["location"], second["manifest_sha256"])
            after = {n: int(b.generation) for n, b in _blobs(client, where).items()}
            assert after == before  # not one object of the first run was replaced

            # The third run cannot write its second file: the job fails and says so.
            sandbox.sandbox.add_fault(
                {"path": f"^/upload/storage/v1/b/{AUDIT_BUCKET}/o$", "method": "POST",
                 "nth": 2, "status": 403,
                 "body": {"error": {"code": 403, "message": "simulated refusal"}}}
            )  # fmt: skip
            run_inventory(3)
            sandbox.sandbox.clear_faults()
            failed = wait_for(lambda: notified.events("run-failed"), "the failure notice")
            assert len(notified.events("inventory")) == 2  # no success claimed
            error = failed[0]["details"]["error"]
            assert f"cannot write {INVENTORY}" in error and "403 simulated refusal" in error
            assert failed[0]["details"]["job"] == "inventory"
            assert (
                daemon.metric('reconciler_runs_total{result="error",trigger="scheduler-inventory"}')
                == 1
            )
            assert (
                daemon.metric(
                    'reconciler_runs_total{result="completed",trigger="scheduler-inventory"}'
                )
                == 2
            )
    assert not (tmp_path / "state" / "inventory").exists()  # nothing on the local disk
    # The inventory beside the audit segments leaves the audit log whole.
    verified = cli(["audit", "verify"], {"RECONCILER_SANDBOX_URL": sandbox.url,
                                         "RECONCILER_STATE_URL": STATE_URL,
                                         "RECONCILER_AUDIT_URL": AUDIT_URL})  # fmt: skip
    assert verified.exit_code == 0, verified.output
    assert "1 records" in verified.output or "1 record" in verified.output, verified.output
