"""The state store on Google Cloud Storage: JSON documents, the run lease and the audit log as
objects under gs://BUCKET/PREFIX; built by `reconciler.state.open_state_store` when
RECONCILER_STATE_URL is a gs:// URL (the service mode, where no local disk survives a run).

Every write that must not race carries a generation precondition, so Cloud Storage itself
arbitrates between processes on different hosts (the local store relies on flock instead):

- documents: `write_json(..., if_generation=G)` replaces only the version that was read
  (`read_json_with_generation`); `update_json` is the read-modify-write loop around it;
- the run lock is a lease object `<prefix>/run.lock`, created with ifGenerationMatch=0,
  renewed by a background thread, taken over once expired with ifGenerationMatch=<its
  generation>, deleted on release with ifGenerationMatch=<ours>;
- the audit log is one immutable segment object per record plus a head object
  `<prefix>/audit/HEAD` advanced with ifGenerationMatch (docs/audit-log.md, "On GCS");
- the daemon's yearly inventory (`GcsInventoryArchive`): each file created once with
  ifGenerationMatch=0, the manifest last (reconciler/state/inventory.py says where).

The google-cloud-storage client retries transient failures of conditional writes; a retried
write whose first attempt did land answers 412, so each writer re-reads and accepts a 412 when
the stored content is exactly what it wrote.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import storage  # type: ignore[attr-defined]

from reconciler.audit import (
    GENESIS,
    AuditLogError,
    AuditRecord,
    AuditTrail,
    BadRecord,
    Problem,
    VerifyReport,
    canonical_json,
    parse_line,
    record_hash,
    split_lines,
    verify_lines,
)
from reconciler.locking import LockHolder, RunLockBusy, RunLockLost
from reconciler.log import get_logger
from reconciler.state.inventory import in_writing_order
from reconciler.state.local import DOCUMENT_NAME, StateStoreError

log = get_logger(__name__)

# The run lease: long enough that a process stalled by a slow API call or a GC pause keeps it
# (it is renewed every LEASE_RENEW_SECONDS, so it survives three missed renewals), short
# enough that after a crash the next run waits at most this long.
LEASE_SECONDS = 120.0
LEASE_RENEW_SECONDS = 30.0
LOCK_OBJECT = "run.lock"
AUDIT_DIR = "audit"
HEAD_OBJECT = "HEAD"
JSON = "application/json"
_URL = re.compile(r"^gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")
_SEGMENT = re.compile(r"^(?P<seq>[0-9]{12})-(?P<run>[A-Za-z0-9._-]+)\.jsonl$")
_RUN_ID = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class GcsLocation:
    """A bucket and an object-name prefix ("" or "a/b", without trailing slash)."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> GcsLocation:
        match = _URL.match(url.strip())
        if match is None:
            raise ValueError(
                f"{url!r} is not a gs://BUCKET/PREFIX URL (bucket: 3-63 lower-case letters, "
                "digits, dots, dashes, underscores)"
            )
        return cls(match["bucket"], (match["prefix"] or "").strip("/"))

    def name(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def url(self, *parts: str) -> str:
        return f"gs://{self.bucket}/{self.name(*parts)}".rstrip("/")


def storage_client(sandbox_url: str | None) -> storage.Client:
    """The sandbox's Cloud Storage emulation with anonymous credentials, or the real service
    with Application Default Credentials (workload identity on Cloud Run/GKE)."""
    if sandbox_url:
        return storage.Client(
            project="sandbox",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": sandbox_url.rstrip("/")},
        )
    try:
        return storage.Client()
    except DefaultCredentialsError as exc:
        raise StateStoreError(
            f"no Application Default Credentials for the gs:// state store ({exc}); run on "
            "a workload identity, or set RECONCILER_SANDBOX_URL to use the sandbox"
        ) from None


def _no_bucket(exc: gexc.NotFound) -> bool:
    """A 404 for the bucket, not the object ("The specified bucket does not exist."): it must
    not read as "no such document", or a mistyped bucket would read as "no holds"."""
    return "bucket does not exist" in str(exc.message).lower()


def explain_error(exc: gexc.GoogleAPICallError) -> str:
    """The status and Cloud Storage's own message ("No such object: ...", "... retention
    policy ..."), without the request URL and raw body the client puts in its message."""
    message = str(exc.message)
    response = getattr(exc, "response", None)
    try:
        body: Any = response.json() if response is not None else None
        message = str(body["error"]["message"])
    except (AttributeError, KeyError, TypeError, ValueError):
        pass
    return f"{exc.code} {message}" if exc.code else message


class GcsStateStore:
    """JSON documents, the run lease and the audit log under one gs:// location.

    `audit` optionally puts the audit segments in another location: a bucket with a retention
    policy refuses to replace any object younger than its period, so the mutable objects
    (documents, lease, audit head) must live in a bucket without one (docs/operations.md).
    """

    def __init__(
        self,
        client: storage.Client,
        location: GcsLocation,
        *,
        audit: GcsLocation | None = None,
        lease_seconds: float = LEASE_SECONDS,
        renew_seconds: float = LEASE_RENEW_SECONDS,
    ) -> None:
        self.client = client
        self.location = location
        self.audit_location = audit or GcsLocation(location.bucket, location.name(AUDIT_DIR))
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self._bucket = client.bucket(location.bucket)

    def describe(self) -> str:
        return self.location.url()

    # -- documents -------------------------------------------------------------------------
    def _blob(self, name: str) -> storage.Blob:
        if not DOCUMENT_NAME.match(name):
            raise ValueError(f"not a state document name: {name!r}")
        return self._bucket.blob(self.location.name(name))

    def read_json(self, name: str) -> Any:
        return self.read_json_with_generation(name)[0]

    def read_json_with_generation(self, name: str) -> tuple[Any, int]:
        """The document and its generation; (None, 0) when it does not exist, so the
        generation can be passed straight to `write_json(if_generation=)` to create it."""
        blob = self._blob(name)
        url = self.location.url(name)
        try:
            raw = blob.download_as_bytes()
        except gexc.NotFound as exc:
            if _no_bucket(exc):
                raise StateStoreError(f"cannot read {url}: {explain_error(exc)}") from None
            return None, 0
        except gexc.GoogleAPICallError as exc:
            raise StateStoreError(f"cannot read {url}: {explain_error(exc)}") from None
        try:
            return json.loads(raw), int(blob.generation or 0)
        except ValueError as exc:
            raise StateStoreError(
                f"{url} is not valid JSON ({exc}); restore a previous version (bucket "
                "versioning) or rebuild it from the audit log"
            ) from None

    def write_json(self, name: str, value: Any, *, if_generation: int | None = None) -> int:
        """Replace the document whole; with `if_generation` only if it is still that version
        (0: only if it does not exist), else `StateStoreError`. Returns the new generation."""
        blob = self._blob(name)
        data = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        try:
            blob.upload_from_string(
                data.encode(), content_type=JSON, if_generation_match=if_generation
            )
        except gexc.PreconditionFailed:
            current, generation = self.read_json_with_generation(name)
            if current == value:
                return generation  # our own write, answered 412 on a retry
            raise StateStoreError(
                f"{self.location.url(name)} was changed by another writer since it was read "
                f"(expected generation {if_generation}, now {generation}); re-read and retry"
            ) from None
        except gexc.GoogleAPICallError as exc:
            url = self.location.url(name)
            raise StateStoreError(f"cannot write {url}: {explain_error(exc)}") from None
        return int(blob.generation or 0)

    def update_json(self, name: str, change: Callable[[Any], Any], *, attempts: int = 5) -> Any:
        """Read-modify-write with a generation precondition: `change` gets the current value
        (None if absent) and returns the new one; re-run on a concurrent change."""
        for _ in range(attempts):
            current, generation = self.read_json_with_generation(name)
            new = change(current)
            try:
                self.write_json(name, new, if_generation=generation)
            except StateStoreError:
                continue
            return new
        raise StateStoreError(
            f"{self.location.url(name)} kept changing under {attempts} attempts to update it; "
            "is another process writing it in a loop?"
        )

    # -- run lease -------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(
        self,
        *,
        run_id: str,
        command: str,
        timeout: float = 0.0,
        poll_interval: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> Iterator[LockHolder]:
        """Hold the run lease for the block; wait up to `timeout` seconds for it, then raise
        `RunLockBusy` naming the holder. Raises `RunLockLost` after the block if the lease
        was taken over meanwhile (the run stalled for longer than the lease)."""
        lease = _Lease(self, run_id=run_id, command=command, clock=clock)
        holder = lease.acquire(timeout, poll_interval)
        lease.start_renewing()
        failed = False
        try:
            yield holder
        except BaseException:
            failed = True
            raise
        finally:
            lease.release()
            if lease.lost is not None and not failed:
                raise RunLockLost(
                    f"the run lease {lease.url} was lost while run {run_id} held it: "
                    f"{lease.lost}; check the audit log for an overlapping run"
                )

    # -- audit -----------------------------------------------------------------------------
    def audit_log(self, clock: Callable[[], datetime] | None = None) -> GcsAuditLog:
        return GcsAuditLog(self, clock)


class _Lease:
    """One acquisition of the run lease object and its renewal thread."""

    def __init__(
        self,
        store: GcsStateStore,
        *,
        run_id: str,
        command: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.clock = clock
        self.blob = store._bucket.blob(store.location.name(LOCK_OBJECT))
        self.url = store.location.url(LOCK_OBJECT)
        self.started_at = clock().astimezone(UTC).isoformat()
        self.run_id = run_id
        self.command = command
        self.generation = 0
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _holder(self) -> LockHolder:
        expires = self.clock() + timedelta(seconds=self.store.lease_seconds)
        return LockHolder(
            pid=os.getpid(),
            host=socket.gethostname(),
            run_id=self.run_id,
            command=self.command,
            started_at=self.started_at,
            expires_at=expires.astimezone(UTC).isoformat(),
        )

    def _put(self, holder: LockHolder, if_generation: int) -> None:
        """Write the lease record; PreconditionFailed when someone else's lease is there."""
        data = json.dumps(asdict(holder), sort_keys=True).encode()
        try:
            self.blob.upload_from_string(data, content_type=JSON, if_generation_match=if_generation)
        except gexc.PreconditionFailed:
            current, generation = self._read()
            if current != holder:  # not our own write answered 412 on a retry
                raise
            self.blob.generation = generation
        self.generation = int(self.blob.generation or 0)

    def _read(self) -> tuple[LockHolder | None, int]:
        """The current lease record and its generation; (None, 0) if there is no lease."""
        blob = self.store._bucket.blob(self.blob.name)
        try:
            raw = blob.download_as_bytes()
        except gexc.NotFound as exc:
            if _no_bucket(exc):
                raise
            return None, 0
        generation = int(blob.generation or 0)
        try:
            return LockHolder(**json.loads(raw)), generation
        except (ValueError, TypeError):
            return None, generation  # unreadable: treated as expired, see `_expired`

    def _expired(self, holder: LockHolder | None) -> bool:
        if holder is None or holder.expires_at is None:
            # A record we cannot read says nothing about liveness; taking it over is safe
            # only because it is replaced by generation, never blindly.
            return True
        try:
            expires = datetime.fromisoformat(holder.expires_at)
        except ValueError:
            return True
        return self.clock() >= expires

    def acquire(self, timeout: float, poll_interval: float) -> LockHolder:
        started = time.monotonic()
        while True:
            holder = self._holder()
            try:
                try:
                    self._put(holder, 0)
                    return holder
                except gexc.PreconditionFailed:
                    pass
                current, generation = self._read()
                if generation and self._expired(current):
                    try:
                        self._put(holder, generation)
                        log.warning(
                            "took over an expired run lease",
                            lease=self.url,
                            previous=current.describe() if current else "unreadable",
                        )
                        return holder
                    except gexc.PreconditionFailed:
                        current, generation = self._read()  # someone else was faster
                if generation == 0:
                    continue  # released between our two calls: try to create it again
            except gexc.GoogleAPICallError as exc:
                problem = explain_error(exc)
                raise StateStoreError(f"cannot take the run lease {self.url}: {problem}") from None
            waited = time.monotonic() - started
            if waited >= timeout:
                raise RunLockBusy(self.url, current, waited)
            time.sleep(min(poll_interval, max(timeout - waited, 0.0)))

    def start_renewing(self) -> None:
        self._thread = threading.Thread(target=self._renew_loop, name="run-lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.store.renew_seconds):
            try:
                self._put(self._holder(), self.generation)
            except gexc.PreconditionFailed:
                current, _ = self._read()
                self.lost = (
                    f"taken over by {current.describe()}" if current else "deleted by someone"
                )
                log.error("the run lease was lost", lease=self.url, reason=self.lost)
                return
            except gexc.GoogleAPICallError as exc:
                # The lease is still ours until it expires; the next tick tries again.
                log.warning(
                    "could not renew the run lease", lease=self.url, error=explain_error(exc)
                )

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.lost is not None:
            return
        try:
            self.blob.delete(if_generation_match=self.generation)
        except (gexc.PreconditionFailed, gexc.NotFound):
            self.lost = "replaced or deleted by someone else before release"
        except gexc.GoogleAPICallError as exc:
            # It expires on its own; the next run waits at most the lease length.
            log.warning("could not release the run lease", lease=self.url, error=explain_error(exc))


@dataclass(frozen=True)
class _Head:
    """The head object: the last record (whole, so a crash between writing the head and
    writing its segment loses nothing) and where its segment goes."""

    seq: int
    hash: str
    segment: str
    record: dict[str, Any]
    generation: int


class GcsAuditLog(AuditTrail):
    """The audit log as objects: `<audit>/<seq:012d>-<run_id>.jsonl`, one record each,
    created with ifGenerationMatch=0 and never rewritten; and `<prefix>/audit/HEAD`.

    Appending first advances HEAD (ifGenerationMatch = the generation read, so of two writers
    only one can claim a seq) holding the whole new record, then creates its segment. The
    record is durable once HEAD is written: a crash before the segment exists leaves HEAD one
    record ahead, which `verify` accepts (the record is in HEAD and chains) and the next
    append completes by writing the missing segment.
    """

    def __init__(self, store: GcsStateStore, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(clock)
        self.store = store
        self.segments = store.audit_location
        self._segments_bucket = store.client.bucket(self.segments.bucket)
        self._head_blob_name = store.location.name(AUDIT_DIR, HEAD_OBJECT)
        self._head_generation = 0

    def describe(self) -> str:
        return self.segments.url()

    def _unreadable(self, exc: gexc.GoogleAPICallError) -> AuditLogError:
        return AuditLogError(f"cannot read the audit log {self.describe()}: {explain_error(exc)}")

    @property
    def head_url(self) -> str:
        return self.store.location.url(AUDIT_DIR, HEAD_OBJECT)

    def exists(self) -> bool:
        try:
            return self._read_head() is not None or bool(self._segment_names())
        except gexc.GoogleAPICallError as exc:
            raise self._unreadable(exc) from None

    # -- reading ---------------------------------------------------------------------------
    def _read_head(self) -> _Head | None:
        blob = self.store._bucket.blob(self._head_blob_name)
        try:
            raw = blob.download_as_bytes()
        except gexc.NotFound as exc:
            if _no_bucket(exc):
                raise
            return None
        data = parse_line(raw)
        try:
            assert data is not None
            return _Head(
                seq=int(data["seq"]),
                hash=str(data["hash"]),
                segment=str(data["segment"]),
                record=dict(data["record"]),
                generation=int(blob.generation or 0),
            )
        except (AssertionError, KeyError, TypeError, ValueError):
            raise AuditLogError(
                f"{self.head_url} is not a head record; restore its previous version "
                "(bucket versioning) after checking who wrote it"
            ) from None

    def _segment_names(self) -> list[str]:
        prefix = self.segments.name() + "/" if self.segments.prefix else ""
        names = [
            blob.name
            for blob in self.store.client.list_blobs(self.segments.bucket, prefix=prefix)
            if blob.name != self._head_blob_name
        ]
        return sorted(names)

    def _load(self) -> tuple[list[tuple[str, int, bytes]], BadRecord | None, _Head | None]:
        """Every line of every segment in order, the first misplaced segment, and HEAD."""
        lines: list[tuple[str, int, bytes]] = []
        misplaced: BadRecord | None = None
        for name in self._segment_names():
            url = f"gs://{self.segments.bucket}/{name}"
            short = name.rsplit("/", 1)[-1]
            raw = self._segments_bucket.blob(name).download_as_bytes()
            body, tail = split_lines(raw)
            match = _SEGMENT.match(short)
            first = parse_line(body[0]) if body else None
            problem = None
            if match is None:
                problem = "an object that is not an audit segment (<seq>-<run_id>.jsonl)"
            elif tail is not None or not body:
                problem = "a segment that is not whole JSON lines (segments are written whole)"
            elif first is None or first.get("seq") != int(match["seq"]):
                problem = f"its name says seq {int(match['seq'])}, its first record does not"
            elif _RUN_ID.sub("_", str(first.get("run_id"))) != match["run"]:
                problem = f"its name says run {match['run']}, its first record does not"
            if problem is not None:
                seq = first.get("seq") if first and isinstance(first.get("seq"), int) else None
                misplaced = BadRecord(1, seq, (Problem.UNPARSEABLE,), problem, url)
                break
            lines.extend((url, n, line) for n, line in enumerate(body, start=1))
        return lines, misplaced, self._read_head()

    def verify(self) -> VerifyReport:
        try:
            lines, misplaced, head = self._load()
        except gexc.GoogleAPICallError as exc:
            raise self._unreadable(exc) from None
        pending: list[tuple[str, int, bytes]] = []
        if head is not None and misplaced is None:
            last = parse_line(lines[-1][2]) if lines else None
            last_seq = last.get("seq") if last else 0
            if head.seq == (last_seq if isinstance(last_seq, int) else -1) + 1:
                # Written to HEAD, its segment not yet: the record is checked like any other.
                pending = [(self.head_url, 1, canonical_json(head.record).encode())]
        report = verify_lines(self.describe(), [*lines, *pending])
        self._head_generation = head.generation if head is not None else 0
        if report.first_bad is not None:
            return report
        if misplaced is not None:
            return _with_bad(report, misplaced)
        if head is None:
            if report.records:
                bad = BadRecord(
                    1, None, (Problem.BROKEN_CHAIN,), "the head object is missing", self.head_url
                )
                return _with_bad(report, bad)
            return report
        if (head.seq, head.hash) != (report.head_seq, report.head_hash):
            bad = BadRecord(
                1,
                head.seq,
                (Problem.BROKEN_CHAIN,),
                f"the head says seq {head.seq} hash {head.hash}, but the records end at seq "
                f"{report.head_seq} hash {report.head_hash}: segments were deleted or the "
                "head was rewritten",
                self.head_url,
            )
            return _with_bad(report, bad)
        return report

    def records(self) -> list[AuditRecord]:
        try:
            lines, _, head = self._load()
        except gexc.GoogleAPICallError as exc:
            raise self._unreadable(exc) from None
        out = [AuditRecord(n, data, url) for url, n, line in lines if (data := parse_line(line))]
        if head is not None and (not out or out[-1].seq == head.seq - 1):
            out.append(AuditRecord(1, head.record, self.head_url))
        return out

    # -- writing ---------------------------------------------------------------------------
    def _load_head(self) -> tuple[int, str]:
        """Trust HEAD after checking its own record, instead of re-reading every segment on
        every run (that is `reconciler audit verify`, run on a schedule); complete a segment
        a crash left unwritten."""
        try:
            head = self._read_head()
            if head is None:
                if self._segment_names():
                    raise AuditLogError(
                        f"refusing to append: {self.head_url} is missing but "
                        f"{self.describe()} has segments; run `reconciler audit verify`"
                    )
                self._head_generation = 0
                return 0, GENESIS
            if record_hash(head.record) != head.hash or head.record.get("seq") != head.seq:
                raise AuditLogError(
                    f"refusing to append: {self.head_url} does not match its own record "
                    "(edited); run `reconciler audit verify`"
                )
            self._create_segment(head.segment, head.record)
            self._head_generation = head.generation
            return head.seq, head.hash
        except gexc.GoogleAPICallError as exc:
            raise self._unreadable(exc) from None

    def _segment_name(self, record: dict[str, Any]) -> str:
        run = _RUN_ID.sub("_", str(record["run_id"])) or "run"
        return self.segments.name(f"{record['seq']:012d}-{run}.jsonl")

    def _create_segment(self, name: str, record: dict[str, Any]) -> None:
        """Create the segment once; an existing one must hold exactly this record."""
        data = (canonical_json(record) + "\n").encode()
        blob = self._segments_bucket.blob(name)
        try:
            blob.upload_from_string(data, content_type="application/jsonl", if_generation_match=0)
        except gexc.PreconditionFailed:
            if self._segments_bucket.blob(name).download_as_bytes() != data:
                raise AuditLogError(
                    f"gs://{self.segments.bucket}/{name} already exists with other content; "
                    "two writers claimed the same seq: run `reconciler audit verify`"
                ) from None

    def _write(self, record: dict[str, Any], line: bytes) -> None:
        segment = self._segment_name(record)
        head = {"seq": record["seq"], "hash": record["hash"], "segment": segment, "record": record}
        blob = self.store._bucket.blob(self._head_blob_name)
        try:
            try:
                blob.upload_from_string(
                    canonical_json(head).encode(),
                    content_type=JSON,
                    if_generation_match=self._head_generation,
                )
                self._head_generation = int(blob.generation or 0)
            except gexc.PreconditionFailed:
                now = self._read_head()
                if now is None or now.record != record:
                    who = f"seq {now.seq} by run {now.record.get('run_id')}" if now else "deleted"
                    raise AuditLogError(
                        f"another writer advanced the audit log head {self.head_url} "
                        f"(now {who}); refusing to append seq {record['seq']}: only one run "
                        "may write at a time"
                    ) from None
                self._head_generation = now.generation  # our own write, retried
            self._create_segment(segment, record)
        except gexc.GoogleAPICallError as exc:
            raise AuditLogError(
                f"cannot write audit record seq {record['seq']} to {self.describe()}: "
                f"{explain_error(exc)}"
            ) from None


def _with_bad(report: VerifyReport, bad: BadRecord) -> VerifyReport:
    return VerifyReport(
        path=report.path,
        records=report.records,
        head_hash=report.head_hash,
        head_seq=report.head_seq,
        first_bad=bad,
        unfinished_intents=report.unfinished_intents,
        hashes=report.hashes,
    )


# What each inventory file is, for whoever downloads it from the console.
_CONTENT_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": JSON,
    ".md": "text/markdown; charset=utf-8",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class GcsInventoryArchive:
    """The yearly inventory as objects `<prefix>/<year>/<run id>/<file>`, each created with
    ifGenerationMatch=0 (evidence is never replaced, even by a run with the same id) and the
    manifest last; built by `reconciler.state.inventory.open_inventory_archive`."""

    def __init__(self, client: storage.Client, location: GcsLocation) -> None:
        self.location = location
        self._bucket = client.bucket(location.bucket)

    def describe(self) -> str:
        return self.location.url()

    def write(self, year: int, run_id: str, files: Mapping[str, bytes]) -> str:
        folder = (str(year), _RUN_ID.sub("_", run_id) or "run")
        for name, data in in_writing_order(files):
            self._create(self.location.name(*folder, name), data)
        return self.location.url(*folder)

    def _create(self, name: str, data: bytes) -> None:
        url = f"gs://{self.location.bucket}/{name}"
        suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        blob = self._bucket.blob(name)
        try:
            blob.upload_from_string(
                data,
                content_type=_CONTENT_TYPES.get(suffix, "application/octet-stream"),
                if_generation_match=0,
            )
        except gexc.PreconditionFailed:
            # The client retries a conditional write: a 412 may answer our own first attempt.
            try:
                same = self._bucket.blob(name).download_as_bytes() == data
            except gexc.GoogleAPICallError as exc:
                raise StateStoreError(f"cannot read back {url}: {explain_error(exc)}") from None
            if not same:
                raise StateStoreError(
                    f"{url} already exists with other content; inventory files are never "
                    "overwritten"
                ) from None
        except gexc.GoogleAPICallError as exc:
            raise StateStoreError(f"cannot write {url}: {explain_error(exc)}") from None
