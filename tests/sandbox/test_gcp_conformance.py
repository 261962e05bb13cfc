"""The GCP sandbox's HTTP answers conform to Google's own descriptions: the discovery documents
bundled with google-api-python-client (cloudresourcemanager v3, cloudasset v1), converted to
JSON Schema with `additionalProperties: false`, so a misspelt or invented field fails.
(The gRPC side is conformant by construction: it serialises the published proto types.)"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
import requests
from googleapiclient.discovery_cache import get_static_doc

from reconciler.sandbox.server import SandboxServer

ORG = "organizations/123456789012"
FOLDER = "folders/345678901234"
PROD = "projects/example-prod"

# google.rpc.Code names: the `status` of Google's JSON error envelope (AIP-193).
RPC_CODES = [
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
]  # fmt: skip


def discovery_schema(api: str, version: str, root: str) -> dict[str, Any]:
    """JSON Schema for discovery schema `root`, closed against unknown properties."""
    doc = json.loads(get_static_doc(api, version))

    def convert(s: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in s:
            return {"$ref": f"#/$defs/{s['$ref']}"}
        kind = s.get("type")
        if kind == "object":
            out: dict[str, Any] = {"type": "object"}
            out["properties"] = {k: convert(v) for k, v in s.get("properties", {}).items()}
            extra = s.get("additionalProperties")
            out["additionalProperties"] = convert(extra) if extra else False
            return out
        if kind == "array":
            return {"type": "array", "items": convert(s["items"])}
        if kind == "string":
            out = {"type": "string"}
            if "enum" in s:
                out["enum"] = s["enum"]
            return out
        if kind == "integer":
            # int64 travels as a JSON string in Google's JSON mapping; int32 as a number
            return (
                {"type": "string"}
                if s.get("format") in ("int64", "uint64")
                else {"type": "integer"}
            )
        if kind in ("number", "boolean"):
            return {"type": kind}
        return {}  # "any"

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/$defs/{root}",
        "$defs": {name: convert(s) for name, s in doc["schemas"].items()},
    }


def error_schema() -> dict[str, Any]:
    """Google's error envelope: the discovery `Status` message plus the `status` code name."""
    status = discovery_schema("cloudasset", "v1", "Status")
    envelope = status["$defs"]["Status"]
    envelope["properties"]["status"] = {"enum": RPC_CODES}
    envelope["required"] = ["code", "message", "status"]
    status["$defs"]["ErrorEnvelope"] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["error"],
        "properties": {"error": {"$ref": "#/$defs/Status"}},
    }
    status["$ref"] = "#/$defs/ErrorEnvelope"
    return status


POLICY = discovery_schema("cloudresourcemanager", "v3", "Policy")
SEARCH = discovery_schema("cloudasset", "v1", "SearchAllIamPoliciesResponse")
TESTED = discovery_schema("cloudresourcemanager", "v3", "TestIamPermissionsResponse")
ERROR = error_schema()


def world() -> dict[str, Any]:
    return {
        "gcp": {
            "organization": ORG,
            "resources": [
                {"name": ORG, "policy": {"bindings": [
                    {"role": "roles/browser", "members": ["user:cto@example.co.jp"]}]}},
                {"name": FOLDER, "parent": ORG, "policy": {}, "caller_permissions": []},
                {"name": PROD, "parent": FOLDER, "number": "400000000001", "policy": {
                    "version": 3,
                    "bindings": [
                        {"role": "roles/owner", "members": ["user:cto@example.co.jp"]},
                        {"role": "roles/viewer", "members": ["user:taro.yamada@example.co.jp"],
                         "condition": {"title": "t", "expression": "true", "description": "d"}},
                    ],
                    "auditConfigs": [{"service": "allServices", "auditLogConfigs": [
                        {"logType": "DATA_READ", "exemptedMembers": ["user:cto@example.co.jp"]},
                        {"logType": "ADMIN_READ"}]}],
                }},
            ],
        }
    }  # fmt: skip


Call = Callable[[str], requests.Response]


def post(path: str, body: dict[str, Any]) -> Call:
    return lambda base: requests.post(base + path, json=body, timeout=5)


def get(path: str) -> Call:
    return lambda base: requests.get(base + path, timeout=5)


