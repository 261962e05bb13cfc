"""Apply a Plan safely (DESIGN 6): safety valves, ordering, per-action error collection, the
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
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reconciler.audit import AuditLog, RecordType, read_records
from reconciler.errors import ProviderError, ReconcilerError
from reconciler.log import get_logger, redact_text
from reconciler.model import (
    Action,
    ActionKind,
    DesiredState,
    Finding,
    Plan,
    SafetyLimits,
    Severity,
    Snapshot,
    System,
    sha256_json,
    to_jsonable,
)
from reconciler.plan import check_safety
from reconciler.providers.base import Provider
from reconciler.reports.plans import PLAN_FORMAT, render_json

log = get_logger(__name__)

# Within a phase, the order of a leaver's cuts (DESIGN 4): suspend first so no new sign-in can
# start, then end the sessions that exist (Admin SDK: "suspending does not sign the user out",
# hence users.signOut), then OAuth tokens and app passwords, which survive both. On GitHub the
# org membership goes first (DELETE /orgs/{org}/memberships/{user} also removes team
# memberships and cancels a pending invitation), then what membership does not cover.
_KIND_RANK: Mapping[ActionKind, int] = {
    ActionKind.SUSPEND_ACCOUNT: 0,
    ActionKind.SIGN_OUT: 1,
    ActionKind.REVOKE_TOKEN: 2,
    ActionKind.DELETE_APP_PASSWORD: 3,
    ActionKind.REMOVE_ORG_MEMBER: 4,
    ActionKind.CANCEL_INVITATION: 5,
    ActionKind.REMOVE_OUTSIDE_COLLABORATOR: 6,
}
_OTHER_KINDS = 50

# IAM member prefixes (Cloud IAM "principal identifiers"): a protected user is protected in
# every spelling the systems use for it.
_IAM_PREFIXES = ("user:", "serviceaccount:", "group:", "domain:")


def order_actions(actions: Collection[Action]) -> list[Action]:
    """Execution order: by phase, then the offboarding cut order; otherwise the plan's own
    (deterministic) order is kept, since a stable sort never reorders equal keys."""
    indexed = list(enumerate(actions))
    indexed.sort(
        key=lambda item: (item[1].phase, _KIND_RANK.get(item[1].kind, _OTHER_KINDS), item[0])
    )
    return [action for _, action in indexed]


def _identity(value: str) -> str:
    value = value.strip().lower()
    for prefix in _IAM_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def find_forbidden_actions(
    plan: Plan, desired: DesiredState, self_identities: Collection[str]
) -> list[str]:
    """Defence in depth behind the planner (DESIGN 6.4): no action may name a protected
    account or the tool's own identity, in any system (a protected Google user is also
    protected as a GCP `user:` member). A planner bug must not lock out the break-glass
    admin or cut the branch the tool sits on."""
    protected = {_identity(p.identity): p for p in desired.organization.protected_accounts}
    own = {_identity(i) for i in self_identities if i}
    reasons: list[str] = []
    for action in plan.actions:
        who = _identity(action.principal)
        if who in protected:
            account = protected[who]
            why = f" ({account.reason})" if account.reason else ""
            reasons.append(
                f"protected account: {action.describe()} names {account.identity}{why}; "
                "protected accounts are never touched (DESIGN 6.4)"
            )
        elif who in own:
            reasons.append(
                f"own identity: {action.describe()} names the reconciler's own identity; "
                "it would lose the access it needs to finish the run"
            )
    return reasons


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
    refused: tuple[str, ...] = ()  # why nothing was applied, if it was refused
    outcomes: tuple[ActionOutcome, ...] = ()
    offboarding_completed: tuple[str, ...] = ()  # person ids with `offboarding-complete`
    notes: tuple[str, ...] = ()

    @property
    def failures(self) -> tuple[ActionOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status is OutcomeStatus.FAILED)

    @property
    def changed(self) -> int:
        return sum(1 for o in self.outcomes if o.changed)

    @property
    def ok(self) -> bool:
        return not self.refused and not self.failures

    @property
    def exit_code(self) -> int:
        """For the CLI: 0 all applied (or planned), 1 some actions failed, 2 refused."""
        if self.refused:
            return 2
        return 1 if self.failures else 0


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
    audit: AuditLog | None,
    confirm: bool,
    allow_mass_removal: bool,
    actor: str,
    self_identities: Collection[str] = (),
    run_id: str | None = None,
    now_fn: Callable[[], datetime] = _default_now,
    on_progress: ProgressCallback | None = None,
) -> ApplyReport:
    """Apply `plan` (or, unless `confirm`, say what would be applied: DESIGN 6.1).

    A dry run calls no provider and writes nothing to the audit log. A refused plan applies
    nothing; when confirmed, the refusal is recorded (run-start + run-end) for the auditors.
    """
    run_id = run_id or new_run_id(now_fn())
    unsafe = check_safety(
        plan,
        snapshot,
        limits,
        allow_mass_removal=allow_mass_removal,
        protected=desired.organization.protected_accounts,
    )
    refused = [f"{type(u).__name__}: {u}" for u in unsafe]
    refused += find_forbidden_actions(plan, desired, self_identities)
    missing = sorted({a.system for a in plan.actions} - set(providers))
    refused += [
        f"no provider configured for {s.value}; its actions cannot be applied" for s in missing
    ]
    ordered = order_actions(plan.actions)
    commit = plan.desired_commit or desired.commit

    if not confirm:
        outcomes = tuple(
            ActionOutcome(a, OutcomeStatus.PLANNED) for a in ([] if refused else ordered)
        )
        return ApplyReport(run_id, dry_run=True, refused=tuple(refused), outcomes=outcomes)
    if audit is None:
        raise ReconcilerError("a confirmed run needs an audit log (DESIGN 6.7)")

    def record(type_: RecordType, **fields: Any) -> None:
        audit.append(
            type_, run_id=run_id, actor=actor, desired_commit=commit, ts=now_fn(), **fields
        )

    record(
        RecordType.RUN_START,
        details={
            "plan_checksum": plan.checksum,
            "state_fingerprint": plan.state_fingerprint,
            "actions": len(ordered),
        },
    )
    if refused:
        record(RecordType.RUN_END, details={"status": "refused", "reasons": refused})
        log.warning("plan refused", run_id=run_id, reasons=refused)
        return ApplyReport(run_id, dry_run=False, refused=tuple(refused))

    outcomes_list: list[ActionOutcome] = []
    for index, action in enumerate(ordered, start=1):
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

    completed, notes = _record_offboardings(outcomes_list, snapshot, desired, providers, record)
    completed += _record_interrupted_offboardings(
        audit, plan, snapshot=snapshot, providers=providers, done_now=set(completed), record=record
    )
    report = ApplyReport(
        run_id,
        dry_run=False,
        outcomes=tuple(outcomes_list),
        offboarding_completed=tuple(completed),
        notes=tuple(notes),
    )
    record(
        RecordType.RUN_END,
        details={
            "status": "completed" if report.ok else "failures",
            "applied": len(outcomes_list) - len(report.failures),
            "changed": report.changed,
            "failed": len(report.failures),
        },
    )
    return report


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


def _record_offboardings(
    outcomes: list[ActionOutcome],
    snapshot: Snapshot,
    desired: DesiredState,
    providers: Mapping[System, Provider],
    record: Callable[..., None],
) -> tuple[list[str], list[str]]:
    """Write `offboarding-complete` for each leaver whose every offboarding action succeeded,
    with the time of the last removal (the system's own clock when the API gave one, policy
    第14.3条), so the same-day promise of 第5.2条3 is provable from the log alone."""
    by_person: dict[str, list[ActionOutcome]] = {}
    for outcome in outcomes:
        if outcome.action.offboarding and outcome.action.person_id:
            by_person.setdefault(outcome.action.person_id, []).append(outcome)
    incomplete = sorted(s.value for s in providers if not snapshot.is_complete(s))
    completed: list[str] = []
    notes: list[str] = []
    org = desired.organization
    for person_id, mine in sorted(by_person.items()):
        failed = [o for o in mine if not o.ok]
        if failed:
            notes.append(f"{person_id}: offboarding not complete, {len(failed)} action(s) failed")
            continue
        if incomplete:
            # Grants a failed read did not see may still exist: claiming completion would be
            # false evidence. The next run (with a complete read) records it.
            notes.append(
                f"{person_id}: offboarding actions done, but not recorded as complete because "
                f"the read of {', '.join(incomplete)} was incomplete"
            )
            continue
        provider_times = [o.provider_time for o in mine if o.provider_time is not None]
        local_times = [o.finished_at for o in mine if o.finished_at is not None]
        removed_at = max(provider_times) if provider_times else max(local_times)
        person = desired.people.get(person_id)
        last_day = person.employment.end if person else None
        deadline = None
        if last_day is not None:
            deadline = datetime.combine(last_day, org.offboarding_time, ZoneInfo(org.timezone))
        record(
            RecordType.OFFBOARDING_COMPLETE,
            person_id=person_id,
            provider_time=max(provider_times) if provider_times else None,
            details={
                "removed_at": removed_at.astimezone(UTC).isoformat(),
                "removed_at_source": "provider" if provider_times else "local",
                "last_day": last_day.isoformat() if last_day else None,
                "access_ends_at": deadline.isoformat() if deadline else None,
                "timezone": org.timezone,
                "actions": len(mine),
            },
        )
        completed.append(person_id)
    return completed, notes


def _record_interrupted_offboardings(
    audit: AuditLog,
    plan: Plan,
    *,
    snapshot: Snapshot,
    providers: Mapping[System, Provider],
    done_now: set[str],
    record: Callable[..., None],
) -> list[str]:
    """`offboarding-complete` for leavers whose offboarding an earlier run began but never
    recorded (it was killed after their last cut, before it could write the record), now that
    a complete fresh read shows nothing left to remove. Without this a crash at that moment
    would lose the same-day evidence for good: the re-run has no action left for them.
    `removed_at` is this read's time, an upper bound (the cut happened before it)."""
    if any(not snapshot.is_complete(s) for s in providers):
        return []
    pending: dict[str, str] = {}  # person id -> ts of their last offboarding intent
    for rec in read_records(audit.path):
        person = rec.person_id
        if person is None:
            continue
        if rec.type == RecordType.OFFBOARDING_COMPLETE:
            pending.pop(person, None)
        elif rec.type == RecordType.INTENT and rec.action and rec.action.get("offboarding"):
            pending[person] = str(rec.data.get("ts"))
    in_plan = {a.person_id for a in plan.actions}
    completed: list[str] = []
    for person_id, last_intent in sorted(pending.items()):
        if person_id in done_now or person_id in in_plan:
            continue
        record(
            RecordType.OFFBOARDING_COMPLETE,
            person_id=person_id,
            details={
                "removed_at": snapshot.read_at.astimezone(UTC).isoformat(),
                "removed_at_source": "reread-after-interrupted-run",
                "last_intent_at": last_intent,
            },
        )
        completed.append(person_id)
    return completed


# --------------------------------------------------------------------------------------------
# Saved plans (DESIGN 6.6): `plan --out FILE` then `apply FILE`.
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
    were when it was made (DESIGN 6.6); otherwise raise EditedPlan / StalePlan / MalformedPlan."""
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
        notes=tuple(content["notes"]),
        held_back=tuple((System(s), int(n)) for s, n in content["held_back"].items()),
    )


def _action_from_json(data: Mapping[str, Any]) -> Action:
    fields_ = dict(data)
    fields_["system"] = System(fields_["system"])
    fields_["kind"] = ActionKind(fields_["kind"])
    fields_["params"] = tuple((str(k), str(v)) for k, v in fields_.get("params", ()))
    return Action(**fields_)


def _finding_from_json(data: Mapping[str, Any]) -> Finding:
    fields_ = dict(data)
    fields_["severity"] = Severity(fields_["severity"])
    fields_["system"] = System(fields_["system"]) if fields_.get("system") else None
    return Finding(**fields_)
