"""The daemon's Prometheus metrics, in their own registry (served at `/metrics`): runs and
durations by trigger and result, actions by kind and result, findings by code and severity,
API read problems by system, the age of the last complete read per system, leavers past
their offboarding time, webhook deliveries by result. Fed by `MetricsEvents` (the runs'
`RunEvents`) and the runner; readiness is the first complete full read."""

from __future__ import annotations

import threading
import time
from collections import Counter as Tally
from collections.abc import Collection

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from reconciler.execute import ActionOutcome
from reconciler.log import get_logger
from reconciler.model import Person, Plan, Snapshot
from reconciler.runs import RunEvents

log = get_logger(__name__)

LEAVER_WITH_ACCESS = "leaver-has-access"  # the policy finding of a leaver past their cut-off


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "reconciler_runs", "Runs by trigger and result.", ["trigger", "result"], registry=r
        )
        self.run_seconds = Histogram(
            "reconciler_run_duration_seconds",
            "Run durations by trigger and result.",
            ["trigger", "result"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
            registry=r,
        )
        self.actions = Counter(
            "reconciler_actions", "Actions applied by kind and result.", ["kind", "result"],
            registry=r,
        )  # fmt: skip
        self.findings = Gauge(
            "reconciler_findings", "Findings of the last full plan by code and severity.",
            ["code", "severity"], registry=r,
        )  # fmt: skip
        self.read_problems = Counter(
            "reconciler_read_problems", "Incomplete API reads by system.", ["system"], registry=r
        )
        self.read_age = Gauge(
            "reconciler_last_complete_read_age_seconds",
            "Seconds since the last complete full read of each system.",
            ["system"],
            registry=r,
        )
        self.leavers_past_offboarding = Gauge(
            "reconciler_leavers_past_offboarding",
            "Leavers past their offboarding time still holding access (last full plan).",
            registry=r,
        )
        self.deliveries = Counter(
            "reconciler_webhook_deliveries", "Webhook deliveries by result.", ["result"],
            registry=r,
        )  # fmt: skip
        self.jobs = Gauge(
            "reconciler_jobs", "Jobs running (0 or 1) and waiting.", ["state"], registry=r
        )
        self._complete_at: dict[str, float] = {}
        self.ready = threading.Event()

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def read_complete(self, system: str) -> None:
        if system not in self._complete_at:
            self.read_age.labels(system).set_function(
                lambda: time.time() - self._complete_at[system]
            )
        self._complete_at[system] = time.time()

    def record_plan(self, plan: Plan, *, offboarded: Collection[str] = ()) -> None:
        """Findings and leavers of a full plan (a one-person plan says nothing of the rest);
        `offboarded`: the leavers the run just proved offboarded, no longer past due."""
        self.findings.clear()
        for (code, severity), count in Tally(
            (f.code, f.severity.value) for f in plan.findings
        ).items():
            self.findings.labels(code, severity).set(count)
        leavers = {f.person_id or f.subject for f in plan.findings if f.code == LEAVER_WITH_ACCESS}
        self.leavers_past_offboarding.set(len(leavers - set(offboarded)))

    def events(self, trigger: str) -> MetricsEvents:
        return MetricsEvents(self, trigger)


class MetricsEvents(RunEvents):
    """A run's progress as metrics and log lines."""

    def __init__(self, metrics: Metrics, trigger: str) -> None:
        self.metrics = metrics
        self.trigger = trigger

    def read_finished(self, snapshot: Snapshot, *, person: Person | None = None) -> None:
        complete = True
        for system, part in snapshot.parts.items():
            if not part.status.complete:
                complete = False
                self.metrics.read_problems.labels(system.value).inc()
            elif person is None:
                self.metrics.read_complete(system.value)
            log.info(
                "read",
                trigger=self.trigger,
                system=system.value,
                person=person.id if person else None,
                complete=part.status.complete,
                problems=list(part.status.problems),
            )
        if complete and person is None and snapshot.parts:
            self.metrics.ready.set()

    def apply_started(self, total: int) -> None:
        log.info("apply started", trigger=self.trigger, actions=total)

    def action_done(self, done: int, total: int, outcome: ActionOutcome) -> None:
        self.metrics.actions.labels(outcome.action.kind.value, outcome.status.value).inc()
        log.info(
            "action",
            trigger=self.trigger,
            n=f"{done}/{total}",
            action=outcome.action.describe(),
            status=outcome.status.value,
            changed=outcome.changed,
            message=outcome.message,
        )
