"""The state store interface and its local-directory implementation; built by
`reconciler.state.open_state_store` from the settings and handed to whatever needs to remember
something, take the run lock or write the audit log."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from reconciler.audit import AuditLog, AuditTrail
from reconciler.errors import ReconcilerError
from reconciler.locking import LockHolder, run_lock

AUDIT_FILE = "audit.jsonl"

# Document names are plain file names: no directories, nothing that could escape the store.
DOCUMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*\.json$")


class StateStoreError(ReconcilerError):
    """A state document cannot be read or written. Callers refuse to act rather than guess:
    an unreadable holds document must never read as "no holds"."""


class StateStore(Protocol):
    """JSON documents by name, the run lock and the audit log of one deployment.

    `read_json` returns None only when the document does not exist yet; anything unreadable
    raises `StateStoreError`. `write_json` replaces a document whole, which is safe under the
    run lock; a document changed outside it, or that must survive a lost GCS lease (holds.json:
    `state.holds.change_holds`), goes through `update_json`, a read-modify-write that cannot
    lose another writer's change."""

    def describe(self) -> str: ...

    def read_json(self, name: str) -> Any: ...

    def write_json(self, name: str, value: Any) -> object: ...

    def update_json(self, name: str, change: Callable[[Any], Any]) -> Any: ...

    def lock(
        self, *, run_id: str, command: str, timeout: float = 0.0
    ) -> AbstractContextManager[LockHolder]: ...

    def audit_log(self, clock: Callable[[], datetime] | None = None) -> AuditTrail: ...


class LocalStateStore:
    """A directory of JSON files, written by temp file + fsync + rename."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def describe(self) -> str:
        return str(self.directory)

    def _path(self, name: str) -> Path:
        if not DOCUMENT_NAME.match(name):
            raise ValueError(f"not a state document name: {name!r}")
        return self.directory / name

    def read_json(self, name: str) -> Any:
        path = self._path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateStoreError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise StateStoreError(
                f"{path} is not valid JSON ({exc}); restore it from a backup or the audit log"
            ) from None

    def update_json(self, name: str, change: Callable[[Any], Any]) -> Any:
        """Read-modify-write under an flock on `.<name>.lock`, so two processes on this host
        cannot interleave (a crash releases it with the process)."""
        self._path(name)  # validate the name before creating anything
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o640)
        except OSError as exc:
            raise StateStoreError(f"cannot lock {self.directory / name}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            new = change(self.read_json(name))
            self.write_json(name, new)
            return new
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def lock(
        self,
        *,
        run_id: str,
        command: str,
        timeout: float = 0.0,
        poll_interval: float = 0.2,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> Iterator[LockHolder]:
        """The flock run lock on `run.lock` in this directory (reconciler.locking)."""
        with run_lock(
            self.directory,
            run_id=run_id,
            command=command,
            timeout=timeout,
            poll_interval=poll_interval,
            clock=clock,
        ) as holder:
            yield holder

    def audit_log(self, clock: Callable[[], datetime] | None = None) -> AuditLog:
        return AuditLog(self.directory / AUDIT_FILE, clock)

    def write_json(self, name: str, value: Any) -> None:
        path = self._path(name)
        data = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                Path(tmp).replace(path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            _fsync_directory(self.directory)
        except OSError as exc:
            raise StateStoreError(f"cannot write {path}: {exc.strerror or exc}") from None


PROBE_DOCUMENT = "doctor-probe.json"


def probe_local_store(store: LocalStateStore) -> str:
    """What `reconciler doctor` checks of the state directory: a document written the way
    every state document is (temp file, fsync, atomic rename), replaced by a second write the
    same way, read back, then removed.
    Returns a description; raises StateStoreError naming the path and the reason."""
    marker = {"probe": os.urandom(8).hex()}
    try:
        store.write_json(PROBE_DOCUMENT, {"probe": "first"})
        store.write_json(PROBE_DOCUMENT, marker)  # a rename over an existing document
        if store.read_json(PROBE_DOCUMENT) != marker:
            raise StateStoreError(f"{store.directory / PROBE_DOCUMENT} did not read back")
    finally:
        with contextlib.suppress(OSError):  # nothing to remove when the write failed
            (store.directory / PROBE_DOCUMENT).unlink(missing_ok=True)
    return f"{store.directory}: written, atomically replaced and read back"


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk (POSIX).
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
