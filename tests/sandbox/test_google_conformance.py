"""Every response shape the Directory sandbox produces is checked against the schemas in the
discovery document bundled with google-api-python-client (written by Google, not by us),
converted to JSON Schema with additionalProperties: false so an invented or misspelt field
fails; error bodies are checked against Google's documented error format."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from googleapiclient.discovery_cache import get_static_doc

from reconciler.sandbox.server import SandboxServer
from tests.sandbox.test_google_directory import DOMAIN, google_world

DOC: dict[str, Any] = json.loads(get_static_doc("admin", "directory_v1"))
PREFIX = "/admin/directory/v1"

# google.rpc.Status as the JSON APIs render it (cloud.google.com/apis/design/errors#http_mapping)
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "additionalProperties": False,
            "required": ["code", "message", "errors", "status"],
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "status": {"type": "string", "pattern": "^[A-Z_]+$"},
                "errors": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["message", "domain", "reason"],
                        "properties": {
                            "message": {"type": "string"},
                            "domain": {"type": "string"},
                            "reason": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}


def to_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """Discovery schema -> JSON Schema: $ref, properties, type, items, format, enum."""
    if "$ref" in node:
        return {"$ref": f"#/$defs/{node['$ref']}"}
    out: dict[str, Any] = {}
    kind = node.get("type")
    if kind in ("string", "boolean", "integer", "number", "array", "object"):
        out["type"] = kind
    # "any" (addresses, emails, ... in User) constrains nothing, as in the discovery format.
    if "format" in node and kind == "string" and node["format"] == "date-time":
        out["format"] = "date-time"
    if "enum" in node:
        out["enum"] = node["enum"]
    if "items" in node:
        out["items"] = to_json_schema(node["items"])
    if kind == "object":
        out["properties"] = {k: to_json_schema(v) for k, v in node.get("properties", {}).items()}
        extra = node.get("additionalProperties")
        out["additionalProperties"] = to_json_schema(extra) if extra else False
    return out


def validator_for(name: str) -> jsonschema.Draft202012Validator:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": {k: to_json_schema(v) for k, v in DOC["schemas"].items()},
        "$ref": f"#/$defs/{name}",
    }
    checker = jsonschema.FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def is_rfc3339(value: object) -> bool:
        return not isinstance(value, str) or datetime.fromisoformat(value) is not None

    return jsonschema.Draft202012Validator(schema, format_checker=checker)


def response_schema(resource: str, method: str) -> str:
    name: str = DOC["resources"][resource]["methods"][method]["response"]["$ref"]
    return name


def conformance_errors(body: Any, schema: str) -> list[str]:
    return [e.message for e in validator_for(schema).iter_errors(body)]


USER = f"user0001@{DOMAIN}"
GROUP = f"team0@{DOMAIN}"
CALLS: list[tuple[str, str, str, str, dict[str, Any] | None]] = [
    # (resource, method, HTTP method, path, JSON body)
    ("users", "list", "GET", "/users?customer=my_customer&maxResults=2", None),
    ("users", "get", "GET", f"/users/{USER}", None),
    ("users", "patch", "PATCH", f"/users/{USER}", {"suspended": True}),
    ("groups", "list", "GET", "/groups?customer=my_customer", None),
    ("groups", "list", "GET", f"/groups?userKey={USER}", None),
    ("groups", "get", "GET", f"/groups/{GROUP}", None),
    ("members", "list", "GET", f"/groups/{GROUP}/members?maxResults=1", None),
    ("members", "get", "GET", f"/groups/{GROUP}/members/{USER}", None),
    ("members", "hasMember", "GET", f"/groups/{GROUP}/hasMember/{USER}", None),
    ("members", "patch", "PATCH", f"/groups/{GROUP}/members/{USER}", {"role": "MANAGER"}),
    ("tokens", "list", "GET", f"/users/{USER}/tokens", None),
    ("asps", "list", "GET", f"/users/{USER}/asps", None),
    (
        "members",
        "insert",
        "POST",
        f"/groups/{GROUP}/members",
        {"email": f"user0002@{DOMAIN}", "role": "MEMBER"},
    ),
    (
        "users",
        "insert",
        "POST",
        "/users",
        {
            "primaryEmail": f"new.person@{DOMAIN}",
            "name": {"givenName": "New", "familyName": "Person"},
            "password": "invented-Passw0rd-for-tests",
            "changePasswordAtNextLogin": True,
            "recoveryEmail": "new.person@example.com",
        },
    ),
]


@pytest.mark.parametrize(
    ("resource", "method", "verb", "path", "body"),
    CALLS,
    ids=[f"{c[0]}.{c[1]}:{c[3]}" for c in CALLS],
)
def test_response_matches_the_discovery_schema(
    sandbox: SandboxServer,
    resource: str,
    method: str,
    verb: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    sandbox.sandbox.load_world(google_world(users=4, suspended=(3,)))
    resp = requests.request(verb, sandbox.url + PREFIX + path, json=body, timeout=5)
    assert resp.status_code == 200, resp.text
    payload = resp.json()
    assert payload, "an empty body proves nothing"
    assert conformance_errors(payload, response_schema(resource, method)) == []


def test_directory_error_bodies_match_googles_error_format(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world())
    answers = [
        requests.get(f"{sandbox.url}{PREFIX}/users/nobody@{DOMAIN}", timeout=5),
        requests.get(f"{sandbox.url}{PREFIX}/users?customer=my_customer&maxResults=999", timeout=5),
        requests.post(
            f"{sandbox.url}{PREFIX}/groups/{GROUP}/members",
            json={"email": f"user0000@{DOMAIN}"},
            timeout=5,
        ),
    ]
    assert [a.status_code for a in answers] == [404, 400, 409]
    for answer in answers:
        assert list(jsonschema.Draft202012Validator(ERROR_SCHEMA).iter_errors(answer.json())) == []


def test_a_misspelt_field_in_a_sandbox_response_fails_conformance(
    sandbox: SandboxServer,
) -> None:
    world = google_world()
    renamed = world["google"]["users"][1]
    renamed["isEnroledIn2Sv"] = renamed.pop("isEnrolledIn2Sv")  # one letter lost
    sandbox.sandbox.load_world(world)
    payload = requests.get(f"{sandbox.url}{PREFIX}/users/{USER}", timeout=5).json()
    errors = conformance_errors(payload, "User")
    assert any("isEnroledIn2Sv" in e for e in errors)


def test_a_wrongly_typed_field_fails_conformance() -> None:
    assert conformance_errors({"users": [{"suspended": "yes"}]}, "Users")
    assert conformance_errors({"members": [{"id": 1}]}, "Members")
    assert conformance_errors({"users": [{"creationTime": "yesterday"}]}, "Users")


WORLD_SCHEMA = (
    Path(__file__).parents[2] / "reconciler" / "sandbox" / "schemas" / "google.schema.json"
)


def test_the_test_worlds_match_the_documented_world_schema() -> None:
    schema = json.loads(WORLD_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    world = google_world(extra={"expired_credentials": True})["google"]
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(world)) == []
    broken = {**world, "members": {GROUP: [{"email": "x@example.com", "role": "BOSS"}]}}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(broken))


def test_the_scopes_each_method_accepts_are_the_discovery_documents() -> None:
    from reconciler.sandbox.google_directory import ACCEPTED_SCOPES

    for method, scopes in ACCEPTED_SCOPES.items():
        resource, name = method.split(".")
        documented = DOC["resources"][resource]["methods"][name]["scopes"]
        assert sorted(f"https://www.googleapis.com/auth/{s}" for s in scopes) == sorted(
            documented
        ), method


def test_a_call_outside_the_tokens_scopes_answers_googles_error_format(
    sandbox: SandboxServer,
) -> None:
    world = google_world()
    world["google"]["delegation"] = {
        "client_id": "100000000000000000001",
        "scopes": ["https://www.googleapis.com/auth/admin.directory.user"],
    }
    world["google"]["access_token"] = "tok-user-scope"
    sandbox.sandbox.load_world(world)
    user_scope = "https://www.googleapis.com/auth/admin.directory.user"
    jwt = _unsigned_jwt({"iss": "sa@example.com", "sub": f"user0000@{DOMAIN}", "scope": user_scope})
    granted = requests.post(
        f"{sandbox.url}/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": jwt},
        timeout=5,
    )
    assert granted.status_code == 200, granted.text
    headers = {"Authorization": "Bearer tok-user-scope"}

    users = requests.get(f"{sandbox.url}{PREFIX}/users?customer=my_customer", headers=headers,
                         timeout=5)  # fmt: skip
    groups = requests.get(f"{sandbox.url}{PREFIX}/groups?customer=my_customer", headers=headers,
                          timeout=5)  # fmt: skip
    foreign = requests.get(f"{sandbox.url}{PREFIX}/users?customer=my_customer",
                           headers={"Authorization": "Bearer forged"}, timeout=5)  # fmt: skip

    assert users.status_code == 200
    assert groups.status_code == 403
    assert groups.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"
    assert foreign.status_code == 401
    for refused in (groups, foreign):
        jsonschema.validate(refused.json(), ERROR_SCHEMA)


def _unsigned_jwt(claims: dict[str, Any]) -> str:
    import base64

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.c2ln"
