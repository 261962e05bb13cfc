"""Checks of privileged rights (super admin, org owner, privileged GCP roles) held by anyone
but the security officer without an approved, time-boxed grant (policy 第10.2条); called by
`reconciler.policy.checks`."""

from __future__ import annotations

# Which GCP roles are privileged is decided in one place, the desired-state checks, so
# validation and findings can never disagree about it.
from reconciler.desired.checking import PRIVILEGED_GCP_ROLES
from reconciler.model import (
    DesiredState,
    GrantKind,
    Message,
    System,
    msg,
)
from reconciler.policy.context import CheckContext, Findings


def privileged_gcp_roles(desired: DesiredState) -> frozenset[str]:
    """Built-in admin roles plus every GCP role granted by a role marked `privileged`."""
    marked = {g.role for r in desired.roles.values() if r.privileged for g in r.gcp}
    return PRIVILEGED_GCP_ROLES | marked


def _approved_time_boxed(
    ctx: CheckContext, person_id: str | None, kind: GrantKind, *keys: str
) -> bool:
    """True when the person holds the privilege through an approved grant that expires: the
    only way someone other than the security officer may hold it (policy 第10.2条)."""
    if person_id is None:
        return False
    for ent in ctx.entitlements(person_id):
        g = ent.grant
        if g.kind is kind and ent.approved_by and ent.expires is not None:
            if kind is GrantKind.GCP_BINDING and (g.target, g.role) == keys:
                return True
            if kind is not GrantKind.GCP_BINDING and g.role in keys:
                return True
    return False


def check_privileged(ctx: CheckContext, out: Findings) -> None:
    for account in sorted(ctx.accounts(System.GOOGLE), key=lambda a: a.name):
        if not account.is_admin or account.suspended:
            continue
        _report_privileged_holder(
            ctx,
            out,
            system=System.GOOGLE,
            subject=account.name,
            holder=account.name,
            owner=ctx.ids.person_of_email(account.name),
            holds=msg(
                "%(holder)s is a Workspace super admin but is not the security officer and has "
                "no approved, time-boxed grant",
                holder=account.name,
            ),
            grant=(GrantKind.GOOGLE_ACCOUNT, "ADMIN"),
        )
    for grant in ctx.grants(GrantKind.GITHUB_ORG):
        if grant.role != "admin":
            continue
        _report_privileged_holder(
            ctx,
            out,
            system=System.GITHUB,
            subject=grant.describe(),
            holder=grant.principal,
            owner=ctx.ids.person_of_login(grant.principal),
            holds=msg(
                "%(holder)s is an owner of the GitHub organisation %(org)s but is not the "
                "security officer and has no approved, time-boxed grant",
                holder=grant.principal,
                org=grant.target,
            ),
            grant=(GrantKind.GITHUB_ORG, "admin"),
        )
    privileged = privileged_gcp_roles(ctx.desired)
    # Conditional bindings are left out: a condition is how GCP time-boxes an elevation.
    # A role reached through a group is held as surely as one bound to the member itself.
    for e in ctx.index.effective:
        if e.conditional or e.role not in privileged:
            continue
        subject = f"{e.resource} {e.role} {e.member}"
        names = {"holder": e.member, "role": e.role, "resource": e.resource}
        holds = msg(
            "%(holder)s holds the privileged role %(role)s on %(resource)s but is not the "
            "security officer and has no approved, time-boxed grant",
            **names,
        )
        if e.via:
            subject += f" via group:{e.via[0]}"
            holds = msg(
                "%(holder)s holds the privileged role %(role)s on %(resource)s through "
                "%(path)s but is not the security officer and has no approved, time-boxed "
                "grant",
                path=e.path(),
                **names,
            )
        _report_privileged_holder(
            ctx,
            out,
            system=System.GCP,
            subject=subject,
            holder=e.member,
            owner=ctx.ids.person_of_member(e.member),
            holds=holds,
            grant=(GrantKind.GCP_BINDING, e.resource, e.role),
        )


def _report_privileged_holder(
    ctx: CheckContext,
    out: Findings,
    *,
    system: System,
    subject: str,
    holder: str,
    owner: str | None,
    holds: Message,
    grant: tuple[GrantKind, *tuple[str, ...]],
) -> None:
    """Policy 第10.2条: a privilege held by anyone but the security officer (or a protected
    account) is a finding unless an approved, time-boxed grant of `grant` covers it."""
    if owner == ctx.desired.organization.security_officer or ctx.untouchables.is_protected(holder):
        return
    kind, *keys = grant
    if _approved_time_boxed(ctx, owner, kind, *keys):
        return
    out.add(
        "privileged-holder",
        system,
        subject,
        holds,
        owner,
    )
