"""Apply a Plan safely: safety valves, ordering, per-action error collection, the
audit log and saved plans. Called by the CLI's apply/offboard commands and by the daemon.

The executor trusts nothing it is given: it re-runs the planner's safety check, refuses any
action on a protected account or on the tool's own identity, and writes an intent record to
the audit log (fsynced) before each call and a result record after it, so a crash at any
point leaves evidence of what may have happened; a re-run re-reads and converges because
every provider action is idempotent.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reconciler.audit import AuditTrail, RecordType, pending_offboardings
from reconciler.desired.expanding import expand_access
from reconciler.errors import ProviderError, ReconcilerError
from reconciler.log import get_logger, redact_text
from reconciler.model import (
    Action,
    ActionKind,
    DesiredState,
    Finding,
    Message,
    Note,
    NoteKind,
    Plan,
    SafetyLimits,
    Severity,
    Snapshot,
    System,
    action_order_key,
    member_identity,
    msg,
    sha256_json,
    to_jsonable,
)
from reconciler.plan import check_safety
from reconciler.providers.base import Provider
from reconciler.providers.reading import read_person_everywhere
from reconciler.reports.plans import PLAN_FORMAT, render_json
from reconciler.views import StateViews, access_held, access_unread

log = get_logger(__name__)


def order_actions(actions: Collection[Action]) -> list[Action]:
    """The order the plan was made in, by the same key (`model.action_order_key`): a plan
    from the planner runs exactly as it was shown, and a hand-made or hand-edited one cannot
    run a removal before a leaver's sessions are cut."""
    return sorted(actions, key=action_order_key)


def find_forbidden_actions(
    plan: Plan, desired: DesiredState, self_identities: Collection[str]
) -> list[Message]:
    """Defence in depth behind the planner: no action may name a protected
    account or the tool's own identity, in any system (a protected Google user is also
    protected as a GCP `user:` member). A planner bug must not lock out the break-glass
    admin or cut the branch the tool sits on."""
    protected = {member_identity(p.identity): p for p in desired.organization.protected_accounts}
    own = {member_identity(i) for i in self_identities if i}
    reasons: list[Message] = []
    for action in plan.actions:
        who = member_identity(action.principal)
        if who in protected:
            account = protected[who]
            names = {"action": action.describe(), "account": account.identity}
            reasons.append(
                msg(
                    "protected account: %(action)s names %(account)s (%(why)s); protected "
                    "accounts are never touched",
                    why=account.reason,
                    **names,
                )
                if account.reason
                else msg(
                    "protected account: %(action)s names %(account)s; protected accounts are "
                    "never touched",
                    **names,
                )
            )
        elif who in own:
            reasons.append(
                msg(
                    "own identity: %(action)s names the reconciler's own identity; it would "
                    "lose the access it needs to finish the run",
                    action=action.describe(),
                )
            )
    return reasons


# Exit codes of `apply` and `offboard` (docs/operations.md); `plan` shares 0, 1 and 3.
EXIT_CLEAN, EXIT_FAILED, EXIT_REFUSED, EXIT_PARTIAL = 0, 1, 2, 3


class OutcomeStatus(StrEnum):
    PLANNED = "planned"  # dry run: would be applied
    APPLIED = "applied"  # the provider returned ok (changed or already in place)
    FAILED = "failed"


@dataclass(frozen=True)
class ActionOutcome:
    action: Action
    status: OutcomeStatus
    changed: bool = False
    message: str = ""  # redacted: never a secret
    provider_time: datetime | None = None
    finished_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status is not OutcomeStatus.FAILED


ProgressCallback = Callable[[int, int, ActionOutcome], None]


