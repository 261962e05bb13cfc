"""The GCP provider's pure part (`providers/gcp_payloads.py`), table-driven with canned payloads.

Each canned payload is first checked against Google's own description, so a case cannot test
a shape the APIs never send: policies and search results against the Cloud Resource Manager
v3 and Cloud Asset v1 discovery documents (closed schemas: a misspelt field fails), service
accounts and keys built as the real google-cloud-iam proto messages and converted at the
transport's edge (`gcp_iam.message_dict`), whose output must then match the IAM v1 discovery
schemas of the same messages. Then each case asserts the model values produced."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import jsonschema
import pytest
from google.cloud import iam_admin_v1
from google.protobuf import timestamp_pb2

from reconciler.model import (
    Account,
    AccountKind,
    AuditConfig,
    Binding,
    Grant,
    GrantKind,
    IamPolicy,
    ServiceAccount,
    ServiceAccountKey,
    System,
)
from reconciler.providers.gcp_iam import message_dict
from reconciler.providers.gcp_payloads import (
    account_of,
    grants_from_policy,
    grants_naming,
    key_from_dict,
    policy_from_json,
    service_account_from_dict,
    timestamp,
    with_keys,
)
from tests.sandbox.test_gcp_conformance import discovery_schema

PROD = "projects/example-prod"
COND = {"title": "office hours", "expression": "request.time.getHours('Asia/Tokyo') < 18"}


@cache
def validator(api: str, version: str, schema: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(discovery_schema(api, version, schema))


def conforms(payload: Any, api: str, version: str, schema: str) -> None:
    """Fail unless `payload` is a valid `schema` of the API's discovery document."""
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in validator(api, version, schema).iter_errors(payload)
    ]
    assert not errors, errors


def grant(principal: str, role: str, target: str = PROD) -> Grant:
    return Grant(GrantKind.GCP_BINDING, target, principal, role)


# (case, getIamPolicy answer, the IamPolicy it is, the grants it gives)
POLICY_CASES: list[tuple[str, dict[str, Any], IamPolicy, list[Grant]]] = [
    ("a conditional binding is kept in the policy but gives no grant",
     {"version": 3, "etag": "BwYa", "bindings": [
         {"role": "roles/viewer", "members": ["user:taro.yamada@example.co.jp"]},
         {"role": "roles/editor", "members": ["user:hanako.sato@example.co.jp"],
          "condition": COND}]},
     IamPolicy(PROD, "BwYa", 3, (
         Binding("roles/viewer", ("user:taro.yamada@example.co.jp",)),
         Binding("roles/editor", ("user:hanako.sato@example.co.jp",), COND))),
     [grant("user:taro.yamada@example.co.jp", "roles/viewer")]),
    ("a deleted: principal is normalised inside and keeps its uid",
     {"version": 1, "etag": "BwYb", "bindings": [
         {"role": "roles/viewer",
          "members": ["deleted:user:Former.Staff@Example.co.jp?uid=123456789012345678901"]}]},
     IamPolicy(PROD, "BwYb", 1, (Binding(
         "roles/viewer", ("deleted:user:Former.Staff@Example.co.jp?uid=123456789012345678901",)),)),
     [grant("deleted:user:former.staff@example.co.jp?uid=123456789012345678901",
            "roles/viewer")]),
    ("an upper-case user email keeps its spelling in the binding, the grant is lower-cased",
     {"etag": "BwYc", "version": 1, "bindings": [
         {"role": "roles/owner", "members": ["user:Taro.Yamada@Example.co.jp"]}]},
     IamPolicy(PROD, "BwYc", 1, (Binding("roles/owner", ("user:Taro.Yamada@Example.co.jp",)),)),
     [grant("user:taro.yamada@example.co.jp", "roles/owner")]),
    ("group, service account and domain principals keep their type",
     {"etag": "BwYd", "version": 1, "bindings": [
         {"role": "roles/viewer", "members": [
             "group:Engineering@example.co.jp",
             "serviceAccount:Deploy@example-prod.iam.gserviceaccount.com",
             "domain:Example.co.jp"]}]},
     IamPolicy(PROD, "BwYd", 1, (Binding("roles/viewer", (
         "group:Engineering@example.co.jp",
         "serviceAccount:Deploy@example-prod.iam.gserviceaccount.com",
         "domain:Example.co.jp")),)),
     [grant("group:engineering@example.co.jp", "roles/viewer"),
      grant("serviceAccount:deploy@example-prod.iam.gserviceaccount.com", "roles/viewer"),
      grant("domain:example.co.jp", "roles/viewer")]),
    ("audit configs are read with their log types",
     {"etag": "BwYe", "version": 1, "auditConfigs": [
         {"service": "allServices", "auditLogConfigs": [
             {"logType": "ADMIN_READ"},
             {"logType": "DATA_READ", "exemptedMembers": ["user:cto@example.co.jp"]}]},
         {"service": "storage.googleapis.com"}]},
     IamPolicy(PROD, "BwYe", 1, (), (
         AuditConfig("allServices", ("ADMIN_READ", "DATA_READ")),
         AuditConfig("storage.googleapis.com", ()))),
     []),
    ("an empty policy has no bindings key",
     {"etag": "ACAB"},
     IamPolicy(PROD, "ACAB", 1),
     []),
    ("missing optional fields: no etag, no version, a binding without members",
     {"bindings": [{"role": "roles/viewer"}]},
     IamPolicy(PROD, "", 1, (Binding("roles/viewer", ()),)),
     []),
]  # fmt: skip


