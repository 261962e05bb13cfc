"""The GitHub emulation answers other clients' queries the way GitHub does: queries written as
cartography and PyGithub write them (each first checked valid against GitHub's published
schema), `variables` as an object or a JSON string, non-null fields never null, first/last
required only where items are listed, errors in GitHub's shape instead of a 500, and the
GitHub Enterprise layout (REST under /api/v3, GraphQL at /api/graphql)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from github import Auth, Github
from graphql import GraphQLNonNull, get_named_type, is_leaf_type, parse, validate

from reconciler.sandbox import github_graphql
from reconciler.sandbox.server import API_MODULES, SandboxServer
from tests.conftest import load
from tests.sandbox.test_github_rest import ORG, github_world

# cartography's organisation users query (cartography/intel/github/users.py), as it sends it.
CARTOGRAPHY_USERS = """
query($login: String!, $cursor: String) {
  organization(login: $login) {
    url
    login
    membersWithRole(first: 100, after: $cursor) {
      totalCount
      edges {
        hasTwoFactorEnabled
        node { url login name isSiteAdmin email company }
        role
      }
      nodes { login url }
      pageInfo { endCursor hasNextPage }
    }
  }
}"""

# cartography's teams query: `repositories` is asked only for its totalCount, without first.
CARTOGRAPHY_TEAMS = """
query($login: String!, $cursor: String) {
  organization(login: $login) {
    url
    login
    teams(first: 100, after: $cursor) {
      nodes {
        slug
        url
        description
        repositories { totalCount }
        members(membership: IMMEDIATE) { totalCount }
      }
      pageInfo { endCursor hasNextPage }
    }
  }
}"""

TOTAL_COUNT_ONLY = """
query($login: String!) {
  organization(login: $login) {
    membersWithRole { totalCount }
    teams { totalCount }
  }
}"""


def valid(query: str) -> str:
    """The query, after checking it against GitHub's own schema: a test of the emulator's
    fidelity proves nothing with a query GitHub would refuse."""
    assert validate(github_graphql.load_schema(), parse(query)) == []
    return query


def post(url: str, query: str, variables: Any, path: str = "/graphql") -> requests.Response:
    return requests.post(
        f"{url}{path}",
        json={"query": valid(query), "variables": variables},
        headers={"Authorization": "bearer sandbox-token"},
        timeout=10,
    )


def test_cartography_users_query_gets_urls_and_every_non_null_field(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world(members=3))
    resp = post(sandbox.url, CARTOGRAPHY_USERS, {"login": ORG, "cursor": None})
    assert resp.status_code == 200
    body = resp.json()
    assert "errors" not in body
    org = body["data"]["organization"]
    assert org["url"] == f"{sandbox.url}/{ORG}"
    conn = org["membersWithRole"]
    assert conn["totalCount"] == 3
    assert conn["pageInfo"]["hasNextPage"] is False
    first = conn["edges"][0]
    assert first["role"] == "ADMIN"
    assert first["node"]["url"] == f"{sandbox.url}/user0"
    assert first["node"]["isSiteAdmin"] is False
    assert first["node"]["email"] == "user0@example.co.jp"
    assert [n["login"] for n in conn["nodes"]] == ["user0", "user1", "user2"]


def test_cartography_teams_query_counts_without_first_where_no_items_are_listed(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world(members=3, team_members=2))
    body = post(sandbox.url, CARTOGRAPHY_TEAMS, {"login": ORG, "cursor": None}).json()
    assert "errors" not in body
    teams = body["data"]["organization"]["teams"]["nodes"]
    backend = next(t for t in teams if t["slug"] == "backend")
    assert backend["url"] == f"{sandbox.url}/orgs/{ORG}/teams/backend"
    assert backend["repositories"] == {"totalCount": 0}  # the world gives teams no repos
    assert backend["members"] == {"totalCount": 2}


def test_total_count_only_query_is_answered(sandbox: SandboxServer) -> None:
    load(sandbox, github_world(members=4))
    body = post(sandbox.url, TOTAL_COUNT_ONLY, {"login": ORG}).json()
    assert body == {
        "data": {"organization": {"membersWithRole": {"totalCount": 4}, "teams": {"totalCount": 2}}}
    }


def test_listing_nodes_without_first_is_still_refused(sandbox: SandboxServer) -> None:
    load(sandbox, github_world(members=2))
    query = "query($login: String!) { organization(login: $login) { teams { nodes { slug } } } }"
    error = post(sandbox.url, query, {"login": ORG}).json()["errors"][0]
    assert error["type"] == "MISSING_PAGINATION_BOUNDARIES"


@pytest.mark.parametrize("encode", [json.dumps, lambda v: v], ids=["json-string", "object"])
def test_variables_are_accepted_as_object_or_json_string(
    sandbox: SandboxServer, encode: Any
) -> None:
    load(sandbox, github_world(members=3))
    resp = post(sandbox.url, CARTOGRAPHY_USERS, encode({"login": ORG}))
    assert resp.status_code == 200
    body = resp.json()
    assert "errors" not in body
    assert body["data"]["organization"]["membersWithRole"]["totalCount"] == 3


def test_variables_that_are_not_json_get_a_github_error_not_a_500(sandbox: SandboxServer) -> None:
    load(sandbox, github_world())
    resp = post(sandbox.url, CARTOGRAPHY_USERS, "{not json")
    assert resp.status_code == 200
    assert resp.json() == {"errors": [{"message": "Variables are invalid JSON."}]}


def _non_null_leaves(type_name: str) -> list[str]:
    """Every non-null scalar or enum field of a type that takes no required argument."""
    fields = github_graphql.load_schema().type_map[type_name].fields  # type: ignore[union-attr]
    return sorted(
        name
        for name, f in fields.items()
        if isinstance(f.type, GraphQLNonNull)
        and is_leaf_type(get_named_type(f.type))
        and not any(isinstance(a.type, GraphQLNonNull) for a in f.args.values())
    )


def test_no_non_null_field_of_org_team_or_user_comes_back_null(sandbox: SandboxServer) -> None:
    load(sandbox, github_world(members=2, team_members=2))
    org, team, user = (" ".join(_non_null_leaves(t)) for t in ("Organization", "Team", "User"))
    query = f"""query($login: String!) {{ organization(login: $login) {{ {org}
      teams(first: 5) {{ nodes {{ {team} organization {{ login }} }} }}
      membersWithRole(first: 5) {{ nodes {{ {user} }} }} }} }}"""
    body = post(sandbox.url, query, {"login": ORG}).json()
    assert "errors" not in body, body.get("errors")
    data = body["data"]["organization"]

    def nulls(record: dict[str, Any]) -> list[str]:
        return [k for k, v in record.items() if v is None]

    assert nulls(data) == []
    team_node = data["teams"]["nodes"][0]
    assert nulls(team_node) == []
    assert team_node["organization"] == {"login": ORG}
    assert team_node["membersUrl"] == f"{sandbox.url}/orgs/{ORG}/teams/backend/members"
    assert team_node["combinedSlug"] == f"{ORG}/backend"
    assert nulls(data["membersWithRole"]["nodes"][0]) == []
    assert data["createdAt"] == "2020-04-01T00:00:00Z"  # the world's own date, not a filler


def test_an_emulator_failure_is_a_github_shaped_error_not_a_500(sandbox: SandboxServer) -> None:
    """A world the emulator cannot read (a member without a role, loaded without the schema
    check) must still answer like GitHub: 200 with an INTERNAL error at the field's path."""
    world = github_world(members=2)
    del world["github"]["members"][1]["role"]
    load(sandbox, world)
    resp = post(sandbox.url, CARTOGRAPHY_USERS, {"login": ORG})
    assert resp.status_code == 200
    error = resp.json()["errors"][0]
    assert error["type"] == "INTERNAL"
    assert error["message"].startswith("Something went wrong while executing your query.")
    assert error["path"][:2] == ["organization", "membersWithRole"]
    assert error["locations"]


