"""The sandbox's IAM roles (ListRoles, GetRole over gRPC, through google-cloud-iam) against the
official description: the IAM v1 discovery document shipped with google-api-python-client
(Role and ListRolesResponse schemas, the pageSize limits of roles.list) and the proto's own
documentation of ListRolesRequest."""

from __future__ import annotations

import json
import re
from typing import Any

import grpc
import jsonschema
import pytest
from google.api_core import exceptions as core_exceptions
from google.cloud import iam_admin_v1
from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport
from googleapiclient.discovery_cache import get_static_doc

from reconciler.sandbox.iam_roles import predefined_roles
from reconciler.sandbox.server import SandboxServer
from tests.sandbox.test_gcp_conformance import discovery_schema

PROJECT = "projects/example-prod"
ORG = "organizations/123456789012"
ROLE_SCHEMA = discovery_schema("iam", "v1", "Role")
LIST_SCHEMA = discovery_schema("iam", "v1", "ListRolesResponse")
BASIC, FULL = iam_admin_v1.RoleView.BASIC, iam_admin_v1.RoleView.FULL


def documented_page_sizes() -> tuple[int, int]:
    """(default, maximum) of roles.list pageSize, as the discovery document words them."""
    doc = json.loads(get_static_doc("iam", "v1"))
    text = doc["resources"]["roles"]["methods"]["list"]["parameters"]["pageSize"]["description"]
    found = re.search(r"default is ([\d,]+), and the maximum is ([\d,]+)", text)
    assert found, text
    default, maximum = (int(n.replace(",", "")) for n in found.groups())
    return default, maximum


def world(custom: int = 3) -> dict[str, Any]:
    roles: dict[str, Any] = {
        f"{PROJECT}/roles/custom{i:04d}": {
            "title": f"Custom {i}",
            "included_permissions": ["run.services.get"],
        }
        for i in range(custom)
    }
    roles[f"{PROJECT}/roles/retired"] = {"title": "Retired", "deleted": True}
    roles[f"{ORG}/roles/auditViewer"] = {"title": "Audit viewer", "stage": "BETA"}
    roles["roles/viewer"] = {"title": "Viewer", "included_permissions": ["a.b.get"]}
    return {"gcp": {"organization": ORG, "resources": [{"name": PROJECT}], "roles": roles}}


@pytest.fixture
def iam(sandbox: SandboxServer) -> iam_admin_v1.IAMClient:
    channel = grpc.insecure_channel(str(sandbox.sandbox.grpc_address))
    return iam_admin_v1.IAMClient(transport=IAMGrpcTransport(channel=channel))


def as_json(message: Any) -> dict[str, Any]:
    """The REST JSON form of a proto-plus message (camelCase, enums by name)."""
    out: dict[str, Any] = json.loads(type(message).to_json(message, use_integers_for_enums=False))
    return out


def list_page(iam: iam_admin_v1.IAMClient, **request: Any) -> iam_admin_v1.ListRolesResponse:
    page = iam.list_roles(request=request, retry=None)
    response: iam_admin_v1.ListRolesResponse = page._response  # one page, no auto-paging
    return response


def all_names(iam: iam_admin_v1.IAMClient, **request: Any) -> list[str]:
    names, token = [], ""
    while True:
        page = list_page(iam, page_token=token, **request)
        names += [r.name for r in page.roles]
        token = page.next_page_token
        if not token:
            return names


def test_the_predefined_roles_are_several_hundred_real_names_with_titles() -> None:
    roles = predefined_roles()

    assert len(roles) >= 400
    assert all(re.fullmatch(r"roles/[A-Za-z0-9_.]+", name) for name in roles)
    assert all(role["title"] for role in roles.values())
    assert {"roles/logging.viewer", "roles/iam.serviceAccountUser", "roles/owner"} <= set(roles)


def test_list_roles_pages_at_the_documented_default_and_maximum(
    sandbox: SandboxServer, iam: iam_admin_v1.IAMClient
) -> None:
    default, maximum = documented_page_sizes()
    sandbox.sandbox.load_world(world(custom=maximum + 200))

    first = list_page(iam, parent=PROJECT)
    capped = list_page(iam, parent=PROJECT, page_size=maximum * 5)

    assert len(first.roles) == default
    assert len(capped.roles) == maximum
    assert capped.next_page_token
    names = all_names(iam, parent=PROJECT, page_size=maximum)
    assert len(names) == len(set(names)) == maximum + 200  # the deleted role left out


def test_list_roles_answers_match_the_discovery_schema_in_both_views(
    sandbox: SandboxServer, iam: iam_admin_v1.IAMClient
) -> None:
    sandbox.sandbox.load_world(world())

    for parent in ("", PROJECT, ORG):
        for view in (BASIC, FULL):
            page = list_page(iam, parent=parent, view=view, page_size=1000)
            jsonschema.validate(as_json(page), LIST_SCHEMA)
            permissions = [p for r in page.roles for p in r.included_permissions]
            assert bool(permissions) == (view == FULL and parent != ORG), (parent, view)


def test_list_roles_serves_the_predefined_roles_or_one_parents_custom_roles(
    sandbox: SandboxServer, iam: iam_admin_v1.IAMClient
) -> None:
    sandbox.sandbox.load_world(world())

    predefined = all_names(iam, parent="", page_size=1000)
    project = all_names(iam, parent=PROJECT)
    with_deleted = all_names(iam, parent=PROJECT, show_deleted=True)
    org = all_names(iam, parent=ORG)

    assert set(predefined) == set(predefined_roles())
    assert project == [f"{PROJECT}/roles/custom{i:04d}" for i in range(3)]
    assert set(with_deleted) - set(project) == {f"{PROJECT}/roles/retired"}
    assert org == [f"{ORG}/roles/auditViewer"]


def test_get_role_answers_predefined_custom_and_deleted_roles(
    sandbox: SandboxServer, iam: iam_admin_v1.IAMClient
) -> None:
    sandbox.sandbox.load_world(world())

    logging_viewer = iam.get_role(request={"name": "roles/logging.viewer"}, retry=None)
    custom = iam.get_role(request={"name": f"{ORG}/roles/auditViewer"}, retry=None)
    retired = iam.get_role(request={"name": f"{PROJECT}/roles/retired"}, retry=None)

    for role in (logging_viewer, custom, retired):
        jsonschema.validate(as_json(role), ROLE_SCHEMA)
    assert logging_viewer.title == "Logs Viewer"
    assert custom.stage == iam_admin_v1.Role.RoleLaunchStage.BETA
    assert retired.deleted


@pytest.mark.parametrize(
    ("call", "request_", "error"),
    [
        ("get_role", {"name": "roles/loging.viewer"}, core_exceptions.NotFound),
        ("get_role", {"name": "projects/-/roles/x"}, core_exceptions.InvalidArgument),
        ("list_roles", {"parent": "projects/*"}, core_exceptions.InvalidArgument),
        ("list_roles", {"parent": "folders/1"}, core_exceptions.InvalidArgument),
    ],
)
def test_unknown_and_malformed_names_are_the_documented_codes(
    sandbox: SandboxServer,
    iam: iam_admin_v1.IAMClient,
    call: str,
    request_: dict[str, str],
    error: type[Exception],
) -> None:
    sandbox.sandbox.load_world(world())

    with pytest.raises(error):
        list(getattr(iam, call)(request=request_, retry=None) or [])
