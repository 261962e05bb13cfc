"""The GCP provider through the real clients (google-api-python-client over HTTP, google-cloud-iam
over gRPC) against the sandbox: reads, reverse look-ups, etag-guarded writes, retries, refusals."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
import requests

from reconciler.errors import ConflictError, PermanentProviderError
from reconciler.model import (
    AccountKind,
    Action,
    ActionKind,
    DesiredState,
    Employment,
    EmploymentType,
    GcpResourceScope,
    Grant,
    GrantKind,
    Organization,
    Person,
    Phase,
    System,
    Systems,
)
from reconciler.providers.gcp_iam import GcpIamProvider
from reconciler.providers.retrying import RetryPolicy
from reconciler.sandbox.server import SandboxServer

ORG = "organizations/123456789012"
FOLDER = "folders/345678901234"
PROD = "projects/example-prod"
STG = "projects/example-stg"
CONDITION = {
    "title": "until-2030",
    "expression": "request.time < timestamp('2030-01-01T00:00:00Z')",
    "description": "temporary debug access",
}
AUDIT = [
    {
        "service": "allServices",
        "auditLogConfigs": [
            {"logType": "ADMIN_READ"},
            {"logType": "DATA_READ", "exemptedMembers": ["serviceAccount:ci@example.com"]},
        ],
    }
]
PROD_SA_COUNT = 230  # three pages at the documented maximum page size of 100


def gcp_world() -> dict[str, Any]:
    prod_sas = [
        {
            "project": "example-prod",
            "email": f"svc-{i:03d}@example-prod.iam.gserviceaccount.com",
            "unique_id": str(100000000000000000000 + i),
            "display_name": f"service {i}",
            "disabled": i == 1,
            "keys": [
                {"id": f"u{i}", "key_type": "USER_MANAGED", "valid_after": "2026-01-01T00:00:00Z",
                 "valid_before": "2027-01-01T00:00:00Z"},
                {"id": f"s{i}", "key_type": "SYSTEM_MANAGED"},
            ] if i < 3 else [],
        }
        for i in range(PROD_SA_COUNT)
    ]  # fmt: skip
    return {
        "gcp": {
            "organization": ORG,
            "resources": [
                {
                    "name": ORG,
                    "display_name": "example.co.jp",
                    "policy": {
                        "bindings": [
                            {
                                "role": "roles/resourcemanager.organizationAdmin",
                                "members": ["user:cto@example.co.jp"],
                            }
                        ]
                    },
                },
                {
                    "name": FOLDER,
                    "parent": ORG,
                    "display_name": "production",
                    "policy": {
                        "bindings": [
                            {"role": "roles/browser", "members": ["group:eng@example.co.jp"]}
                        ]
                    },
                },
                {
                    "name": PROD,
                    "parent": FOLDER,
                    "number": "400000000001",
                    "policy": {
                        "version": 3,
                        "bindings": [
                            {"role": "roles/owner", "members": ["user:cto@example.co.jp"]},
                            {
                                "role": "roles/viewer",
                                "members": ["user:Taro.Yamada@Example.co.jp"],
                            },
                            {
                                "role": "roles/viewer",
                                "members": ["user:jiro.suzuki@example.co.jp"],
                                "condition": CONDITION,
                            },
                        ],
                        "auditConfigs": AUDIT,
                    },
                },
                {
                    "name": STG,
                    "parent": ORG,
                    "policy": {
                        "bindings": [
                            {"role": "roles/owner", "members": ["user:cto@example.co.jp"]},
                            {
                                "role": "roles/editor",
                                "members": [
                                    "user:taro.yamada@example.co.jp",
                                    "serviceAccount:svc-000@example-prod.iam.gserviceaccount.com",
                                ],
                            },
                        ]
                    },
                },
            ],
            "service_accounts": [
                *prod_sas,
                {
                    "project": "example-stg",
                    "email": "deploy@example-stg.iam.gserviceaccount.com",
                    "unique_id": "200000000000000000001",
                    "keys": [],
                },
            ],
            "roles": {"roles/viewer": {"title": "Viewer", "included_permissions": []}},
        }
    }


def desired(resources: tuple[str, ...] = (ORG, FOLDER, PROD, STG)) -> DesiredState:
    org = Organization(
        name="Example",
        domains=("example.co.jp",),
        timezone="Asia/Tokyo",
        security_officer="e0001",
        systems=Systems(gcp=tuple(GcpResourceScope(resource=r) for r in resources)),
    )
    return DesiredState(organization=org, roles={}, people={})


class Sleeps:
    """A RetryPolicy.sleep that records instead of sleeping, so retry tests take no time.
    (Not a list subclass: an empty list is falsy and `sleep or time.sleep` would pick the
    real sleep.)"""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def provider(sandbox: SandboxServer, sleeps: Sleeps) -> GcpIamProvider:
    sandbox.sandbox.load_world(gcp_world())
    info = requests.get(f"{sandbox.url}/_sandbox/", timeout=5).json()
    policy = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05, sleep=sleeps)
    return GcpIamProvider.from_sandbox(info, retry=policy)


def policy_of(sandbox: SandboxServer, resource: str) -> dict[str, Any]:
    state = requests.get(f"{sandbox.url}/_sandbox/state", timeout=5).json()
    return next(r["policy"] for r in state["gcp"]["resources"] if r["name"] == resource)


def log(sandbox: SandboxServer, endpoint: str | None = None) -> list[dict[str, Any]]:
    entries = requests.get(f"{sandbox.url}/_sandbox/requests", timeout=5).json()["requests"]
    # the control API's own calls (discovery, state) are not part of what the provider did
    return [
        e for e in entries if e["api"] == "gcp" and (endpoint is None or e["endpoint"] == endpoint)
    ]


def binding_action(kind: ActionKind, target: str, member: str, role: str) -> Action:
    phase = Phase.ADD if kind is ActionKind.ADD_BINDING else Phase.REMOVE
    return Action(phase, System.GCP, kind, target, member, role)


def test_read_returns_every_policy_at_version_3_with_grants_for_unconditional_bindings(
    provider: GcpIamProvider, sandbox: SandboxServer
) -> None:
    part = provider.read(desired())

    assert part.status.complete, part.status.problems
    assert {p.resource for p in part.policies} == {ORG, FOLDER, PROD, STG}
    gets = log(sandbox, "gcp.crm.getIamPolicy")
    assert sorted(e["path"] for e in gets) == sorted(
        f"/v3/{r}:getIamPolicy" for r in (ORG, FOLDER, PROD, STG)
    )
    assert all(e["body"] == {"options": {"requestedPolicyVersion": 3}} for e in gets)
    prod = next(p for p in part.policies if p.resource == PROD)
    assert prod.version == 3 and prod.etag
    conditional = [b for b in prod.bindings if b.condition]
    assert [dict(b.condition or {}) for b in conditional] == [CONDITION]
    assert [(a.service, a.log_types) for a in prod.audit_configs] == [
        ("allServices", ("ADMIN_READ", "DATA_READ"))
    ]
    grants = set(part.grants)
    # the member is lower-cased; the conditional viewer binding yields no grant
    assert (
        Grant(GrantKind.GCP_BINDING, PROD, "user:taro.yamada@example.co.jp", "roles/viewer")
        in grants
    )
    assert not any(g.principal == "user:jiro.suzuki@example.co.jp" for g in grants)
    assert (
        Grant(GrantKind.GCP_BINDING, FOLDER, "group:eng@example.co.jp", "roles/browser") in grants
    )
    assert part.status.api_calls == len(log(sandbox))


def test_read_pages_through_service_accounts_and_keeps_only_user_managed_keys(
    provider: GcpIamProvider, sandbox: SandboxServer
) -> None:
    part = provider.read(desired())

    prod_pages = [e for e in log(sandbox, "iam.ListServiceAccounts") if e["method"] == "GRPC"]
    # 230 prod accounts at 100 a page + 1 stg page
    assert len(prod_pages) == 4
    assert len(part.service_accounts) == PROD_SA_COUNT + 1
    assert len(log(sandbox, "iam.ListServiceAccountKeys")) == PROD_SA_COUNT + 1
    first = next(sa for sa in part.service_accounts if sa.email.startswith("svc-000@"))
    assert [k.key_type for k in first.keys] == ["USER_MANAGED"]
    assert first.keys[0].name.endswith("/keys/u0")
    assert first.keys[0].valid_before is not None and first.keys[0].valid_before.year == 2027
    accounts = {a.name: a for a in part.accounts}
    disabled = accounts["svc-001@example-prod.iam.gserviceaccount.com"]
    assert disabled.kind is AccountKind.SERVICE_ACCOUNT and disabled.suspended
    assert disabled.id == "100000000000000000001"


def test_read_retries_a_503_on_grpc_and_stays_complete(
    provider: GcpIamProvider, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.add_fault(
        {"path": "^/google.iam.admin.v1.IAM/ListServiceAccounts$", "nth": 2, "status": 503}
    )

    part = provider.read(desired((PROD,)))

    assert part.status.complete, part.status.problems
    assert len(part.service_accounts) == PROD_SA_COUNT
    statuses = [e["status"] for e in log(sandbox, "iam.ListServiceAccounts")]
    assert statuses == [200, 503, 200, 200]


def test_read_honours_retry_after_of_a_429(
    provider: GcpIamProvider, sandbox: SandboxServer, sleeps: Sleeps
) -> None:
    sandbox.sandbox.add_fault(
        {
            "path": "^/v3/projects/example-prod:getIamPolicy$",
            "nth": 1,
            "status": 429,
            "headers": {"Retry-After": "7"},
            "body": {
                "error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}
            },
        }
    )

    part = provider.read(desired((PROD,)))

    assert part.status.complete
    assert sleeps.calls == [7.0]
    assert [e["status"] for e in log(sandbox, "gcp.crm.getIamPolicy")] == [429, 200]


def test_a_resource_failing_after_all_retries_makes_the_read_incomplete_not_empty(
    provider: GcpIamProvider, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.add_fault(
        {"path": "^/v3/projects/example-stg:getIamPolicy$", "every": True, "status": 503}
    )

    part = provider.read(desired())

    assert not part.status.complete
    assert len(part.status.problems) == 1 and STG in part.status.problems[0]
    assert {p.resource for p in part.policies} == {ORG, FOLDER, PROD}
    failed = [e for e in log(sandbox, "gcp.crm.getIamPolicy") if STG in e["path"]]
    assert len(failed) == provider.retry.attempts


def test_a_failed_service_account_page_makes_the_read_incomplete(
    provider: GcpIamProvider, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.add_fault({"path": "ListServiceAccounts$", "every": True, "status": 403})

    part = provider.read(desired((PROD,)))

    assert not part.status.complete
    assert "service accounts of projects/example-prod" in part.status.problems[0]
    assert part.service_accounts == ()
    # a 403 is permanent: one call, no retries
    assert len(log(sandbox, "iam.ListServiceAccounts")) == 1


def test_read_person_finds_bindings_with_one_search_scoped_to_the_organization(
    provider: GcpIamProvider, sandbox: SandboxServer
) -> None:
    taro = Person(
        id="e0042",
        name="山田 太郎",
        email="taro.yamada@example.co.jp",
        employment=Employment(EmploymentType.EMPLOYEE, date(2025, 4, 1)),
    )

    part = provider.read_person(taro)

    assert part.status.complete
    assert set(part.grants) == {
        Grant(GrantKind.GCP_BINDING, PROD, "user:taro.yamada@example.co.jp", "roles/viewer"),
        Grant(GrantKind.GCP_BINDING, STG, "user:taro.yamada@example.co.jp", "roles/editor"),
    }
    entries = log(sandbox)
    assert [e["endpoint"] for e in entries] == ["gcp.asset.searchAllIamPolicies"]
    assert entries[0]["path"] == f"/v1/{ORG}:searchAllIamPolicies"
    assert entries[0]["query"]["query"] == ["policy:user:taro.yamada@example.co.jp"]


def test_add_binding_preserves_conditions_and_audit_configs(
    provider: GcpIamProvider, sandbox: SandboxServer
) -> None:
    before = policy_of(sandbox, PROD)

    result = provider.apply(
        binding_action(
            ActionKind.ADD_BINDING, PROD, "user:hanako.sato@example.co.jp", "roles/viewer"
        )
    )

    assert result.ok and result.changed
    after = policy_of(sandbox, PROD)
    assert after["auditConfigs"] == AUDIT
    conditional = [b for b in after["bindings"] if b.get("condition")]
    assert conditional == [b for b in before["bindings"] if b.get("condition")]
    viewer = next(
        b for b in after["bindings"] if b["role"] == "roles/viewer" and not b.get("condition")
    )
    assert viewer["members"] == ["user:Taro.Yamada@Example.co.jp", "user:hanako.sato@example.co.jp"]
    sets = log(sandbox, "gcp.crm.setIamPolicy")
    assert len(sets) == 1
    assert sets[0]["body"]["policy"]["etag"] == before["etag"]
    assert sets[0]["body"]["policy"]["version"] == 3


def test_an_etag_conflict_rereads_and_the_final_policy_holds_both_changes(
    provider: GcpIamProvider, sandbox: SandboxServer, sleeps: Sleeps
) -> None:
    # another writer adds a member just before our first write lands: our etag is stale
    requests.post(
        f"{sandbox.url}/_sandbox/gcp/concurrent-changes",
        json={
            "resource": STG,
            "add": [{"role": "roles/viewer", "member": "user:other.admin@example.co.jp"}],
        },
        timeout=5,
    ).raise_for_status()

    result = provider.apply(
        binding_action(
            ActionKind.ADD_BINDING, STG, "user:hanako.sato@example.co.jp", "roles/viewer"
        )
    )

    assert result.changed
    viewer = next(b for b in policy_of(sandbox, STG)["bindings"] if b["role"] == "roles/viewer")
    assert viewer["members"] == ["user:other.admin@example.co.jp", "user:hanako.sato@example.co.jp"]
    sequence = [(e["endpoint"].split(".")[-1], e["status"]) for e in log(sandbox)]
    assert sequence == [
        ("getIamPolicy", 200),
        ("setIamPolicy", 409),
        ("getIamPolicy", 200),
        ("setIamPolicy", 200),
    ]
    assert len(sleeps.calls) == 1  # backoff before the second cycle


def test_a_conflict_that_never_clears_raises_conflict_error_after_bounded_cycles(
    provider: GcpIamProvider, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.add_fault(
        {
            "path": ":setIamPolicy$",
            "every": True,
            "status": 409,
            "body": {"error": {"code": 409, "message": "concurrent", "status": "ABORTED"}},
        }
    )

    with pytest.raises(ConflictError):
        provider.apply(
            binding_action(
                ActionKind.ADD_BINDING, STG, "user:hanako.sato@example.co.jp", "roles/viewer"
            )
        )

    assert len(log(sandbox, "gcp.crm.setIamPolicy")) == provider.write_attempts


def test_removing_the_last_owner_is_refused_without_writing(
    provider: GcpIamProvider, sandbox: SandboxServer
) -> None:
    before = policy_of(sandbox, STG)

    with pytest.raises(PermanentProviderError, match="last roles/owner"):
        provider.apply(
            binding_action(ActionKind.REMOVE_BINDING, STG, "user:cto@example.co.jp", "roles/owner")
        )

    assert log(sandbox, "gcp.crm.setIamPolicy") == []
    assert policy_of(sandbox, STG) == before


def test_an_owner_can_be_removed_when_another_owner_remains(
    provider: GcpIamProvider, sandbox: SandboxServer
) -> None:
    provider.apply(
        binding_action(ActionKind.ADD_BINDING, STG, "user:cfo@example.co.jp", "roles/owner")
    )

    result = provider.apply(
        binding_action(ActionKind.REMOVE_BINDING, STG, "user:cto@example.co.jp", "roles/owner")
    )

    assert result.changed
    owner = next(b for b in policy_of(sandbox, STG)["bindings"] if b["role"] == "roles/owner")
    assert owner["members"] == ["user:cfo@example.co.jp"]


def test_applying_an_effect_that_already_holds_changes_nothing(
    provider: GcpIamProvider, sandbox: SandboxServer
) -> None:
    # present already (the API spells it in mixed case), and absent already
    add = provider.apply(
        binding_action(
            ActionKind.ADD_BINDING, PROD, "user:taro.yamada@example.co.jp", "roles/viewer"
        )
    )
    remove = provider.apply(
        binding_action(ActionKind.REMOVE_BINDING, PROD, "user:nobody@example.co.jp", "roles/editor")
    )

    assert add.ok and not add.changed
    assert remove.ok and not remove.changed
    assert log(sandbox, "gcp.crm.setIamPolicy") == []


def test_removing_a_member_leaves_their_conditional_binding_alone(
    provider: GcpIamProvider, sandbox: SandboxServer
) -> None:
    provider.apply(
        binding_action(
            ActionKind.REMOVE_BINDING, PROD, "user:taro.yamada@example.co.jp", "roles/viewer"
        )
    )
    provider.apply(
        binding_action(
            ActionKind.REMOVE_BINDING, PROD, "user:jiro.suzuki@example.co.jp", "roles/viewer"
        )
    )

    bindings = policy_of(sandbox, PROD)["bindings"]
    assert {b["role"] for b in bindings if not b.get("condition")} == {"roles/owner"}
    assert [b["members"] for b in bindings if b.get("condition")] == [
        ["user:jiro.suzuki@example.co.jp"]
    ]


def test_apply_bindings_makes_many_edits_in_one_read_modify_write(
    provider: GcpIamProvider, sandbox: SandboxServer
) -> None:
    changed = provider.apply_bindings(
        STG,
        adds=[
            ("roles/viewer", "user:a.tanaka@example.co.jp"),
            ("roles/viewer", "user:b.ito@example.co.jp"),
        ],
        removes=[("roles/editor", "user:taro.yamada@example.co.jp")],
    )

    assert changed
    assert [e["endpoint"] for e in log(sandbox)] == ["gcp.crm.getIamPolicy", "gcp.crm.setIamPolicy"]
    bindings = {b["role"]: b["members"] for b in policy_of(sandbox, STG)["bindings"]}
    assert bindings["roles/viewer"] == ["user:a.tanaka@example.co.jp", "user:b.ito@example.co.jp"]
    assert bindings["roles/editor"] == [
        "serviceAccount:svc-000@example-prod.iam.gserviceaccount.com"
    ]


def test_the_gcp_world_used_here_is_valid_under_the_published_schema() -> None:
    import json
    from pathlib import Path

    import jsonschema

    schema_path = Path(__file__).parents[2] / "reconciler/sandbox/schemas/gcp.schema.json"
    schema = json.loads(schema_path.read_text())
    jsonschema.Draft202012Validator(schema).validate(copy.deepcopy(gcp_world()["gcp"]))


def test_a_dropped_connection_on_a_policy_read_is_retried(
    provider: GcpIamProvider, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.add_fault(
        {"path": "^/v3/projects/example-prod:getIamPolicy$", "nth": 1, "drop_connection": True}
    )

    part = provider.read(desired((PROD,)))

    assert part.status.complete, part.status.problems
    assert [p.resource for p in part.policies] == [PROD]
    assert len(log(sandbox, "gcp.crm.getIamPolicy")) >= 2


# -- acting_as: the service account the tool runs as (DESIGN 6.4) ----------------------------


def test_acting_as_names_the_service_account_of_the_credentials(sandbox: SandboxServer) -> None:
    from google.auth import compute_engine
    from google.oauth2 import service_account

    from reconciler.providers.google_auth import throwaway_private_key_pem

    info = requests.get(f"{sandbox.url}/_sandbox/", timeout=5).json()
    key = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        {
            "type": "service_account",
            "private_key": throwaway_private_key_pem(),
            "client_email": "Reconciler@example-prod.iam.gserviceaccount.com",
            "token_uri": f"{sandbox.url}/token",
        }
    )
    runtime = compute_engine.Credentials(  # type: ignore[no-untyped-call]
        service_account_email="run-sa@example-prod.iam.gserviceaccount.com"
    )

    assert GcpIamProvider.from_sandbox(info, credentials=key).acting_as() == (
        "serviceAccount:reconciler@example-prod.iam.gserviceaccount.com",
    )
    assert GcpIamProvider.from_sandbox(info, credentials=runtime).acting_as() == (
        "serviceAccount:run-sa@example-prod.iam.gserviceaccount.com",
    )
    # The sandbox's clients send no credentials: nothing to name, and nothing is asked.
    assert GcpIamProvider.from_sandbox(info).acting_as() == ()


def test_acting_as_raises_when_the_metadata_server_cannot_name_the_default_account(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.parse import urlparse

    from google.auth import compute_engine
    from google.auth.compute_engine import _metadata

    # ADC on Cloud Run starts as the placeholder "default"; the real address comes from the
    # metadata server. Point the real library at a host that does not serve it (the sandbox
    # answers 404), as GCE_METADATA_HOST would, read at import time.
    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", urlparse(sandbox.url).netloc)
    info = requests.get(f"{sandbox.url}/_sandbox/", timeout=5).json()
    runtime = compute_engine.Credentials()  # type: ignore[no-untyped-call]
    assert runtime.service_account_email == "default"
    gcp = GcpIamProvider.from_sandbox(info, credentials=runtime, retry=RetryPolicy(attempts=1))

    with pytest.raises(PermanentProviderError, match="learn the service account"):
        gcp.acting_as()
    assert any(r.path.startswith("/computeMetadata/v1/") for r in sandbox.sandbox.telemetry.log)


# -- role names (plan / apply check roles.yaml against them) ----------------------------------
def test_role_names_lists_every_page_of_each_parent_once(
    sandbox: SandboxServer, provider: GcpIamProvider
) -> None:
    world = gcp_world()
    world["gcp"]["roles"] = {
        f"{PROD}/roles/custom{i:04d}": {"title": f"Custom {i}"} for i in range(1500)
    }
    world["gcp"]["roles"][f"{PROD}/roles/retired"] = {"title": "Retired", "deleted": True}
    sandbox.sandbox.load_world(world)

    names = provider.role_names(["", PROD, PROD])

    assert "roles/logging.viewer" in names
    assert f"{PROD}/roles/custom1499" in names
    assert f"{PROD}/roles/retired" not in names  # deleted: not a role to grant
    assert len([n for n in names if n.startswith(f"{PROD}/")]) == 1500
    # the predefined roles fit one page of 1,000; the project's custom roles take two
    assert len(log(sandbox, "iam.ListRoles")) == 3


def test_role_names_raises_when_a_list_fails_rather_than_answer_fewer_roles(
    sandbox: SandboxServer, provider: GcpIamProvider
) -> None:
    sandbox.sandbox.load_world(gcp_world())
    sandbox.sandbox.add_fault(
        {"path": "/google.iam.admin.v1.IAM/ListRoles$", "every": True, "status": 403}
    )

    with pytest.raises(PermanentProviderError, match="ListRoles roles: 403"):
        provider.role_names([""])
