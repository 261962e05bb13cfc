"""Checks of Google group memberships: external members, unknown members of managed groups;
called by `reconciler.policy.checks`."""

from __future__ import annotations

from reconciler.model import (
    GrantKind,
    System,
)
from reconciler.policy.context import CheckContext, Findings
from reconciler.views import (
    in_domains,
)


def check_google_groups(ctx: CheckContext, out: Findings) -> None:
    org = ctx.desired.organization
    user_accounts = {a.name for a in ctx.accounts(System.GOOGLE)}
    groups = {g.target for g in ctx.grants(GrantKind.GOOGLE_GROUP)}
    for grant in ctx.grants(GrantKind.GOOGLE_GROUP):
        owner = ctx.ids.person_of_email(grant.principal)
        if not in_domains(grant.principal, org.domains):
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
            and in_domains(grant.principal, org.domains)
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
