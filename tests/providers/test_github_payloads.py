"""The GitHub provider's pure part, table-driven: canned REST and GraphQL payloads in, model
values out. Every canned payload is first checked against GitHub's own descriptions (REST
against @octokit/openapi's response schema of the operation that returns it, GraphQL by
executing the provider's own query over it with @octokit/graphql-schema, which refuses a
null in a non-null field, an unknown enum value and any field the query does not ask), so
the payloads here cannot drift from what GitHub sends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from graphql import execute, parse

from reconciler.model import (
    Account,
    AccountKind,
    GitHubOrgSettings,
    Grant,
    GrantKind,
    Invitation,
    System,
)
from reconciler.providers import github_payloads as payloads
from reconciler.providers.github import (
    MEMBERS_QUERY,
    PERSON_TEAMS_QUERY,
    TEAM_MEMBERS_QUERY,
    TEAMS_QUERY,
)
from reconciler.sandbox import github_graphql
from tests.sandbox.test_github_conformance import GRAPHQL, OPENAPI, check, response_schema

pytestmark = pytest.mark.skipif(
    not OPENAPI.exists() or not GRAPHQL.exists(),
    reason="official API descriptions missing: run `make setup`",
)

ORG = "example-co"
API = "https://api.github.example.com"
WHEN = "2026-01-05T09:00:00Z"


# -- canned REST payloads, complete as the OpenAPI description requires -----------------------


def simple_user(login: str, id: int, *, kind: str = "User", **extra: Any) -> dict[str, Any]:
    """`simple-user` with every required field (invented addresses)."""
    url = f"{API}/users/{login}"
    return {
        "login": login,
        "id": id,
        "node_id": f"U_{id}",
        "avatar_url": f"https://avatars.github.example.com/u/{id}",
        "gravatar_id": "",
        "url": url,
        "html_url": f"https://github.example.com/{login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": kind,
        "site_admin": False,
        **extra,
    }


def public_user(login: str, id: int, name: str | None) -> dict[str, Any]:
    """`public-user`, as GET /user/{account_id} and GET /users/{username} answer."""
    return simple_user(
        login,
        id,
        name=name,
        user_view_type="public",
        company=None,
        blog="",
        location=None,
        email=None,
        hireable=None,
        bio=None,
        public_repos=0,
        public_gists=0,
        followers=0,
        following=0,
        created_at="2020-04-01T00:00:00Z",
        updated_at=WHEN,
    )


def organization_full(login: str, id: int, **extra: Any) -> dict[str, Any]:
    url = f"{API}/orgs/{login}"
    return {
        "login": login,
        "id": id,
        "node_id": f"O_{id}",
        "url": url,
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events",
        "hooks_url": f"{url}/hooks",
        "issues_url": f"{url}/issues",
        "members_url": f"{url}/members{{/member}}",
        "public_members_url": f"{url}/public_members{{/member}}",
        "avatar_url": f"https://avatars.github.example.com/u/{id}",
        "description": None,
        "html_url": f"https://github.example.com/{login}",
        "has_organization_projects": True,
        "has_repository_projects": True,
        "public_repos": 0,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "type": "Organization",
        "created_at": "2019-04-01T00:00:00Z",
        "updated_at": WHEN,
        "archived_at": None,
        **extra,
    }


def organization_invitation(id: int, login: str | None, email: str | None, **extra: Any) -> Any:
    return {
        "id": id,
        "node_id": f"OI_{id}",
        "login": login,
        "email": email,
        "role": "direct_member",
        "created_at": "2025-12-01T09:00:00Z",
        "inviter": simple_user("Ichiro-Owner", 1000),
        "team_count": 0,
        "invitation_teams_url": f"{API}/organizations/9000001/invitations/{id}/teams",
        **extra,
    }


def team(slug: str, id: int, parent: dict[str, Any] | None = None) -> dict[str, Any]:
    """`team` (GET /orgs/{org}/teams); `parent` is a `nullable-team-simple`."""
    simple = team_simple(slug, id)
    return {**simple, "parent": parent}


def team_simple(slug: str, id: int) -> dict[str, Any]:
    url = f"{API}/organizations/9000001/team/{id}"
    return {
        "id": id,
        "node_id": f"T_{id}",
        "url": url,
        "members_url": f"{url}/members{{/member}}",
        "name": slug.replace("-", " ").title(),
        "description": None,
        "permission": "pull",
        "html_url": f"https://github.example.com/orgs/{ORG}/teams/{slug}",
        "repositories_url": f"{url}/repos",
        "slug": slug,
        "type": "organization",
    }


def org_membership(login: str, id: int, state: str, role: str) -> dict[str, Any]:
    org = organization_full(ORG, 9000001)
    simple_org = {
        k: org[k]
        for k in (
            "login", "url", "id", "node_id", "repos_url", "events_url", "hooks_url",
            "issues_url", "members_url", "public_members_url", "avatar_url", "description",
        )
    }  # fmt: skip
    return {
        "url": f"{API}/orgs/{ORG}/memberships/{login}",
        "state": state,
        "role": role,
        "organization_url": f"{API}/orgs/{ORG}",
        "organization": simple_org,
        "user": simple_user(login, id),
    }


def rest(payload: Any, template: str) -> Any:
    """`payload`, after checking it is what GET `template` answers with 200."""
    schema = response_schema("GET", template, 200)
    assert schema is not None
    check(payload, schema)
    return payload


# -- canned GraphQL answers, checked by running the provider's query over them ------------------


def graphql(query: str, data: dict[str, Any], **variables: Any) -> dict[str, Any]:
    """`data`, after checking it is exactly what GitHub's schema lets `query` answer."""
    result = execute(
        github_graphql.load_schema(), parse(query), root_value=data, variable_values=variables
    )
    assert result.errors is None, result.errors
    assert result.data == data, "the canned answer has fields the query does not ask"
    return data


