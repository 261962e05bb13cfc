"""The daemon's runs: a job (reconcile, drift, one person's drift) turned into calls of the
same functions the CLI uses (`reconciler.runs`), under the run lock, with metrics and
notifications around them; called by the single-flight worker (`coalescing.SingleFlight`).

Nothing here decides what to change: a reconcile is `apply_changes` on the branch head under
every safety limit of the repo (the daemon has no override), confirmed only when
`RECONCILER_APPLY=true`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from reconciler.audit import AuditLogError, RecordType
from reconciler.daemon.configuring import DaemonConfig
from reconciler.daemon.fetching import DesiredRepo, GitError
from reconciler.daemon.jobs import Job, JobKind
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.notifying import Notifier
from reconciler.daemon.seen_ids import NOTIFIED, SeenIds
from reconciler.desired.expanding import expand_access
from reconciler.desired.holding import standing_holds
from reconciler.desired.loading import load_desired_dir
from reconciler.desired.problems import ValidationFailed
from reconciler.errors import ReconcilerError
from reconciler.execute import ApplyReport, new_run_id
from reconciler.locking import RunLockBusy, RunLockLost
from reconciler.log import get_logger
from reconciler.model import (
    DesiredState,
    Finding,
    Person,
    Plan,
    Severity,
    System,
    normalise_login,
)
from reconciler.providers.base import Provider
from reconciler.providers.connecting import connect
from reconciler.reports.inventory_files import inventory_files, render_manifest
from reconciler.runs import (
    RunContext,
    RunOutcome,
    RunRefused,
    actor_name,
    apply_changes,
    drift_now,
    drift_of_person,
    git_provenance,
    inventory_now,
    load_holds_or_refuse,
    plan_now,
)
from reconciler.state import open_state_store
from reconciler.state.inventory import MANIFEST, open_inventory_archive

log = get_logger(__name__)

LOCK_WAIT = 900.0  # seconds a run waits for the lock (a CLI run, the nightly one) before failing
NOTIFY_SEVERITIES = frozenset({Severity.CRITICAL, Severity.HIGH})


def now() -> datetime:
    """The daemon is the shell: it reads the clock once per run and passes the instant down."""
    return datetime.now(UTC)


def result_of(report: ApplyReport) -> str:
    """The run's result label: refused, failures, partial, dry-run or completed."""
    if report.refused:
        return "refused"
    if report.failures:
        return "failures"
    if report.partial:
        return "partial"
    return "dry-run" if report.dry_run else "completed"


def report_drift(plan: Plan, first_time: SeenIds) -> list[Finding]:
    """The findings a drift notification carries: high or critical ones not notified before
    (the same finding is not announced again every night)."""
    return [
        f
        for f in plan.findings
        if f.severity in NOTIFY_SEVERITIES
        and first_time.first_time(f"finding:{f.code}:{f.system}:{f.subject}", now())
    ]


def _finding_line(f: Finding) -> str:
    return f"- [{f.severity.value}] {f.code} {f.subject}: {f.message} ({f.article})"


