"""Single flight: one run at a time in the process, on one worker thread; jobs that arrive
while a run is under way wait as at most one follow-up per kind (a burst of 50 pushes gives
at most 2 runs: the one running and one after it). Used by the daemon for every trigger."""

from __future__ import annotations

import threading
from collections.abc import Callable

from reconciler.daemon.jobs import Job, JobKind
from reconciler.log import get_logger, redact_text

log = get_logger(__name__)


class SingleFlight:
    def __init__(self, work: Callable[[Job], None]) -> None:
        self._work = work
        self._cond = threading.Condition()
        self._pending: dict[JobKind, Job] = {}
        self._running: Job | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="daemon-runs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> None:
        """Queue `job`, merged with a waiting job of its kind. Never blocks on a run."""
        with self._cond:
            if self._closed:
                return
            waiting = self._pending.get(job.kind)
            self._pending[job.kind] = waiting.merged(job) if waiting else job
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if self._closed:
                    return
                kind = min(self._pending, key=lambda k: k.rank)
                job = self._running = self._pending.pop(kind)
            try:
                self._work(job)
            except Exception as exc:  # a bug in one run must not stop the daemon's next one
                log.error("run crashed", job=job.kind.value, error=redact_text(repr(exc)))
            finally:
                with self._cond:
                    self._running = None
                    self._cond.notify_all()

    def counts(self) -> tuple[int, int]:
        """(running, waiting): the `reconciler_jobs` gauge, and how a test sees idleness."""
        with self._cond:
            return (0 if self._running is None else 1), len(self._pending)

    def waiting(self) -> list[Job]:
        with self._cond:
            return list(self._pending.values())

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing runs or waits (tests and the bench wait on it)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._running is None and not self._pending, timeout)

    def close(self, timeout: float) -> bool:
        """Drop the waiting jobs and let the running one finish (it stops between actions
        when the daemon's stop flag is set); True when the worker ended within `timeout`."""
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()
