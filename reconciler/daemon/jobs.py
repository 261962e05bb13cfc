"""What the daemon can be asked to do: a job kind, the trigger that asked (a metrics label)
and, for a targeted drift, the GitHub logins concerned. Made by the endpoints, the poller and
the schedules; run by the runner, one at a time (`coalescing.SingleFlight`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class JobKind(StrEnum):
    """In the order a waiting worker takes them: changes first, then reports."""

    RECONCILE = "reconcile"  # fetch the branch, validate, apply (sweep and resync too)
    DRIFT = "drift"  # read everything, plan, notify new high/critical findings
    PERSON_DRIFT = "person-drift"  # reverse look-ups for the logins an org event named
    INVENTORY = "inventory"  # the yearly access inventory (棚卸), written to the inventory dir

    @property
    def rank(self) -> int:
        return list(JobKind).index(self)


@dataclass(frozen=True)
class Job:
    kind: JobKind
    trigger: str  # push, poll, start, schedule-drift, scheduler-sweep, org-event, ...
    logins: frozenset[str] = field(default_factory=frozenset)

    def merged(self, later: Job) -> Job:
        """One job doing the work of both: the first trigger names it, logins add up."""
        return Job(self.kind, self.trigger, self.logins | later.logins)