RATE_LIMIT = {"cost": 1, "remaining": 4999, "resetAt": WHEN, "limit": 5000, "used": 1}
NO_MORE = {"hasNextPage": False, "endCursor": None}


def member_edge(login: str, id: int, role: str, two_factor: bool | None, name: str | None) -> Any:
    return {
        "role": role,
        "hasTwoFactorEnabled": two_factor,
        "node": {"login": login, "databaseId": id, "name": name},
    }


def members_page(*edges: Any) -> list[Any]:
    """The edges of one MEMBERS_QUERY answer, the whole answer checked."""
    data = graphql(
        MEMBERS_QUERY,
        {
            "organization": {
                "databaseId": 9000001,
                "requiresTwoFactorAuthentication": True,
                "membersWithRole": {"totalCount": len(edges), "pageInfo": NO_MORE,
                                    "edges": list(edges)},
            },
            "rateLimit": RATE_LIMIT,
        },
        org=ORG,
        after=None,
    )  # fmt: skip
    found: list[Any] = data["organization"]["membersWithRole"]["edges"]
    return found


def team_edge(login: str, id: int, role: str) -> Any:
    return {"role": role, "node": {"login": login, "databaseId": id}}


def teams_page(*nodes: Any) -> list[Any]:
    """The team nodes of one TEAMS_QUERY answer, the whole answer checked."""
    data = graphql(
        TEAMS_QUERY,
        {
            "organization": {"teams": {"pageInfo": NO_MORE, "nodes": list(nodes)}},
            "rateLimit": RATE_LIMIT,
        },
        org=ORG,
        after=None,
    )
    found: list[Any] = data["organization"]["teams"]["nodes"]
    return found


def team_node(slug: str, id: int, *edges: Any) -> Any:
    return {
        "slug": slug,
        "databaseId": id,
        "name": slug.title(),
        "members": {"pageInfo": NO_MORE, "edges": list(edges)},
    }