@pytest.mark.parametrize(
    "payload, policy, grants",
    [case[1:] for case in POLICY_CASES],
    ids=[case[0] for case in POLICY_CASES],
)
def test_policy_from_json(payload: dict[str, Any], policy: IamPolicy, grants: list[Grant]) -> None:
    conforms(payload, "cloudresourcemanager", "v3", "Policy")
    got = policy_from_json(PROD, payload)
    assert got == policy
    assert grants_from_policy(got) == grants


def test_a_misspelt_policy_field_fails_the_discovery_check() -> None:
    """The check above can fail: a payload the API would never send is refused."""
    with pytest.raises(AssertionError):
        conforms({"binding": []}, "cloudresourcemanager", "v3", "Policy")


SEARCH_CASES: list[tuple[str, list[dict[str, Any]], list[Grant]]] = [
    ("the member is matched case-insensitively; other members are not the person's",
     [{"resource": "//cloudresourcemanager.googleapis.com/projects/example-prod",
       "policy": {"bindings": [
           {"role": "roles/viewer",
            "members": ["user:Taro.Yamada@example.co.jp", "user:hanako.sato@example.co.jp"]},
           {"role": "roles/editor", "members": ["user:hanako.sato@example.co.jp"]}]}}],
     [grant("user:taro.yamada@example.co.jp", "roles/viewer")]),
    ("a conditional binding is not a managed grant",
     [{"resource": "//cloudresourcemanager.googleapis.com/folders/345678901234",
       "policy": {"bindings": [{"role": "roles/viewer",
                                "members": ["user:taro.yamada@example.co.jp"],
                                "condition": COND}]}}],
     []),
    ("a resource outside Resource Manager keeps its full name",
     [{"resource": "//storage.googleapis.com/projects/_/buckets/example-logs",
       "policy": {"bindings": [{"role": "roles/storage.objectViewer",
                                "members": ["user:taro.yamada@example.co.jp"]}]}}],
     [grant("user:taro.yamada@example.co.jp", "roles/storage.objectViewer",
            "//storage.googleapis.com/projects/_/buckets/example-logs")]),
    ("a result without a policy gives nothing", [{"resource": "//x.googleapis.com/y"}], []),
]  # fmt: skip


@pytest.mark.parametrize(
    "results, grants", [case[1:] for case in SEARCH_CASES], ids=[case[0] for case in SEARCH_CASES]
)
def test_grants_naming(results: list[dict[str, Any]], grants: list[Grant]) -> None:
    conforms({"results": results}, "cloudasset", "v1", "SearchAllIamPoliciesResponse")
    assert grants_naming("user:taro.yamada@example.co.jp", results) == grants


SA_EMAIL = "deploy@example-prod.iam.gserviceaccount.com"

# (case, the proto message ListServiceAccounts answers with, the ServiceAccount it is)
SERVICE_ACCOUNT_CASES: list[tuple[str, iam_admin_v1.ServiceAccount, ServiceAccount]] = [
    ("every field set; the email is normalised",
     iam_admin_v1.ServiceAccount(
         name=f"projects/example-prod/serviceAccounts/{SA_EMAIL}", project_id="example-prod",
         unique_id="104729000000000000001", email="Deploy@Example-Prod.iam.gserviceaccount.com",
         display_name="Deploy bot", oauth2_client_id="104729000000000000001"),
     ServiceAccount(SA_EMAIL, "104729000000000000001", "example-prod", "Deploy bot")),
    ("a disabled service account",
     iam_admin_v1.ServiceAccount(
         project_id="example-prod", unique_id="104729000000000000002",
         email="old-batch@example-prod.iam.gserviceaccount.com", disabled=True),
     ServiceAccount("old-batch@example-prod.iam.gserviceaccount.com", "104729000000000000002",
                    "example-prod", disabled=True)),
    ("missing optional fields: the project is the one listed, no display name",
     iam_admin_v1.ServiceAccount(email=SA_EMAIL, unique_id="104729000000000000003"),
     ServiceAccount(SA_EMAIL, "104729000000000000003", "example-listed")),
]  # fmt: skip


