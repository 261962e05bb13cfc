"""GitHub payloads -> model values: the pure half of the GitHub provider, called by
`providers.github` (the read) and `providers.github_transport` (the persisted cache's rows).

Every REST and GraphQL answer the provider reads is turned into an `Account`, `Grant`,
`Invitation` or `GitHubOrgSettings` here and nowhere else, so the rules that decide what an
answer means (identity by numeric id, never by login; logins and emails through the one
normaliser in `reconciler.model`; a null `hasTwoFactorEnabled` is "not said", never "off"; a
membership counts only once active) are functions of values, tested table-driven against
canned payloads checked with GitHub's own OpenAPI and GraphQL descriptions
(tests/providers/test_github_payloads.py). No I/O, no client library, no clock: the caller
hands in the payload and the organisation it came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.model import (
    Account,
    AccountKind,
    GitHubOrgSettings,
    Grant,
    GrantKind,
    Invitation,
    System,
    normalise_email,
    normalise_login,
)

Payload = Mapping[str, Any]
TeamRows = list[tuple[str, str]]  # [(login, "member" | "maintainer")] of one team


@dataclass(frozen=True)
class Member:
    """One org member as the GraphQL member list gives it (and the persisted cache keeps
    it): the login normalised, the numeric id as a string, owner or not, and 2FA (None when
    the reader is not an owner: the API then says nothing)."""

    login: str
    id: str
    name: str
    admin: bool
    two_factor: bool | None


def parse_time(value: str) -> datetime:
    """A GitHub timestamp ("2025-12-01T09:00:00Z", or with an offset) as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- REST ----------------------------------------------------------------------------------


def org_settings(org: Payload) -> GitHubOrgSettings:
    """`organization-full` (GET /orgs/{org}). `two_factor_requirement_enabled` is absent or
    null for a reader who may not see it, which reads as "not required"."""
    return GitHubOrgSettings(
        org=normalise_login(org["login"]),
        id=int(org["id"]),
        two_factor_required=bool(org.get("two_factor_requirement_enabled")),
    )


def user_account(user: Payload, known_logins: Iterable[str | None] = ()) -> Account:
    """A GitHub user (`simple-user`, `public-user`, `private-user`) as an `Account` keyed by
    its numeric id, which survives renames. `known_logins` are the logins a person file
    knows the account by; those it no longer answers to become aliases, so a renamed account
    is still recognised as that person's. A `type: Bot` user (an App's `name[bot]`) is a bot."""
    login = normalise_login(user["login"])
    return Account(
        system=System.GITHUB,
        id=str(user["id"]),
        name=login,
        kind=AccountKind.BOT if user.get("type") == "Bot" else AccountKind.USER,
        display_name=user.get("name") or "",
        aliases=tuple(x for x in known_logins if x and x != login),
    )


def outside_collaborator(org: str, user: Payload) -> tuple[Account, Grant]:
    """One entry of GET /orgs/{org}/outside_collaborators (`simple-user`): the account and
    its `github_collaborator` grant on the organisation."""
    account = user_account(user)
    return account, Grant(GrantKind.GITHUB_COLLABORATOR, org, account.name, "outside")


def is_login(user: Payload, login: str) -> bool:
    """Whether a user payload names `login` (already normalised), whatever its case."""
    return normalise_login(user["login"]) == login


def invitation(org: str, raw: Payload) -> Invitation:
    """`organization-invitation` (GET /orgs/{org}/invitations and .../failed_invitations):
    an invitation by email has a null login, a failed or expired one a `failed_at`, and the
    inviter may be null (a deleted account)."""
    inviter = raw.get("inviter") or {}
    return Invitation(
        id=int(raw["id"]),
        org=org,
        login=normalise_login(raw["login"]) if raw.get("login") else None,
        email=normalise_email(raw["email"]) if raw.get("email") else None,
        role=raw["role"],
        created_at=parse_time(raw["created_at"]),
        failed_at=parse_time(raw["failed_at"]) if raw.get("failed_at") else None,
        failed_reason=raw.get("failed_reason"),
        inviter=normalise_login(inviter["login"]) if inviter.get("login") else None,
    )


