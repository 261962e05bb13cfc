"""The buckets the GCS state store tests use, and a store on them through the real
google-cloud-storage client pointed at the sandbox."""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.server import SandboxServer
from reconciler.state.gcs import GcsLocation, GcsStateStore, storage_client

STATE_BUCKET = "example-reconciler-state"
AUDIT_BUCKET = "example-reconciler-audit"
STATE_URL = f"gs://{STATE_BUCKET}/prod"
AUDIT_URL = f"gs://{AUDIT_BUCKET}/prod"
RETENTION = 3600


def storage_world(*objects: dict[str, Any], audit_retention: bool = True) -> dict[str, Any]:
    """A versioned state bucket (seeded with `objects`) and a versioned audit bucket with a
    retention policy, as docs/operations.md recommends."""
    audit: dict[str, Any] = {"name": AUDIT_BUCKET, "versioning": True}
    if audit_retention:
        audit["retention_period"] = RETENTION
    return {
        "storage": {
            "buckets": [
                {"name": STATE_BUCKET, "versioning": True, "objects": list(objects)},
                audit,
            ]
        }
    }


def gcs_store(sandbox: SandboxServer, *, separate_audit: bool = True, **kw: Any) -> GcsStateStore:
    audit = GcsLocation.parse(AUDIT_URL) if separate_audit else None
    return GcsStateStore(
        storage_client(sandbox.url), GcsLocation.parse(STATE_URL), audit=audit, **kw
    )
