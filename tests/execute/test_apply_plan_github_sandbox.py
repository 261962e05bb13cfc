"""The executor end to end with the real GitHub provider (PyGithub over HTTP) against the
sandbox: a leaver's offboarding and a newcomer's team addition are applied in order, an
injected API failure is collected without stopping the rest, and the audit log proves it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from reconciler.audit import AuditLog, RecordType, read_records, verify
from reconciler.execute import OutcomeStatus, apply_plan
from reconciler.model import (
    Action,
    ActionKind,
    DesiredState,
    Employment,
    EmploymentType,
    GitHubScope,
    Organization,
    Person,
    Phase,
    Plan,
    SafetyLimits,
    Snapshot,
    System,
    Systems,
)
from reconciler.providers.base import Provider
from reconciler.sandbox.server import SandboxServer
from tests.conftest import load
from tests.providers.test_github_provider import fault, provider, state
from tests.sandbox.test_github_rest import ORG, github_world

DESIRED = DesiredState(
    organization=Organization(
        name="Example",
        domains=("example.co.jp",),
        timezone="Asia/Tokyo",
        security_officer="e0001",
        systems=Systems(github=GitHubScope(org=ORG)),
    ),
    roles={},
    people={
        "e0042": Person(
            "e0042",
            "鈴木 花子",
            "user2@example.co.jp",
            Employment(EmploymentType.EMPLOYEE, date(2024, 4, 1), end=date(2026, 11, 30)),
            github="user2",
        ),
    },
)


def _act(
    kind: ActionKind,
    target: str,
    login: str,
    role: str = "",
    *,
    person_id: str | None = None,
    offboarding: bool = False,
) -> Action:
    phase = Phase.OFFBOARD_GITHUB if offboarding else Phase.ADD
    return Action(int(phase), System.GITHUB, kind, target, login, role, person_id, offboarding)


def test_leaver_offboarding_and_an_addition_applied_in_order_with_a_failure_collected(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    load(sandbox, github_world(members=4, team_members=3))
    github = provider(sandbox)
    snapshot = Snapshot.of(datetime(2026, 11, 30, 9, 0, tzinfo=UTC), [github.read(DESIRED)])
    assert snapshot.is_complete(System.GITHUB)
    plan = Plan(
        made_at=snapshot.read_at,
        actions=(
            _act(ActionKind.ADD_TEAM_MEMBER, f"{ORG}/infra", "user1", "member"),
            _act(ActionKind.ADD_TEAM_MEMBER, f"{ORG}/infra", "user3", "maintainer"),
            _act(ActionKind.REMOVE_TEAM_MEMBER, f"{ORG}/backend", "user2",
                 person_id="e0042", offboarding=True),
            _act(ActionKind.REMOVE_ORG_MEMBER, ORG, "user2", "member",
                 person_id="e0042", offboarding=True),
        ),
        findings=(),
        state_fingerprint=snapshot.fingerprint(),
    )  # fmt: skip
    fault(sandbox, method="PUT", path=f"^/orgs/{ORG}/teams/infra/memberships/user1$",
          every=True, status=403)  # fmt: skip
    sandbox.sandbox.telemetry.reset()
    audit_path = tmp_path / "audit.jsonl"
    providers: dict[System, Provider] = {System.GITHUB: github}

    report = apply_plan(
        plan, providers, snapshot=snapshot, desired=DESIRED,
        limits=SafetyLimits(max_removal_ratio=1.0), audit=AuditLog(audit_path),
        confirm=True, allow_mass_removal=False, actor="ops@admin-host",
    )  # fmt: skip

    # the org membership went first; the injected 403 failed one addition only
    assert [(o.action.kind, o.status) for o in report.outcomes] == [
        (ActionKind.REMOVE_ORG_MEMBER, OutcomeStatus.APPLIED),
        (ActionKind.REMOVE_TEAM_MEMBER, OutcomeStatus.APPLIED),
        (ActionKind.ADD_TEAM_MEMBER, OutcomeStatus.FAILED),
        (ActionKind.ADD_TEAM_MEMBER, OutcomeStatus.APPLIED),
    ]
    assert report.exit_code == 1
    # removing the org membership also removed the team membership (GitHub docs), so the
    # idempotent team removal found nothing left to do
    assert [o.changed for o in report.outcomes] == [True, False, False, True]
    assert "403" in report.failures[0].message

    world = state(sandbox)
    assert "user2" not in {m["login"] for m in world["members"]}
    teams = {t["slug"]: {m["login"]: m["role"] for m in t["members"]} for t in world["teams"]}
    assert "user2" not in teams["backend"]
    assert teams["infra"] == {"user3": "maintainer"}
    writes = [
        (r.method, r.path) for r in sandbox.sandbox.telemetry.log if r.method in ("PUT", "DELETE")
    ]
    assert writes[0] == ("DELETE", f"/orgs/{ORG}/memberships/user2")

    records = read_records(audit_path)
    assert verify(audit_path).ok
    assert [r.type for r in records].count(RecordType.INTENT) == 4
    assert [r.type for r in records].count(RecordType.RESULT) == 4
    done = [r for r in records if r.type == RecordType.OFFBOARDING_COMPLETE]
    assert [r.person_id for r in done] == ["e0042"]
    assert done[0].details["last_day"] == "2026-11-30"