V3 = {"options": {"requestedPolicyVersion": 3}}
SCENARIOS: list[tuple[str, Call, dict[str, Any], int]] = [
    ("project policy v3", post(f"/v3/{PROD}:getIamPolicy?alt=json", V3), POLICY, 200),
    ("project policy v1", post(f"/v3/{PROD}:getIamPolicy?alt=json", {}), POLICY, 200),
    ("empty folder policy", post(f"/v3/{FOLDER}:getIamPolicy?alt=json", V3), POLICY, 200),
    ("org policy, GAPIC spelling",
     post(f"/v3/{ORG}:getIamPolicy?$alt=json;enum-encoding=int", V3), POLICY, 200),
    ("set without etag", post(f"/v3/{ORG}:setIamPolicy?alt=json", {"policy": {"bindings": [
        {"role": "roles/browser", "members": ["user:cto@example.co.jp"]}]}}), POLICY, 200),
    ("search with next page", get(f"/v1/{ORG}:searchAllIamPolicies?pageSize=1"), SEARCH, 200),
    ("search by member",
     get(f"/v1/{ORG}:searchAllIamPolicies?query=policy:user:taro.yamada@example.co.jp"),
     SEARCH, 200),
    ("search nothing", get(f"/v1/{ORG}:searchAllIamPolicies?query=policy:nobody@example.com"),
     SEARCH, 200),
    ("stale etag", post(f"/v3/{ORG}:setIamPolicy?alt=json",
                        {"policy": {"etag": "AAAAAAAAAAA=", "bindings": []}}), ERROR, 409),
    ("bad member", post(f"/v3/{ORG}:setIamPolicy?alt=json",
                        {"policy": {"bindings": [{"role": "roles/x", "members": ["cto"]}]}}),
     ERROR, 400),
    ("unknown project", post("/v3/projects/no-such:getIamPolicy?alt=json", V3), ERROR, 403),
    ("permissions held", post(f"/v3/{PROD}:testIamPermissions?alt=json", {"permissions": [
        "resourcemanager.projects.getIamPolicy", "iam.serviceAccounts.list"]}), TESTED, 200),
    ("no permission held", post(f"/v3/{FOLDER}:testIamPermissions?alt=json", {"permissions": [
        "resourcemanager.folders.getIamPolicy"]}), TESTED, 200),
    ("permissions on an unknown project", post(
        "/v3/projects/no-such:testIamPermissions?alt=json", {"permissions": ["x.y.z"]}),
     ERROR, 403),
    ("bad page token", get(f"/v1/{ORG}:searchAllIamPolicies?pageToken=%21%21"), ERROR, 400),
]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "schema", "status"),
    [pytest.param(c, s, st, id=name) for name, c, s, st in SCENARIOS],
)
def test_every_response_matches_the_discovery_schema(
    sandbox: SandboxServer, call: Call, schema: dict[str, Any], status: int
) -> None:
    sandbox.sandbox.load_world(world())

    response = call(sandbox.url)

    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    jsonschema.Draft202012Validator(schema).validate(response.json())


def test_the_scenarios_exercise_conditions_audit_configs_and_search_fields(
    sandbox: SandboxServer,
) -> None:
    # so the schema test above cannot pass on trivially empty answers
    sandbox.sandbox.load_world(world())
    policy = post(f"/v3/{PROD}:getIamPolicy?alt=json", V3)(sandbox.url).json()
    search = get(f"/v1/{ORG}:searchAllIamPolicies?pageSize=1")(sandbox.url).json()

    assert any("condition" in b for b in policy["bindings"])
    assert policy["auditConfigs"][0]["auditLogConfigs"][0]["exemptedMembers"]
    assert search["nextPageToken"] and search["results"][0]["policy"]["bindings"]


def _rename(value: dict[str, Any], path: list[str | int], new: str) -> dict[str, Any]:
    out = copy.deepcopy(value)
    node: Any = out
    for step in path[:-1]:
        node = node[step]
    node[new] = node.pop(path[-1])
    return out


@pytest.mark.parametrize(
    ("source", "path", "new"),
    [
        ("policy", ["bindings"], "binding"),
        ("policy", ["bindings", 1, "members"], "member"),
        ("policy", ["bindings", 1, "condition", "expression"], "expr"),
        ("policy", ["auditConfigs", 0, "auditLogConfigs"], "audit_log_configs"),
        ("search", ["results", 0, "resource"], "resourceName"),
        ("search", ["nextPageToken"], "next_page_token"),
        ("tested", ["permissions"], "permission"),
        ("error", ["error", "status"], "state"),
    ],
)
def test_a_renamed_field_fails_validation(
    sandbox: SandboxServer, source: str, path: list[str | int], new: str
) -> None:
    sandbox.sandbox.load_world(world())
    valid = {
        "policy": (post(f"/v3/{PROD}:getIamPolicy?alt=json", V3), POLICY),
        "search": (get(f"/v1/{ORG}:searchAllIamPolicies?pageSize=1"), SEARCH),
        "error": (post("/v3/projects/no-such:getIamPolicy", V3), ERROR),
        "tested": (
            post(f"/v3/{PROD}:testIamPermissions", {"permissions": ["iam.roles.list"]}),
            TESTED,
        ),
    }
    call, schema = valid[source]
    body = call(sandbox.url).json()
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(body)  # the original passes...

    with pytest.raises(jsonschema.ValidationError):
        validator.validate(_rename(body, path, new))  # ...the renamed copy does not
