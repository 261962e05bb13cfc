"""The last check before a plan is applied (octoDNS's raise_if_unsafe): the executor calls
`check_safety` and refuses a plan that removes too much, changes a system whose read failed,
touches a protected account or removes the last admin. The planner already avoids all of
these; this is defence in depth against a planner bug or a hand-edited saved plan."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from reconciler.errors import ReconcilerError
from reconciler.model import (
    ActionKind,
    GrantKind,
    Message,
    Plan,
    ProtectedAccount,
    SafetyLimits,
    Snapshot,
    System,
    member_identity,
    msg,
)
from reconciler.planning.changes import gcp_owners
from reconciler.planning.incomplete import allowed_on_incomplete_read

# The removal ratio is not applied while a system holds fewer grants than this (octoDNS's
# MIN_EXISTING_RECORDS idea): removing 1 of 5 grants is 20%, which says nothing about a bug.
# Small systems are still covered by the absolute `max_removals`.
MIN_GRANTS_FOR_RATIO = 10

# The default leaver limit: the larger of 3 and 5% of the people. Three covers an ordinary
# week (a leaver, a contractor ending, an emergency); 5% lets a large company's end-of-month
# departures through while a mistaken bulk edit of end dates is still stopped.
DEFAULT_MAX_OFFBOARDINGS = 3
DEFAULT_MAX_OFFBOARDING_RATIO = 0.05


class UnsafePlan(ReconcilerError):
    """A plan the executor must refuse. Messages are plain and name no secrets; `text` is
    the reason as a message, worded in the reader's language by the CLI, and `str()` the
    English that logs and the audit log keep."""

    def __init__(self, text: Message) -> None:
        super().__init__(str(text))
        self.text = text


class TooManyRemovals(UnsafePlan):
    """More removals than the limits allow; offboarding is exempt."""


class TooManyLeavers(UnsafePlan):
    """More people offboarded in one run than the leaver limit allows."""


class ChangeOnIncompleteRead(UnsafePlan):
    """Any change on a system whose read failed, other than removing a leaver's known grant:
    an addition planned from a partial read may invite a member who is already in."""


class RemovalOnIncompleteRead(ChangeOnIncompleteRead):
    """A removal on a system whose read failed, other than a leaver's known grant."""


class TouchesProtectedAccount(UnsafePlan):
    """An action names a protected (break-glass) account (6.4)."""


class RemovesLastAdmin(UnsafePlan):
    """The last super admin, org owner or project owner would be removed or demoted (6.4)."""


def check_safety(
    plan: Plan,
    snapshot: Snapshot,
    limits: SafetyLimits,
    *,
    allow_mass_removal: bool,
    protected: Iterable[ProtectedAccount | str] = (),
    allow_mass_offboarding: bool = False,
    people: int = 0,
) -> list[UnsafePlan]:
    """Every reason to refuse `plan` against the state it will be applied to, or [].

    `allow_mass_removal` lifts only the removal limits and `allow_mass_offboarding` only the
    leaver limit (the operator's `--force`); nothing lifts the other checks. `protected` takes
    organization.protected_accounts: without it the protected-account check has nothing to
    compare against. `people` is the number of people in the repo (for the leaver ratio).
    """
    problems: list[UnsafePlan] = []
    if not allow_mass_removal:
        problems.extend(_too_many_removals(plan, snapshot, limits))
    if not allow_mass_offboarding:
        problems.extend(_too_many_leavers(plan, limits, people))
    problems.extend(_changes_on_incomplete_reads(plan, snapshot))
    problems.extend(_protected(plan, protected))
    problems.extend(_last_admins(plan, snapshot))
    return problems


def raise_if_unsafe(
    plan: Plan,
    snapshot: Snapshot,
    limits: SafetyLimits,
    *,
    allow_mass_removal: bool,
    protected: Iterable[ProtectedAccount | str] = (),
) -> None:
    """Raise the first problem `check_safety` finds (its message lists how many there are)."""
    problems = check_safety(
        plan, snapshot, limits, allow_mass_removal=allow_mass_removal, protected=protected
    )
    if problems:
        first = problems[0]
        if len(problems) == 1:
            raise first
        raise type(first)(
            msg(
                "%(problem)s (and %(more)s more problem(s))",
                problem=first.text,
                more=len(problems) - 1,
            )
        )


