"""Every Cloud Storage answer the sandbox gives is checked against the schemas of the storage
v1 discovery document bundled with google-api-python-client (written by Google), closed with
additionalProperties: false so an invented or misspelt field fails; error bodies against the
JSON API's documented error format (storage/docs/json_api/v1/status-codes)."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
import requests
from googleapiclient.discovery_cache import get_static_doc

from reconciler.sandbox import cloud_storage
from reconciler.sandbox.server import SandboxServer
from tests.sandbox.test_google_conformance import to_json_schema

DOC: dict[str, Any] = json.loads(get_static_doc("storage", "v1"))
BUCKET = "example-reconciler-state"
OBJECT = "prod/holds.json"
WORLD: dict[str, Any] = {
    "storage": {
        "buckets": [
            {
                "name": BUCKET,
                "versioning": True,
                "retention_period": 3600,
                "objects": [{"name": OBJECT, "content": "{}", "content_type": "application/json"}],
            }
        ]
    }
}

GCS_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "additionalProperties": False,
            "required": ["code", "message", "errors"],
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "errors": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["domain", "reason", "message"],
                        "properties": {
                            "domain": {"type": "string"},
                            "reason": {"type": "string"},
                            "message": {"type": "string"},
                            "locationType": {"type": "string"},
                            "location": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}


def conformance_errors(body: Any, name: str) -> list[str]:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": {k: to_json_schema(v) for k, v in DOC["schemas"].items()},
        "$ref": f"#/$defs/{name}",
    }
    validator = jsonschema.Draft202012Validator(schema)
    return [e.message for e in validator.iter_errors(body)]


def response_schema(resource: str, method: str) -> str:
    name: str = DOC["resources"][resource]["methods"][method]["response"]["$ref"]
    return name


def _multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "sandbox-conformance-boundary"
    body = (
        (
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
            f'{{"name": "{name}", "contentType": "application/json"}}\r\n'
            f"--{boundary}\r\nContent-Type: application/json\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f'multipart/related; boundary="{boundary}"'


def test_the_paths_exist_in_the_discovery_document() -> None:
    methods = DOC["resources"]["objects"]["methods"]
    assert methods["list"]["path"] == "b/{bucket}/o"
    assert methods["get"]["path"] == "b/{bucket}/o/{object}"
    assert methods["delete"]["path"] == "b/{bucket}/o/{object}"
    assert methods["insert"]["mediaUpload"]["protocols"]["simple"]["path"] == (
        "/upload/storage/v1/b/{bucket}/o"
    )
    for name in ("ifGenerationMatch", "ifGenerationNotMatch", "ifMetagenerationMatch"):
        assert name in methods["insert"]["parameters"]
        assert name in methods["delete"]["parameters"]
    assert {"prefix", "startOffset", "versions", "maxResults", "pageToken"} <= set(
        methods["list"]["parameters"]
    )
    assert DOC["resources"]["buckets"]["methods"]["get"]["path"] == "b/{bucket}"
    test = DOC["resources"]["buckets"]["methods"]["testIamPermissions"]
    assert (test["httpMethod"], test["path"]) == ("GET", "b/{bucket}/iam/testPermissions")
    assert test["parameters"]["permissions"]["repeated"] is True
    assert methods["list"]["parameters"]["maxResults"]["default"] == str(cloud_storage.LIST_MAX)


def test_object_and_list_answers_match_the_discovery_schemas(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(WORLD)
    base = f"{sandbox.url}/storage/v1/b/{BUCKET}"
    body, content_type = _multipart("prod/audit/HEAD", b'{"seq": 1}')
    inserted = requests.post(
        f"{sandbox.url}/upload/storage/v1/b/{BUCKET}/o?uploadType=multipart",
        data=body,
        headers={"Content-Type": content_type},
        timeout=5,
    )
    media = requests.post(
        f"{sandbox.url}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name=prod/x.json",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    answers = [
        (inserted, response_schema("objects", "insert")),
        (media, response_schema("objects", "insert")),
        (requests.get(f"{base}/o/prod%2Fholds.json", timeout=5), response_schema("objects", "get")),
        (requests.get(f"{base}/o?prefix=prod/&maxResults=1", timeout=5), "Objects"),
        (requests.get(f"{base}/o?versions=true", timeout=5), "Objects"),
        (requests.get(base, timeout=5), response_schema("buckets", "get")),
    ]
    for answer, schema in answers:
        assert answer.status_code == 200, answer.text
        assert conformance_errors(answer.json(), schema) == []
    listed = answers[3][0].json()
    assert listed["nextPageToken"] and len(listed["items"]) == 1
    assert response_schema("objects", "list") == "Objects"
    assert inserted.json()["name"] == "prod/audit/HEAD"


def test_error_answers_match_the_json_api_error_format(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(WORLD)
    base = f"{sandbox.url}/storage/v1/b/{BUCKET}"
    generation = requests.get(f"{base}/o/prod%2Fholds.json", timeout=5).json()["generation"]
    body, content_type = _multipart(OBJECT, b"{}")
    answers = [
        requests.get(f"{base}/o/nothing-here", timeout=5),
        requests.get(f"{sandbox.url}/storage/v1/b/no-such-bucket/o", timeout=5),
        requests.post(
            f"{sandbox.url}/upload/storage/v1/b/{BUCKET}/o?uploadType=multipart&ifGenerationMatch=0",
            data=body,
            headers={"Content-Type": content_type},
            timeout=5,
        ),
        requests.delete(f"{base}/o/prod%2Fholds.json?ifGenerationMatch=1", timeout=5),
        requests.delete(f"{base}/o/prod%2Fholds.json?ifGenerationMatch={generation}", timeout=5),
    ]
    assert [a.status_code for a in answers] == [404, 404, 412, 412, 403]
    reasons = [a.json()["error"]["errors"][0]["reason"] for a in answers]
    assert reasons == ["notFound", "notFound", "conditionNotMet", "conditionNotMet",
                       "retentionPolicyNotMet"]  # fmt: skip
    checker = jsonschema.Draft202012Validator(GCS_ERROR_SCHEMA)
    for answer in answers:
        assert list(checker.iter_errors(answer.json())) == []


@pytest.mark.parametrize("renamed", [("generation", "generaton"), ("md5Hash", "md5hash")])
def test_a_misspelt_field_in_an_object_answer_fails_conformance(
    sandbox: SandboxServer, renamed: tuple[str, str]
) -> None:
    sandbox.sandbox.load_world(WORLD)
    payload = requests.get(
        f"{sandbox.url}/storage/v1/b/{BUCKET}/o/prod%2Fholds.json", timeout=5
    ).json()
    payload[renamed[1]] = payload.pop(renamed[0])
    assert any(renamed[1] in e for e in conformance_errors(payload, "Object"))
    assert conformance_errors({"generation": 12}, "Object")  # int64 travels as a string


AUDIT = "example-reconciler-audit"
PERMISSIONS_WORLD: dict[str, Any] = {
    "storage": {
        "buckets": [
            {"name": BUCKET},
            {
                "name": AUDIT,
                "retention_period": 220752000,
                "retention_locked": True,
                "caller_permissions": ["storage.objects.create", "storage.objects.get"],
            },
        ]
    }
}


def test_retention_policy_and_test_iam_permissions_match_the_discovery_schemas(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(PERMISSIONS_WORLD)
    asked = "permissions=storage.objects.create&permissions=storage.objects.delete"
    held = requests.get(
        f"{sandbox.url}/storage/v1/b/{AUDIT}/iam/testPermissions?{asked}", timeout=5
    )
    none = requests.get(
        f"{sandbox.url}/storage/v1/b/{AUDIT}/iam/testPermissions?permissions=storage.buckets.get",
        timeout=5,
    )
    everything = requests.get(
        f"{sandbox.url}/storage/v1/b/{BUCKET}/iam/testPermissions?{asked}", timeout=5
    )
    schema = response_schema("buckets", "testIamPermissions")
    for answer in (held, none, everything):
        assert answer.status_code == 200, answer.text
        assert conformance_errors(answer.json(), schema) == []
    assert held.json()["permissions"] == ["storage.objects.create"]
    assert "permissions" not in none.json()  # an empty repeated field is left out
    assert everything.json()["permissions"] == ["storage.objects.create", "storage.objects.delete"]

    # The caller may not read the audit bucket's metadata: 403 in the JSON API's error body.
    refused = requests.get(f"{sandbox.url}/storage/v1/b/{AUDIT}", timeout=5)
    assert refused.status_code == 403
    assert list(jsonschema.Draft202012Validator(GCS_ERROR_SCHEMA).iter_errors(refused.json())) == []

    readable = copy.deepcopy(PERMISSIONS_WORLD)
    readable["storage"]["buckets"][1]["caller_permissions"].append("storage.buckets.get")
    sandbox.sandbox.load_world(readable)
    bucket = requests.get(f"{sandbox.url}/storage/v1/b/{AUDIT}", timeout=5).json()
    assert conformance_errors(bucket, response_schema("buckets", "get")) == []
    policy = bucket["retentionPolicy"]
    assert (policy["retentionPeriod"], policy["isLocked"]) == ("220752000", True)
    assert policy["effectiveTime"].endswith("Z")
    bucket["retentionPolicy"]["locked"] = bucket["retentionPolicy"].pop("isLocked")
    assert conformance_errors(bucket, "Bucket")  # a misspelt field fails
