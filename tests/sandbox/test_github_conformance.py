"""Conformance of the GitHub sandbox with descriptions nobody here wrote: every REST answer it
gives is validated against @octokit/openapi's response schema for that operation and status,
and every GraphQL query the provider sends is validated against @octokit/graphql-schema."""

from __future__ import annotations

import copy
import json
import time
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth
from graphql import build_client_schema, parse, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from reconciler.providers.github import GRAPHQL_QUERIES
from reconciler.providers.google_auth import throwaway_private_key_pem
from reconciler.sandbox.server import SandboxServer
from tests.conftest import load
from tests.sandbox.test_github_rest import ORG, github_world

SPECS = Path(__file__).resolve().parents[2] / "specs/node_modules/@octokit"
OPENAPI = SPECS / "openapi/generated/api.github.com.json"
GRAPHQL = SPECS / "graphql-schema/schema.json"
BASE = "urn:github-openapi"

pytestmark = pytest.mark.skipif(
    not OPENAPI.exists() or not GRAPHQL.exists(),
    reason="official API descriptions missing: run `make setup`",
)


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` is not JSON Schema: turn it into a null alternative."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_json_schema(v) for k, v in node.items()}
    if out.pop("nullable", False) is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def openapi() -> dict[str, Any]:
    doc: dict[str, Any] = _nullable_to_json_schema(json.loads(OPENAPI.read_text()))
    return doc


@cache
def registry() -> Registry[Any]:
    return Registry().with_resource(BASE, Resource(contents=openapi(), specification=DRAFT202012))


def deref(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = openapi()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def response_schema(method: str, template: str, status: int) -> dict[str, Any] | None:
    """The documented JSON schema of one operation's answer; None when it has no body."""
    operation = openapi()["paths"][template][method.lower()]
    documented = operation["responses"]
    assert str(status) in documented, f"{method} {template} documents no {status} answer"
    response = deref(documented[str(status)])
    content = response.get("content", {}).get("application/json")
    return None if content is None else content["schema"]


def schema_named(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def unknown_fields(instance: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Fields the sandbox sends that the schema does not name. The schemas allow additional
    properties, so a renamed field would pass jsonschema; this makes it fail."""
    schema = deref(schema)
    branches = [schema] + [
        deref(s) for key in ("allOf", "anyOf", "oneOf") for s in schema.get(key, ())
    ]
    if isinstance(instance, list):
        items = [b["items"] for b in branches if "items" in b]
        if not items:
            return []
        return [
            p for i, v in enumerate(instance) for p in unknown_fields(v, items[0], f"{where}[{i}]")
        ]
    if not isinstance(instance, dict):
        return []
    named = {k: s for b in branches for k, s in (b.get("properties") or {}).items()}
    if not named:
        return []
    problems = [f"{where}.{k}" for k in instance if k not in named]
    for key, value in instance.items():
        if key in named:
            problems += unknown_fields(value, named[key], f"{where}.{key}")
    return problems


def check(body: Any, schema: dict[str, Any]) -> None:
    """Raise when `body` does not conform: schema violation or an undocumented field."""
    rooted = {**copy.deepcopy(schema), "$id": "urn:github-check"}
    rooted = json.loads(json.dumps(rooted).replace('"#/components/', f'"{BASE}#/components/'))
    jsonschema.Draft202012Validator(rooted, registry=registry()).validate(body)
    extra = unknown_fields(body, schema)
    assert not extra, f"fields not in the official schema: {extra}"


# (method, url path, OpenAPI path template, JSON body, expected status)
CALLS: list[tuple[str, str, str, Any, int]] = [
    ("GET", f"/orgs/{ORG}", "/orgs/{org}", None, 200),
    ("GET", f"/orgs/{ORG}/members?per_page=2", "/orgs/{org}/members", None, 200),
    ("GET", f"/orgs/{ORG}/members?role=owner", "/orgs/{org}/members", None, 422),
    ("GET", f"/orgs/{ORG}/memberships/user1", "/orgs/{org}/memberships/{username}", None, 200),
    ("GET", f"/orgs/{ORG}/memberships/ext0", "/orgs/{org}/memberships/{username}", None, 404),
    ("POST", f"/orgs/{ORG}/invitations", "/orgs/{org}/invitations",
     {"invitee_id": 4000, "role": "direct_member"}, 201),
    ("POST", f"/orgs/{ORG}/invitations", "/orgs/{org}/invitations", {"invitee_id": 4000}, 422),
    ("POST", f"/orgs/{ORG}/invitations", "/orgs/{org}/invitations", {"invitee_id": 2001}, 422),
    ("POST", f"/orgs/{ORG}/invitations", "/orgs/{org}/invitations", {"invitee_id": 1}, 422),
    ("POST", f"/orgs/{ORG}/invitations", "/orgs/{org}/invitations",
     {"invitee_id": 3001, "role": "member"}, 422),
    ("POST", f"/orgs/{ORG}/invitations", "/orgs/{org}/invitations",
     {"email": "someone@example.com"}, 201),
    ("PUT", f"/orgs/{ORG}/memberships/newcomer", "/orgs/{org}/memberships/{username}",
     {"role": "member"}, 200),
    ("PUT", f"/orgs/{ORG}/memberships/user1", "/orgs/{org}/memberships/{username}",
     {"role": "owner"}, 422),
    ("GET", f"/orgs/{ORG}/invitations", "/orgs/{org}/invitations", None, 200),
    ("GET", f"/orgs/{ORG}/failed_invitations", "/orgs/{org}/failed_invitations", None, 200),
    ("GET", f"/orgs/{ORG}/outside_collaborators", "/orgs/{org}/outside_collaborators", None,
     200),
    ("GET", f"/orgs/{ORG}/teams", "/orgs/{org}/teams", None, 200),
    ("GET", f"/orgs/{ORG}/teams/backend", "/orgs/{org}/teams/{team_slug}", None, 200),
    ("GET", f"/orgs/{ORG}/teams/nope", "/orgs/{org}/teams/{team_slug}", None, 404),
    ("GET", f"/orgs/{ORG}/teams/backend/members", "/orgs/{org}/teams/{team_slug}/members",
     None, 200),
    ("GET", f"/orgs/{ORG}/teams/backend/memberships/user0",
     "/orgs/{org}/teams/{team_slug}/memberships/{username}", None, 200),
    ("PUT", f"/orgs/{ORG}/teams/infra/memberships/user2",
     "/orgs/{org}/teams/{team_slug}/memberships/{username}", {"role": "maintainer"}, 200),
    ("GET", "/organizations/9000001/team/501", "/orgs/{org}/teams/{team_slug}", None, 200),
    ("GET", "/users/user1", "/users/{username}", None, 200),
    ("GET", "/user/2001", "/user/{account_id}", None, 200),
    ("GET", "/users/nobody-here", "/users/{username}", None, 404),
    ("GET", "/rate_limit", "/rate_limit", None, 200),
    ("DELETE", f"/orgs/{ORG}/teams/infra/memberships/user2",
     "/orgs/{org}/teams/{team_slug}/memberships/{username}", None, 204),
    ("DELETE", f"/orgs/{ORG}/invitations/7001", "/orgs/{org}/invitations/{invitation_id}", None,
     204),
    ("DELETE", f"/orgs/{ORG}/outside_collaborators/ext0",
     "/orgs/{org}/outside_collaborators/{username}", None, 204),
    ("DELETE", f"/orgs/{ORG}/members/user2", "/orgs/{org}/members/{username}", None, 204),
    ("DELETE", f"/orgs/{ORG}/memberships/newcomer", "/orgs/{org}/memberships/{username}", None,
     204),
]  # fmt: skip


@pytest.mark.parametrize("prefix", ["", "/api/v3"], ids=["github.com", "enterprise"])
def test_every_rest_answer_conforms_to_the_official_openapi_description(
    sandbox: SandboxServer, prefix: str
) -> None:
    """Both layouts: REST at the root (api.github.com) and under /api/v3 (GitHub Enterprise)
    give the same answers, so clients configured for either read what the description says."""
    load(sandbox, github_world(members=4, outside=2))
    for method, path, template, body, status in CALLS:
        resp = requests.request(method, sandbox.url + prefix + path, json=body, timeout=5)
        assert resp.status_code == status, (method, path, resp.text)
        schema = response_schema(method, template, status)
        if schema is None:
            assert resp.content == b"", (method, path)
            continue
        try:
            check(resp.json(), schema)
        except (AssertionError, jsonschema.ValidationError) as exc:
            pytest.fail(f"{method} {path} -> {status}: {exc}")


def test_rate_limit_errors_conform_to_the_basic_error_schema(sandbox: SandboxServer) -> None:
    load(sandbox, github_world(rate_limit={"limit": 10, "remaining": 0, "reset": 2**31 - 1}))
    resp = requests.get(f"{sandbox.url}/orgs/{ORG}", timeout=5)
    assert resp.status_code == 403
    check(resp.json(), schema_named("basic-error"))


def test_a_renamed_field_fails_conformance(sandbox: SandboxServer) -> None:
    load(sandbox, github_world())
    org = requests.get(f"{sandbox.url}/orgs/{ORG}", timeout=5).json()
    schema = response_schema("GET", "/orgs/{org}", 200)
    assert schema is not None
    check(org, schema)  # the real answer passes
    renamed_optional = dict(org)
    renamed_optional["two_factor_required"] = renamed_optional.pop("two_factor_requirement_enabled")
    with pytest.raises(AssertionError, match="two_factor_required"):
        check(renamed_optional, schema)
    renamed_required = dict(org)
    renamed_required["handle"] = renamed_required.pop("login")
    with pytest.raises(jsonschema.ValidationError, match="'login' is a required property"):
        check(renamed_required, schema)
    members = requests.get(f"{sandbox.url}/orgs/{ORG}/members", timeout=5).json()
    members[0]["userid"] = members[0].pop("id")
    with pytest.raises(jsonschema.ValidationError):
        check(members, response_schema("GET", "/orgs/{org}/members", 200) or {})


@cache
def graphql_schema() -> Any:
    data = json.loads(GRAPHQL.read_text())
    return build_client_schema(data.get("data", data), assume_valid=True)


@pytest.mark.parametrize(
    "query", GRAPHQL_QUERIES, ids=["members", "teams", "team_members", "person_teams"]
)
def test_every_provider_graphql_query_is_valid_against_githubs_schema(query: str) -> None:
    assert validate(graphql_schema(), parse(query)) == []


def test_a_misspelt_graphql_field_fails_validation() -> None:
    broken = GRAPHQL_QUERIES[0].replace("hasTwoFactorEnabled", "hasTwoFactor")
    problems = validate(graphql_schema(), parse(broken))
    assert problems and "hasTwoFactor" in problems[0].message


def test_sandbox_graphql_answers_provider_queries_with_the_requested_shape(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world())
    for query in GRAPHQL_QUERIES:
        variables = {"org": ORG, "after": None, "slug": "backend", "login": "user0",
                     "logins": ["user0"]}  # fmt: skip
        used = {v.variable.name.value for op in parse(query).definitions
                for v in getattr(op, "variable_definitions", ())}  # fmt: skip
        body = requests.post(
            f"{sandbox.url}/graphql",
            json={"query": query, "variables": {k: v for k, v in variables.items() if k in used}},
            timeout=5,
        ).json()
        assert "errors" not in body, body
        assert body["data"]["rateLimit"]["cost"] == 1
        assert body["data"]["organization"] is not None


def test_get_user_answers_the_tokens_login_as_the_official_private_user(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world(tokens={"tok-a": "user1", "tok-b": "robot-bot"}))
    schema = response_schema("GET", "/user", 200)
    assert schema is not None

    def get(token: str | None) -> requests.Response:
        headers = {"Authorization": f"token {token}"} if token else {}
        return requests.get(f"{sandbox.url}/user", headers=headers, timeout=5)

    user1 = get("tok-a")
    assert user1.status_code == 200
    check(user1.json(), schema)  # oneOf private-user / public-user: exactly one matches
    check(user1.json(), schema_named("private-user"))
    assert user1.json()["login"] == "user1"
    assert user1.json()["user_view_type"] == "private"
    # A login named only in `tokens` gets a user record on load, like members do.
    assert get("tok-b").json()["login"] == "robot-bot"
    bearer = requests.get(
        f"{sandbox.url}/user", headers={"Authorization": "Bearer tok-a"}, timeout=5
    )
    assert bearer.json()["login"] == "user1"
    for token, message in (("unknown", "Bad credentials"), (None, "Requires authentication")):
        refused = get(token)
        assert refused.status_code == 401
        assert refused.json()["message"] == message
        check(refused.json(), schema_named("basic-error"))

    load(sandbox, github_world())  # no tokens map: any token is the default bot
    default = get("anything")
    assert default.json()["login"] == "sandbox-bot"
    check(default.json(), schema)


REPO = {
    "name": "desired-state",
    "pull_requests": [{"number": 1, "title": "Onboard a new hire", "user": "user1"}],
    "issue_comments": [
        {"id": 8000001, "issue_number": 1, "body": "LGTM", "user": "user0",
         "created_at": "2026-11-30T01:00:00Z"},
    ],
}  # fmt: skip
INSTALLATION = {
    "id": 77001,
    "app_id": 4242,
    "app_slug": "example-reconciler",
    "permissions": {"members": "write", "organization_administration": "read"},
}


def app_jwt(key: str | None = None, app_id: int = 4242) -> dict[str, str]:
    """An App JWT as PyGithub signs it (RS256, iss = the App id, minutes of validity), made
    when asked so it has not expired by the time a long test run gets to it."""
    jwt = Auth.AppAuth(app_id, key or throwaway_private_key_pem()).create_jwt()
    return {"Authorization": f"Bearer {jwt}"}


def public_key_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


TOKENS = "/app/installations/{installation_id}/access_tokens"
COMMENTS = f"/repos/{ORG}/desired-state/issues/1/comments"
APP_CALLS: list[tuple[str, str, str, Any, int]] = [
    ("GET", f"{COMMENTS}?per_page=1", "/repos/{owner}/{repo}/issues/{issue_number}/comments",
     None, 200),
    ("POST", COMMENTS, "/repos/{owner}/{repo}/issues/{issue_number}/comments",
     {"body": "<!-- reconciler-plan -->\n## Access plan"}, 201),
    ("POST", COMMENTS, "/repos/{owner}/{repo}/issues/{issue_number}/comments",
     {"body": "x" * 65537}, 422),
    ("POST", f"/repos/{ORG}/desired-state/issues/9/comments",
     "/repos/{owner}/{repo}/issues/{issue_number}/comments", {"body": "?"}, 404),
    ("PATCH", f"/repos/{ORG}/desired-state/issues/comments/8000001",
     "/repos/{owner}/{repo}/issues/comments/{comment_id}", {"body": "edited"}, 200),
    ("PATCH", f"/repos/{ORG}/desired-state/issues/comments/8000001",
     "/repos/{owner}/{repo}/issues/comments/{comment_id}", {}, 422),
    ("GET", f"/orgs/{ORG}/installation", "/orgs/{org}/installation", None, 200),
    ("POST", "/app/installations/77001/access_tokens", TOKENS, {}, 201),
    ("POST", "/app/installations/77001/access_tokens", TOKENS,
     {"permissions": {"members": "read"}}, 201),
    ("POST", "/app/installations/77001/access_tokens", TOKENS,
     {"permissions": {"contents": "write"}}, 422),
    ("POST", "/app/installations/99999/access_tokens", TOKENS, {}, 404),
]  # fmt: skip


def test_issue_comment_and_installation_answers_conform_to_the_openapi_description(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world(repositories=[REPO], installation=INSTALLATION))
    for method, path, template, body, status in APP_CALLS:
        resp = requests.request(method, sandbox.url + path, json=body, headers=app_jwt(), timeout=5)
        assert resp.status_code == status, (method, path, resp.text)
        if status == 404:  # GitHub documents the 404 with the basic-error schema
            check(resp.json(), schema_named("basic-error"))
            continue
        schema = response_schema(method, template, status)
        assert schema is not None
        try:
            check(resp.json(), schema)
        except (AssertionError, jsonschema.ValidationError) as exc:
            pytest.fail(f"{method} {path} -> {status}: {exc}")


def test_the_installation_needs_an_apps_jwt_and_a_renamed_field_fails(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world(installation=INSTALLATION))
    token = requests.get(
        f"{sandbox.url}/orgs/{ORG}/installation",
        headers={"Authorization": "token some-token"},
        timeout=5,
    )
    assert token.status_code == 401
    body = requests.get(
        f"{sandbox.url}/orgs/{ORG}/installation", headers=app_jwt(), timeout=5
    ).json()
    assert body["permissions"] == INSTALLATION["permissions"]
    schema = response_schema("GET", "/orgs/{org}/installation", 200)
    assert schema is not None
    body["permission"] = body.pop("permissions")
    with pytest.raises(jsonschema.ValidationError):
        check(body, schema)


def test_an_installation_token_needs_the_apps_key_and_acts_with_its_permissions(
    sandbox: SandboxServer,
) -> None:
    key = throwaway_private_key_pem()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    installation = INSTALLATION | {
        "public_key": public_key_pem(key),
        "permissions": {"members": "read"},
    }
    load(sandbox, github_world(installation=installation))
    url = f"{sandbox.url}{TOKENS.format(installation_id=77001)}"
    now = int(time.time())
    # PyGithub signs no expired JWT; PyJWT (which it signs with) does.
    expired = jwt.encode({"iat": now - 700, "exp": now - 60, "iss": "4242"}, key, "RS256")
    refused = [
        requests.post(url, headers=app_jwt(other_pem), timeout=5),  # not the App's key
        requests.post(url, headers=app_jwt(key, app_id=4343), timeout=5),  # another App id
        requests.post(url, headers={"Authorization": f"Bearer {expired}"}, timeout=5),
        requests.post(url, headers={"Authorization": "token some-token"}, timeout=5),
    ]
    assert [r.status_code for r in refused] == [401, 401, 401, 401]
    assert refused[0].json()["message"] == "A JSON web token could not be decoded"
    assert "'exp'" in refused[2].json()["message"]
    unauthorised = response_schema("POST", TOKENS, 401)
    assert unauthorised is not None
    for answer in refused:
        check(answer.json(), unauthorised)

    minted = requests.post(url, headers=app_jwt(key), timeout=5)
    assert minted.status_code == 201, minted.text
    body = minted.json()
    assert body["permissions"] == {"members": "read"}
    token = {"Authorization": f"token {body['token']}"}
    assert sandbox.sandbox.world["github"]["token_permissions"][body["token"]] == {
        "members": "read"
    }
    read = requests.get(f"{sandbox.url}/orgs/{ORG}/members", headers=token, timeout=5)
    write = requests.put(
        f"{sandbox.url}/orgs/{ORG}/memberships/user1",
        json={"role": "admin"},
        headers=token,
        timeout=5,
    )
    assert read.status_code == 200
    assert write.status_code == 403
    assert write.json()["message"] == "Resource not accessible by integration"
    forbidden = response_schema("PUT", "/orgs/{org}/memberships/{username}", 403)
    assert forbidden is not None
    check(write.json(), forbidden)
