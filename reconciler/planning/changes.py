"""Builds the Plan: runs the per-system planners, then the guards every plan passes through
(protected accounts, incomplete reads, last admins), then sorts; called via `reconciler.plan`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime

from reconciler.desired.expanding import revocations
from reconciler.desired.holding import apply_holds, standing_holds
from reconciler.model import (
    Action,
    ActionKind,
    DesiredAccess,
    DesiredState,
    EmergencyHold,
    Grant,
    GrantKind,
    Message,
    MessageParam,
    NoteKind,
    Plan,
    ReviewItem,
    Snapshot,
    System,
    action_order_key,
    msg,
    normalise_member,
)
from reconciler.planning.context import Candidates, PlanContext
from reconciler.planning.gcp import plan_gcp
from reconciler.planning.github import plan_github
from reconciler.planning.google import plan_google
from reconciler.planning.incomplete import (
    allowed_on_incomplete_read,
    held_back_note,
    read_problem,
)
from reconciler.policy import findings_of
from reconciler.views import unread_message


def systems_in_scope(desired: DesiredState) -> tuple[System, ...]:
    systems = desired.organization.systems
    wanted = {
        System.GOOGLE: systems.google is not None,
        System.GITHUB: systems.github is not None,
        System.GCP: bool(systems.gcp),
    }
    return tuple(s for s in System if wanted[s])


def plan_changes(
    desired: DesiredState,
    access: DesiredAccess,
    snapshot: Snapshot,
    now: datetime,
    *,
    holds: Iterable[EmergencyHold] = (),
) -> Plan:
    """The actions that make the systems match `access` (the expansion of `desired` at
    `now`), with every policy finding. Pure: the same inputs always give the same Plan.

    `holds` are the emergency holds from the state store: each standing one makes its person
    a leaver whatever the repo says, so no run undoes an emergency offboarding."""
    standing = standing_holds(desired, access, holds)
    access = apply_holds(access, standing)
    ctx = PlanContext.of(desired, access, snapshot, now, standing)
    out = Candidates()
    in_scope = systems_in_scope(desired)
    for system in in_scope:
        part = snapshot.part(system)
        if part is None:
            out.note(
                NoteKind.NOT_READ,
                msg("%(system)s was not read: nothing is planned for it", system=system.value),
                system=system,
            )
        elif part.not_read:
            out.note(
                NoteKind.UNREAD,
                msg(
                    "%(what)s were not read (read-only credentials): this plan neither shows "
                    "nor revokes them, and says nothing of who holds any",
                    what=unread_message(part.not_read),
                ),
                system=system,
            )
    plan_google(ctx, out)
    plan_github(ctx, out)
    plan_gcp(ctx, out)

    actions = _dedupe(out.actions)
    actions = _record_approvals(ctx, actions)
    actions = _cite_reviews(ctx, actions, out)
    actions = _hold_back_unapproved_privilege(ctx, actions, out)
    actions = _drop_untouchables(ctx, actions, out)
    actions, held_back = _hold_back_on_incomplete_reads(ctx, actions, out)
    actions = _keep_last_admins(ctx, actions, out)
    return Plan(
        made_at=now,
        actions=tuple(sorted(actions, key=action_order_key)),
        findings=findings_of(ctx),
        state_fingerprint=snapshot.fingerprint(),
        desired_commit=desired.commit,
        incomplete_systems=tuple(s for s in in_scope if not snapshot.is_complete(s)),
        notes=tuple(out.notes),
        held_back=held_back,
    )


def _dedupe(actions: Iterable[Action]) -> list[Action]:
    """The first of each change (`Action.identity`, what `Action.id` digests) proposed more
    than once; by the tuple itself, which spares a JSON digest per action."""
    seen: dict[tuple[object, ...], Action] = {}
    for a in actions:
        seen.setdefault(a.identity, a)
    return list(seen.values())


# What each granting action gives, as the kind of grant it creates.
_GRANTS_OF_ACTION = {
    ActionKind.CREATE_ACCOUNT: GrantKind.GOOGLE_ACCOUNT,
    ActionKind.ADD_GROUP_MEMBER: GrantKind.GOOGLE_GROUP,
    ActionKind.CHANGE_GROUP_ROLE: GrantKind.GOOGLE_GROUP,
    ActionKind.INVITE_ORG_MEMBER: GrantKind.GITHUB_ORG,
    ActionKind.CHANGE_ORG_ROLE: GrantKind.GITHUB_ORG,
    ActionKind.ADD_TEAM_MEMBER: GrantKind.GITHUB_TEAM,
    ActionKind.CHANGE_TEAM_ROLE: GrantKind.GITHUB_TEAM,
    ActionKind.ADD_BINDING: GrantKind.GCP_BINDING,
}


def _record_approvals(ctx: PlanContext, actions: list[Action]) -> list[Action]:
    """An action that grants access through an extra grant carries who approved it and until
    when (`approved_by`, `expires` params), so the audit log records the approval next to the
    change (policy 第5.2条1). Roles need no per-action approval: roles.yaml is reviewed."""
    approvals: dict[tuple[str, GrantKind, str, str], tuple[str, str]] = {}
    for pid, entry in ctx.access.people.items():
        for e in entry.entitlements:
            if e.approved_by:
                g = e.grant
                expires = e.expires.isoformat() if e.expires else ""
                approvals[(pid, g.kind, g.target.lower(), g.role)] = (e.approved_by, expires)
    if not approvals:
        return actions
    annotated = []
    for action in actions:
        kind = _GRANTS_OF_ACTION.get(action.kind)
        found = (
            approvals.get((action.person_id or "", kind, action.target.lower(), action.role))
            if kind is not None
            else None
        )
        if found is None:
            annotated.append(action)
            continue
        approver, expires = found
        extra = {"approved_by": approver, **({"expires": expires} if expires else {})}
        until = f" until {expires}" if expires else ""
        annotated.append(
            replace(
                action,
                params=tuple(sorted({**dict(action.params), **extra}.items())),
                reason=f"{action.reason}; approved by {approver}{until}",
            )
        )
    return annotated


# What each action that takes access away ends, as the kind of grant: removals, and the role
# changes that lower a role (the grant they end is the `old_role` they replace).
_REMOVES = {
    ActionKind.REMOVE_GROUP_MEMBER: GrantKind.GOOGLE_GROUP,
    ActionKind.REMOVE_ORG_MEMBER: GrantKind.GITHUB_ORG,
    ActionKind.CANCEL_INVITATION: GrantKind.GITHUB_ORG,
    ActionKind.REMOVE_OUTSIDE_COLLABORATOR: GrantKind.GITHUB_COLLABORATOR,
    ActionKind.REMOVE_TEAM_MEMBER: GrantKind.GITHUB_TEAM,
    ActionKind.REMOVE_BINDING: GrantKind.GCP_BINDING,
}
_CHANGES = {
    ActionKind.CHANGE_GROUP_ROLE: GrantKind.GOOGLE_GROUP,
    ActionKind.CHANGE_ORG_ROLE: GrantKind.GITHUB_ORG,
    ActionKind.CHANGE_TEAM_ROLE: GrantKind.GITHUB_TEAM,
}


def _cited(item: ReviewItem) -> str:
    """Where a review decision is written: file:line, as the plan and the audit log cite it."""
    return f"{item.source.file}:{item.source.line}" if item.source else f"reviews/{item.year}"


def _revoking_item(
    action: Action, revoked: dict[tuple[GrantKind, str, str], ReviewItem]
) -> ReviewItem | None:
    """The review item whose revocation `action` carries out: a removal of the revoked
    grant (any role, except a GCP binding, which is one role), or a role change away from
    the revoked role (an org owner made a member: the grant `old_role` ends)."""
    if action.kind in _CHANGES:
        kind, ended = _CHANGES[action.kind], dict(action.params).get("old_role")
    elif action.kind in _REMOVES:
        kind, ended = _REMOVES[action.kind], None
    else:
        return None
    found = None
    for (k, target, role), candidate in revoked.items():
        if k is not kind or target.lower() != action.target.lower():
            continue
        if ended is not None:
            same_role = role == ended
        else:
            same_role = role == action.role or kind is not GrantKind.GCP_BINDING
        if same_role:
            found = candidate
    return found


def _cite_reviews(ctx: PlanContext, actions: list[Action], out: Candidates) -> list[Action]:
    """Every action that carries out an access review's revocation (the expansion already
    dropped the grant) cites the review: a removal, and a role change lowering the revoked
    role; `review` (file:line) and `reviewer` params, a reason saying so, and a note, so the
    plan, the audit log and the inventory show why a role's grant went."""
    revoked = revocations(ctx.desired)
    if not revoked:
        return actions
    _note_revoked_super_admins(ctx, revoked, out)
    cited = []
    for action in actions:
        item = None
        if action.person_id in revoked and not action.offboarding:
            item = _revoking_item(action, revoked[action.person_id])
        if item is None:
            cited.append(action)
            continue
        where = _cited(item)
        extra = {"review": where, "reviewer": item.reviewer}
        cited.append(
            replace(
                action,
                params=tuple(sorted({**dict(action.params), **extra}.items())),
                reason=f"revoked in the {item.year} access review by {item.reviewer} ({where})",
            )
        )
        role = dict(action.params).get("old_role") or action.role
        out.note(
            NoteKind.ADVICE,
            _review_citation(action, item, role, where),
            person_id=action.person_id,
            system=action.system,
        )
    return cited