def test_pygithub_on_an_enterprise_base_url_reads_rest_and_graphql(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world(members=5, team_members=2))
    gh = Github(
        base_url=f"{sandbox.url}/api/v3",
        auth=Auth.Token("sandbox-token"),
        per_page=2,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    org = gh.get_organization(ORG)
    members = list(org.get_members())  # three pages, following Link headers under /api/v3
    assert [m.login for m in members] == [f"user{i}" for i in range(5)]
    assert members[0].html_url == f"{sandbox.url}/user0"  # web URLs stay on the host
    team = next(t for t in org.get_teams() if t.slug == "backend")
    assert [m.login for m in team.get_members()] == ["user0", "user1"]  # team URL followed
    _, data = gh.requester.graphql_query(valid(TOTAL_COUNT_ONLY), {"login": ORG})
    assert data["data"]["organization"]["membersWithRole"]["totalCount"] == 5
    log = requests.get(f"{sandbox.url}/_sandbox/requests", timeout=5).json()["requests"]
    paths = [r["path"] for r in log if r["api"] == "github"]
    assert all(p.startswith("/api/") for p in paths), paths
    assert "/api/graphql" in paths
    assert sum(p == f"/api/v3/orgs/{ORG}/members" for p in paths) == 3
    assert "github.orgs.members.list" in {r["endpoint"] for r in log}


def test_discovery_lists_every_api_module(sandbox: SandboxServer) -> None:
    info = requests.get(f"{sandbox.url}/_sandbox/", timeout=5).json()
    names = [api["name"] for api in info["apis"]]
    assert names == [m.__name__.rsplit(".", 1)[-1] for m in API_MODULES]
    assert all(api["routes"] > 0 and api["serves"] for api in info["apis"])
    assert info["github_rest_enterprise"] == f"{sandbox.url}/api/v3"
