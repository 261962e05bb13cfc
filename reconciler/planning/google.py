"""Plans Google Workspace actions (accounts, sessions, tokens, group memberships); called by
`reconciler.planning.changes`."""

from __future__ import annotations

from reconciler.model import (
    ActionKind,
    Grant,
    GrantKind,
    Person,
    PersonStatus,
    System,
    reason_words,
)
from reconciler.planning.context import Candidates, PlanContext
from reconciler.planning.names import split_person_name
from reconciler.views import higher_role, in_domains


def plan_google(ctx: PlanContext, out: Candidates) -> None:
    scope = ctx.desired.organization.systems.google
    if scope is None or ctx.part(System.GOOGLE) is None:
        return
    for person, status in ctx.people():
        if status is PersonStatus.ACTIVE:
            _plan_active(ctx, out, person, scope.domain)
        elif status is PersonStatus.DEPARTED:
            _plan_leaver(ctx, out, person, scope.domain.lower())
        # NOT_STARTED: nothing is created before the start date; access they already hold is
        # reported by policy ("access-before-start") and left for a human to judge.
    _plan_strangers(ctx, out)


def _plan_active(ctx: PlanContext, out: Candidates, person: Person, domain: str) -> None:
    account = ctx.ids.google_accounts.get(person.id)
    wants_account = bool(ctx.entitlements(person.id, GrantKind.GOOGLE_ACCOUNT)) or in_domains(
        person.email, [domain]
    )
    if wants_account and account is None:
        given, family = split_person_name(person.name)
        params = {"given_name": given, "family_name": family}
        if person.recovery_email:
            params["recovery_email"] = person.recovery_email
        out.add(
            ActionKind.CREATE_ACCOUNT,
            domain.lower(),
            person.email,
            "USER",
            person_id=person.id,
            reason=reason_words("onboarding: no Workspace account yet"),
            params=params,
        )
    elif wants_account and account is not None and account.suspended:
        out.add(
            ActionKind.UNSUSPEND_ACCOUNT,
            domain.lower(),
            account.name,
            person_id=person.id,
            reason=reason_words("active in the repo but suspended in Workspace"),
        )

    wanted: dict[str, str] = {}
    for ent in ctx.entitlements(person.id, GrantKind.GOOGLE_GROUP):
        g = ent.grant
        before = wanted.get(g.target)  # two roles asking for one group: the stronger
        wanted[g.target] = g.role if before is None else higher_role(g.kind, g.role, before)
    addresses = ctx.ids.addresses_of(person)
    held: dict[str, Grant] = {}
    for g in ctx.held(GrantKind.GOOGLE_GROUP, addresses):
        held.setdefault(g.target, g)
    out.add_membership_changes(
        person.id,
        wanted,
        held,
        principal=person.email,
        managed=ctx.scope.groups,
        kinds=(
            ActionKind.ADD_GROUP_MEMBER,
            ActionKind.CHANGE_GROUP_ROLE,
            ActionKind.REMOVE_GROUP_MEMBER,
        ),
        role_label="role",
    )


def _plan_leaver(ctx: PlanContext, out: Candidates, person: Person, domain: str) -> None:
    """Offboarding, Google first: suspend, then cut existing sessions, because
    suspension alone does not end sessions that are already open (users.signOut exists for
    that), then revoke OAuth grants and app passwords, which outlive a password change."""
    account = ctx.ids.google_accounts.get(person.id)
    addresses = ctx.ids.addresses_of(person)
    why = f"offboarding {person.id}"
    if account is not None and not account.suspended:
        for kind in (ActionKind.SUSPEND_ACCOUNT, ActionKind.SIGN_OUT):
            out.add(
                kind,
                domain,
                account.name,
                person_id=person.id,
                offboarding=True,
                reason=why,
            )
    principal = account.name if account is not None else person.email
    for token in (t for a in sorted(addresses) for t in ctx.index.tokens.get(a, ())):
        out.add(
            ActionKind.REVOKE_TOKEN,
            domain,
            principal,
            person_id=person.id,
            offboarding=True,
            reason=why,
            params={"client_id": token.client_id},
        )
    for asp in (x for a in sorted(addresses) for x in ctx.index.app_passwords.get(a, ())):
        out.add(
            ActionKind.DELETE_APP_PASSWORD,
            domain,
            principal,
            person_id=person.id,
            offboarding=True,
            reason=why,
            params={"code_id": str(asp.code_id)},
        )
    for g in ctx.held(GrantKind.GOOGLE_GROUP, addresses):
        out.add(
            ActionKind.REMOVE_GROUP_MEMBER,
            g.target,
            g.principal,
            g.role,
            person_id=person.id,
            offboarding=True,
            reason=why,
        )


def _plan_strangers(ctx: PlanContext, out: Candidates) -> None:
    """Members of managed groups who are nobody in the repo. Only user members are removed:
    a known Workspace user, or an address outside the organisation's domains. An in-domain
    address that is not a user is most likely a nested group (or one we cannot see); it is
    reported by policy, not removed, because removing a nested group cuts off everyone in it."""
    part = ctx.part(System.GOOGLE)
    users = {a.name for a in part.accounts} if part else set()
    groups, owner, outside = ctx.scope.groups, ctx.members.owner, ctx.members.outside
    for g in ctx.grants(GrantKind.GOOGLE_GROUP):
        principal = g.principal
        if g.target not in groups or principal in owner:
            continue
        if ctx.untouchables.untouchable(principal):
            continue
        if principal in users or principal in outside:
            out.add(
                ActionKind.REMOVE_GROUP_MEMBER,
                g.target,
                principal,
                g.role,
                reason=reason_words("member of a managed group but not in the desired state"),
            )
