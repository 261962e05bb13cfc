"""The state store: everything a run must remember between runs (emergency holds, the counts
of the last complete read, ...), behind one small interface; used by the CLI and the daemon.

Only JSON documents by name, read whole and replaced whole. Writes are atomic (a reader sees
the old document or the new one, never half of either), because a crash mid-write must not
lose an emergency hold or turn the read counts into garbage that disables the shrink check.
The local directory is the embedded default (CLI, tests, a laptop); the run lock and the audit
log live in the same directory (`reconciler.locking`, `reconciler.audit`).
"""

from __future__ import annotations

from reconciler.state.local import LocalStateStore, StateStore, StateStoreError

__all__ = ["LocalStateStore", "StateStore", "StateStoreError"]