def membership_grant(org: str, login: str, membership: Payload | None) -> Grant | None:
    """`org-membership` (GET /orgs/{org}/memberships/{username}) as the `github_org` grant it
    is, or None: a pending membership is an invitation, not access yet."""
    if membership is None or membership["state"] != "active":
        return None
    return Grant(GrantKind.GITHUB_ORG, org, login, membership["role"])


def team_slugs(teams: Iterable[Payload]) -> list[str]:
    """The slugs of GET /orgs/{org}/teams (`team`), in the order listed."""
    return [str(t["slug"]) for t in teams]


def parent_slugs(teams: Iterable[Payload]) -> set[str]:
    """The slugs of the teams that have a child team (`team.parent`): their REST member
    lists include the children's members, so the cache never vouches for them."""
    return {str(t["parent"]["slug"]) for t in teams if t.get("parent")}


# -- GraphQL ---------------------------------------------------------------------------------


def members(edges: Iterable[Payload]) -> list[Member]:
    """`OrganizationMemberEdge`s of `membersWithRole` (MEMBERS_QUERY) as members."""
    return [
        Member(
            login=normalise_login(edge["node"]["login"]),
            id=str(edge["node"]["databaseId"]),
            name=edge["node"].get("name") or "",
            admin=edge["role"] == "ADMIN",
            # null when the reader is not an owner (schema: hasTwoFactorEnabled)
            two_factor=edge.get("hasTwoFactorEnabled"),
        )
        for edge in edges
    ]


def member_values(org: str, found: Iterable[Member]) -> tuple[dict[str, Account], list[Grant]]:
    """Members as accounts (by login) and their `github_org` grants (`admin` for an owner)."""
    accounts: dict[str, Account] = {}
    grants: list[Grant] = []
    for m in found:
        accounts[m.login] = Account(
            system=System.GITHUB,
            id=m.id,
            name=m.login,
            display_name=m.name,
            is_admin=m.admin,
            two_factor_enrolled=m.two_factor,
        )
        grants.append(Grant(GrantKind.GITHUB_ORG, org, m.login, "admin" if m.admin else "member"))
    return accounts, grants


def member_list_problem(found: Sequence[Member]) -> str | None:
    """Why a member list that read without error still cannot be the organisation's, or
    None: an organisation always has an owner, so an empty list or one without an owner
    (roles hidden from these credentials) would otherwise plan everyone's removal."""
    if not found:
        return (
            "members: the member list came back empty (an organisation always has an "
            "owner): treating the read as incomplete"
        )
    if not any(m.admin for m in found):
        return (
            "members: no organisation owner in the member list (roles hidden from "
            "these credentials?): treating the read as incomplete"
        )
    return None


def team_rows(edges: Iterable[Payload]) -> TeamRows:
    """`TeamMemberEdge`s (TEAMS_QUERY, TEAM_MEMBERS_QUERY) as (login, role) rows; the role
    enum MEMBER / MAINTAINER becomes the grant's lower-case role."""
    return [(normalise_login(e["node"]["login"]), str(e["role"]).lower()) for e in edges]


def team_grants(org: str, slug: str, rows: Iterable[tuple[str, str]]) -> list[Grant]:
    """One team's rows as `github_team` grants on `org/slug`."""
    return [Grant(GrantKind.GITHUB_TEAM, f"{org}/{slug}", login, role) for login, role in rows]


def person_team_grants(org: str, login: str, teams: Iterable[Payload]) -> list[Grant]:
    """The `teams` nodes of PERSON_TEAMS_QUERY as the grants `login` holds: its `query`
    argument matches logins by prefix and by name, so only the exact login counts."""
    return [
        grant
        for team in teams
        for grant in team_grants(org, str(team["slug"]), team_rows(team["members"]["edges"]))
        if grant.principal == login
    ]