def _review_citation(action: Action, item: ReviewItem, role: str, where: str) -> Message:
    """The note beside an action that carries out a review's revocation: what is removed
    or lowered, the role that still grants it, and who revoked it where."""
    params: dict[str, MessageParam] = {
        "person": action.person_id or "",
        "kind": item.kind.value,
        "target": action.target,
        "role": role,
        "reviewer": item.reviewer,
        "where": where,
    }
    lowered = action.kind in _CHANGES
    if item.via and lowered:
        return msg(
            "%(person)s's %(kind)s %(target)s %(role)s is lowered although role %(via)s grants "
            "it: %(reviewer)s revoked it in %(where)s",
            via=item.via,
            **params,
        )
    if item.via:
        return msg(
            "%(person)s's %(kind)s %(target)s %(role)s is removed although role %(via)s grants "
            "it: %(reviewer)s revoked it in %(where)s",
            via=item.via,
            **params,
        )
    if lowered:
        return msg(
            "%(person)s's %(kind)s %(target)s %(role)s is lowered although the repo grants it: "
            "%(reviewer)s revoked it in %(where)s",
            **params,
        )
    return msg(
        "%(person)s's %(kind)s %(target)s %(role)s is removed although the repo grants it: "
        "%(reviewer)s revoked it in %(where)s",
        **params,
    )


