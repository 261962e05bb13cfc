"""Plans GitHub actions (org membership, invitations, teams, outside collaborators); called by
`reconciler.planning.changes`."""

from __future__ import annotations

from reconciler.model import (
    ActionKind,
    Grant,
    GrantKind,
    NoteKind,
    Person,
    PersonStatus,
    System,
    msg,
    reason_words,
)
from reconciler.planning.context import Candidates, PlanContext
from reconciler.views import higher_role, pending_invitations_of


def plan_github(ctx: PlanContext, out: Candidates) -> None:
    org = ctx.scope.org
    if org is None or ctx.part(System.GITHUB) is None:
        return
    members = {g.principal: g for g in ctx.grants(GrantKind.GITHUB_ORG) if g.target == org}
    for person, status in ctx.people():
        if status is PersonStatus.ACTIVE:
            _plan_active(ctx, out, person, org, members)
        elif status is PersonStatus.DEPARTED:
            _plan_leaver(ctx, out, person, org, members)
    _plan_strangers(ctx, out, org, members)


def _plan_active(
    ctx: PlanContext, out: Candidates, person: Person, org: str, members: dict[str, Grant]
) -> None:
    org_role = ""
    for ent in ctx.entitlements(person.id, GrantKind.GITHUB_ORG):
        if ent.grant.target.lower() == org:
            org_role = higher_role(GrantKind.GITHUB_ORG, ent.grant.role, org_role or "member")
    teams: dict[str, str] = {}
    for ent in ctx.entitlements(person.id, GrantKind.GITHUB_TEAM):
        g = ent.grant
        team = g.target.lower()  # org logins and team slugs are case-insensitive on GitHub
        if team.startswith(org + "/"):
            before = teams.get(team)  # two roles asking for one team: the stronger
            teams[team] = g.role if before is None else higher_role(g.kind, g.role, before)
    if teams and not org_role:
        org_role = "member"  # a team can only hold org members

    match = ctx.ids.github.get(person.id)
    if match is None:
        if org_role:
            out.note(
                NoteKind.ADVICE,
                msg(
                    "%(person)s has GitHub roles but no GitHub login in their person file",
                    person=person.id,
                ),
                person_id=person.id,
                system=System.GITHUB,
            )
        return
    login = match.login
    if login is None:
        # The repo's login now belongs to another account (a different numeric id) and the
        # person's own account is not in the org: inviting the login would invite a stranger.
        if org_role:
            out.note(
                NoteKind.HELD_BACK,
                msg(
                    "%(person)s: GitHub access held back, the login in the person file belongs "
                    "to another account now; put the person's current login in the file",
                    person=person.id,
                ),
                person_id=person.id,
                system=System.GITHUB,
            )
        return

    member = members.get(login)
    if member is None and org_role:
        pending = pending_invitations_of(ctx.snapshot, login, ctx.ids.addresses_of(person))
        if not pending:
            # The invitation names the account by id, so it reaches the account the plan
            # shows even if the login changes hands before apply. Without a recorded id, the
            # one the read resolved the login to is used (none: the provider resolves it).
            account_id = person.github_id
            if account_id is None and match.account is not None:
                account_id = int(match.account.id)
                out.note(
                    NoteKind.ADVICE,
                    msg(
                        "%(person)s: the GitHub login %(login)s is account id %(id)s; add "
                        "github_id: %(id)s to their person file",
                        person=person.id,
                        login=login,
                        id=account_id,
                    ),
                    person_id=person.id,
                    system=System.GITHUB,
                )
            out.add(
                ActionKind.INVITE_ORG_MEMBER,
                org,
                login,
                org_role,
                person_id=person.id,
                reason=reason_words("granted by the person's roles"),
                params={"github_id": str(account_id)} if account_id is not None else None,
            )
        if teams:
            # Team membership needs an org member; GitHub adds invitees to teams only after
            # they accept, so teams are planned on the first run after acceptance.
            out.note(
                NoteKind.WAITING,
                msg(
                    "%(person)s: teams %(teams)s wait until %(login)s accepts the invitation to "
                    "%(org)s",
                    person=person.id,
                    teams=", ".join(sorted(teams)),
                    login=login,
                    org=org,
                ),
                person_id=person.id,
                system=System.GITHUB,
            )
        return
    if member is None:
        return
    if not org_role:
        if ctx.scope.org_authoritative:
            out.add(
                ActionKind.REMOVE_ORG_MEMBER,
                org,
                login,
                member.role,
                person_id=person.id,
                reason=reason_words("none of the person's roles grants GitHub access"),
            )
        return  # removal from the org removes them from its teams too
    if member.role != org_role:
        out.add(
            ActionKind.CHANGE_ORG_ROLE,
            org,
            login,
            org_role,
            person_id=person.id,
            reason=f"org role in the repo is {org_role}",
            params={"old_role": member.role},
        )
    # Held team grants are looked up by `login`, so each one's principal is `login`.
    held = {g.target: g for g in ctx.held(GrantKind.GITHUB_TEAM, [login])}
    out.add_membership_changes(
        person.id,
        teams,
        held,
        principal=login,
        managed=ctx.scope.teams,
        kinds=(
            ActionKind.ADD_TEAM_MEMBER,
            ActionKind.CHANGE_TEAM_ROLE,
            ActionKind.REMOVE_TEAM_MEMBER,
        ),
        role_label="team role",
    )


def _plan_leaver(
    ctx: PlanContext, out: Candidates, person: Person, org: str, members: dict[str, Grant]
) -> None:
    """Offboarding on GitHub: remove from the org (DELETE /orgs/{org}/memberships/{login}
    also removes every team membership), cancel pending invitations, and remove outside
    collaborator access, which org membership removal does not touch."""
    match = ctx.ids.github.get(person.id)
    login = match.login if match else None
    why = f"offboarding {person.id}"
    if login is not None and login in members:
        out.add(
            ActionKind.REMOVE_ORG_MEMBER,
            org,
            login,
            members[login].role,
            person_id=person.id,
            offboarding=True,
            reason=why,
        )
    for inv in pending_invitations_of(ctx.snapshot, login, ctx.ids.addresses_of(person)):
        if inv.org.lower() != org:
            continue
        out.add(
            ActionKind.CANCEL_INVITATION,
            org,
            inv.login or inv.email or "",
            person_id=person.id,
            offboarding=True,
            reason=why,
            params={"invitation_id": str(inv.id)},
        )
    if login is None:
        return
    for g in ctx.held(GrantKind.GITHUB_COLLABORATOR, [login]):
        out.add(
            ActionKind.REMOVE_OUTSIDE_COLLABORATOR,
            g.target,
            login,
            g.role,
            person_id=person.id,
            offboarding=True,
            reason=why,
        )


def _plan_strangers(ctx: PlanContext, out: Candidates, org: str, members: dict[str, Grant]) -> None:
    """Org members who are nobody in the repo (including an account that took a person's old
    login) are removed when the org is managed; protected and non-human accounts are not."""
    if not ctx.scope.org_authoritative:
        return
    for login, grant in sorted(members.items()):
        if ctx.ids.person_of_login(login) is not None or ctx.untouchables.untouchable(login):
            continue
        out.add(
            ActionKind.REMOVE_ORG_MEMBER,
            org,
            login,
            grant.role,
            reason=reason_words("member of the organisation but not in the desired state"),
        )