@dataclass(frozen=True)
class ApplyReport:
    run_id: str
    dry_run: bool
    refused: tuple[Message, ...] = ()  # why nothing was applied, if it was refused
    outcomes: tuple[ActionOutcome, ...] = ()
    offboarding_completed: tuple[str, ...] = ()  # person ids with `offboarding-complete`
    offboarding_incomplete: tuple[str, ...] = ()  # person ids with `offboarding-incomplete`
    notes: tuple[Note, ...] = ()
    # why the run did less than a clean run would (see exit_code); str() of each is English
    partial: tuple[Message, ...] = ()
    audit_head: str | None = None  # hash of the run's last audit record (confirmed runs)

    @property
    def failures(self) -> tuple[ActionOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status is OutcomeStatus.FAILED)

    @property
    def changed(self) -> int:
        return sum(1 for o in self.outcomes if o.changed)

    @property
    def ok(self) -> bool:
        return not self.refused and not self.failures and not self.partial

    @property
    def exit_code(self) -> int:
        """What a scheduler needs to tell a clean run from the rest, by the code alone:
        2 refused (nothing applied), 1 some actions failed, 3 partial (an incomplete read,
        changes held back, access kept by a rule, an offboarding not proven complete),
        0 clean."""
        if self.refused:
            return EXIT_REFUSED
        if self.failures:
            return EXIT_FAILED
        return EXIT_PARTIAL if self.partial else EXIT_CLEAN


def _default_now() -> datetime:
    return datetime.now(UTC)


def new_run_id(now: datetime) -> str:
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def _action_json(action: Action) -> dict[str, Any]:
    data: dict[str, Any] = to_jsonable(action)
    data["id"] = action.id
    return data


def _approver(action: Action) -> str | None:
    # Extra grants carry their approver (policy 第5.2条1) in params; see the planner.
    return action.param("approved_by") or None