def _note_revoked_super_admins(
    ctx: PlanContext,
    revoked: dict[str, dict[tuple[GrantKind, str, str], ReviewItem]],
    out: Candidates,
) -> None:
    """A revoked Workspace super admin that the account still holds: the planner has no
    action that changes super-admin status, so the note says where the revocation stands
    and cites the review (the privileged-holder finding reports the admin right too)."""
    for pid, items in sorted(revoked.items()):
        account = ctx.ids.google_accounts.get(pid)
        if account is None or not account.is_admin or account.suspended:
            continue
        for (kind, _target, role), item in items.items():
            if kind is GrantKind.GOOGLE_ACCOUNT and role == "ADMIN":
                where = _cited(item)
                out.note(
                    NoteKind.ADVICE,
                    msg(
                        "%(person)s's Workspace super admin (%(account)s) was revoked by "
                        "%(reviewer)s in %(where)s but is still held: the reconciler does not "
                        "change super-admin status; remove it in the Admin console",
                        person=pid,
                        account=account.name,
                        reviewer=item.reviewer,
                        where=where,
                    ),
                    person_id=pid,
                    system=System.GOOGLE,
                )


def _hold_back_unapproved_privilege(
    ctx: PlanContext, actions: list[Action], out: Candidates
) -> list[Action]:
    """Policy 第10.2条: privileged rights belong to the security officer; anyone else gets
    them only through an approved grant that expires. The desired-state checks already reject
    anything else; this keeps a repo that skipped validation from granting them anyway."""
    officer = ctx.desired.organization.security_officer
    forbidden: set[tuple[str, GrantKind, str, str]] = set()
    for pid, entry in ctx.access.people.items():
        if pid == officer:
            continue
        for e in entry.entitlements:
            if e.privileged and not (e.approved_by and e.expires is not None):
                g = e.grant
                forbidden.add((pid, g.kind, g.target.lower(), g.role))
    if not forbidden:
        return actions
    kept = []
    for a in actions:
        kind = _GRANTS_OF_ACTION.get(a.kind)
        if kind is not None and (a.person_id, kind, a.target.lower(), a.role) in forbidden:
            out.note(
                NoteKind.HELD_BACK,
                msg(
                    "held back %(action)s: privileged, and %(person)s is not the security "
                    "officer and has no approved, time-boxed grant (policy 第10.2条)",
                    action=a.describe(),
                    person=a.person_id or "",
                ),
                person_id=a.person_id,
                system=a.system,
                principal=a.principal,
            )
            continue
        kept.append(a)
    return kept


def _drop_untouchables(ctx: PlanContext, actions: list[Action], out: Candidates) -> list[Action]:
    """Protected and non-human accounts never appear in an action. The system
    planners already skip them; this is the one place that guarantees it."""
    kept = []
    for a in actions:
        if ctx.untouchables.untouchable(a.principal):
            out.note(
                NoteKind.UNTOUCHED,
                msg(
                    "left %(account)s untouched (protected account): %(action)s",
                    account=a.principal,
                    action=a.describe(),
                )
                if ctx.untouchables.is_protected(a.principal)
                else msg(
                    "left %(account)s untouched (non-human account): %(action)s",
                    account=a.principal,
                    action=a.describe(),
                ),
                system=a.system,
                principal=a.principal,
            )
        else:
            kept.append(a)
    return kept


