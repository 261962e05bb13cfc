"""Checks of Workspace accounts (unmanaged, shared, dormant) and of 2-Step Verification on every
account; called by `reconciler.policy.checks` (the GitHub checks reuse `report_two_factor`)."""

from __future__ import annotations

from datetime import timedelta

# Which names look shared is decided in one place, the desired-state checks, so validation
# and findings can never disagree about it.
from reconciler.desired.checking import looks_shared
from reconciler.model import (
    Account,
    AccountKind,
    Message,
    PersonStatus,
    System,
    msg,
)
from reconciler.policy.context import CheckContext, Findings


def report_two_factor(out: Findings, account: Account, owner: str | None, text: Message) -> None:
    """2SV / 2FA off (policy 第5.3条); for an administrator it is 第12.5条 and critical.
    `None` (the API did not say) is not reported: only a known "off" is a finding."""
    if account.two_factor_enrolled is not False:
        return
    out.add(
        "2sv-not-enrolled",
        account.system,
        account.name,
        text,
        owner,
        variant="admin" if account.is_admin else None,
    )


def check_accounts(ctx: CheckContext, out: Findings) -> None:
    org = ctx.desired.organization
    limit = timedelta(days=org.limits.dormant_after_days)
    for account in sorted(ctx.accounts(System.GOOGLE), key=lambda a: a.name):
        if account.suspended or account.kind is not AccountKind.USER:
            continue
        name = account.name
        owner = ctx.ids.person_of_email(name)
        untouchable = ctx.untouchables.untouchable(name)
        if owner is None and not untouchable:
            out.add(
                "unmanaged-account",
                System.GOOGLE,
                name,
                msg(
                    "Workspace account %(account)s belongs to nobody in the repo; add a person "
                    "file, list it as protected or non-human, or suspend it by hand",
                    account=name,
                ),
            )
        if not untouchable and looks_shared(name):
            out.add(
                "shared-account",
                System.GOOGLE,
                name,
                msg(
                    "%(account)s looks like a shared account; personal accounts only, or list it "
                    "as a non-human account with an owner",
                    account=name,
                ),
                owner,
            )
        departed = owner is not None and ctx.status(owner) is PersonStatus.DEPARTED
        if not departed:
            report_two_factor(
                out,
                account,
                owner,
                msg(
                    "%(account)s has not enrolled in 2-Step Verification and is a super admin",
                    account=name,
                )
                if account.is_admin
                else msg("%(account)s has not enrolled in 2-Step Verification", account=name),
            )
        if not untouchable and not departed:
            last = account.last_login
            if last is None and account.created is not None and ctx.now - account.created > limit:
                out.add(
                    "dormant-account",
                    System.GOOGLE,
                    name,
                    msg(
                        "%(account)s has never signed in since %(created_on)s",
                        account=name,
                        created_on=account.created.date(),
                    ),
                    owner,
                )
            elif last is not None and ctx.now - last > limit:
                out.add(
                    "dormant-account",
                    System.GOOGLE,
                    name,
                    msg(
                        "%(account)s last signed in on %(last_on)s, more than %(days)s days ago",
                        account=name,
                        last_on=last.date(),
                        days=org.limits.dormant_after_days,
                    ),
                    owner,
                )
