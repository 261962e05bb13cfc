"""Checks of the GitHub organisation: 2FA requirement, unmanaged members and outside
collaborators, failed, stale and unknown invitations; called by `reconciler.policy.checks`."""

from __future__ import annotations

from datetime import timedelta

from reconciler.model import (
    GrantKind,
    PersonStatus,
    System,
)
from reconciler.policy.accounts import report_two_factor
from reconciler.policy.context import CheckContext, Findings


def check_github(ctx: CheckContext, out: Findings) -> None:
    part = ctx.snapshot.part(System.GITHUB)
    if part is None:
        return
    limits = ctx.desired.organization.limits
    if part.github_org is not None and not part.github_org.two_factor_required:
        out.add(
            "org-2fa-not-required",
            System.GITHUB,
            part.github_org.org,
            f"the GitHub organisation {part.github_org.org} does not require two-factor "
            "authentication for its members",
        )
    for account in sorted(part.accounts, key=lambda a: a.name):
        owner = ctx.ids.person_of_login(account.name)
        departed = owner is not None and ctx.status(owner) is PersonStatus.DEPARTED
        if not departed:
            report_two_factor(
                out,
                account,
                owner,
                f"GitHub member {account.name} has no two-factor authentication",
            )
    for grant in ctx.grants(GrantKind.GITHUB_ORG):
        if ctx.ids.person_of_login(grant.principal) is None and not (
            ctx.untouchables.untouchable(grant.principal)
        ):
            out.add(
                "unmanaged-account",
                System.GITHUB,
                grant.principal,
                f"GitHub {grant.role} {grant.principal} of {grant.target} is not in the repo"
                + ("; the plan removes them" if ctx.scope.org_authoritative else ""),
            )
    for grant in ctx.grants(GrantKind.GITHUB_COLLABORATOR):
        owner = ctx.ids.person_of_login(grant.principal)
        if owner is not None and ctx.status(owner) is PersonStatus.DEPARTED:
            continue  # the leaver finding covers it and the plan removes it
        if ctx.untouchables.untouchable(grant.principal):
            continue
        out.add(
            "unmanaged-grant",
            System.GITHUB,
            grant.describe(),
            f"{grant.principal} is an outside collaborator on repositories of {grant.target}; "
            "repository access is granted by hand, so confirm it is approved",
            owner,
        )
    for inv in sorted(part.invitations, key=lambda i: i.id):
        who = inv.login or inv.email or str(inv.id)
        owner = (ctx.ids.person_of_login(inv.login) if inv.login else None) or (
            ctx.ids.person_of_email(inv.email) if inv.email else None
        )
        if inv.failed_at is not None:
            out.add(
                "failed-invitation",
                System.GITHUB,
                who,
                f"the invitation of {who} to {inv.org} failed on {inv.failed_at.date()} "
                f"({inv.failed_reason or 'no reason given'}); GitHub does not resend it",
                owner,
            )
            continue
        age = ctx.now - inv.created_at
        if age > timedelta(days=limits.stale_invitation_days):
            out.add(
                "stale-invitation",
                System.GITHUB,
                who,
                f"the invitation of {who} to {inv.org} has been pending for {age.days} days",
                owner,
            )
        if owner is None and not ctx.untouchables.untouchable(who):
            out.add(
                "unmanaged-grant",
                System.GITHUB,
                f"invitation {inv.org} {who}",
                f"{who} has a pending invitation to {inv.org} but is not in the repo",
            )