@pytest.mark.parametrize(
    "message, want",
    [case[1:] for case in SERVICE_ACCOUNT_CASES],
    ids=[case[0] for case in SERVICE_ACCOUNT_CASES],
)
def test_service_account_from_dict(
    message: iam_admin_v1.ServiceAccount, want: ServiceAccount
) -> None:
    payload = message_dict(message)
    conforms(payload, "iam", "v1", "ServiceAccount")
    got = service_account_from_dict(payload, "example-listed")
    assert got == want
    assert account_of(got) == Account(
        system=System.GCP,
        id=want.unique_id,
        name=want.email,
        kind=AccountKind.SERVICE_ACCOUNT,
        display_name=want.display_name,
        suspended=want.disabled,
    )


KEY = f"projects/example-prod/serviceAccounts/{SA_EMAIL}/keys/3f1c9e"
KeyType = iam_admin_v1.ListServiceAccountKeysRequest.KeyType


def at(seconds: int, nanos: int = 0) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


JAN_1 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
APR_1 = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp())

# (case, the proto message ListServiceAccountKeys answers with, the ServiceAccountKey it is)
KEY_CASES: list[tuple[str, iam_admin_v1.ServiceAccountKey, ServiceAccountKey]] = [
    ("a user-managed key with an expiry",
     iam_admin_v1.ServiceAccountKey(
         name=KEY, key_type=KeyType.USER_MANAGED, valid_after_time=at(JAN_1),
         valid_before_time=at(APR_1),
         key_origin=iam_admin_v1.ServiceAccountKeyOrigin.GOOGLE_PROVIDED),
     ServiceAccountKey(KEY, "USER_MANAGED", datetime(2026, 1, 1, tzinfo=UTC),
                       datetime(2026, 4, 1, tzinfo=UTC))),
    ("a system-managed key",
     iam_admin_v1.ServiceAccountKey(
         name=KEY, key_type=KeyType.SYSTEM_MANAGED, valid_after_time=at(JAN_1),
         valid_before_time=at(APR_1)),
     ServiceAccountKey(KEY, "SYSTEM_MANAGED", datetime(2026, 1, 1, tzinfo=UTC),
                       datetime(2026, 4, 1, tzinfo=UTC))),
    ("a key that never expires: no validBeforeTime",
     iam_admin_v1.ServiceAccountKey(
         name=KEY, key_type=KeyType.USER_MANAGED, valid_after_time=at(JAN_1)),
     ServiceAccountKey(KEY, "USER_MANAGED", datetime(2026, 1, 1, tzinfo=UTC), None)),
    ("an epoch timestamp is no date; a disabled key; nanoseconds cut to microseconds",
     iam_admin_v1.ServiceAccountKey(
         name=KEY, key_type=KeyType.USER_MANAGED, valid_after_time=at(JAN_1, 123456789),
         valid_before_time=at(0), disabled=True),
     ServiceAccountKey(KEY, "USER_MANAGED", datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
                       None, disabled=True)),
    ("missing optional fields: only the name",
     iam_admin_v1.ServiceAccountKey(name=KEY),
     ServiceAccountKey(KEY, "KEY_TYPE_UNSPECIFIED")),
]  # fmt: skip


@pytest.mark.parametrize(
    "message, want", [case[1:] for case in KEY_CASES], ids=[case[0] for case in KEY_CASES]
)
def test_key_from_dict(message: iam_admin_v1.ServiceAccountKey, want: ServiceAccountKey) -> None:
    payload = message_dict(message)
    conforms(payload, "iam", "v1", "ServiceAccountKey")
    assert key_from_dict(payload) == want


def test_with_keys_keeps_the_account_and_attaches_its_keys() -> None:
    sa = ServiceAccount(SA_EMAIL, "104729000000000000001", "example-prod", "Deploy bot", True)
    keys = [ServiceAccountKey(KEY, "USER_MANAGED")]
    assert with_keys(sa, keys) == ServiceAccount(
        SA_EMAIL, "104729000000000000001", "example-prod", "Deploy bot", True, tuple(keys)
    )


@pytest.mark.parametrize(
    "value, want",
    [
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00.500Z", datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
        ("2026-01-01T09:00:00+09:00", datetime(2026, 1, 1, tzinfo=UTC)),
        ("1970-01-01T00:00:00Z", None),
        ("", None),
        (None, None),
    ],
)
def test_timestamp(value: object, want: datetime | None) -> None:
    assert timestamp(value) == want
