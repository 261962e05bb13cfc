"""The GitHub REST emulation, driven through PyGithub and plain requests over HTTP: pagination,
ETags, rate-limit headers and errors, membership writes; assertions on the sandbox's state."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from github import Auth, Github, GithubException, RateLimitExceededException

from reconciler.sandbox.server import SandboxServer
from tests.conftest import load

ORG = "example-co"


def github_world(
    members: int = 3, team_members: int = 2, outside: int = 1, **extra: Any
) -> dict[str, Any]:
    """A small invented org: user0 is the owner, user1.. are members; `extra` overrides keys
    of the "github" section."""
    users = [
        {
            "login": f"user{i}",
            "id": 2000 + i,
            "name": f"User {i}",
            "email": f"user{i}@example.co.jp",
            "two_factor": i % 2 == 0,
        }
        for i in range(members)
    ]
    users += [{"login": f"ext{i}", "id": 3000 + i, "two_factor": True} for i in range(outside)]
    users.append({"login": "newcomer", "id": 4000, "email": "newcomer@example.com"})
    gh: dict[str, Any] = {
        "org": {
            "login": ORG,
            "id": 9000001,
            "name": "Example Co",
            "two_factor_requirement_enabled": True,
            "created_at": "2020-04-01T00:00:00Z",
        },
        "users": users,
        "members": [
            {"login": f"user{i}", "role": "admin" if i == 0 else "member"} for i in range(members)
        ],
        "teams": [
            {
                "id": 501,
                "slug": "backend",
                "name": "Backend",
                "privacy": "closed",
                "members": [
                    {"login": f"user{i}", "role": "maintainer" if i == 0 else "member"}
                    for i in range(min(team_members, members))
                ],
            },
            {"id": 502, "slug": "infra", "name": "Infra", "privacy": "secret", "members": []},
        ],
        "invitations": [
            {
                "id": 7001,
                "login": None,
                "email": "hanako.suzuki@example.com",
                "role": "direct_member",
                "created_at": "2026-01-05T09:00:00Z",
                "inviter": "user0",
                "team_ids": [501],
            }
        ],
        "failed_invitations": [
            {
                "id": 7002,
                "login": "late-joiner",
                "email": None,
                "role": "direct_member",
                "created_at": "2025-12-01T09:00:00Z",
                "inviter": "user0",
                "team_ids": [],
                "failed_at": "2025-12-08T09:00:00Z",
                "failed_reason": "Invitation expired",
            }
        ],
        "outside_collaborators": [f"ext{i}" for i in range(outside)],
        "rate_limit": {"limit": 5000, "remaining": 5000, "reset": int(time.time()) + 3600},
    }
    gh.update(extra)
    return {"github": gh}


def client(url: str) -> Github:
    return Github(
        base_url=url,
        auth=Auth.Token("sandbox-token"),
        per_page=100,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
        lazy=True,
    )


def state(sandbox: SandboxServer) -> dict[str, Any]:
    return requests.get(f"{sandbox.url}/_sandbox/state", timeout=5).json()["github"]


def test_members_are_paginated_with_absolute_link_headers(sandbox: SandboxServer) -> None:
    load(sandbox, github_world(members=250))
    gh = client(sandbox.url)
    logins = [u.login for u in gh.get_organization(ORG).get_members(role="all")]
    assert logins == [f"user{i}" for i in range(250)]
    pages = [r for r in sandbox.sandbox.telemetry.log if r.endpoint == "github.orgs.members.list"]
    assert len(pages) == 3  # 100 + 100 + 50
    first = requests.get(f"{sandbox.url}/orgs/{ORG}/members?per_page=100", timeout=5)
    assert (
        f'<{sandbox.url}/orgs/{ORG}/members?page=2&per_page=100>; rel="next"'
        in (first.headers["Link"])
    )
    assert 'rel="last"' in first.headers["Link"]
    default = requests.get(f"{sandbox.url}/orgs/{ORG}/members", timeout=5).json()
    assert len(default) == 30  # GitHub's default page size
    capped = requests.get(f"{sandbox.url}/orgs/{ORG}/members?per_page=500", timeout=5).json()
    assert len(capped) == 100  # GitHub's maximum page size


def test_member_filters_select_admins_and_members_without_2fa(sandbox: SandboxServer) -> None:
    load(sandbox, github_world(members=5))
    org = client(sandbox.url).get_organization(ORG)
    assert [u.login for u in org.get_members(role="admin")] == ["user0"]
    assert [u.login for u in org.get_members(filter_="2fa_disabled")] == ["user1", "user3"]


def test_json_urls_are_absolute_on_the_clients_host(sandbox: SandboxServer) -> None:
    load(sandbox, github_world())
    body = requests.get(f"{sandbox.url}/orgs/{ORG}/teams", timeout=5).json()
    assert body[0]["url"] == f"{sandbox.url}/organizations/9000001/team/501"
    # PyGithub follows that URL for non-lazy teams: both path families must answer.
    team = next(iter(client(sandbox.url).get_organization(ORG).get_teams()))
    assert [u.login for u in team.get_members()] == ["user0", "user1"]
    assert any(
        r.path == "/organizations/9000001/team/501/members" for r in sandbox.sandbox.telemetry.log
    )


def test_etag_revalidation_answers_304_without_spending_rate_limit(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world())
    first = requests.get(f"{sandbox.url}/orgs/{ORG}", timeout=5)
    assert first.json()["two_factor_requirement_enabled"] is True
    before = sandbox.sandbox.telemetry.rate_limit_points["core"]
    again = requests.get(
        f"{sandbox.url}/orgs/{ORG}", headers={"If-None-Match": first.headers["ETag"]}, timeout=5
    )
    assert again.status_code == 304
    assert again.content == b""
    assert sandbox.sandbox.telemetry.rate_limit_points["core"] == before
    assert again.headers["x-ratelimit-remaining"] == first.headers["x-ratelimit-remaining"]


def test_every_answer_carries_rate_limit_headers_and_spends_one_point(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world())
    r = requests.get(f"{sandbox.url}/orgs/{ORG}/invitations", timeout=5)
    missing = requests.get(f"{sandbox.url}/orgs/{ORG}/teams/nope", timeout=5)
    for resp in (r, missing):
        assert resp.headers["x-ratelimit-limit"] == "5000"
        assert resp.headers["x-ratelimit-resource"] == "core"
    assert missing.headers["x-ratelimit-remaining"] == "4998"
    assert missing.headers["x-ratelimit-used"] == "2"
    assert missing.status_code == 404
    assert missing.json()["message"] == "Not Found"
    assert "documentation_url" in missing.json()
    assert state(sandbox)["rate_limit"]["remaining"] == 4998


def test_exhausted_primary_limit_answers_403_that_pygithub_recognises(
    sandbox: SandboxServer,
) -> None:
    reset = int(time.time()) + 600
    load(sandbox, github_world(rate_limit={"limit": 5000, "remaining": 1, "reset": reset}))
    gh = Github(base_url=sandbox.url, retry=None, lazy=False, seconds_between_requests=None)
    gh.get_organization(ORG)
    with pytest.raises(RateLimitExceededException) as info:
        gh.get_organization(ORG)
    assert info.value.status == 403
    assert info.value.headers["x-ratelimit-remaining"] == "0"
    assert info.value.headers["x-ratelimit-reset"] == str(reset)
    assert str(info.value.data["message"]).startswith("API rate limit exceeded for")
    # GET /rate_limit is free and still answers.
    overview = requests.get(f"{sandbox.url}/rate_limit", timeout=5).json()
    assert overview["resources"]["core"]["remaining"] == 0


def test_secondary_limit_answers_403_with_retry_after(sandbox: SandboxServer) -> None:
    load(sandbox, github_world(secondary_rate_limit={"points_per_minute": 9, "retry_after": 42}))
    url = f"{sandbox.url}/orgs/{ORG}/memberships/user1"
    assert requests.put(url, json={"role": "member"}, timeout=5).status_code == 200  # 5 points
    limited = requests.put(url, json={"role": "member"}, timeout=5)  # 10 > 9
    assert limited.status_code == 403
    assert limited.headers["retry-after"] == "42"
    assert limited.json()["message"].startswith("You have exceeded a secondary rate limit")
    # Points are counted per endpoint: another endpoint still answers.
    assert requests.get(f"{sandbox.url}/orgs/{ORG}", timeout=5).status_code == 200


def test_put_membership_invites_a_non_member_and_changes_a_members_role(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world())
    base = f"{sandbox.url}/orgs/{ORG}/memberships"
    invited = requests.put(f"{base}/newcomer", json={"role": "member"}, timeout=5).json()
    assert (invited["state"], invited["role"]) == ("pending", "member")
    promoted = requests.put(f"{base}/user1", json={"role": "admin"}, timeout=5).json()
    assert (promoted["state"], promoted["role"]) == ("active", "admin")
    bad = requests.put(f"{base}/user1", json={"role": "owner"}, timeout=5)
    assert bad.status_code == 422
    assert bad.json()["message"] == "Validation Failed"
    assert bad.json()["errors"][0]["field"] == "role"
    gh = state(sandbox)
    assert {"login": "user1", "role": "admin"} in gh["members"]
    pending = [i for i in gh["invitations"] if i["login"] == "newcomer"]
    assert pending and pending[0]["role"] == "direct_member"
    assert requests.get(f"{base}/newcomer", timeout=5).json()["state"] == "pending"


def test_delete_membership_removes_member_from_teams_or_cancels_invitation(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world())
    base = f"{sandbox.url}/orgs/{ORG}/memberships"
    requests.put(f"{base}/newcomer", json={"role": "member"}, timeout=5)
    assert requests.delete(f"{base}/user1", timeout=5).status_code == 204
    assert requests.delete(f"{base}/newcomer", timeout=5).status_code == 204
    assert requests.delete(f"{base}/newcomer", timeout=5).status_code == 404
    gh = state(sandbox)
    assert "user1" not in {m["login"] for m in gh["members"]}
    assert "user1" not in {m["login"] for t in gh["teams"] for m in t["members"]}
    assert not [i for i in gh["invitations"] if i["login"] == "newcomer"]


def test_team_membership_writes_through_pygithub(sandbox: SandboxServer) -> None:
    load(sandbox, github_world())
    gh = client(sandbox.url)
    team = gh.get_organization(ORG).get_team_by_slug("infra")
    team.add_membership(gh.get_user("user2", lazy=True), role="maintainer")
    assert team.get_team_membership("user2").role == "maintainer"
    team.remove_membership(gh.get_user("user2", lazy=True))
    with pytest.raises(GithubException) as info:
        team.get_team_membership("user2")
    assert info.value.status == 404
    assert state(sandbox)["teams"][1]["members"] == []


def test_invitations_failed_invitations_and_outside_collaborators_list_and_delete(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world(outside=2))
    org = client(sandbox.url).get_organization(ORG)
    invitations = list(org.invitations())
    assert [(i.id, i.email, i.role) for i in invitations] == [
        (7001, "hanako.suzuki@example.com", "direct_member")
    ]
    failed = requests.get(f"{sandbox.url}/orgs/{ORG}/failed_invitations", timeout=5).json()
    assert failed[0]["failed_reason"] == "Invitation expired"
    assert [u.login for u in org.get_outside_collaborators()] == ["ext0", "ext1"]
    assert (
        requests.delete(f"{sandbox.url}/orgs/{ORG}/invitations/7001", timeout=5).status_code == 204
    )
    org.remove_outside_collaborator(client(sandbox.url).get_user("ext0", lazy=True))
    gh = state(sandbox)
    assert gh["invitations"] == []
    assert gh["outside_collaborators"] == ["ext1"]


def test_users_are_found_by_login_and_by_stable_id(sandbox: SandboxServer) -> None:
    load(sandbox, github_world())
    gh = client(sandbox.url)
    assert gh.get_user("USER1").id == 2001  # logins are case-insensitive
    assert gh.get_user_by_id(2001).login == "user1"
    assert requests.get(f"{sandbox.url}/user/999999", timeout=5).status_code == 404


def test_discovery_names_the_github_endpoints(sandbox: SandboxServer) -> None:
    load(sandbox, github_world())
    info = requests.get(f"{sandbox.url}/_sandbox/", timeout=5).json()
    assert info["github_rest"] == sandbox.url
    assert info["github_graphql"] == f"{sandbox.url}/graphql"
    assert info["github_org"] == ORG


def test_world_and_state_follow_the_documented_json_schema(sandbox: SandboxServer) -> None:
    import json
    from pathlib import Path

    import jsonschema

    schema = json.loads(
        (Path(__file__).parents[2] / "reconciler/sandbox/schemas/github.schema.json").read_text()
    )
    validator = jsonschema.Draft202012Validator(schema)
    world = github_world()
    validator.validate(world["github"])
    load(sandbox, world)
    requests.put(
        f"{sandbox.url}/orgs/{ORG}/memberships/newcomer", json={"role": "admin"}, timeout=5
    )
    validator.validate(state(sandbox))  # what the sandbox keeps after a write still conforms
    broken = github_world()
    broken["github"]["members"][0]["role"] = "owner"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken["github"])


def test_a_tokens_map_is_valid_world_data_and_names_only_strings() -> None:
    import json
    from pathlib import Path

    import jsonschema

    schema = json.loads(
        (Path(__file__).parents[2] / "reconciler/sandbox/schemas/github.schema.json").read_text()
    )
    validator = jsonschema.Draft202012Validator(schema)
    world = github_world(tokens={"sandbox-token": "user0"})
    validator.validate(world["github"])
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(github_world(tokens={"sandbox-token": 7})["github"])