def _hold_back_on_incomplete_reads(
    ctx: PlanContext, actions: list[Action], out: Candidates
) -> tuple[list[Action], tuple[tuple[System, int], ...]]:
    """A system whose read failed gets no changes at all: what the read missed may make any
    of them wrong (inviting members who are already in, creating accounts that exist,
    removing what we merely did not see). Only a leaver's grants that the partial read did
    show are still removed (those are certainly real). One note per system says what was
    held back and why; the counts go on the Plan for the CLI's exit code."""
    kept: list[Action] = []
    held: dict[System, list[Action]] = {}
    for a in actions:
        if ctx.snapshot.is_complete(a.system) or allowed_on_incomplete_read(a, ctx.snapshot):
            kept.append(a)
        else:
            held.setdefault(a.system, []).append(a)
    systems = [s for s in System if s in held]  # in the systems' own order
    for system in systems:
        why = read_problem(ctx.snapshot, system)
        out.note(NoteKind.HELD_BACK, held_back_note(system, why, held[system]), system=system)
    counts = tuple((s, len(held[s])) for s in systems)
    return kept, counts


def _keep_last_admins(ctx: PlanContext, actions: list[Action], out: Candidates) -> list[Action]:
    """Never remove, suspend or demote the last Workspace super admin, GitHub org
    owner or owner of a GCP resource; with nobody left, nobody can repair the mistake."""
    google = ctx.snapshot.part(System.GOOGLE)
    admins = {a.name for a in (google.accounts if google else ()) if a.is_admin and not a.suspended}
    actions = _keep_one(
        actions,
        admins,
        lambda a: a.kind is ActionKind.SUSPEND_ACCOUNT,
        msg("the last Workspace super admin"),
        out,
    )
    for org in sorted({g.target for g in ctx.grants(GrantKind.GITHUB_ORG)}):
        owners = {
            g.principal
            for g in ctx.grants(GrantKind.GITHUB_ORG)
            if g.target == org and g.role == "admin"
        }
        actions = _keep_one(
            actions,
            owners,
            _removes_org_owner(org),
            msg("the last owner of the GitHub organisation %(org)s", org=org),
            out,
        )
    bindings = ctx.grants(GrantKind.GCP_BINDING)
    for resource, owners in sorted(gcp_owners(ctx.snapshot, bindings).items()):
        actions = _keep_one(
            actions,
            owners,
            _removes_gcp_owner(resource),
            msg("the last roles/owner of %(resource)s", resource=resource),
            out,
        )
    return actions


def _removes_org_owner(org: str) -> Callable[[Action], bool]:
    def removes(a: Action) -> bool:
        demotes = a.kind is ActionKind.CHANGE_ORG_ROLE and a.role != "admin"
        return a.target == org and (a.kind is ActionKind.REMOVE_ORG_MEMBER or demotes)

    return removes


def _removes_gcp_owner(resource: str) -> Callable[[Action], bool]:
    def removes(a: Action) -> bool:
        return (
            a.kind is ActionKind.REMOVE_BINDING and a.target == resource and a.role == "roles/owner"
        )

    return removes


def gcp_owners(snapshot: Snapshot, bindings: Iterable[Grant] | None = None) -> dict[str, set[str]]:
    """Every member of an unconditional roles/owner binding, per resource. All member kinds
    count (a group or service account owner can repair a policy too). `bindings` are the
    snapshot's GCP binding grants when the caller has them indexed (the planner does)."""
    owners: dict[str, set[str]] = {}
    for policy in snapshot.policies:
        for b in policy.bindings:
            if b.role == "roles/owner" and not b.condition:
                owners.setdefault(policy.resource, set()).update(
                    normalise_member(m) for m in b.members
                )
    for g in snapshot.grants if bindings is None else bindings:
        if g.kind is GrantKind.GCP_BINDING and g.role == "roles/owner":
            owners.setdefault(g.target, set()).add(g.principal)
    return owners


def _keep_one(
    actions: list[Action],
    holders: set[str],
    removes: Callable[[Action], bool],
    what: Message,
    out: Candidates,
) -> list[Action]:
    if not holders:
        return actions
    leaving = sorted({a.principal for a in actions if removes(a) and a.principal in holders})
    if len(leaving) < len(holders):
        return actions
    # Keep the first in sorted order: deterministic, and the plan stays reviewable.
    spared = leaving[0]
    kept = next(a for a in actions if removes(a) and a.principal == spared)
    out.note(
        NoteKind.KEPT,
        msg(
            "kept %(account)s: %(what)s is never removed, suspended or demoted",
            account=spared,
            what=what,
        ),
        person_id=kept.person_id,
        system=kept.system,
        principal=spared,
    )
    return [a for a in actions if not (removes(a) and a.principal == spared)]
