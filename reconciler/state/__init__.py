"""The state store: everything a run must remember between runs (emergency holds, the counts
of the last complete read, ...), the run lock and the audit log, behind one small interface;
`open_state_store` builds it from the settings for the CLI and the daemon.

Documents are JSON by name, read whole and replaced whole. Writes are atomic (a reader sees
the old document or the new one, never half of either), because a crash mid-write must not
lose an emergency hold or turn the read counts into garbage that disables the shrink check.

Two implementations: a local directory (the default: CLI, tests, a laptop; flock run lock,
one-file audit log) and Google Cloud Storage (`RECONCILER_STATE_URL=gs://BUCKET/PREFIX`, the
service mode: lease run lock, segment-per-record audit log; reconciler/state/gcs.py).
"""

from __future__ import annotations

from pathlib import Path

from reconciler.audit import AuditTrail
from reconciler.settings import Settings
from reconciler.state.local import LocalStateStore, StateStore, StateStoreError

__all__ = [
    "LocalStateStore",
    "StateStore",
    "StateStoreError",
    "open_audit_trail",
    "open_state_store",
]


def open_state_store(settings: Settings) -> StateStore:
    """The store RECONCILER_STATE_URL names: gs://BUCKET/PREFIX (the sandbox's emulation when
    RECONCILER_SANDBOX_URL is set, else Cloud Storage with Application Default Credentials),
    or a directory (RECONCILER_STATE_DIR when the URL is unset)."""
    url = settings.state_location()
    if not url.startswith("gs://"):
        return LocalStateStore(Path(url))
    from reconciler.state.gcs import GcsLocation, GcsStateStore, storage_client

    try:
        location = GcsLocation.parse(url)
    except ValueError as exc:
        raise StateStoreError(f"RECONCILER_STATE_URL: {exc}") from None
    try:
        audit = GcsLocation.parse(settings.audit_url) if settings.audit_url else None
    except ValueError as exc:
        raise StateStoreError(f"RECONCILER_AUDIT_URL: {exc}") from None
    return GcsStateStore(storage_client(settings.sandbox_url), location, audit=audit)


def open_audit_trail(settings: Settings, location: str | None = None) -> AuditTrail:
    """The audit log to read: `location` (a local file, or the gs:// URL of a state store)
    when given, else the configured store's log."""
    if location is None:
        return open_state_store(settings).audit_log()
    if location.startswith("gs://"):
        # The URL of a state store: its head is <url>/audit/HEAD, its segments <url>/audit/.
        store = open_state_store(settings.model_copy(update={"state_url": location}))
        return store.audit_log()
    from reconciler.audit import AuditLog

    return AuditLog(Path(location))