def acct(id: str, name: str, **fields: Any) -> Account:
    return Account(system=System.GITHUB, id=id, name=name, **fields)


# -- GraphQL: members with role ----------------------------------------------------------------

MEMBER_CASES = [
    pytest.param(
        member_edge("Hanako-Suzuki", 1001, "ADMIN", True, "Hanako Suzuki"),
        acct("1001", "hanako-suzuki", display_name="Hanako Suzuki", is_admin=True,
             two_factor_enrolled=True),
        "admin",
        id="an owner, upper-case login normalised",
    ),
    pytest.param(
        member_edge("taro-yamada", 1002, "MEMBER", False, "Taro Yamada"),
        acct("1002", "taro-yamada", display_name="Taro Yamada", two_factor_enrolled=False),
        "member",
        id="a member with 2FA off",
    ),
    pytest.param(
        member_edge("jiro-sato", 1003, "MEMBER", None, None),
        acct("1003", "jiro-sato"),
        "member",
        id="optional fields null: no name, 2FA not said (reader is no owner)",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("edge", "account", "role"), MEMBER_CASES)
def test_a_member_edge_is_an_account_keyed_by_id_and_an_org_grant(
    edge: Any, account: Account, role: str
) -> None:
    found = payloads.members(members_page(edge))
    accounts, grants = payloads.member_values(ORG, found)
    assert accounts == {account.name: account}
    assert grants == [Grant(GrantKind.GITHUB_ORG, ORG, account.name, role)]


def test_a_renamed_member_keeps_its_id_and_only_the_login_changes() -> None:
    before = payloads.members(members_page(member_edge("taro-old", 1002, "MEMBER", True, "T")))
    after = payloads.members(members_page(member_edge("Taro-New", 1002, "MEMBER", True, "T")))
    assert (before[0].id, before[0].login) == ("1002", "taro-old")
    assert (after[0].id, after[0].login) == ("1002", "taro-new")


@pytest.mark.parametrize(
    ("edges", "problem"),
    [
        pytest.param((), "the member list came back empty", id="empty"),
        pytest.param(
            (member_edge("taro-yamada", 1002, "MEMBER", None, None),),
            "no organisation owner",
            id="no owner (roles hidden)",
        ),
        pytest.param(
            (member_edge("hanako-suzuki", 1001, "ADMIN", True, None),), None, id="an owner"
        ),
    ],
)
def test_a_member_list_without_an_owner_is_no_organisation(
    edges: tuple[Any, ...], problem: str | None
) -> None:
    reason = payloads.member_list_problem(payloads.members(members_page(*edges)))
    if problem is None:
        assert reason is None
    else:
        assert reason is not None and problem in reason


# -- GraphQL: teams ---------------------------------------------------------------------------

TEAM_CASES = [
    pytest.param(
        team_node("backend", 501, team_edge("Hanako-Suzuki", 1001, "MAINTAINER"),
                  team_edge("taro-yamada", 1002, "MEMBER")),
        [(f"{ORG}/backend", "hanako-suzuki", "maintainer"),
         (f"{ORG}/backend", "taro-yamada", "member")],
        id="a maintainer and a member",
    ),
    pytest.param(team_node("empty-team", 502), [], id="a team without members"),
]  # fmt: skip


@pytest.mark.parametrize(("node", "expected"), TEAM_CASES)
def test_team_member_edges_are_team_grants_with_the_role_in_lower_case(
    node: Any, expected: list[tuple[str, str, str]]
) -> None:
    (found,) = teams_page(node)
    rows = payloads.team_rows(found["members"]["edges"])
    grants = payloads.team_grants(ORG, found["slug"], rows)
    assert grants == [Grant(GrantKind.GITHUB_TEAM, t, p, r) for t, p, r in expected]


def test_a_large_teams_further_pages_read_as_the_first() -> None:
    data = graphql(
        TEAM_MEMBERS_QUERY,
        {
            "organization": {
                "team": {
                    "members": {
                        "pageInfo": NO_MORE,
                        "edges": [team_edge("Jiro-Sato", 1003, "MAINTAINER")],
                    }
                }
            },
            "rateLimit": RATE_LIMIT,
        },
        org=ORG,
        slug="backend",
        after="Y3Vyc29yOjEwMA==",
    )
    edges = data["organization"]["team"]["members"]["edges"]
    assert payloads.team_rows(edges) == [("jiro-sato", "maintainer")]


def test_a_persons_teams_count_only_their_exact_login() -> None:
    """`members(query: $login)` matches by prefix and by name: taro-yamada-2 is not taro."""
    data = graphql(
        PERSON_TEAMS_QUERY,
        {
            "organization": {
                "teams": {
                    "pageInfo": NO_MORE,
                    "nodes": [
                        {"slug": "backend", "members": {"edges": [
                            team_edge("Taro-Yamada", 1002, "MAINTAINER"),
                            team_edge("taro-yamada-2", 1009, "MEMBER"),
                        ]}},
                        {"slug": "infra", "members": {"edges": [
                            team_edge("taro-yamada", 1002, "MEMBER"),
                        ]}},
                    ],
                }
            },
            "rateLimit": RATE_LIMIT,
        },
        org=ORG,
        login="taro-yamada",
        logins=["taro-yamada"],
        after=None,
    )  # fmt: skip
    nodes = data["organization"]["teams"]["nodes"]
    assert payloads.person_team_grants(ORG, "taro-yamada", nodes) == [
        Grant(GrantKind.GITHUB_TEAM, f"{ORG}/backend", "taro-yamada", "maintainer"),
        Grant(GrantKind.GITHUB_TEAM, f"{ORG}/infra", "taro-yamada", "member"),
    ]


# -- REST ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("org", "expected"),
    [
        pytest.param(
            organization_full("Example-Co", 9000001, two_factor_requirement_enabled=True),
            GitHubOrgSettings(ORG, 9000001, two_factor_required=True),
            id="2FA required, upper-case login normalised",
        ),
        pytest.param(
            organization_full(ORG, 9000001),
            GitHubOrgSettings(ORG, 9000001, two_factor_required=False),
            id="2FA requirement not shown to this reader",
        ),
    ],
)
def test_org_settings(org: dict[str, Any], expected: GitHubOrgSettings) -> None:
    assert payloads.org_settings(rest(org, "/orgs/{org}")) == expected


