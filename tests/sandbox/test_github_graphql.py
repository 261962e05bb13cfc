"""The GitHub GraphQL emulation through PyGithub's `Requester.graphql_query` over HTTP: cursor
pagination, GitHub's first/last and node limits, cost accounting and error shapes."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from github import GithubException, UnknownObjectException

from reconciler.sandbox import github_graphql
from reconciler.sandbox.server import SandboxServer
from tests.conftest import load
from tests.sandbox.test_github_rest import ORG, client, github_world

MEMBERS = """
query($org: String!, $first: Int, $after: String) {
  organization(login: $org) {
    requiresTwoFactorAuthentication databaseId
    membersWithRole(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { role hasTwoFactorEnabled node { login databaseId name } }
    }
  }
  rateLimit { cost remaining resetAt limit used }
}"""


def post(sandbox: SandboxServer, query: str, **variables: Any) -> dict[str, Any]:
    body: dict[str, Any] = requests.post(
        f"{sandbox.url}/graphql", json={"query": query, "variables": variables}, timeout=5
    ).json()
    return body


def test_members_page_with_cursors_through_pygithub(sandbox: SandboxServer) -> None:
    load(sandbox, github_world(members=7))
    requester = client(sandbox.url).requester
    logins, after, pages = [], None, 0
    while True:
        _, data = requester.graphql_query(MEMBERS, {"org": ORG, "first": 3, "after": after})
        conn = data["data"]["organization"]["membersWithRole"]
        assert conn["totalCount"] == 7
        logins += [(e["node"]["login"], e["role"], e["hasTwoFactorEnabled"]) for e in conn["edges"]]
        pages += 1
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert pages == 3
    assert logins[0] == ("user0", "ADMIN", True)
    assert logins[1] == ("user1", "MEMBER", False)
    assert [x[0] for x in logins] == [f"user{i}" for i in range(7)]


def test_team_members_page_and_report_roles(sandbox: SandboxServer) -> None:
    load(sandbox, github_world(members=5, team_members=5))
    query = """query($org: String!, $after: String) { organization(login: $org) {
      teams(first: 10) { totalCount nodes { slug databaseId name
        members(first: 2, after: $after, membership: IMMEDIATE) {
          pageInfo { hasNextPage endCursor } edges { role node { login databaseId } } } } } } }"""
    seen: list[tuple[str, str]] = []
    after = None
    while True:
        teams = post(sandbox, query, org=ORG, after=after)["data"]["organization"]["teams"]
        backend = teams["nodes"][0]
        assert (teams["totalCount"], backend["slug"], backend["databaseId"]) == (2, "backend", 501)
        members = backend["members"]
        seen += [(e["node"]["login"], e["role"]) for e in members["edges"]]
        if not members["pageInfo"]["hasNextPage"]:
            break
        after = members["pageInfo"]["endCursor"]
    assert seen == [("user0", "MAINTAINER")] + [(f"user{i}", "MEMBER") for i in range(1, 5)]


@pytest.mark.parametrize(
    ("first", "kind", "words"),
    [
        (101, "EXCESSIVE_PAGINATION", "exceeds the `first` limit of 100 records"),
        (0, "INVALID_PAGINATION_ARGUMENT", "between 1 and 100"),
        (None, "MISSING_PAGINATION_BOUNDARIES", "You must provide a `first` or `last` value"),
    ],
)
def test_page_sizes_outside_1_to_100_are_refused_like_github(
    sandbox: SandboxServer, first: int | None, kind: str, words: str
) -> None:
    load(sandbox, github_world())
    body = post(sandbox, MEMBERS, org=ORG, first=first)
    assert "data" not in body
    (error,) = body["errors"]
    assert error["type"] == kind
    assert words in error["message"]
    assert error["path"] == ["organization", "membersWithRole"]
    assert sandbox.sandbox.telemetry.rate_limit_points["graphql"] == 0  # refused before cost


def test_cost_counts_nested_connections_like_github(sandbox: SandboxServer) -> None:
    load(sandbox, github_world())
    nested = """{ organization(login: "%s") { teams(first: 100) { nodes {
      members(first: 100) { edges { node { login } } }
      repositories(first: 100) { nodes { name } } } } } rateLimit { cost nodeCount } }"""
    # 1 teams request + 100 members requests + 100 repositories requests = 201 -> 2 points.
    data = post(sandbox, nested % ORG)["data"]
    assert data["rateLimit"] == {"cost": 2, "nodeCount": 100 + 10_000 + 10_000}
    assert sandbox.sandbox.telemetry.rate_limit_points["graphql"] == 2
    too_many = """{ organization(login: "%s") { teams(first: 100) { nodes {
      members(first: 100) { nodes { organizations(first: 100) { nodes { login } } } } } } } }"""
    error = post(sandbox, too_many % ORG)["errors"][0]
    assert error["type"] == "MAX_NODE_LIMIT_EXCEEDED"


def test_unknown_org_is_a_not_found_error_pygithub_maps_to_404(sandbox: SandboxServer) -> None:
    load(sandbox, github_world())
    body = post(sandbox, MEMBERS, org="no-such-org", first=10)
    assert body["data"]["organization"] is None
    assert body["errors"][0]["type"] == "NOT_FOUND"
    with pytest.raises(UnknownObjectException):
        client(sandbox.url).requester.graphql_query(MEMBERS, {"org": "no-such-org", "first": 1})


def test_invalid_queries_fail_schema_validation_with_a_hint(sandbox: SandboxServer) -> None:
    load(sandbox, github_world())
    body = post(sandbox, MEMBERS.replace("hasTwoFactorEnabled", "hasTwoFactor"), org=ORG, first=1)
    assert "Cannot query field 'hasTwoFactor'" in body["errors"][0]["message"]
    with pytest.raises(GithubException):
        client(sandbox.url).requester.graphql_query("{ nope }", {})


def test_graphql_answers_carry_graphql_rate_limit_headers(sandbox: SandboxServer) -> None:
    load(sandbox, github_world())
    r = requests.post(
        f"{sandbox.url}/graphql", json={"query": MEMBERS, "variables": {"org": ORG, "first": 5}},
        timeout=5,
    )  # fmt: skip
    assert r.headers["x-ratelimit-resource"] == "graphql"
    assert r.headers["x-ratelimit-used"] == "1"
    assert r.json()["data"]["rateLimit"]["remaining"] == 4999


def test_missing_schema_package_names_make_setup(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    load(sandbox, github_world())
    monkeypatch.setattr(github_graphql, "_schema", None)
    monkeypatch.setattr(github_graphql, "SCHEMA_PATH", tmp_path / "missing.json")
    r = requests.post(f"{sandbox.url}/graphql", json={"query": "{ viewer { login } }"}, timeout=5)
    assert r.status_code == 500
    assert "make setup" in r.json()["message"]
