"""Plans GCP IAM binding actions on the resources in scope; called by
`reconciler.planning.changes`. Only unconditional `user:` bindings are ever touched: the
snapshot carries conditional bindings in IamPolicy.bindings but never as grants."""

from __future__ import annotations

from reconciler.model import (
    ActionKind,
    GrantKind,
    NoteKind,
    Person,
    PersonStatus,
    System,
    gcp_user,
    msg,
    reason_words,
)
from reconciler.planning.context import Candidates, PlanContext


def plan_gcp(ctx: PlanContext, out: Candidates) -> None:
    if not ctx.scope.resources or ctx.part(System.GCP) is None:
        return
    for person, status in ctx.people():
        if status is PersonStatus.ACTIVE:
            _plan_active(ctx, out, person)
        elif status is PersonStatus.DEPARTED:
            _plan_leaver(ctx, out, person)
    _plan_strangers(ctx, out)


def _held(ctx: PlanContext, person: Person) -> list[tuple[str, str, str]]:
    members = ctx.ids.iam_members_of(person)
    return [
        (g.target, g.role, g.principal)
        for g in ctx.held(GrantKind.GCP_BINDING, members)
        if g.target in ctx.scope.resources
    ]


def _plan_active(ctx: PlanContext, out: Candidates, person: Person) -> None:
    wanted: set[tuple[str, str]] = set()
    for ent in ctx.entitlements(person.id, GrantKind.GCP_BINDING):
        g = ent.grant
        if g.target not in ctx.scope.resources:
            out.note(
                NoteKind.ADVICE,
                msg(
                    "%(person)s: %(role)s on %(resource)s is not planned, the resource is not in "
                    "scope in organization.yaml",
                    person=person.id,
                    role=g.role,
                    resource=g.target,
                ),
                person_id=person.id,
                system=System.GCP,
            )
            continue
        wanted.add((g.target, g.role))
    held = _held(ctx, person)
    have = {(resource, role) for resource, role, _ in held}
    for resource, role in sorted(wanted - have):
        out.add(
            ActionKind.ADD_BINDING,
            resource,
            gcp_user(person.email),
            role,
            person_id=person.id,
            reason=reason_words("granted by the person's roles"),
        )
    for resource, role, member in sorted(held):
        # Only roles the repo manages on this resource are corrected; a role nobody in
        # roles.yaml assigns there was granted by hand and is reported, not removed.
        if (resource, role) not in wanted and ctx.scope.manages_gcp_role(resource, role):
            out.add(
                ActionKind.REMOVE_BINDING,
                resource,
                member,
                role,
                person_id=person.id,
                reason=reason_words("no longer granted by the person's roles"),
            )


def _plan_leaver(ctx: PlanContext, out: Candidates, person: Person) -> None:
    for resource, role, member in sorted(_held(ctx, person)):
        out.add(
            ActionKind.REMOVE_BINDING,
            resource,
            member,
            role,
            person_id=person.id,
            offboarding=True,
            reason=f"offboarding {person.id}",
        )


def _plan_strangers(ctx: PlanContext, out: Candidates) -> None:
    """`user:` members nobody in the repo is, on authoritative resources, for managed roles.
    serviceAccount:, group:, domain: and deleted: members are never removed: they are not
    people, and removing a group or a workload's identity is an outage, not a clean-up."""
    for g in ctx.grants(GrantKind.GCP_BINDING):
        if (
            g.target not in ctx.scope.authoritative_resources
            or not g.principal.startswith("user:")
            or not ctx.scope.manages_gcp_role(g.target, g.role)
            or ctx.ids.person_of_member(g.principal) is not None
            or ctx.untouchables.untouchable(g.principal)
        ):
            continue
        out.add(
            ActionKind.REMOVE_BINDING,
            g.target,
            g.principal,
            g.role,
            reason=reason_words(
                "binding on an authoritative resource but not in the desired state"
            ),
        )
