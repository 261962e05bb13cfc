"""The local run lock (one run at a time), taken through `LocalStateStore.lock` by the CLI's
apply/offboard commands and by the daemon around every run that may change a system. The GCS
state store has its own, a lease object (reconciler/state/gcs.py), raising the same errors.

`fcntl.flock` on an open file: the kernel releases it when the holding process exits or dies,
so a crash never leaves a stale lock behind (unlike a pid file). The holder writes who it is
into the file so a second run can say whom it is waiting for. flock is advisory and local to
one host: the state dir must be on a local disk (not NFS), and only one daemon may run per
state dir (the deployment guarantees it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from reconciler.errors import ReconcilerError

LOCK_FILE = "run.lock"


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    run_id: str
    command: str
    started_at: str  # ISO 8601, UTC
    expires_at: str | None = None  # a GCS lease's end unless renewed; None for flock

    def describe(self) -> str:
        until = f", lease until {self.expires_at}" if self.expires_at else ""
        return (
            f"run {self.run_id} ({self.command}) by pid {self.pid} on {self.host}, "
            f"started {self.started_at}{until}"
        )


class RunLockBusy(ReconcilerError):
    """Another run holds the lock; `holder` says which (None if it could not be read)."""

    def __init__(self, path: Path | str, holder: LockHolder | None, waited: float) -> None:
        who = holder.describe() if holder else "an unknown process (holder record unreadable)"
        super().__init__(
            f"another run is in progress: {who}; waited {waited:.1f}s for {path}. "
            "Only one run may change the systems at a time."
        )
        self.path = path
        self.holder = holder


class RunLockLost(ReconcilerError):
    """The lease was taken over while this run held it (it could not renew it in time)."""


def read_holder(path: Path) -> LockHolder | None:
    """Who holds (or last held) the lock, as recorded in the lock file."""
    try:
        data = json.loads(path.read_text())
        return LockHolder(**data)
    except (OSError, ValueError, TypeError):
        # Missing, empty (released) or being written at this instant.
        return None


@contextlib.contextmanager
def run_lock(
    state_dir: Path | str,
    *,
    run_id: str,
    command: str,
    timeout: float = 0.0,
    poll_interval: float = 0.2,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[LockHolder]:
    """Hold the exclusive run lock for the block; wait up to `timeout` seconds for it, then
    raise `RunLockBusy` naming the holder. `timeout=0` fails at once (CLI default); the
    daemon waits, because a webhook run arriving during the nightly run should follow it."""
    directory = Path(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= timeout:
                    raise RunLockBusy(path, read_holder(path), waited) from None
                time.sleep(min(poll_interval, max(timeout - waited, 0.0)))
        holder = LockHolder(
            pid=os.getpid(),
            host=socket.gethostname(),
            run_id=run_id,
            command=command,
            started_at=clock().astimezone(UTC).isoformat(),
        )
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(holder)).encode(), 0)
        os.fsync(fd)
        try:
            yield holder
        finally:
            # Empty the record before unlocking, so nobody reads a finished run as the holder.
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