def test_nested_teams_name_their_parent_whose_cache_is_never_trusted() -> None:
    listed = rest(
        [
            team("platform", 601),
            team("platform-sre", 602, parent=team_simple("platform", 601)),
            team("design", 603),
        ],
        "/orgs/{org}/teams",
    )
    assert payloads.team_slugs(listed) == ["platform", "platform-sre", "design"]
    assert payloads.parent_slugs(listed) == {"platform"}


COLLABORATOR_CASES = [
    pytest.param(
        simple_user("Ext-Contractor", 3001),
        acct("3001", "ext-contractor"),
        id="an outside collaborator, upper-case login normalised",
    ),
    pytest.param(
        simple_user("ext-writer", 3002, name="Kenji Ito"),
        acct("3002", "ext-writer", display_name="Kenji Ito"),
        id="with the optional name",
    ),
    pytest.param(
        simple_user("example-deploy[bot]", 3003, kind="Bot"),
        acct("3003", "example-deploy[bot]", kind=AccountKind.BOT),
        id="a bot (App) account",
    ),
]


@pytest.mark.parametrize(("user", "account"), COLLABORATOR_CASES)
def test_an_outside_collaborator_is_an_account_and_an_outside_grant(
    user: dict[str, Any], account: Account
) -> None:
    (listed,) = rest([user], "/orgs/{org}/outside_collaborators")
    assert payloads.outside_collaborator(ORG, listed) == (
        account,
        Grant(GrantKind.GITHUB_COLLABORATOR, ORG, account.name, "outside"),
    )
    assert payloads.is_login(listed, account.name)