def apply_plan(
    plan: Plan,
    providers: Mapping[System, Provider],
    *,
    snapshot: Snapshot,
    desired: DesiredState,
    limits: SafetyLimits,
    audit: AuditTrail | None,
    confirm: bool,
    allow_mass_removal: bool,
    actor: str,
    allow_mass_offboarding: bool = False,
    self_identities: Collection[str] = (),
    held: Collection[str] = (),
    run_id: str | None = None,
    backdated_to: datetime | None = None,
    now_fn: Callable[[], datetime] = _default_now,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ApplyReport:
    """Apply `plan` (or, unless `confirm`, say what would be applied).

    A dry run calls no provider and writes nothing to the audit log. A refused plan applies
    nothing; when confirmed, the refusal is recorded (run-start + run-end) for the auditors.
    `held` are the person ids under an emergency hold: no action may give them anything.
    `backdated_to` is the `--at` instant of a what-if run, recorded in run-start.
    `should_stop` is asked before each action (the daemon's SIGTERM): once it says yes, no
    further action starts, the run ends as `interrupted` with the rest left for the next run,
    which re-reads and converges; an action already under way always gets its result record.
    """
    run_id = run_id or new_run_id(now_fn())
    unsafe = check_safety(
        plan,
        snapshot,
        limits,
        allow_mass_removal=allow_mass_removal,
        allow_mass_offboarding=allow_mass_offboarding,
        people=len(desired.people),
        protected=desired.organization.protected_accounts,
    )
    refused = [msg("%(rule)s: %(reason)s", rule=type(u).__name__, reason=u.text) for u in unsafe]
    refused += find_forbidden_actions(plan, desired, self_identities)
    refused += [
        msg(
            "emergency hold: %(action)s would give %(person)s access while they are held as "
            "offboarded; release the hold with `reconciler hold release` if that is intended",
            action=a.describe(),
            person=a.person_id or "",
        )
        for a in plan.actions
        if a.person_id in held and not a.is_removal
    ]
    missing = sorted({a.system for a in plan.actions} - set(providers))
    refused += [
        msg("no provider configured for %(system)s; its actions cannot be applied", system=s.value)
        for s in missing
    ]
    ordered = order_actions(plan.actions)
    commit = plan.desired_commit or desired.commit

    if not confirm:
        outcomes = tuple(
            ActionOutcome(a, OutcomeStatus.PLANNED) for a in ([] if refused else ordered)
        )
        return ApplyReport(
            run_id,
            dry_run=True,
            refused=tuple(refused),
            outcomes=outcomes,
            notes=plan.notes,
            partial=tuple(partial_reasons(plan, snapshot)),
        )
    if audit is None:
        raise ReconcilerError("a confirmed run needs an audit log: every change is recorded")

    def record(type_: RecordType, **fields: Any) -> str:
        written = audit.append(
            type_, run_id=run_id, actor=actor, desired_commit=commit, ts=now_fn(), **fields
        )
        return str(written["hash"])

    start: dict[str, Any] = {
        "plan_checksum": plan.checksum,
        "state_fingerprint": plan.state_fingerprint,
        "actions": len(ordered),
    }
    if backdated_to is not None:
        # A what-if run that was allowed to write (sandbox only): the log must say that the
        # plan was made for another instant than the one the records carry.
        start["backdated_to"] = backdated_to.astimezone(UTC).isoformat()
    record(RecordType.RUN_START, details=start)
    if refused:
        reasons = [str(r) for r in refused]
        head = record(RecordType.RUN_END, details={"status": "refused", "reasons": reasons})
        log.warning("plan refused", run_id=run_id, reasons=reasons)
        return ApplyReport(run_id, dry_run=False, refused=tuple(refused), audit_head=head)

    outcomes_list: list[ActionOutcome] = []
    for index, action in enumerate(ordered, start=1):
        if should_stop is not None and should_stop():
            return _interrupted(run_id, plan, outcomes_list, len(ordered), record)
        approver = _approver(action)
        action_json = _action_json(action)
        record(RecordType.INTENT, action=action_json, approver=approver, person_id=action.person_id)
        outcome = _apply_one(providers[action.system], action, now_fn)
        record(
            RecordType.RESULT,
            action=action_json,
            approver=approver,
            person_id=action.person_id,
            provider_time=outcome.provider_time,
            result={
                "action_id": action.id,
                "ok": outcome.ok,
                "changed": outcome.changed,
                "message": outcome.message,
            },
        )
        outcomes_list.append(outcome)
        if on_progress is not None:
            on_progress(index, len(ordered), outcome)

    evidence = _record_offboardings(
        outcomes_list,
        plan,
        snapshot,
        desired=desired,
        providers=providers,
        record=record,
        now_fn=now_fn,
        audit=audit,
    )
    partial = [*partial_reasons(plan, snapshot), *evidence.partial]
    report = ApplyReport(
        run_id,
        dry_run=False,
        outcomes=tuple(outcomes_list),
        offboarding_completed=evidence.completed,
        offboarding_incomplete=evidence.incomplete,
        notes=plan.notes,
        partial=tuple(partial),
    )
    status = "failures" if report.failures else "partial" if report.partial else "completed"
    head = record(
        RecordType.RUN_END,
        details={
            "status": status,
            "applied": len(outcomes_list) - len(report.failures),
            "changed": report.changed,
            "failed": len(report.failures),
            **({"partial": [str(p) for p in report.partial]} if report.partial else {}),
        },
    )
    # The run's closing head: published (printed, notified, in report manifests) so that
    # `audit verify --expect-head` can later prove nothing before it was rewritten.
    return replace(report, audit_head=head)


def _interrupted(
    run_id: str,
    plan: Plan,
    outcomes: list[ActionOutcome],
    total: int,
    record: Callable[..., str],
) -> ApplyReport:
    """End a run stopped between two actions: `run-end` says `interrupted` and how many
    actions never started. No offboarding evidence is written (its reverse look-ups would
    delay the shutdown); the next run finds the leaver's unfinished intents and proves it."""
    failed = sum(1 for o in outcomes if not o.ok)
    head = record(
        RecordType.RUN_END,
        details={
            "status": "interrupted",
            "applied": len(outcomes) - failed,
            "changed": sum(1 for o in outcomes if o.changed),
            "failed": failed,
            "not_started": total - len(outcomes),
        },
    )
    reason = msg(
        "interrupted: %(left)s of %(total)s action(s) not started",
        left=total - len(outcomes),
        total=total,
    )
    return ApplyReport(
        run_id,
        dry_run=False,
        outcomes=tuple(outcomes),
        notes=plan.notes,
        partial=(reason,),
        audit_head=head,
    )


def _apply_one(provider: Provider, action: Action, now_fn: Callable[[], datetime]) -> ActionOutcome:
    """One action; every failure is caught and reported, so one failure never stops the
    others, and a leaver whose Google suspension failed still loses GitHub and GCP."""
    try:
        result = provider.apply(action)
    except ProviderError as exc:
        message = redact_text(f"{type(exc).__name__}: {exc}")
        log.warning("action failed", action=action.describe(), error=message)
        return ActionOutcome(action, OutcomeStatus.FAILED, message=message, finished_at=now_fn())
    except Exception as exc:
        # A provider bug must not abandon the rest of a leaver's offboarding; it is reported
        # as a failure (and logged with its type) instead of crashing the run.
        message = redact_text(f"unexpected {type(exc).__name__}: {exc}")
        log.error("action crashed", action=action.describe(), error=message)
        return ActionOutcome(action, OutcomeStatus.FAILED, message=message, finished_at=now_fn())
    status = OutcomeStatus.APPLIED if result.ok else OutcomeStatus.FAILED
    return ActionOutcome(
        action,
        status,
        changed=result.changed,
        message=redact_text(result.message),
        provider_time=result.provider_time,
        finished_at=now_fn(),
    )


def partial_reasons(plan: Plan, snapshot: Snapshot | None = None) -> list[Message]:
    """Why applying `plan` cannot make a clean run even if every action succeeds: a system was
    read incompletely (when the plan was made, or in `snapshot`, the read it is applied on),
    or a rule held changes back or kept access a leaver should lose."""
    unread = set(plan.incomplete_systems)
    if snapshot is not None:
        unread |= {s for s in snapshot.parts if not snapshot.is_complete(s)}
    reasons = [
        msg("the %(system)s read was incomplete", system=s.value) for s in System if s in unread
    ]
    reasons += [
        n.words
        for n in plan.partial_notes
        if not (n.kind is NoteKind.NOT_READ and n.system in unread)
    ]
    return reasons


@dataclass(frozen=True)
class _Evidence:
    completed: tuple[str, ...] = ()
    incomplete: tuple[str, ...] = ()
    partial: tuple[Message, ...] = ()


def _record_offboardings(
    outcomes: list[ActionOutcome],
    plan: Plan,
    snapshot: Snapshot,
    *,
    desired: DesiredState,
    providers: Mapping[System, Provider],
    record: Callable[..., object],
    now_fn: Callable[[], datetime],
    audit: AuditTrail,
) -> _Evidence:
    """The same-day evidence of policy 第5.2条3, written only from what was observed.

    For every leaver this run offboarded, and every leaver an earlier run began to offboard but
    never recorded (killed after the last cut), the systems are asked again with reverse
    look-ups. `offboarding-complete` is written only when that fresh read is complete and shows
    nothing held, with the time of the last removal (the system's own clock when the API gave
    one, policy 第14.3条). Otherwise `offboarding-incomplete` names what is still held and the
    planner note that kept it (the last org owner, an incomplete read, a failed action)."""
    by_person: dict[str, list[ActionOutcome]] = {}
    for outcome in outcomes:
        if outcome.action.offboarding and outcome.action.person_id:
            by_person.setdefault(outcome.action.person_id, []).append(outcome)
    interrupted = _interrupted_offboardings(audit, plan, set(by_person))
    completed: list[str] = []
    incomplete: list[str] = []
    partial: list[Message] = []
    org = desired.organization
    for person_id in sorted({*by_person, *interrupted}):
        person = desired.people.get(person_id)
        if person is None:
            continue
        mine = by_person.get(person_id, [])
        fresh = read_person_everywhere(providers, person, now_fn())
        # A system the run's own read saw only in part stays unproven too: what it missed
        # may be exactly what the reverse look-up cannot see.
        unread = sorted(
            {s.value for s, p in fresh.parts.items() if not p.status.complete}
            | {s.value for s in providers if not snapshot.is_complete(s)}
        )
        views = StateViews.of(desired, expand_access(desired, fresh.read_at), fresh, fresh.read_at)
        held = access_held(views.ids, views.index, fresh, person)
        if access_unread(views.ids, fresh, person) and System.GOOGLE.value not in unread:
            # Tokens not read are not tokens revoked: the offboarding stays unproven.
            unread.append(System.GOOGLE.value)
        failed = [o.action.describe() for o in mine if not o.ok]
        if not unread and not held and not failed:
            if mine:
                provider_times = [o.provider_time for o in mine if o.provider_time is not None]
                local_times = [o.finished_at for o in mine if o.finished_at is not None]
                removed_at = max(provider_times) if provider_times else max(local_times)
                source = "provider" if provider_times else "local"
            else:
                provider_times, removed_at = [], fresh.read_at
                source = "reread-after-interrupted-run"  # an upper bound: the cut came before
            last_day = person.employment.end
            deadline = None
            if last_day is not None:
                deadline = datetime.combine(last_day, org.offboarding_time, ZoneInfo(org.timezone))
            record(
                RecordType.OFFBOARDING_COMPLETE,
                person_id=person_id,
                provider_time=max(provider_times) if provider_times else None,
                details={
                    "removed_at": removed_at.astimezone(UTC).isoformat(),
                    "removed_at_source": source,
                    "verified_by": "reverse look-ups after the run found nothing held",
                    "last_day": last_day.isoformat() if last_day else None,
                    "access_ends_at": deadline.isoformat() if deadline else None,
                    "timezone": org.timezone,
                    "actions": len(mine),
                    **(
                        {"interrupted_intent_at": interrupted[person_id]}
                        if person_id in interrupted
                        else {}
                    ),
                },
            )
            completed.append(person_id)
            continue
        if not mine:
            continue  # an earlier run's leaver still holding something: this run's plan says why
        kept = [n.message for n in plan.notes if n.kind.partial and n.concerns(person)]
        record(
            RecordType.OFFBOARDING_INCOMPLETE,
            person_id=person_id,
            details={
                "still_held": [str(h) for h in held],
                "unread_systems": unread,
                "failed_actions": failed,
                "kept_by": kept,
            },
        )
        if held:
            reason = msg(
                "offboarding of %(person)s not complete: still holds %(held)s",
                person=person_id,
                held=held,
            )
        elif unread:
            reason = msg(
                "offboarding of %(person)s not complete: still holds unknown (the %(systems)s "
                "look-up failed)",
                person=person_id,
                systems=", ".join(unread),
            )
        else:
            reason = msg(
                "offboarding of %(person)s not complete: still holds what %(count)s failed "
                "action(s) did not remove",
                person=person_id,
                count=len(failed),
            )
        partial.append(reason)
        incomplete.append(person_id)
    return _Evidence(tuple(completed), tuple(incomplete), tuple(partial))


def _interrupted_offboardings(audit: AuditTrail, plan: Plan, done_now: set[str]) -> dict[str, str]:
    """Person id -> time of the last offboarding intent, for leavers whose offboarding an
    earlier run began but never recorded as complete, and who have no action in this plan."""
    pending = pending_offboardings(audit.records())
    in_plan = {a.person_id for a in plan.actions}
    return {
        p: str(rec.data.get("ts"))
        for p, rec in pending.items()
        if p not in done_now and p not in in_plan
    }


# --------------------------------------------------------------------------------------------
# Saved plans: `plan --out FILE` then `apply FILE`.
# --------------------------------------------------------------------------------------------


class SavedPlanError(ReconcilerError):
    """A saved plan cannot be applied (octoDNS's UnsafePlan habit: one subclass per reason)."""

    code = "saved-plan"


class MalformedPlan(SavedPlanError):
    code = "malformed-plan"


class EditedPlan(SavedPlanError):
    code = "edited-plan"


class StalePlan(SavedPlanError):
    code = "stale-plan"


def plan_to_json(plan: Plan) -> str:
    return render_json(plan)


def save_plan(plan: Plan, path: Path | str) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half a plan to apply."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(plan_to_json(plan) + "\n", encoding="utf-8")
    tmp.replace(path)


def load_plan(path: Path | str) -> Plan:
    """Read a saved plan; raises `EditedPlan` if its content does not match its checksum."""
    return parse_saved_plan(Path(path).read_text(encoding="utf-8"))


def parse_saved_plan(plan_json: str | Mapping[str, Any]) -> Plan:
    try:
        data = json.loads(plan_json) if isinstance(plan_json, str) else plan_json
        content = data["plan"]
        stored = data["checksum"]
        fmt = data["format"]
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedPlan(f"not a saved plan: {exc}") from exc
    if fmt != PLAN_FORMAT:
        raise MalformedPlan(f"saved plan format {fmt} is not supported (expected {PLAN_FORMAT})")
    # The checksum covers the JSON content as written, before any parsing can normalise it.
    if sha256_json(content) != stored:
        raise EditedPlan(
            "the saved plan was changed after it was made: its content does not match its "
            f"checksum {str(stored)[:12]}; make a new plan instead of editing one"
        )
    try:
        plan = _plan_from_content(content)
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedPlan(f"saved plan content not understood: {exc}") from exc
    if plan.checksum != stored:
        raise MalformedPlan("saved plan written by an incompatible version: checksum differs")
    return plan


def verify_saved_plan(plan_json: str | Mapping[str, Any], fresh_snapshot: Snapshot) -> Plan:
    """Return the saved plan only if it is unedited and the systems are still exactly as they
    were when it was made; otherwise raise EditedPlan / StalePlan / MalformedPlan."""
    plan = parse_saved_plan(plan_json)
    fresh = fresh_snapshot.fingerprint()
    if fresh != plan.state_fingerprint:
        raise StalePlan(
            "the systems changed since the plan was made (state fingerprint "
            f"{plan.state_fingerprint[:12]} at planning, {fresh[:12]} now); "
            "make a new plan and review it"
        )
    return plan


def _plan_from_content(content: Mapping[str, Any]) -> Plan:
    return Plan(
        made_at=datetime.fromisoformat(content["made_at"]),
        actions=tuple(_action_from_json(a) for a in content["actions"]),
        findings=tuple(_finding_from_json(f) for f in content["findings"]),
        state_fingerprint=content["state_fingerprint"],
        desired_commit=content["desired_commit"],
        incomplete_systems=tuple(System(s) for s in content["incomplete_systems"]),
        notes=tuple(_note_from_json(n) for n in content["notes"]),
        held_back=tuple((System(s), int(n)) for s, n in content["held_back"].items()),
    )


def _action_from_json(data: Mapping[str, Any]) -> Action:
    fields_ = dict(data)
    fields_["system"] = System(fields_["system"])
    fields_["kind"] = ActionKind(fields_["kind"])
    fields_["params"] = tuple((str(k), str(v)) for k, v in fields_.get("params", ()))
    return Action(**fields_)


def _note_from_json(data: Mapping[str, Any]) -> Note:
    return Note(
        kind=NoteKind(data["kind"]),
        message=data["message"],
        person_id=data.get("person_id"),
        system=System(data["system"]) if data.get("system") else None,
        principal=data.get("principal"),
        text=Message.from_json(data["text"]) if data.get("text") else None,
    )


def _finding_from_json(data: Mapping[str, Any]) -> Finding:
    fields_ = dict(data)
    fields_["severity"] = Severity(fields_["severity"])
    fields_["system"] = System(fields_["system"]) if fields_.get("system") else None
    fields_["text"] = Message.from_json(fields_["text"]) if fields_.get("text") else None
    return Finding(**fields_)
