"""The demo world is a faithful sandbox world for the example repo, and its drift is exactly
what the planner reports: without drift, the only changes are the offboardings that are due."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from reconciler.demo.world import DRIFT, build_world
from reconciler.desired.expanding import expand_access
from reconciler.desired.loading import load_desired_dir
from reconciler.model import ActionKind, DesiredState, Snapshot, System
from reconciler.plan import plan_changes
from reconciler.providers.connecting import connect_sandbox
from reconciler.providers.reading import read_all
from reconciler.sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # 21:00 in Tokyo: today's leaver is past 18:00
SCHEMAS = REPO / "reconciler" / "sandbox" / "schemas"


@pytest.fixture(scope="module")
def desired() -> DesiredState:
    return load_desired_dir(REPO / "desired_state")


def _read(sandbox: SandboxServer, desired: DesiredState, world: dict[str, object]) -> Snapshot:
    sandbox.sandbox.load_world(world)
    return read_all(connect_sandbox(sandbox.url, desired), desired, NOW)


@pytest.mark.parametrize("section", ["google", "github", "gcp", "storage"])
def test_demo_world_sections_match_the_sandbox_world_schemas(
    desired: DesiredState, section: str
) -> None:
    world, _ = build_world(desired, NOW)
    schema = json.loads((SCHEMAS / f"{section}.schema.json").read_text())
    jsonschema.validate(world[section], schema)


def test_every_drift_step_applies_to_the_example_repo(desired: DesiredState) -> None:
    _, notes = build_world(desired, NOW)
    assert len(notes) == len(DRIFT)


def test_world_without_drift_plans_only_the_offboardings_that_are_due(
    sandbox: SandboxServer, desired: DesiredState
) -> None:
    world, notes = build_world(desired, NOW, drift=False)
    assert notes == []
    snapshot = _read(sandbox, desired, world)
    assert all(part.status.complete for part in snapshot.parts.values())
    plan = plan_changes(desired, expand_access(desired, NOW), snapshot, NOW)
    departed = {"e0014", "e0022"}  # left last week and today (example repo)
    assert plan.actions, "the leavers' access is still there"
    assert {a.person_id for a in plan.actions} == departed
    assert all(a.offboarding for a in plan.actions)


def test_demo_drift_produces_onboarding_transfer_offboarding_and_the_findings(
    sandbox: SandboxServer, desired: DesiredState
) -> None:
    world, _ = build_world(desired, NOW)
    plan = plan_changes(desired, expand_access(desired, NOW), _read(sandbox, desired, world), NOW)
    kinds = {a.kind for a in plan.actions}
    assert {
        ActionKind.CREATE_ACCOUNT,
        ActionKind.ADD_GROUP_MEMBER,
        ActionKind.INVITE_ORG_MEMBER,
    } <= kinds
    assert {ActionKind.SUSPEND_ACCOUNT, ActionKind.SIGN_OUT, ActionKind.REVOKE_TOKEN} <= kinds
    assert {
        ActionKind.REMOVE_ORG_MEMBER,
        ActionKind.REMOVE_BINDING,
        ActionKind.REMOVE_GROUP_MEMBER,
    } <= kinds
    codes = {f.code for f in plan.findings}
    assert {
        "leaver-has-access",
        "unmanaged-account",
        "shared-account",
        "external-member",
        "2sv-not-enrolled",
        "dormant-account",
        "user-managed-key",
        "stale-invitation",
        "failed-invitation",
        "deleted-principal",
        "audit-logs-disabled",
        "owner-on-prod",
        "github-login-renamed",
    } <= codes


def test_the_demo_sandbox_token_acts_as_the_repos_protected_github_bot(
    sandbox: SandboxServer, desired: DesiredState
) -> None:
    world, _ = build_world(desired, NOW)
    sandbox.sandbox.load_world(world)
    providers = connect_sandbox(sandbox.url, desired)  # the token GitHubProvider really sends

    assert providers[System.GITHUB].acting_as() == ("example-reconciler-bot",)


def test_without_a_protected_github_account_the_demo_keeps_the_sandbox_default(
    desired: DesiredState,
) -> None:
    org = desired.organization
    unprotected = replace(
        desired,
        organization=replace(
            org,
            protected_accounts=tuple(
                p for p in org.protected_accounts if p.system is not System.GITHUB
            ),
        ),
    )
    world, _ = build_world(unprotected, NOW)
    assert "tokens" not in world["github"]