class Runner:
    """Runs one job at a time (the caller guarantees it). `stopping` is the daemon's stop
    flag: a confirmed run checks it between actions."""

    def __init__(
        self,
        config: DaemonConfig,
        repo: DesiredRepo,
        notifier: Notifier,
        metrics: Metrics,
        stopping: threading.Event,
    ) -> None:
        self.config = config
        self.settings = config.settings
        self.repo = repo
        self.notifier = notifier
        self.metrics = metrics
        self.stopping = stopping
        self.store = open_state_store(self.settings)
        self.notified = SeenIds(self.store, NOTIFIED)
        self.desired: DesiredState | None = None  # the last valid commit's, for org events

    # -- entry ---------------------------------------------------------------------------
    def run(self, job: Job) -> None:
        started = time.monotonic()
        result = "error"
        try:
            if job.kind is JobKind.RECONCILE:
                result = self._reconcile(job)
            elif job.kind is JobKind.DRIFT:
                result = self._drift(job)
            elif job.kind is JobKind.INVENTORY:
                result = self._inventory(job)
            else:
                result = self._person_drift(job)
        except (RunRefused, RunLockBusy, RunLockLost) as exc:
            result = "refused"
            self._run_failed(job, exc)
        except (GitError, AuditLogError, ReconcilerError) as exc:
            self._run_failed(job, exc)
        finally:
            seconds = time.monotonic() - started
            self.metrics.runs.labels(job.trigger, result).inc()
            self.metrics.run_seconds.labels(job.trigger, result).observe(seconds)
            log.info(
                "run finished",
                job=job.kind.value,
                trigger=job.trigger,
                result=result,
                seconds=round(seconds, 3),
            )

    def _run_failed(self, job: Job, exc: Exception) -> None:
        self.notifier.notify(
            "run-failed",
            f"{job.kind.value} run ({job.trigger}) did not complete: {exc}",
            {"job": job.kind.value, "trigger": job.trigger, "error": str(exc)},
        )

    # -- the repo ------------------------------------------------------------------------
    @contextmanager
    def _head(self) -> Iterator[tuple[Path, DesiredState | None]]:
        """The branch head, fetched, checked out clean and validated; None for an invalid
        commit (notified once per commit, and nothing is changed)."""
        commit = self.repo.fetch()
        with self.repo.checkout(commit) as directory:
            try:
                desired = load_desired_dir(directory, commit=commit)
            except ValidationFailed as failed:
                self._invalid(commit, failed)
                yield directory, None
                return
            self.desired = desired
            yield directory, desired

    def _invalid(self, commit: str, failed: ValidationFailed) -> None:
        errors = [e.render() for e in failed.errors]
        log.warning("invalid commit", commit=commit, errors=errors)
        if not self.notified.first_time(f"invalid:{commit}", now()):
            return
        shown = "\n".join(errors[:20]) + (f"\n(and {len(errors) - 20} more)" * (len(errors) > 20))
        self.notifier.notify(
            "invalid-commit",
            f"commit {commit[:12]} of {self.repo.branch} is invalid; nothing was changed:\n{shown}",
            {"commit": commit, "branch": self.repo.branch, "errors": errors},
        )

    def _label(self, desired: DesiredState) -> Path:
        # Where errors say roles.yaml is: the branch and commit, not the throw-away worktree.
        return Path(f"{self.repo.branch}@{(desired.commit or 'unknown')[:12]}")

    @contextmanager
    def _locked(self, run_id: str, command: str) -> Iterator[None]:
        """The run lock, waited for (a CLI run may hold it) while the daemon is not
        stopping; RunLockBusy after LOCK_WAIT seconds."""
        deadline = time.monotonic() + LOCK_WAIT
        with ExitStack() as stack:
            while True:
                try:
                    # The configured store's lock: flock on a directory, a lease on gs://,
                    # so a daemon and a CLI run on one bucket never run at once.
                    stack.enter_context(self.store.lock(run_id=run_id, command=command))
                    break
                except RunLockBusy:
                    if self.stopping.is_set() or time.monotonic() >= deadline:
                        raise
                    self.stopping.wait(1.0)
            yield

    def _providers(self, desired: DesiredState) -> dict[System, Provider]:
        return connect(self.settings, desired)

    # -- jobs ----------------------------------------------------------------------------
    def _reconcile(self, job: Job) -> str:
        with self._head() as (_, desired):
            if desired is None:
                return "invalid"
            moment = now()
            ctx = RunContext(
                settings=self.settings,
                moment=moment,
                confirm=self.config.apply,
                run_id=new_run_id(moment),
                actor=actor_name(),
                desired_dir=self._label(desired),
                should_stop=self.stopping.is_set,
            )
            with self._locked(ctx.run_id, f"serve {job.trigger}"):
                outcome = apply_changes(
                    desired,
                    self._providers(desired),
                    ctx,
                    events=self.metrics.events(job.trigger),
                )
        self.metrics.record_plan(outcome.plan, offboarded=outcome.report.offboarding_completed)
        self._tell(job, outcome, desired, ctx)
        return result_of(outcome.report)

    def _drift(self, job: Job) -> str:
        with self._head() as (_, desired):
            if desired is None:
                return "invalid"
            # The nightly drift report: the same function as `reconciler drift`, so its
            # history (new, resolved, still open) is kept by whichever runs it.
            found = drift_now(
                desired,
                self._providers(desired),
                store=self.store,
                moment=now(),
                directory=self._label(desired),
                events=self.metrics.events(job.trigger),
            )
        self.metrics.record_plan(found.plan)
        self._notify_findings(found.plan, job)
        return "partial" if found.plan.incomplete_systems else "completed"

    def _inventory(self, job: Job) -> str:
        """The yearly inventory, as `reconciler inventory` makes it (the same `inventory_now`,
        provenance from git blame of the checked-out commit), archived through the state
        package (`open_inventory_archive`: the audit bucket with a gs:// state store) in a
        folder of its own, `<year>/<run id>/`, manifest last; a notification names the folder,
        the manifest's hash and the audit head. A file that cannot be written fails the run
        (StateStoreError -> run-failed), never a "completed" with evidence missing."""
        archive = open_inventory_archive(self.settings)
        with self._head() as (directory, desired):
            if desired is None:
                return "invalid"
            moment = now()
            year = moment.astimezone(ZoneInfo(desired.organization.timezone)).year
            result = inventory_now(
                desired,
                self._providers(desired),
                store=self.store,
                moment=moment,
                year=year,
                provenance=git_provenance(directory, desired),
                events=self.metrics.events(job.trigger),
            )
        lang = desired.organization.language or "ja"
        files = inventory_files(result.inventory, lang)
        files[MANIFEST] = render_manifest(files, result.inventory, result.audit_head)
        run_id = new_run_id(moment)
        where = archive.write(year, run_id, files)
        digest = hashlib.sha256(files[MANIFEST]).hexdigest()
        self.notifier.notify(
            "inventory",
            f"access inventory {year}: {len(result.inventory.rows)} rows in {where} "
            f"(manifest sha256 {digest})",
            {"year": year, "run_id": run_id, "location": where, "manifest_sha256": digest},
        )
        return "partial" if result.inventory.incomplete else "completed"

    def _person_drift(self, job: Job) -> str:
        desired = self.desired
        if desired is None:
            with self._head() as (_, desired):
                pass
            if desired is None:
                return "invalid"
        providers = self._providers(desired)
        strangers: list[str] = []
        for login in sorted(job.logins):
            person = _person_by_login(desired, login)
            if person is None:
                strangers.append(login)
                continue
            found = drift_of_person(
                desired, person, providers, now(), events=self.metrics.events(job.trigger)
            )
            plan = found.plan
            if plan.actions or plan.findings:
                lines = [f"- {a.describe()}" for a in plan.actions]
                lines += [_finding_line(f) for f in plan.findings]
                self.notifier.notify(
                    "drift",
                    f"drift for {person.id} ({login}) after a GitHub {job.trigger}: "
                    f"{len(plan.actions)} change(s) the repo asks for, "
                    f"{len(plan.findings)} finding(s)\n" + "\n".join(lines),
                    {
                        "person_id": person.id,
                        "login": login,
                        "actions": [a.describe() for a in plan.actions],
                        "findings": [f.code for f in plan.findings],
                    },
                )
        if strangers:
            # A login the repo does not know has no person to look up: the whole org is read.
            found = plan_now(
                desired,
                providers,
                store=self.store,
                moment=now(),
                directory=self._label(desired),
                events=self.metrics.events(job.trigger),
            )
            self.metrics.record_plan(found.plan)
            about = [f for f in found.plan.findings if f.subject in strangers]
            if about:
                self.notifier.notify(
                    "drift",
                    f"drift after a GitHub {job.trigger} naming {', '.join(strangers)} "
                    "(not in the repo):\n" + "\n".join(_finding_line(f) for f in about),
                    {"logins": strangers, "findings": [f.code for f in about]},
                )
            self._notify_findings(found.plan, job)
        return "completed"

    # -- notifications -------------------------------------------------------------------
    def _notify_findings(self, plan: Plan, job: Job, *, resolved: Collection[str] = ()) -> None:
        """New high or critical findings, except about the leavers this run just proved
        offboarded (the plan was made before their access went)."""
        new = [f for f in report_drift(plan, self.notified) if f.person_id not in resolved]
        if new:
            self.notifier.notify(
                "findings",
                f"{len(new)} new high or critical finding(s) ({job.trigger}):\n"
                + "\n".join(_finding_line(f) for f in new),
                {"findings": [{"code": f.code, "severity": f.severity.value,
                               "subject": f.subject, "article": f.article} for f in new]},
            )  # fmt: skip

    def _tell(self, job: Job, outcome: RunOutcome, desired: DesiredState, ctx: RunContext) -> None:
        report, plan = outcome.report, outcome.plan
        where = f"{self.repo.branch}@{(desired.commit or '')[:12]} ({job.trigger})"
        if report.refused:
            self.notifier.notify(
                "run-refused",
                f"run {report.run_id} on {where} was refused, nothing was applied:\n"
                + "\n".join(f"- {r}" for r in report.refused),
                {"run_id": report.run_id, "reasons": [str(r) for r in report.refused]},
            )
        if report.failures:
            self.notifier.notify(
                "actions-failed",
                f"run {report.run_id} on {where}: {len(report.failures)} action(s) failed:\n"
                + "\n".join(f"- {o.action.describe()}: {o.message}" for o in report.failures),
                {"run_id": report.run_id, "failed": [o.action.describe() for o in report.failures]},
            )
        self._tell_offboardings(report, where)
        if report.dry_run and plan.has_changes and not report.refused:
            log.info(
                "dry run: changes pending (RECONCILER_APPLY is false)",
                actions=len(plan.actions),
            )
        self._notify_findings(plan, job, resolved=report.offboarding_completed)
        self._tell_holds(desired, ctx)

    def _tell_offboardings(self, report: ApplyReport, where: str) -> None:
        if not (report.offboarding_completed or report.offboarding_incomplete):
            return
        try:
            records = [r for r in self.store.audit_log().records() if r.run_id == report.run_id]
        except (OSError, AuditLogError, ReconcilerError):
            records = []
        for person_id in report.offboarding_completed:
            evidence = next(
                (
                    dict(r.data.get("details") or {})
                    for r in records
                    if r.type == RecordType.OFFBOARDING_COMPLETE and r.person_id == person_id
                ),
                {},
            )
            self.notifier.notify(
                "offboarding-complete",
                f"{person_id} offboarded by run {report.run_id} on {where}: every access "
                f"removed at {evidence.get('removed_at', '?')} (last day "
                f"{evidence.get('last_day', '?')}, access ends {evidence.get('access_ends_at')}); "
                "verified by reverse look-ups",
                {"person_id": person_id, "run_id": report.run_id, "evidence": evidence},
            )
        for person_id in report.offboarding_incomplete:
            self.notifier.notify(
                "offboarding-incomplete",
                f"{person_id}'s offboarding by run {report.run_id} on {where} is NOT complete: "
                + "; ".join(str(p) for p in report.partial if person_id in str(p)),
                {"person_id": person_id, "run_id": report.run_id},
            )

    def _tell_holds(self, desired: DesiredState, ctx: RunContext) -> None:
        """Emergency holds the repo has not caught up with: someone must commit the end
        date, or the person stays held (and the repo and reality disagree)."""
        try:
            holds = load_holds_or_refuse(self.store)
        except RunRefused as exc:
            self.notifier.notify("run-failed", str(exc))
            return
        standing = standing_holds(desired, expand_access(desired, ctx.moment), holds)
        for hold in standing:
            key = f"hold:{hold.person_id}:{hold.placed_at.isoformat()}"
            if self.notified.first_time(key, now()):
                self.notifier.notify(
                    "hold-not-in-repo",
                    f"{hold.person_id} is under an emergency hold since "
                    f"{hold.placed_at.isoformat()} but the repo does not say they left: commit "
                    f"employment.end: {hold.day} to their file",
                    {"person_id": hold.person_id, "placed_at": hold.placed_at.isoformat()},
                )


def _person_by_login(desired: DesiredState, login: str) -> Person | None:
    wanted = normalise_login(login)
    for person in desired.people.values():
        if wanted == person.github or wanted in person.previous_github_logins:
            return person
    return None


__all__ = ["Runner", "now", "report_drift", "result_of"]
