"""Checks of Google group memberships: external members, unknown members of managed groups;
called by `reconciler.policy.checks`."""

from __future__ import annotations

from reconciler.model import (
    GrantKind,
    System,
    msg,
)
from reconciler.policy.context import CheckContext, Findings


def check_google_groups(ctx: CheckContext, out: Findings) -> None:
    members = ctx.members  # who each member address is, decided once per address
    user_accounts = {a.name for a in ctx.accounts(System.GOOGLE)}
    groups = {g.target for g in ctx.grants(GrantKind.GOOGLE_GROUP)}
    for grant in ctx.grants(GrantKind.GOOGLE_GROUP):
        owner = members.owner.get(grant.principal)
        if grant.principal in members.outside:
            out.add(
                "external-member",
                System.GOOGLE,
                grant.describe(),
                msg(
                    "%(member)s is outside the organisation's domains and is a %(role)s of "
                    "%(group)s; confirm an NDA covers them",
                    member=grant.principal,
                    role=grant.role,
                    group=grant.target,
                ),
                owner,
            )
        if (
            grant.target in ctx.scope.groups
            and owner is None
            and grant.principal not in user_accounts
            and grant.principal not in members.outside
            and not ctx.untouchables.untouchable(grant.principal)
        ):
            names = {"member": grant.principal, "group": grant.target}
            out.add(
                "unmanaged-grant",
                System.GOOGLE,
                grant.describe(),
                msg(
                    "nested group %(member)s of the managed group %(group)s is not in the repo "
                    "and is not a known user, so it is left in place; review it",
                    **names,
                )
                if grant.principal in groups
                else msg(
                    "member %(member)s of the managed group %(group)s is not in the repo and is "
                    "not a known user, so it is left in place; review it",
                    **names,
                ),
            )