def _too_many_removals(plan: Plan, snapshot: Snapshot, limits: SafetyLimits) -> list[UnsafePlan]:
    removals = [a for a in plan.actions if a.is_removal and not a.offboarding]
    found: list[UnsafePlan] = []
    if len(removals) > limits.max_removals:
        found.append(
            TooManyRemovals(
                msg(
                    "the plan removes %(count)s grants, more than the limit of %(limit)s per run",
                    count=len(removals),
                    limit=limits.max_removals,
                )
            )
        )
    per_system = Counter(a.system for a in removals)
    for system in System:
        count = per_system.get(system, 0)
        if not count:
            continue
        part = snapshot.part(system)
        held = len(part.grants) if part else 0
        if count > limits.max_removals:
            found.append(
                TooManyRemovals(
                    msg(
                        "the plan removes %(count)s grants in %(system)s, more than the limit "
                        "of %(limit)s",
                        count=count,
                        system=system.value,
                        limit=limits.max_removals,
                    )
                )
            )
        if held >= MIN_GRANTS_FOR_RATIO and count / held > limits.max_removal_ratio:
            found.append(
                TooManyRemovals(
                    msg(
                        "the plan removes %(count)s of the %(held)s grants in %(system)s "
                        "(%(share)s), more than the limit of %(limit)s",
                        count=count,
                        held=held,
                        system=system.value,
                        share=f"{count / held:.0%}",
                        limit=f"{limits.max_removal_ratio:.0%}",
                    )
                )
            )
    return found


def max_leavers(limits: SafetyLimits, people: int) -> int:
    """How many people one run may offboard: `limits.max_offboardings` when set, else the
    larger of 3 and 5% of the people. Never below 1: one leaver is never blocked."""
    if limits.max_offboardings is not None:
        return max(1, limits.max_offboardings)
    return max(DEFAULT_MAX_OFFBOARDINGS, math.floor(people * DEFAULT_MAX_OFFBOARDING_RATIO))


def _too_many_leavers(plan: Plan, limits: SafetyLimits, people: int) -> list[UnsafePlan]:
    """Offboarding is exempt from the removal limits (a leaver must lose everything the same
    day), so a mistaken HR edit giving many people a past end date would otherwise suspend
    them all in one run. More leavers than the limit need `--allow-mass-offboarding`."""
    leavers = sorted({a.person_id for a in plan.actions if a.offboarding and a.person_id})
    limit = max_leavers(limits, people)
    if len(leavers) <= limit:
        return []
    return [
        TooManyLeavers(
            msg(
                "the plan offboards %(count)s people (%(people)s), more than the limit of "
                "%(limit)s per run; check the end dates, then re-run with "
                "--allow-mass-offboarding if they are right",
                count=len(leavers),
                people=", ".join(leavers),
                limit=limit,
            )
        )
    ]


def _changes_on_incomplete_reads(plan: Plan, snapshot: Snapshot) -> list[UnsafePlan]:
    found: list[UnsafePlan] = []
    for a in plan.actions:
        if snapshot.is_complete(a.system) or allowed_on_incomplete_read(a, snapshot):
            continue
        refusal = RemovalOnIncompleteRead if a.is_removal else ChangeOnIncompleteRead
        found.append(
            refusal(
                msg(
                    "%(action)s: the %(system)s read was incomplete, and only a leaver's "
                    "grants that the read did show may be removed there",
                    action=a.describe(),
                    system=a.system.value,
                )
            )
        )
    return found


def _protected(plan: Plan, protected: Iterable[ProtectedAccount | str]) -> list[UnsafePlan]:
    spelled = (p.identity if isinstance(p, ProtectedAccount) else p for p in protected)
    names = {member_identity(p) for p in spelled}
    return [
        TouchesProtectedAccount(
            msg(
                "%(action)s: %(principal)s is a protected account",
                action=a.describe(),
                principal=a.principal,
            )
        )
        for a in plan.actions
        if member_identity(a.principal) in names
    ]


def _last_admins(plan: Plan, snapshot: Snapshot) -> list[UnsafePlan]:
    found: list[UnsafePlan] = []
    google = snapshot.part(System.GOOGLE)
    admins = {a.name for a in (google.accounts if google else ()) if a.is_admin and not a.suspended}
    suspended = {
        a.principal
        for a in plan.actions
        if a.kind is ActionKind.SUSPEND_ACCOUNT and a.principal in admins
    }
    if admins and admins <= suspended:
        found.append(RemovesLastAdmin(msg("the plan suspends every Workspace super admin")))
    orgs: dict[str, set[str]] = {}
    for g in snapshot.grants:
        if g.kind is GrantKind.GITHUB_ORG and g.role == "admin":
            orgs.setdefault(g.target, set()).add(g.principal)
    for org, owners in sorted(orgs.items()):
        leaving = {
            a.principal
            for a in plan.actions
            if a.target == org
            and a.principal in owners
            and (
                a.kind is ActionKind.REMOVE_ORG_MEMBER
                or (a.kind is ActionKind.CHANGE_ORG_ROLE and a.role != "admin")
            )
        }
        if owners <= leaving:
            found.append(
                RemovesLastAdmin(
                    msg("the plan removes or demotes every owner of the org %(org)s", org=org)
                )
            )
    for resource, owners in sorted(gcp_owners(snapshot).items()):
        leaving = {
            a.principal
            for a in plan.actions
            if a.kind is ActionKind.REMOVE_BINDING
            and a.target == resource
            and a.role == "roles/owner"
            and a.principal in owners
        }
        if owners and owners <= leaving:
            found.append(
                RemovesLastAdmin(
                    msg(
                        "the plan removes every roles/owner member of %(resource)s",
                        resource=resource,
                    )
                )
            )
    return found
