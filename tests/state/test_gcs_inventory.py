"""Where the daemon's inventory is archived (`state.inventory.inventory_target`) and the
archive on Cloud Storage through the real google-cloud-storage client against the sandbox:
each object created only if absent, the manifest last; the same folder written again with
other content is refused and the evidence stays as it was; a retried write of the same bytes
is accepted; the audit log beside it still verifies. The local archive never overwrites
either."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.audit import RecordType
from reconciler.sandbox.server import SandboxServer
from reconciler.settings import Settings
from reconciler.state import StateStoreError
from reconciler.state.gcs import GcsInventoryArchive, GcsLocation, storage_client
from reconciler.state.inventory import LocalInventoryArchive, inventory_target
from tests.state.gcs_world import AUDIT_BUCKET, AUDIT_URL, STATE_URL, gcs_store, storage_world

RUN = "20261130T090000Z-1a2b3c4d"
FILES = {"manifest.json": b'{"files": {}}\n', "google.csv": b"\xef\xbb\xbfa,b\n", "z.md": b"# z\n"}


@pytest.mark.parametrize(
    ("settings", "location"),
    [
        ({"state_url": STATE_URL, "audit_url": AUDIT_URL}, f"gs://{AUDIT_BUCKET}/inventory"),
        ({"state_url": STATE_URL}, f"{STATE_URL}/inventory"),
        (
            {"state_url": STATE_URL, "inventory_url": "gs://example-evidence/inv"},
            "gs://example-evidence/inv",
        ),
        ({"state_dir": Path("/srv/state")}, "/srv/state/inventory"),
        ({"state_dir": Path("/srv/state"), "inventory_dir": Path("/srv/inv")}, "/srv/inv"),
    ],
    ids=["audit bucket", "state bucket", "explicit url", "local default", "local dir"],
)
def test_the_inventory_location_defaults_to_a_bucket_with_a_gcs_state_store(
    settings: dict[str, object], location: str
) -> None:
    assert inventory_target(Settings(**settings)).location == location  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"state_url": STATE_URL, "inventory_dir": Path("/srv/inv")},
            "RECONCILER_INVENTORY_DIR=/srv/inv is a local directory but the state store is",
        ),
        (
            {"state_url": STATE_URL, "inventory_url": "/srv/inv"},
            "RECONCILER_INVENTORY_URL=/srv/inv is a local directory but the state store is",
        ),
        (
            {"state_url": STATE_URL, "audit_url": f"gs://{AUDIT_BUCKET}"},
            f"gs://{AUDIT_BUCKET}/inventory is inside the audit segments gs://{AUDIT_BUCKET}",
        ),
        (
            {"state_url": STATE_URL, "audit_url": AUDIT_URL, "inventory_url": f"{AUDIT_URL}/inv"},
            f"RECONCILER_INVENTORY_URL: the inventory location {AUDIT_URL}/inv is inside",
        ),
        (
            {"state_url": STATE_URL, "inventory_url": f"{STATE_URL}/audit"},
            f"{STATE_URL}/audit is inside the audit segments {STATE_URL}/audit",
        ),
        (
            {"state_url": STATE_URL, "inventory_url": "gs://Bad_Bucket"},
            "RECONCILER_INVENTORY_URL: 'gs://Bad_Bucket' is not a gs://BUCKET/PREFIX URL",
        ),
    ],
    ids=[
        "local dir",
        "local url",
        "audit url without prefix",
        "inside the audit prefix",
        "inside the default audit prefix",
        "bad url",
    ],
)
def test_an_inventory_location_that_would_lose_evidence_or_break_the_audit_log_is_refused(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(StateStoreError, match=re.escape(message)):
        inventory_target(Settings(**settings))  # type: ignore[arg-type]


def _archive(sandbox: SandboxServer) -> GcsInventoryArchive:
    return GcsInventoryArchive(
        storage_client(sandbox.url), GcsLocation.parse(f"gs://{AUDIT_BUCKET}/inventory")
    )


def test_the_gcs_archive_creates_each_object_once_and_the_manifest_last(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(storage_world())
    gcs_store(sandbox).audit_log().append(RecordType.RUN_START, run_id=RUN, actor="ops@example.com")
    where = _archive(sandbox).write(2026, RUN, FILES)
    assert where == f"gs://{AUDIT_BUCKET}/inventory/2026/{RUN}"

    client = storage_client(sandbox.url)
    blobs = {b.name: b for b in client.list_blobs(AUDIT_BUCKET, prefix="inventory/")}
    assert {n: b.download_as_bytes() for n, b in blobs.items()} == {
        f"inventory/2026/{RUN}/{name}": data for name, data in FILES.items()
    }
    last = max(blobs.values(), key=lambda b: int(b.generation))
    assert last.name.endswith("/manifest.json")
    assert str(blobs[f"inventory/2026/{RUN}/google.csv"].content_type).startswith("text/csv")
    creates = [
        r
        for r in sandbox.sandbox.telemetry.log
        if r.endpoint == "storage.objects.insert" and f"/b/{AUDIT_BUCKET}/" in r.path
    ]
    assert len(creates) == 1 + len(FILES)  # the audit segment, then the files
    assert all(r.query.get("ifGenerationMatch") == ["0"] for r in creates)

    # The same folder again: identical bytes are a retried write, other bytes are refused.
    assert _archive(sandbox).write(2026, RUN, FILES) == where
    forged = {**FILES, "google.csv": b"\xef\xbb\xbfforged\n"}
    with pytest.raises(StateStoreError, match=r"google\.csv already exists with other content"):
        _archive(sandbox).write(2026, RUN, forged)
    again = {b.name: int(b.generation) for b in client.list_blobs(AUDIT_BUCKET, prefix="inv")}
    assert again == {n: int(b.generation) for n, b in blobs.items()}  # nothing replaced

    report = gcs_store(sandbox).audit_log().verify()  # the segments beside it are untouched
    assert report.ok and report.records == 1


def test_the_local_archive_never_overwrites(tmp_path: Path) -> None:
    archive = LocalInventoryArchive(tmp_path / "inventory")
    where = Path(archive.write(2026, RUN, FILES))
    assert where == tmp_path / "inventory" / "2026" / RUN
    assert {p.name: p.read_bytes() for p in where.iterdir()} == FILES
    with pytest.raises(StateStoreError, match=r"google\.csv already exists"):
        archive.write(2026, RUN, {**FILES, "google.csv": b"forged"})
    assert (where / "google.csv").read_bytes() == FILES["google.csv"]
