"""One run end to end (read, plan, apply, emergency offboarding, holds), shared by the CLI
(`reconciler plan|apply|offboard|hold`) and the daemon (`reconciler serve`).

Both shells only add what is theirs around these functions: the CLI a progress display and
exit codes, the daemon its triggers, metrics and notifications. Everything a run decides or
records is here, once: the order of the steps (own identity, role check, read, read counts,
holds, plan, apply, hold bookkeeping), the refusals before any change, and what goes into the
audit log. Progress is reported through `RunEvents`, never printed.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reconciler.audit import AuditRecord, AuditTrail, RecordType, audit_head
from reconciler.desired.expanding import expand_access
from reconciler.desired.gcp_roles import role_parents, unknown_roles
from reconciler.desired.holding import new_hold, standing_holds
from reconciler.errors import ProviderError, ReconcilerError
from reconciler.execute import (
    ActionOutcome,
    ApplyReport,
    SavedPlanError,
    apply_plan,
    verify_saved_plan,
)
from reconciler.log import redact_text
from reconciler.model import DesiredState, EmergencyHold, Person, Plan, Snapshot, System
from reconciler.plan import plan_changes
from reconciler.providers.base import ListsRoles, Provider
from reconciler.providers.connecting import own_identities
from reconciler.providers.reading import read_all, read_person_everywhere
from reconciler.reports.drift import DriftReport, drift_report
from reconciler.reports.history import previous_entry
from reconciler.reports.inventory import Carried, Inventory, Provenance, build_inventory
from reconciler.settings import Settings
from reconciler.state import StateStore, StateStoreError, open_state_store
from reconciler.state.holds import hold_to_json, load_holds, save_holds
from reconciler.state.read_counts import judge_and_remember_read_counts
from reconciler.state.report_history import load_report_history, record_report


class RunRefused(ReconcilerError):
    """The run did not start, and nothing was changed: the identity the tool acts as could
    not be learnt, roles.yaml names a GCP role IAM does not have, a saved plan is edited or
    stale, or a state document cannot be read. The message is one plain paragraph."""


def actor_name() -> str:
    """Who runs this, for the audit log: RECONCILER_ACTOR (set by CI / the daemon's unit),
    else user@host of the shell."""
    explicit = os.environ.get("RECONCILER_ACTOR")
    if explicit:
        return explicit
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # a container user without a passwd entry
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class RunContext:
    """What a confirmed or dry run needs besides the repo and the providers."""

    settings: Settings
    moment: datetime
    confirm: bool
    allow_mass_removal: bool = False
    allow_mass_offboarding: bool = False
    run_id: str = ""
    actor: str = ""
    backdated: bool = False  # `--at` was given: a what-if instant, recorded in run-start
    desired_dir: Path = Path("desired_state")  # where errors say roles.yaml is
    # Asked between actions (the daemon's shutdown): yes ends the run as `interrupted`.
    should_stop: Callable[[], bool] | None = None

    def audit(self) -> AuditTrail | None:
        return self.store().audit_log() if self.confirm else None

    def store(self) -> StateStore:
        """The configured state store (a directory, or gs://BUCKET/PREFIX)."""
        try:
            return open_state_store(self.settings)
        except StateStoreError as exc:  # a bad RECONCILER_STATE_URL: one line, exit 1
            raise RunRefused(str(exc)) from None

    def who(self) -> str:
        return self.actor or actor_name()


class RunEvents:
    """What a run reports while it works; every method is a no-op here. The CLI draws
    progress from them, the daemon turns them into log lines and metrics. Read callbacks
    may arrive from the reader threads."""

    def read_started(self, systems: Collection[System]) -> None:
        """A full or reverse read of `systems` begins."""

    def read_progress(self, system: System, state: str) -> None:
        """`system` is now `state` (reading, complete, incomplete)."""

    def read_finished(self, snapshot: Snapshot, *, person: Person | None = None) -> None:
        """The read is done (`person`: the reverse look-ups of an emergency offboarding)."""

    def apply_started(self, total: int) -> None:
        """A confirmed run is about to apply `total` actions."""

    def action_done(self, done: int, total: int, outcome: ActionOutcome) -> None:
        """One action finished (applied or failed)."""

    def apply_finished(self) -> None:
        """Every action has been tried."""


@dataclass(frozen=True)
class RunOutcome:
    """A finished run: the plan it applied (or would apply), and what happened."""

    plan: Plan
    report: ApplyReport
    snapshot: Snapshot


# --------------------------------------------------------------------------------------------
# The steps
# --------------------------------------------------------------------------------------------


def acting_identities(
    settings: Settings, desired: DesiredState, providers: Mapping[System, Provider]
) -> tuple[str, ...]:
    """Every identity the tool acts as (settings and each provider's `acting_as`), learnt
    before anything is read or changed. A provider that cannot say who it is (GitHub's
    `GET /user` failing) stops the run here: applying without the own-identity guard could
    remove the very account the run uses, so refusing is the safe side."""
    try:
        return own_identities(settings, desired, providers)
    except ProviderError as exc:
        raise RunRefused(
            f"refusing to start: could not learn the identity the reconciler acts as, which "
            f"the own-identity guard needs: {redact_text(str(exc))}"
        ) from None


def unknown_gcp_roles(
    desired: DesiredState, providers: Mapping[System, Provider], directory: Path
) -> list[str]:
    """One line per place roles.yaml names a GCP role IAM does not have (`directory`/
    roles.yaml:line:column, the field, the closest real role), or the reason the names could
    not be checked; empty when every role exists. `plan` and `apply` refuse to go on when
    this is not empty: a typo would otherwise fail at setIamPolicy halfway through a run."""
    provider = providers.get(System.GCP)
    parents = role_parents(desired)
    if not parents or not isinstance(provider, ListsRoles):
        return []
    try:
        known = provider.role_names(parents)
    except ReconcilerError as exc:
        return [f"could not check the GCP roles named in roles.yaml against IAM: {exc}"]
    return [error.render(directory.as_posix()) for error in unknown_roles(desired, known)]


def check_gcp_roles(
    desired: DesiredState, providers: Mapping[System, Provider], directory: Path
) -> None:
    """`unknown_gcp_roles` as a refusal, before anything is read or changed."""
    unknown = unknown_gcp_roles(desired, providers, directory)
    if unknown:
        raise RunRefused("\n".join(unknown))


def read_snapshot(
    providers: Mapping[System, Provider],
    desired: DesiredState,
    moment: datetime,
    *,
    counts: StateStore | None,
    events: RunEvents,
) -> Snapshot:
    """Read every system in scope. Every full read is judged against the counts of the last
    complete read in `counts` (a member list that shrank suspiciously is treated as
    incomplete) and the new counts are stored there; only an invented world (the embedded
    demo sandbox) passes None."""
    events.read_started(list(providers))
    snapshot = read_all(providers, desired, moment, on_progress=events.read_progress)
    if counts is not None:
        try:
            snapshot = judge_and_remember_read_counts(counts, snapshot, desired.organization)
        except StateStoreError as exc:
            raise RunRefused(str(exc)) from None
    events.read_finished(snapshot)
    return snapshot


def load_holds_or_refuse(store: StateStore) -> tuple[EmergencyHold, ...]:
    """The emergency holds every plan must respect. An unreadable holds document stops the
    run: planning without it could hand an emergency-offboarded person their access back."""
    try:
        return load_holds(store)
    except StateStoreError as exc:
        raise RunRefused(str(exc)) from None


@dataclass(frozen=True)
class PlanOutcome:
    plan: Plan
    snapshot: Snapshot
    holds: tuple[EmergencyHold, ...]  # the standing ones, already in the plan


def plan_now(
    desired: DesiredState,
    providers: Mapping[System, Provider],
    *,
    store: StateStore,
    moment: datetime,
    directory: Path,
    remember_counts: bool = True,
    events: RunEvents | None = None,
) -> PlanOutcome:
    """What `plan` (and a drift report) shows: check the roles, read, plan with the holds.
    Changes nothing in the systems; the read counts are remembered unless told not to."""
    events = events or RunEvents()
    holds = load_holds_or_refuse(store)
    check_gcp_roles(desired, providers, directory)
    counts = store if remember_counts else None
    snapshot = read_snapshot(providers, desired, moment, counts=counts, events=events)
    access = expand_access(desired, moment)
    standing = standing_holds(desired, access, holds)
    plan = plan_changes(desired, access, snapshot, moment, holds=standing)
    return PlanOutcome(plan, snapshot, standing)


@dataclass(frozen=True)
class DriftOutcome:
    report: DriftReport
    plan: Plan
    history: tuple[dict[str, Any], ...]  # the stored reports before this one, oldest first


def drift_now(
    desired: DesiredState,
    providers: Mapping[System, Provider],
    *,
    store: StateStore,
    moment: datetime,
    directory: Path,
    remember: bool = True,
    events: RunEvents | None = None,
) -> DriftOutcome:
    """The drift report at `moment` (`reconciler drift`, the daemon's nightly run): what
    `plan_now` reads and plans, compared with the last stored report before `moment`.
    Changes nothing in the systems. With `remember` (a real read) the read counts are judged
    and kept as for `plan`, and the report is added to the history; an invented world (the
    embedded demo sandbox) passes False and neither reads nor writes the history."""
    try:
        history = load_report_history(store) if remember else []
    except StateStoreError as exc:
        raise RunRefused(str(exc)) from None
    planned = plan_now(
        desired,
        providers,
        store=store,
        moment=moment,
        directory=directory,
        remember_counts=remember,
        events=events,
    )
    access = expand_access(desired, moment)
    report = drift_report(
        desired, access, planned.snapshot, planned.plan, moment, previous_entry(history, moment)
    )
    if remember:
        try:
            record_report(store, report)
        except StateStoreError as exc:
            raise RunRefused(str(exc)) from None
    return DriftOutcome(report, planned.plan, tuple(history))


@dataclass(frozen=True)
class InventoryOutcome:
    inventory: Inventory
    audit_head: dict[str, object] | None  # {"seq", "hash"} of the store's log, if it has one


def inventory_now(
    desired: DesiredState,
    providers: Mapping[System, Provider],
    *,
    store: StateStore,
    moment: datetime,
    year: int,
    provenance: Mapping[tuple[str, int], Provenance],
    remember_counts: bool = True,
    events: RunEvents | None = None,
) -> InventoryOutcome:
    """What `reconciler inventory` (and the daemon's yearly job) records: read everything,
    expand the repo at `moment`, match; the audit log gives the head to anchor the files to
    and the records that carried out this year's review revocations. Changes nothing."""
    events = events or RunEvents()
    counts = store if remember_counts else None
    snapshot = read_snapshot(providers, desired, moment, counts=counts, events=events)
    access = expand_access(desired, moment)
    head: dict[str, object] | None = None
    records: list[AuditRecord] = []
    try:
        trail = store.audit_log()
        if trail.exists():
            seq, digest = audit_head(trail)
            head = {"seq": seq, "hash": digest, "log": trail.describe()}
            records = trail.records()
    except (StateStoreError, OSError) as exc:
        raise RunRefused(f"cannot read the audit log: {exc}") from None
    inventory = build_inventory(
        desired,
        access,
        snapshot,
        moment,
        year=year,
        provenance=provenance,
        carried=revocations_carried_out(records),
    )
    return InventoryOutcome(inventory, head)


def revocations_carried_out(records: list[AuditRecord]) -> dict[str, Carried]:
    """review file:line -> the successful result record of the removal that cited it."""
    found: dict[str, Carried] = {}
    for record in records:
        result = record.result
        action = record.action
        if record.type != RecordType.RESULT or not result or not result.get("ok") or not action:
            continue
        params = {str(p[0]): str(p[1]) for p in action.get("params", []) if len(p) == 2}
        if "review" in params and record.seq is not None:
            found.setdefault(params["review"], Carried(record.run_id, record.seq))
    return found


def apply_changes(
    desired: DesiredState,
    providers: Mapping[System, Provider],
    ctx: RunContext,
    *,
    saved_plan: str | None = None,
    events: RunEvents | None = None,
) -> RunOutcome:
    """Learn who the tool acts as, check the roles, read everything, plan (or check the saved
    plan against the fresh read), apply; then end the holds the repo has caught up with."""
    events = events or RunEvents()
    store = ctx.store()
    holds = load_holds_or_refuse(store)
    check_gcp_roles(desired, providers, ctx.desired_dir)
    own = acting_identities(ctx.settings, desired, providers)
    snapshot = read_snapshot(providers, desired, ctx.moment, counts=store, events=events)
    access = expand_access(desired, ctx.moment)
    standing = standing_holds(desired, access, holds)
    if saved_plan is not None:
        try:
            plan = verify_saved_plan(saved_plan, snapshot)
        except SavedPlanError as exc:
            raise RunRefused(f"saved plan refused ({exc.code}): {exc}") from exc
    else:
        plan = plan_changes(desired, access, snapshot, ctx.moment, holds=standing)
    held = tuple(h.person_id for h in standing)
    report = _apply(plan, providers, snapshot, desired, ctx, own=own, held=held, events=events)
    if ctx.confirm and not report.refused:
        _end_holds(store, ctx, desired, holds, standing)
    return RunOutcome(plan, report, snapshot)


def offboard_now(
    desired: DesiredState,
    person: Person,
    providers: Mapping[System, Provider],
    ctx: RunContext,
    *,
    events: RunEvents | None = None,
) -> RunOutcome:
    """Emergency offboarding: a hold first (when confirmed), reverse look-ups for one person
    (cost independent of the organisation's size), a plan as if they left now, only their
    actions."""
    events = events or RunEvents()
    leaving = leaving_now(desired, person, ctx.moment)
    own = acting_identities(ctx.settings, desired, providers)
    if ctx.confirm:
        # The hold goes in first: a crash between two cuts must not leave the next `apply`
        # free to hand back what was already taken.
        place_hold(ctx, leaving, person)
    plan, snapshot = _plan_person(leaving, leaving.people[person.id], providers, ctx.moment, events)
    plan = replace(plan, actions=tuple(a for a in plan.actions if a.offboarding))
    report = _apply(plan, providers, snapshot, leaving, ctx, own=own, events=events)
    return RunOutcome(plan, report, snapshot)


def drift_of_person(
    desired: DesiredState,
    person: Person,
    providers: Mapping[System, Provider],
    moment: datetime,
    *,
    events: RunEvents | None = None,
) -> PlanOutcome:
    """What differs for one person, by reverse look-ups (cost independent of the
    organisation's size): the daemon's answer to a hand-made GitHub org change naming them.
    Changes nothing; the plan keeps only the actions, findings and notes about `person`."""
    plan, snapshot = _plan_person(desired, person, providers, moment, events or RunEvents())
    return PlanOutcome(plan, snapshot, ())


def _plan_person(
    desired: DesiredState,
    person: Person,
    providers: Mapping[System, Provider],
    moment: datetime,
    events: RunEvents,
) -> tuple[Plan, Snapshot]:
    """Reverse look-ups for one person and the plan about them alone. The look-ups see only
    this person, so everyone else looks absent to the planner: everything not about them is
    dropped, never applied."""
    events.read_started(list(providers))
    snapshot = read_person_everywhere(providers, person, moment, on_progress=events.read_progress)
    events.read_finished(snapshot, person=person)
    full = plan_changes(desired, expand_access(desired, moment), snapshot, moment)
    plan = replace(
        full,
        actions=tuple(a for a in full.actions if a.person_id == person.id),
        findings=tuple(f for f in full.findings if f.person_id == person.id),
        notes=tuple(n for n in full.notes if n.concerns(person)),
    )
    return plan, snapshot


def leaving_now(desired: DesiredState, person: Person, moment: datetime) -> DesiredState:
    """The repo as if `person`'s employment had ended today, with access cut at `moment`:
    their last day is today (what the printed YAML change says) and the organisation's cut-off
    time is moved back to `moment`'s minute, so they are DEPARTED from this instant on."""
    org = desired.organization
    local = moment.astimezone(ZoneInfo(org.timezone))
    today = local.date()
    employment = replace(person.employment, start=min(person.employment.start, today), end=today)
    cut = local.time().replace(second=0, microsecond=0, tzinfo=None)
    return replace(
        desired,
        organization=replace(org, offboarding_time=cut),
        people={**desired.people, person.id: replace(person, employment=employment)},
    )


def _apply(
    plan: Plan,
    providers: Mapping[System, Provider],
    snapshot: Snapshot,
    desired: DesiredState,
    ctx: RunContext,
    *,
    own: tuple[str, ...],
    events: RunEvents,
    held: tuple[str, ...] = (),
) -> ApplyReport:
    """`apply_plan` with the run's audit log, actor, own identities, the people under an
    emergency hold, and progress events."""
    if ctx.confirm:
        events.apply_started(len(plan.actions))
    on_progress: Callable[[int, int, ActionOutcome], None] = events.action_done
    try:
        return apply_plan(
            plan,
            providers,
            snapshot=snapshot,
            desired=desired,
            limits=desired.organization.limits,
            audit=ctx.audit(),
            confirm=ctx.confirm,
            allow_mass_removal=ctx.allow_mass_removal,
            allow_mass_offboarding=ctx.allow_mass_offboarding,
            actor=ctx.who(),
            self_identities=own,
            held=held,
            run_id=ctx.run_id or None,
            backdated_to=ctx.moment if ctx.backdated else None,
            on_progress=on_progress,
            should_stop=ctx.should_stop,
        )
    finally:
        if ctx.confirm:
            events.apply_finished()


def granting_files(desired: DesiredState) -> list[str]:
    """The person files whose lines grant access (what the inventory blames)."""
    return sorted({p.source.file for p in desired.people.values() if p.source is not None})


def blame_lines(directory: Path, files: Iterable[str]) -> dict[tuple[str, int], Provenance]:
    """(file, line) -> the commit that last changed it, from `git blame --porcelain` of each
    file (a few at a time: one git process per person file is most of an inventory's time);
    a file git cannot blame (not committed, not in git) has no provenance."""

    def blame(name: str) -> dict[tuple[str, int], Provenance]:
        try:
            out = subprocess.run(  # noqa: S603 - fixed argv, no shell
                ["git", "-C", str(directory), "blame", "--porcelain", "--", name],  # noqa: S607
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return {}
        if out.returncode != 0:
            return {}
        return {(name, line): prov for line, prov in parse_porcelain(out.stdout).items()}

    found: dict[tuple[str, int], Provenance] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        for part in pool.map(blame, files):
            found.update(part)
    return found


def parse_porcelain(text: str) -> dict[int, Provenance]:
    """Line number -> provenance from `git blame --porcelain` output. Each group starts
    `<sha> <orig-line> <final-line> [<count>]`; the commit's headers (author, author-time)
    come once, at its first group."""
    authors: dict[str, tuple[str, str]] = {}
    lines: dict[int, Provenance] = {}
    sha, final = "", 0
    headers: dict[str, str] = {}
    for row in text.splitlines():
        if row.startswith("\t"):
            name, mail = headers.get("author", ""), headers.get("author-mail", "")
            if sha not in authors and name:
                when = headers.get("author-time", "")
                day = datetime.fromtimestamp(int(when), UTC).date().isoformat() if when else ""
                authors[sha] = (f"{name} {mail}".strip(), day)
            author, day = authors.get(sha, ("", ""))
            lines[final] = Provenance(sha, author, day)
            headers = {}
            continue
        parts = row.split(" ")
        if len(parts) >= 3 and len(parts[0]) == 40 and parts[2].isdigit():
            sha, final = parts[0], int(parts[2])
            continue
        key, _, value = row.partition(" ")
        headers[key] = value
    return lines


def git_provenance(directory: Path, desired: DesiredState) -> dict[tuple[str, int], Provenance]:
    """Who last changed each granting line (the pre-approval evidence of 第5.2条1); nothing
    when the repo is not in git (`desired.commit` unset), instead of a thousand failing calls."""
    return blame_lines(directory, granting_files(desired)) if desired.commit else {}


# --------------------------------------------------------------------------------------------
# Emergency holds
# --------------------------------------------------------------------------------------------


def place_hold(ctx: RunContext, desired: DesiredState, person: Person) -> None:
    """Record the emergency hold in the state store and the audit log (an existing hold for
    the person is kept: the earliest instant is the one the evidence needs)."""
    store = ctx.store()
    holds = load_holds_or_refuse(store)
    if any(h.person_id == person.id for h in holds):
        return
    hold = new_hold(desired, person, ctx.moment, run_id=ctx.run_id, actor=ctx.who())
    _audit_of(ctx).append(
        RecordType.HOLD_PLACED,
        run_id=ctx.run_id,
        actor=hold.actor,
        desired_commit=desired.commit,
        person_id=person.id,
        details={"hold": hold_to_json(hold)},
    )
    save_holds(store, (*holds, hold))


def release_hold(ctx: RunContext, person_id: str, reason: str) -> EmergencyHold:
    """Lift `person_id`'s hold, recorded as `hold-released` with who and why. Raises
    `RunRefused` when there is no such hold. The caller holds the run lock."""
    store = ctx.store()
    holds = load_holds_or_refuse(store)
    hold = next((h for h in holds if h.person_id == person_id), None)
    if hold is None:
        known = ", ".join(h.person_id for h in holds) or "none"
        raise RunRefused(f"no emergency hold for '{person_id}' (holds: {known})")
    _audit_of(ctx).append(
        RecordType.HOLD_RELEASED,
        run_id=ctx.run_id,
        actor=ctx.who(),
        person_id=person_id,
        details={"hold": hold_to_json(hold), "reason": reason},
    )
    save_holds(store, [h for h in holds if h.person_id != person_id])
    return hold


def _end_holds(
    store: StateStore,
    ctx: RunContext,
    desired: DesiredState,
    holds: tuple[EmergencyHold, ...],
    standing: tuple[EmergencyHold, ...],
) -> None:
    """Drop the holds the repo has caught up with (its own end date now keeps the person
    out), each recorded as `hold-ended` in the audit log."""
    ended = [h for h in holds if h not in standing]
    if not ended:
        return
    audit = _audit_of(ctx)
    for hold in ended:
        person = desired.people.get(hold.person_id)
        end = person.employment.end if person is not None else None
        audit.append(
            RecordType.HOLD_ENDED,
            run_id=ctx.run_id,
            actor=ctx.who(),
            desired_commit=desired.commit,
            person_id=hold.person_id,
            details={"hold": hold_to_json(hold), "repo_end": end.isoformat() if end else None},
        )
    save_holds(store, standing)


def _audit_of(ctx: RunContext) -> AuditTrail:
    # Holds change only in confirmed runs (or `hold release`), which always have a log.
    return ctx.store().audit_log()


__all__ = [
    "DriftOutcome",
    "InventoryOutcome",
    "PlanOutcome",
    "RunContext",
    "RunEvents",
    "RunOutcome",
    "RunRefused",
    "acting_identities",
    "actor_name",
    "apply_changes",
    "check_gcp_roles",
    "drift_now",
    "drift_of_person",
    "inventory_now",
    "leaving_now",
    "load_holds_or_refuse",
    "offboard_now",
    "place_hold",
    "plan_now",
    "read_snapshot",
    "release_hold",
    "unknown_gcp_roles",
]
