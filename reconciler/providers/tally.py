"""What one read cost and what went wrong: the one tally every provider's read keeps.

Each provider used to count in its own way (a GitHub counter, a Google pair of totals, a
GCP call counter), and each turned its count into a `ReadStatus` by hand. The benchmark's
round-trip targets and the executor's "incomplete read" rule both read that status, so the
counting lives here once: an *API call* is one request a quota sees (every attempt, every
part of a batch), a *round trip* is one HTTP or gRPC exchange on the wire (a Google batch of
1,000 calls is one), and a *problem* is a plain reason the read is incomplete.

A tally is shared by the threads of one read (GitHub's concurrent sub-reads, Google's batch
pool, GCP's per-project workers), so every update takes its lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from reconciler.model import ReadStatus, System


class ReadTally:
    """Calls, round trips and problems of one read of one system; thread-safe."""

    __slots__ = ("_api_calls", "_lock", "_problems", "_round_trips", "system")

    def __init__(self, system: System) -> None:
        self.system = system
        self._lock = threading.Lock()
        self._api_calls = 0
        self._round_trips = 0
        self._problems: list[str] = []

    def count(self, api_calls: int = 1, round_trips: int | None = None) -> None:
        """Record requests sent: `api_calls` calls in `round_trips` exchanges (one exchange
        per call unless said otherwise, as for a Google batch)."""
        with self._lock:
            self._api_calls += api_calls
            self._round_trips += api_calls if round_trips is None else round_trips

    def problem(self, reason: str) -> None:
        """Record why the read is incomplete (a plain reason, never a secret)."""
        with self._lock:
            self._problems.append(reason)

    def problems_from(self, reasons: Iterable[str]) -> None:
        """Record several reasons at once, in the order given."""
        with self._lock:
            self._problems.extend(reasons)

    @property
    def api_calls(self) -> int:
        with self._lock:
            return self._api_calls

    @property
    def round_trips(self) -> int:
        with self._lock:
            return self._round_trips

    @property
    def problems(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._problems)

    @property
    def complete(self) -> bool:
        """True while no problem has been recorded."""
        with self._lock:
            return not self._problems

    def status(self) -> ReadStatus:
        """The read's status: complete only if no problem was recorded."""
        with self._lock:
            return ReadStatus(
                system=self.system,
                complete=not self._problems,
                problems=tuple(self._problems),
                api_calls=self._api_calls,
                round_trips=self._round_trips,
            )
