"""Checks of the GitHub organisation: 2FA requirement, unmanaged members and outside
collaborators, failed, stale and unknown invitations; called by `reconciler.policy.checks`."""

from __future__ import annotations

from datetime import timedelta

from reconciler.model import (
    GrantKind,
    PersonStatus,
    System,
    msg,
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
            msg(
                "the GitHub organisation %(org)s does not require two-factor authentication for "
                "its members",
                org=part.github_org.org,
            ),
        )
    for account in sorted(part.accounts, key=lambda a: a.name):
        owner = ctx.ids.person_of_login(account.name)
        departed = owner is not None and ctx.status(owner) is PersonStatus.DEPARTED
        if not departed:
            report_two_factor(
                out,
                account,
                owner,
                msg("GitHub member %(login)s has no two-factor authentication", login=account.name),
            )
    for grant in ctx.grants(GrantKind.GITHUB_ORG):
        if ctx.ids.person_of_login(grant.principal) is None and not (
            ctx.untouchables.untouchable(grant.principal)
        ):
            out.add(
                "unmanaged-account",
                System.GITHUB,
                grant.principal,
                msg(
                    "GitHub %(role)s %(login)s of %(org)s is not in the repo; the plan removes "
                    "them",
                    role=grant.role,
                    login=grant.principal,
                    org=grant.target,
                )
                if ctx.scope.org_authoritative
                else msg(
                    "GitHub %(role)s %(login)s of %(org)s is not in the repo",
                    role=grant.role,
                    login=grant.principal,
                    org=grant.target,
                ),
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
            msg(
                "%(login)s is an outside collaborator on repositories of %(org)s; repository "
                "access is granted by hand, so confirm it is approved",
                login=grant.principal,
                org=grant.target,
            ),
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
                msg(
                    "the invitation of %(who)s to %(org)s failed on %(failed_on)s (%(reason)s); "
                    "GitHub does not resend it",
                    who=who,
                    org=inv.org,
                    failed_on=inv.failed_at.date(),
                    reason=inv.failed_reason,
                )
                if inv.failed_reason
                else msg(
                    "the invitation of %(who)s to %(org)s failed on %(failed_on)s (no reason "
                    "given); GitHub does not resend it",
                    who=who,
                    org=inv.org,
                    failed_on=inv.failed_at.date(),
                ),
                owner,
            )
            continue
        age = ctx.now - inv.created_at
        if age > timedelta(days=limits.stale_invitation_days):
            out.add(
                "stale-invitation",
                System.GITHUB,
                who,
                msg(
                    "the invitation of %(who)s to %(org)s has been pending for %(days)s days",
                    who=who,
                    org=inv.org,
                    days=age.days,
                ),
                owner,
            )
        if owner is None and not ctx.untouchables.untouchable(who):
            out.add(
                "unmanaged-grant",
                System.GITHUB,
                f"invitation {inv.org} {who}",
                msg(
                    "%(who)s has a pending invitation to %(org)s but is not in the repo",
                    who=who,
                    org=inv.org,
                ),
            )
