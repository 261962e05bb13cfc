"""The fewest round trips, API calls and GitHub rate-limit points the APIs allow for a full
read of a sandbox world (and for one person's reverse look-ups); pure, called by the benchmark
and its smoke test to put every measured number next to its floor.

Every formula uses a documented API limit (docs/benchmarks.md):
- Directory: users.list maxResults 500, groups.list and members.list 200, a batch carries up
  to 1,000 calls and "n requests batched count as n requests" (quota), so a batch saves round
  trips only. Page k+1 of a member list needs page k's token: a group with p pages needs p
  sequential batches, so batches >= the longest member list in pages.
- GitHub: GraphQL connections take first <= 100 and a query costs (connection requests / 100)
  rounded, minimum 1 point: a members page is 1 point, a page of 100 teams each with its
  first 100 members is (1 + 100) / 100 = 1 point, a further page of one team's members 1.
  REST per_page <= 100, a GET costs 1 core point and a 304 answer to If-None-Match costs 0.
- GCP: one getIamPolicy per resource, ListServiceAccounts page_size <= 100 per project,
  one ListServiceAccountKeys per service account (the API has no multi-account form);
  before the read, `plan` and `apply` list the roles roles.yaml names: ListRoles page_size
  <= 1,000 per parent (predefined roles, each custom-role parent).
An empty list still costs its one call: the API must be asked to learn that it is empty.
The GitHub look-ups of people who may be invited use the provider's own rule and the real
date, as the provider does (who may be invited depends on who is employed today).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from math import ceil
from typing import Any

from reconciler.desired.gcp_roles import role_parents
from reconciler.model import (
    Account,
    DesiredState,
    Invitation,
    Person,
    System,
    normalise_email,
    normalise_login,
)
from reconciler.providers.github import TEAM_VALIDATOR_LIMIT, invitation_candidates

USERS_PAGE = 500
GROUPS_PAGE = 200
MEMBERS_PAGE = 200
BATCH_MAX = 1000
GITHUB_PAGE = 100
SERVICE_ACCOUNTS_PAGE = 100
SEARCH_PAGE = 500  # Cloud Asset searchAllIamPolicies pageSize cap
ROLES_PAGE = 1000  # IAM ListRoles page_size maximum


@dataclass(frozen=True)
class Cost:
    """What one read costs one system: wire round trips, API calls (batch parts count one
    each, as Google's quota counts them) and GitHub rate-limit points."""

    round_trips: int
    api_calls: int
    core_points: int = 0
    graphql_points: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def pages(count: int, size: int) -> int:
    """List calls for `count` items at `size` a page; an empty list is still one call."""
    return max(1, ceil(count / size))


def google_read(world: Mapping[str, Any]) -> Cost:
    """users.list and groups.list pages, then every member list page and each primary-domain
    user's tokens.list and asps.list as batch parts (GoogleWorkspaceProvider.read)."""
    google = world.get("google") or {}
    users = google.get("users", [])
    groups = google.get("groups", [])
    members = google.get("members", {})
    suffix = "@" + normalise_email(str(google.get("domain", "")))
    own = [u for u in users if normalise_email(u["primaryEmail"]).endswith(suffix)]
    member_pages = [pages(len(members.get(g["email"], [])), MEMBERS_PAGE) for g in groups]
    batched = sum(member_pages) + 2 * len(own)
    waves = max(member_pages, default=0)
    batches = max(waves, ceil(batched / BATCH_MAX))
    listing = pages(len(users), USERS_PAGE) + pages(len(groups), GROUPS_PAGE)
    return Cost(round_trips=listing + batches, api_calls=listing + batched)


def github_read(
    world: Mapping[str, Any], desired: DesiredState | None = None, today: date | None = None
) -> Cost:
    """A cold read: GraphQL members and teams (with their first 100 members), REST org
    settings, invitations, failed invitations and outside collaborators, the look-ups of
    people who may be invited on `today` (`invitee_lookups`), and the conditional REST lists
    that let the next read prove members and teams unchanged (`github_validators`)."""
    github = world.get("github") or {}
    graphql = pages(len(github.get("members", [])), GITHUB_PAGE) + _github_team_points(github)
    if not _teams_validated(github):  # each team over 100 members is read again whole
        graphql += sum(1 for t in _large_teams(github))
    rest = 1 + sum(
        pages(len(github.get(name, [])), GITHUB_PAGE)
        for name in ("invitations", "failed_invitations", "outside_collaborators")
    )
    if desired is not None and today is not None:
        rest += invitee_lookups(world, desired, today)
    rest += github_validators(world)
    return Cost(graphql + rest, graphql + rest, core_points=rest, graphql_points=graphql)


def _github_team_points(github: Mapping[str, Any]) -> int:
    teams = github.get("teams", [])
    points = pages(len(teams), GITHUB_PAGE)
    return points + sum(pages(len(t.get("members", [])), GITHUB_PAGE) - 1 for t in teams)


def _large_teams(github: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [t for t in github.get("teams", []) if len(t.get("members", [])) > GITHUB_PAGE]


def _teams_validated(github: Mapping[str, Any]) -> bool:
    return 2 * len(github.get("teams", [])) <= TEAM_VALIDATOR_LIMIT


def github_validators(world: Mapping[str, Any]) -> int:
    """The conditional REST lists of `GitHubProvider._members` and `_teams`: the member list
    all / `role=admin` / `filter=2fa_disabled`, the team list, and each team's members all /
    `role=maintainer` while there are no more than TEAM_VALIDATOR_LIMIT of those, else
    only of the teams over 100 members."""
    github = world.get("github") or {}
    members = github.get("members", [])
    two_factor = {
        normalise_login(u["login"]): u.get("two_factor", True) for u in github.get("users", [])
    }
    calls = pages(len(members), GITHUB_PAGE)
    calls += pages(sum(m.get("role") == "admin" for m in members), GITHUB_PAGE)
    calls += pages(
        sum(not two_factor.get(normalise_login(m["login"]), True) for m in members), GITHUB_PAGE
    )
    teams = github.get("teams", [])
    calls += pages(len(teams), GITHUB_PAGE)
    for team in teams if _teams_validated(github) else _large_teams(github):
        people = team.get("members", [])
        calls += pages(len(people), GITHUB_PAGE)
        calls += pages(sum(m.get("role") == "maintainer" for m in people), GITHUB_PAGE)
    return calls


def invitee_lookups(world: Mapping[str, Any], desired: DesiredState, today: date) -> int:
    """An invitation is safe only once the invitee's account is known: one user GET per
    person who may be invited, by id when recorded, plus the login's holder when their
    account no longer answers to the login in the file (`invitation_candidates`)."""
    github = world.get("github") or {}
    users = github.get("users", [])
    by_login = {normalise_login(u["login"]): u for u in users}
    by_id = {int(u["id"]): u for u in users if "id" in u}
    in_org = [m["login"] for m in github.get("members", [])]
    in_org += list(github.get("outside_collaborators", []))
    accounts = {
        normalise_login(login): Account(
            System.GITHUB, str(by_login[normalise_login(login)]["id"]), login
        )
        for login in in_org
        if normalise_login(login) in by_login and "id" in by_login[normalise_login(login)]
    }
    invitations = [
        Invitation(int(i.get("id", 0)), "", normalise_login(i["login"]) if i.get("login") else None,
                   None, "direct_member", datetime.min)
        for i in github.get("invitations", [])
    ]  # fmt: skip
    calls = 0
    for person in invitation_candidates(desired, accounts, invitations, today):
        own = by_id.get(person.github_id) if person.github_id is not None else None
        calls += 1 if person.github_id is not None else 0
        if person.github and (own is None or normalise_login(own["login"]) != person.github):
            calls += 1
    return calls


def github_unchanged_read(
    world: Mapping[str, Any], desired: DesiredState | None = None, today: date | None = None
) -> Cost:
    """A second read of an unchanged org: every REST GET is conditional and answered 304
    (free of the primary limit), and GraphQL is asked only for what the validators cannot
    vouch for: nothing while the teams are validated, the teams connection otherwise."""
    first = github_read(world, desired, today)
    github = world.get("github") or {}
    graphql = 0 if _teams_validated(github) else pages(len(github.get("teams", [])), GITHUB_PAGE)
    rest = first.round_trips - first.graphql_points
    return Cost(rest + graphql, rest + graphql, 0, graphql)


def gcp_read(world: Mapping[str, Any], desired: DesiredState) -> Cost:
    """getIamPolicy per resource in scope, service-account pages per project in scope, keys
    per service account found (GcpIamProvider.read)."""
    resources = [s.resource for s in desired.organization.systems.gcp]
    projects = {r.removeprefix("projects/") for r in resources if r.startswith("projects/")}
    listed = (world.get("gcp") or {}).get("service_accounts", [])
    accounts = [a for a in listed if a["project"] in projects]
    per_project = [sum(1 for a in accounts if a["project"] == p) for p in sorted(projects)]
    calls = (
        len(resources) + sum(pages(n, SERVICE_ACCOUNTS_PAGE) for n in per_project) + len(accounts)
    )
    return Cost(round_trips=calls, api_calls=calls)


def gcp_role_check(world: Mapping[str, Any], desired: DesiredState, predefined: int) -> Cost:
    """The check `plan` and `apply` make before the read: ListRoles pages of 1,000 (the
    documented maximum) for each parent the roles.yaml roles live under, the predefined
    roles (`predefined` of them) for "", the world's live custom roles for the others."""
    custom = (world.get("gcp") or {}).get("roles") or {}
    calls = 0
    for parent in role_parents(desired):
        if parent == "":
            count = predefined
        else:
            prefix = f"{parent}/roles/"
            count = sum(
                1 for name, role in custom.items() if name.startswith(prefix)
                and not role.get("deleted")
            )  # fmt: skip
        calls += pages(count, ROLES_PAGE)
    return Cost(round_trips=calls, api_calls=calls)


def full_read(world: Mapping[str, Any], desired: DesiredState) -> dict[System, Cost]:
    """The minimum cost of `read_all` for every system in scope."""
    systems = desired.organization.systems
    out: dict[System, Cost] = {}
    if systems.google:
        out[System.GOOGLE] = google_read(world)
    if systems.github:
        out[System.GITHUB] = github_read(world, desired, datetime.now(UTC).date())
    if systems.gcp:
        out[System.GCP] = gcp_read(world, desired)
    return out


def _groups_of(world: Mapping[str, Any], email: str) -> int:
    members = (world.get("google") or {}).get("members", {})
    return sum(
        1 for items in members.values() if any(normalise_email(m["email"]) == email for m in items)
    )


def _teams_of(world: Mapping[str, Any], login: str) -> int:
    teams = (world.get("github") or {}).get("teams", [])
    return sum(
        1 for t in teams if any(normalise_login(m["login"]) == login for m in t.get("members", []))
    )


def person_lookup(world: Mapping[str, Any], person: Person) -> dict[System, Cost]:
    """Reverse look-ups for one person (read_person_everywhere). Nothing here counts the
    organisation: only the person's own groups and teams, and the org-wide lists GitHub has
    no per-user query for (invitations, failed invitations, outside collaborators), which
    hold outsiders and pending people, not the staff."""
    email = normalise_email(person.email)
    users = {
        normalise_email(u["primaryEmail"]) for u in (world.get("google") or {}).get("users", [])
    }
    groups = _groups_of(world, email)
    # users.get, groups.list(userKey) pages, then one batch: members.get per group, and the
    # user's tokens.list and asps.list when the account exists.
    batched = groups + (2 if email in users else 0)
    google = Cost(
        round_trips=1 + pages(groups, GROUPS_PAGE) + (ceil(batched / BATCH_MAX) if batched else 0),
        api_calls=1 + pages(groups, GROUPS_PAGE) + batched,
    )
    github = world.get("github") or {}
    lists = sum(
        pages(len(github.get(name, [])), GITHUB_PAGE)
        for name in ("invitations", "failed_invitations", "outside_collaborators")
    )
    account = next(
        (
            u
            for u in github.get("users", [])
            if (person.github_id is not None and u.get("id") == person.github_id)
            or (person.github_id is None and normalise_login(u["login"]) == person.github)
        ),
        None,
    )
    if account is not None:
        team_pages = pages(_teams_of(world, normalise_login(account["login"])), GITHUB_PAGE)
        # user by id (or login), org membership, the GraphQL pages of the person's teams
        rest = 2 + lists
        gh = Cost(rest + team_pages, rest + team_pages, rest, team_pages)
    elif person.github or person.github_id:
        rest = 1 + lists  # the user GET answers 404: no account, nothing more to look up
        gh = Cost(rest, rest, rest, 0)
    else:
        gh = Cost(lists, lists, lists, 0)
    gcp = Cost(1, 1)  # one searchAllIamPolicies page: a person has far fewer than 500 bindings
    return {System.GOOGLE: google, System.GITHUB: gh, System.GCP: gcp}


def total(costs: Iterable[Cost]) -> Cost:
    items = list(costs)
    return Cost(
        round_trips=sum(c.round_trips for c in items),
        api_calls=sum(c.api_calls for c in items),
        core_points=sum(c.core_points for c in items),
        graphql_points=sum(c.graphql_points for c in items),
    )