INVITATION_CASES = [
    pytest.param(
        organization_invitation(7001, "Late-Joiner", None),
        "/orgs/{org}/invitations",
        Invitation(7001, ORG, "late-joiner", None, "direct_member",
                   datetime(2025, 12, 1, 9, tzinfo=UTC), inviter="ichiro-owner"),
        id="pending, by login",
    ),
    pytest.param(
        organization_invitation(7002, None, "Hanako.Suzuki@Example.com", role="admin"),
        "/orgs/{org}/invitations",
        Invitation(7002, ORG, None, "hanako.suzuki@example.com", "admin",
                   datetime(2025, 12, 1, 9, tzinfo=UTC), inviter="ichiro-owner"),
        id="pending, by email only",
    ),
    pytest.param(
        organization_invitation(7003, "late-joiner", None, failed_at="2025-12-08T09:00:00Z",
                                failed_reason="Invitation expired"),
        "/orgs/{org}/failed_invitations",
        Invitation(7003, ORG, "late-joiner", None, "direct_member",
                   datetime(2025, 12, 1, 9, tzinfo=UTC),
                   failed_at=datetime(2025, 12, 8, 9, tzinfo=UTC),
                   failed_reason="Invitation expired", inviter="ichiro-owner"),
        id="expired",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "template", "expected"), INVITATION_CASES)
def test_invitations(raw: dict[str, Any], template: str, expected: Invitation) -> None:
    (listed,) = rest([raw], template)
    assert payloads.invitation(ORG, listed) == expected


USER_CASES = [
    pytest.param(
        public_user("Taro-New", 1002, "Taro Yamada"), ("taro-old", None),
        acct("1002", "taro-new", display_name="Taro Yamada", aliases=("taro-old",)),
        id="renamed: found by id, the old login an alias",
    ),
    pytest.param(
        public_user("taro-yamada", 1002, None), ("taro-yamada",),
        acct("1002", "taro-yamada"),
        id="not renamed, no name: no alias",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("user", "known", "account"), USER_CASES)
def test_a_user_is_keyed_by_its_numeric_id(
    user: dict[str, Any], known: tuple[str | None, ...], account: Account
) -> None:
    by_id = rest(user, "/user/{account_id}")
    by_login = rest(user, "/users/{username}")
    assert payloads.user_account(by_id, known) == account
    assert payloads.user_account(by_login, known) == account


@pytest.mark.parametrize(
    ("membership", "expected"),
    [
        pytest.param(
            org_membership("Hanako-Suzuki", 1001, "active", "admin"),
            Grant(GrantKind.GITHUB_ORG, ORG, "hanako-suzuki", "admin"),
            id="an active owner",
        ),
        pytest.param(
            org_membership("hanako-suzuki", 1001, "pending", "member"), None, id="pending"
        ),
    ],
)
def test_only_an_active_membership_is_access(
    membership: dict[str, Any], expected: Grant | None
) -> None:
    found = rest(membership, "/orgs/{org}/memberships/{username}")
    assert payloads.membership_grant(ORG, "hanako-suzuki", found) == expected
    assert payloads.membership_grant(ORG, "hanako-suzuki", None) is None


def test_the_canned_payloads_are_really_checked() -> None:
    """The checks above would prove nothing if they let anything through."""
    with pytest.raises(jsonschema.ValidationError):
        rest({**public_user("x", 1, None), "id": "1"}, "/users/{username}")
    with pytest.raises(AssertionError):
        rest([{**simple_user("x", 1), "permission": "admin"}], "/orgs/{org}/outside_collaborators")
    with pytest.raises(AssertionError):
        members_page(member_edge("x", 1, "OWNER", True, None))
    with pytest.raises(AssertionError):
        members_page({**member_edge("x", 1, "ADMIN", True, None), "isSiteAdmin": False})
