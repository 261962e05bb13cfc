"""The GCP sandbox through the real clients: Resource Manager v3 and Cloud Asset v1 via
google-api-python-client over HTTP, IAM Admin v1 via google-cloud-iam over gRPC."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import httplib2
import jsonschema
import pytest
import requests
from google.api_core import exceptions as core_exceptions
from google.cloud import iam_admin_v1
from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError

from reconciler.sandbox.server import SandboxServer

ORG = "organizations/123456789012"
FOLDER = "folders/345678901234"
PROD = "projects/example-prod"
CONDITION = {
    "title": "until-2030",
    "expression": "request.time < timestamp('2030-01-01T00:00:00Z')",
}
AUDIT = [{"service": "allServices", "auditLogConfigs": [{"logType": "DATA_READ"}]}]
SCHEMA = Path(__file__).parents[2] / "reconciler/sandbox/schemas/gcp.schema.json"
USER_MANAGED = iam_admin_v1.ListServiceAccountKeysRequest.KeyType.USER_MANAGED


def world(extra_projects: int = 0, accounts: int = 3) -> dict[str, Any]:
    resources: list[dict[str, Any]] = [
        {"name": ORG, "policy": {"bindings": [
            {"role": "roles/resourcemanager.organizationAdmin",
             "members": ["user:cto@example.co.jp"]}]}},
        {"name": FOLDER, "parent": ORG, "policy": {"bindings": [
            {"role": "roles/browser", "members": ["user:taro.yamada@example.co.jp"]}]}},
        {"name": PROD, "parent": FOLDER, "number": "400000000001",
         "policy": {"version": 3, "bindings": [
            {"role": "roles/owner", "members": ["user:cto@example.co.jp"]},
            {"role": "roles/viewer", "members": ["user:taro.yamada@example.co.jp"],
             "condition": CONDITION},
            {"role": "roles/editor", "members": ["group:eng@example.co.jp"]}],
            "auditConfigs": AUDIT}},
    ]  # fmt: skip
    resources += [
        {"name": f"projects/example-p{i:04d}", "parent": ORG,
         "policy": {"bindings": [{"role": "roles/viewer",
                                  "members": ["user:auditor@example.com"]}]}}
        for i in range(extra_projects)
    ]  # fmt: skip
    sas = [
        {"project": "example-prod", "email": f"svc-{i:02d}@example-prod.iam.gserviceaccount.com",
         "unique_id": str(10**20 + i),
         "keys": [{"id": "u1", "key_type": "USER_MANAGED", "valid_after": "2026-01-01T00:00:00Z"},
                  {"id": "s1", "key_type": "SYSTEM_MANAGED"}]}
        for i in range(accounts)
    ]  # fmt: skip
    return {
        "gcp": {
            "organization": ORG,
            "resources": resources,
            "service_accounts": sas,
            "roles": {
                "roles/viewer": {
                    "title": "Viewer",
                    "included_permissions": ["resourcemanager.projects.get"],
                }
            },
        }
    }


def discovery(sandbox: SandboxServer, api: str, version: str) -> Any:
    doc = json.loads(get_static_doc(api, version))
    doc["rootUrl"] = sandbox.url + "/"
    return build_from_document(doc, http=httplib2.Http())


@pytest.fixture
def crm(sandbox: SandboxServer) -> Any:
    sandbox.sandbox.load_world(world())
    return discovery(sandbox, "cloudresourcemanager", "v3")


@pytest.fixture
def iam(sandbox: SandboxServer) -> iam_admin_v1.IAMClient:
    channel = grpc.insecure_channel(str(sandbox.sandbox.grpc_address))
    return iam_admin_v1.IAMClient(transport=IAMGrpcTransport(channel=channel))


def get_policy(crm: Any, resource: str, version: int = 3) -> dict[str, Any]:
    collection = getattr(crm, resource.split("/", maxsplit=1)[0])()
    body = {"options": {"requestedPolicyVersion": version}}
    return dict(collection.getIamPolicy(resource=resource, body=body).execute(num_retries=0))


def set_policy(crm: Any, resource: str, body: dict[str, Any]) -> dict[str, Any]:
    collection = getattr(crm, resource.split("/", maxsplit=1)[0])()
    return dict(collection.setIamPolicy(resource=resource, body=body).execute(num_retries=0))


def error_of(exc: HttpError) -> dict[str, Any]:
    return dict(json.loads(exc.content)["error"])


# -- Resource Manager v3 ----------------------------------------------------------------------
@pytest.mark.parametrize("resource", [ORG, FOLDER, PROD])
def test_get_iam_policy_serves_projects_folders_and_organizations(crm: Any, resource: str) -> None:
    policy = get_policy(crm, resource)

    assert policy["bindings"]
    assert policy["etag"]


def test_version_3_returns_conditions_and_lower_versions_get_withcond_roles(crm: Any) -> None:
    v3 = get_policy(crm, PROD, 3)
    v1 = get_policy(crm, PROD, 1)

    assert v3["version"] == 3
    assert [b["condition"] for b in v3["bindings"] if "condition" in b] == [CONDITION]
    assert v1["version"] == 1
    assert not any("condition" in b for b in v1["bindings"])
    assert any("_withcond_" in b["role"] for b in v1["bindings"])
    # a policy without conditions is answered at version 1 even when 3 is requested
    assert get_policy(crm, FOLDER, 3)["version"] == 1


def test_a_stale_etag_is_refused_with_409_aborted_and_google_message(crm: Any) -> None:
    policy = get_policy(crm, PROD)
    set_policy(crm, PROD, {"policy": policy})  # bumps the revision

    with pytest.raises(HttpError) as info:
        set_policy(crm, PROD, {"policy": policy})

    assert info.value.resp.status == 409
    assert error_of(info.value) == {
        "code": 409,
        "status": "ABORTED",
        "message": "There were concurrent policy changes. Please retry the whole "
        "read-modify-write with exponential backoff.",
    }


def test_a_missing_etag_is_accepted_and_the_last_write_wins(crm: Any) -> None:
    policy = get_policy(crm, FOLDER)
    old_etag = policy.pop("etag")
    policy["bindings"] = [{"role": "roles/browser", "members": ["user:hanako.sato@example.co.jp"]}]

    written = set_policy(crm, FOLDER, {"policy": policy})

    assert written["etag"] != old_etag
    assert get_policy(crm, FOLDER)["bindings"] == policy["bindings"]


def test_audit_configs_change_only_when_the_update_mask_names_them(crm: Any) -> None:
    policy = get_policy(crm, PROD)
    policy["auditConfigs"] = []

    set_policy(crm, PROD, {"policy": policy})
    assert get_policy(crm, PROD)["auditConfigs"] == AUDIT

    policy = get_policy(crm, PROD)
    policy["auditConfigs"] = [
        {"service": "allServices", "auditLogConfigs": [{"logType": "ADMIN_READ"}]}
    ]
    set_policy(crm, PROD, {"policy": policy, "updateMask": "bindings,etag,auditConfigs"})
    assert get_policy(crm, PROD)["auditConfigs"] == policy["auditConfigs"]


def test_conditions_written_below_version_3_are_rejected(crm: Any) -> None:
    policy = get_policy(crm, PROD)
    policy["version"] = 1

    with pytest.raises(HttpError) as info:
        set_policy(crm, PROD, {"policy": policy})

    assert info.value.resp.status == 400
    assert error_of(info.value)["status"] == "INVALID_ARGUMENT"


def test_an_unknown_resource_is_403_permission_denied_like_the_real_api(crm: Any) -> None:
    with pytest.raises(HttpError) as info:
        get_policy(crm, "projects/no-such-project")

    assert info.value.resp.status == 403
    assert error_of(info.value)["status"] == "PERMISSION_DENIED"


def test_the_gapic_rest_spelling_of_the_url_is_served(crm: Any, sandbox: SandboxServer) -> None:
    # google-cloud-resource-manager's REST transport sends `$alt=json;enum-encoding=int`
    r = requests.post(
        f"{sandbox.url}/v3/{PROD}:getIamPolicy?$alt=json;enum-encoding=int",
        json={"options": {"requestedPolicyVersion": 3}},
        timeout=5,
    )

    assert r.status_code == 200
    assert r.json()["version"] == 3


def test_a_concurrent_change_lands_before_the_nth_write(crm: Any, sandbox: SandboxServer) -> None:
    requests.post(
        f"{sandbox.url}/_sandbox/gcp/concurrent-changes",
        json={
            "resource": FOLDER,
            "add": [{"role": "roles/viewer", "member": "user:x@example.com"}],
        },
        timeout=5,
    ).raise_for_status()
    policy = get_policy(crm, FOLDER)

    with pytest.raises(HttpError) as info:
        set_policy(crm, FOLDER, {"policy": policy})

    assert info.value.resp.status == 409
    roles = {b["role"] for b in get_policy(crm, FOLDER)["bindings"]}
    assert roles == {"roles/browser", "roles/viewer"}


# -- Cloud Asset v1 ---------------------------------------------------------------------------
def test_search_all_iam_policies_returns_only_bindings_naming_the_member(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(world())
    asset = discovery(sandbox, "cloudasset", "v1")

    response = (
        asset.v1()
        .searchAllIamPolicies(scope=ORG, query="policy:user:taro.yamada@example.co.jp")
        .execute(num_retries=0)
    )

    by_resource = {r["resource"]: r for r in response["results"]}
    assert set(by_resource) == {
        f"//cloudresourcemanager.googleapis.com/{FOLDER}",
        f"//cloudresourcemanager.googleapis.com/{PROD}",
    }
    prod = by_resource[f"//cloudresourcemanager.googleapis.com/{PROD}"]
    assert prod["project"] == "projects/400000000001"
    assert prod["folders"] == [FOLDER]
    assert prod["organization"] == ORG
    assert [b["role"] for b in prod["policy"]["bindings"]] == ["roles/viewer"]
    # a bare identity matches any member type
    bare = asset.v1().searchAllIamPolicies(scope=ORG, query="policy:eng@example.co.jp")
    assert len(bare.execute(num_retries=0)["results"]) == 1


def test_search_pages_are_capped_at_500_and_follow_page_tokens(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(world(extra_projects=620))
    asset = discovery(sandbox, "cloudasset", "v1")
    search = asset.v1()

    request = search.searchAllIamPolicies(
        scope=ORG, query="policy:user:auditor@example.com", pageSize=1000
    )
    sizes = []
    while request is not None:
        response = request.execute(num_retries=0)
        sizes.append(len(response["results"]))
        request = search.searchAllIamPolicies_next(request, response)

    assert sizes == [500, 120]


def test_search_scoped_to_a_folder_sees_only_its_descendants(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(world(extra_projects=3))
    asset = discovery(sandbox, "cloudasset", "v1")

    response = asset.v1().searchAllIamPolicies(scope=FOLDER).execute(num_retries=0)

    assert [r["resource"].rsplit("/", 2)[-2:] for r in response["results"]] == [
        ["folders", "345678901234"],
        ["projects", "example-prod"],
    ]


# -- IAM Admin v1 over gRPC -------------------------------------------------------------------
def test_service_accounts_are_paged_with_tokens(
    sandbox: SandboxServer, iam: iam_admin_v1.IAMClient
) -> None:
    sandbox.sandbox.load_world(world(accounts=5))

    pager = iam.list_service_accounts(request={"name": PROD, "page_size": 2}, retry=None)
    emails = [sa.email for sa in pager]

    assert emails == [f"svc-{i:02d}@example-prod.iam.gserviceaccount.com" for i in range(5)]
    assert sandbox.sandbox.telemetry.by_endpoint["iam.ListServiceAccounts"] == 3
    entry = sandbox.sandbox.telemetry.log[0]
    assert (entry.method, entry.path, entry.api) == (
        "GRPC",
        "/google.iam.admin.v1.IAM/ListServiceAccounts",
        "gcp",
    )


def test_key_listing_filters_by_key_type(
    sandbox: SandboxServer, iam: iam_admin_v1.IAMClient
) -> None:
    sandbox.sandbox.load_world(world())
    name = f"{PROD}/serviceAccounts/svc-00@example-prod.iam.gserviceaccount.com"

    user_managed = iam.list_service_account_keys(name=name, key_types=[USER_MANAGED], retry=None)
    every = iam.list_service_account_keys(name=name, retry=None)

    assert [k.name.rsplit("/", 1)[-1] for k in user_managed.keys] == ["u1"]
    assert user_managed.keys[0].valid_after_time.year == 2026
    assert [k.name.rsplit("/", 1)[-1] for k in every.keys] == ["u1", "s1"]


def test_get_service_account_accepts_the_project_wildcard_and_unique_id(
    sandbox: SandboxServer, iam: iam_admin_v1.IAMClient
) -> None:
    sandbox.sandbox.load_world(world())

    by_email = iam.get_service_account(
        name="projects/-/serviceAccounts/svc-01@example-prod.iam.gserviceaccount.com", retry=None
    )
    by_id = iam.get_service_account(name=f"projects/-/serviceAccounts/{10**20 + 1}", retry=None)

    assert by_email.unique_id == by_id.unique_id == str(10**20 + 1)
    assert by_email.project_id == "example-prod"


def test_unknown_names_are_grpc_not_found(
    sandbox: SandboxServer, iam: iam_admin_v1.IAMClient
) -> None:
    sandbox.sandbox.load_world(world())

    with pytest.raises(core_exceptions.NotFound):
        iam.get_service_account(name=f"{PROD}/serviceAccounts/ghost@example.com", retry=None)
    with pytest.raises(core_exceptions.NotFound):
        iam.get_role(request={"name": "roles/no.such.role"}, retry=None)
    assert iam.get_role(request={"name": "roles/viewer"}, retry=None).included_permissions == [
        "resourcemanager.projects.get"
    ]
    statuses = [e.status for e in sandbox.sandbox.telemetry.log]
    assert statuses == [404, 404, 200]


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (503, core_exceptions.ServiceUnavailable),
        (429, core_exceptions.TooManyRequests),
        (403, core_exceptions.PermissionDenied),
    ],
)
def test_fault_rules_apply_to_grpc_calls_as_the_matching_status_code(
    sandbox: SandboxServer, iam: iam_admin_v1.IAMClient, status: int, exception: type[Exception]
) -> None:
    sandbox.sandbox.load_world(world())
    sandbox.sandbox.add_fault(
        {"path": "/google.iam.admin.v1.IAM/ListServiceAccounts$", "nth": 1, "status": status}
    )

    with pytest.raises(exception):
        iam.list_service_accounts(request={"name": PROD}, retry=None)
    assert len(list(iam.list_service_accounts(request={"name": PROD}, retry=None))) == 3

    assert [e.status for e in sandbox.sandbox.telemetry.log] == [status, 200]


# -- world schema -----------------------------------------------------------------------------
def test_the_world_schema_accepts_the_documented_format_and_rejects_typos() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    good = world(extra_projects=1)["gcp"]
    validator.validate(good)

    bad = world()["gcp"]
    bad["service_accounts"][0]["keys"][0]["key_type"] = "USER"
    bad["resources"][0]["policy"]["bindings"][0]["memebers"] = []

    assert len(list(validator.iter_errors(bad))) == 2


@pytest.mark.parametrize(
    ("role", "accepted"),
    [
        ("roles/logging.viewer", True),  # predefined
        ("projects/example-prod/roles/deployReader", True),  # a custom role of the world
        ("roles/loging.viewer", False),  # no such role
        ("projects/example-prod/roles/retired", False),  # deleted custom role
    ],
)
def test_set_iam_policy_refuses_a_binding_to_a_role_that_does_not_exist(
    sandbox: SandboxServer, crm: Any, role: str, accepted: bool
) -> None:
    seeded = world()
    seeded["gcp"]["roles"].update(
        {
            "projects/example-prod/roles/deployReader": {"title": "Deploy reader"},
            "projects/example-prod/roles/retired": {"title": "Retired", "deleted": True},
        }
    )
    sandbox.sandbox.load_world(seeded)
    policy = get_policy(crm, PROD)
    policy["bindings"].append({"role": role, "members": ["user:hanako.sato@example.co.jp"]})

    if accepted:
        set_policy(crm, PROD, {"policy": policy})
        assert role in {b["role"] for b in get_policy(crm, PROD)["bindings"]}
    else:
        with pytest.raises(HttpError) as raised:
            set_policy(crm, PROD, {"policy": policy})
        assert error_of(raised.value) == {
            "code": 400,
            "message": f"Role {role} is not supported for this resource.",
            "status": "INVALID_ARGUMENT",
        }
        assert role not in {b["role"] for b in get_policy(crm, PROD)["bindings"]}
