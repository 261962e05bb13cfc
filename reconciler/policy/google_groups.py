"""Checks of Google group memberships: external members, unknown members of managed groups;
called by `reconciler.policy.checks`."""

from __future__ import annotations

from reconciler.model import (
    GrantKind,
    System,
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
                f"{grant.principal} is outside the organisation's domains and is a "
                f"{grant.role} of {grant.target}; confirm an NDA covers them",
                owner,
            )
        if (
            grant.target in ctx.scope.groups
            and owner is None
            and grant.principal not in user_accounts
            and grant.principal not in members.outside
            and not ctx.untouchables.untouchable(grant.principal)
        ):
            kind = "nested group" if grant.principal in groups else "member"
            out.add(
                "unmanaged-grant",
                System.GOOGLE,
                grant.describe(),
                f"{kind} {grant.principal} of the managed group {grant.target} is not in the "
                "repo and is not a known user, so it is left in place; review it",
            )
