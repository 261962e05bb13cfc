"""The executor: dry run, refusals (planner safety check, protected accounts, own identity),
ordering, per-action error collection, audit records, offboarding evidence and crash re-runs.
Providers here are the in-memory RecordingProvider: this tests the executor, not a provider."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.audit import AuditLog, RecordType, read_records, verify
from reconciler.errors import PermanentProviderError, ReconcilerError
from reconciler.execute import ApplyReport, OutcomeStatus, apply_plan
from reconciler.model import (
    Action,
    ActionKind,
    DesiredState,
    Employment,
    EmploymentType,
    Grant,
    GrantKind,
    Organization,
    Person,
    Phase,
    ProtectedAccount,
    ReadStatus,
    SafetyLimits,
    Snapshot,
    SnapshotPart,
    System,
    Systems,
)
from reconciler.model import Plan as PlanValue
from reconciler.providers.base import Provider
from tests.execute.recording_provider import RecordingProvider

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # 18:30 in Tokyo on the leaver's last day
DOMAIN = "example.co.jp"
LEAVER = "hanako.suzuki@example.co.jp"
NEWCOMER = "jiro.tanaka@example.co.jp"
ROOMY = SafetyLimits(max_removals=20, max_removal_ratio=1.0)

DESIRED = DesiredState(
    organization=Organization(
        name="Example KK",
        domains=(DOMAIN,),
        timezone="Asia/Tokyo",
        security_officer="e0002",
        systems=Systems(),
        protected_accounts=(
            ProtectedAccount(System.GOOGLE, "breakglass@example.co.jp", "break-glass admin"),
        ),
    ),
    roles={},
    people={
        "e0042": Person(
            "e0042",
            "鈴木 花子",
            LEAVER,
            Employment(EmploymentType.EMPLOYEE, date(2024, 4, 1), end=date(2026, 11, 30)),
            github="hsuzuki",
        ),
        "e0077": Person(
            "e0077",
            "田中 次郎",
            NEWCOMER,
            Employment(EmploymentType.EMPLOYEE, date(2026, 11, 30)),
        ),
    },
    commit="c0ffee",
)


def _action(
    phase: Phase,
    system: System,
    kind: ActionKind,
    target: str,
    principal: str,
    role: str = "",
    *,
    person: str | None = None,
    offboarding: bool = False,
    params: tuple[tuple[str, str], ...] = (),
) -> Action:
    return Action(
        int(phase), system, kind, target, principal, role, person, offboarding, "test", params
    )


def off(phase: Phase, system: System, kind: ActionKind, target: str, principal: str) -> Action:
    return _action(phase, system, kind, target, principal, person="e0042", offboarding=True)


# The leaver's offboarding and a newcomer's onboarding, deliberately listed out of order.
LEAVER_ACTIONS = (
    off(Phase.OFFBOARD_GCP, System.GCP, ActionKind.REMOVE_BINDING, "projects/example-prod",
        f"user:{LEAVER}"),
    off(Phase.OFFBOARD_GITHUB, System.GITHUB, ActionKind.REMOVE_TEAM_MEMBER, "example/backend",
        "hsuzuki"),
    off(Phase.OFFBOARD_GOOGLE, System.GOOGLE, ActionKind.REVOKE_TOKEN, DOMAIN, LEAVER),
    off(Phase.OFFBOARD_GITHUB, System.GITHUB, ActionKind.REMOVE_ORG_MEMBER, "example", "hsuzuki"),
    off(Phase.OFFBOARD_GOOGLE, System.GOOGLE, ActionKind.SIGN_OUT, DOMAIN, LEAVER),
    off(Phase.OFFBOARD_GOOGLE, System.GOOGLE, ActionKind.SUSPEND_ACCOUNT, DOMAIN, LEAVER),
)  # fmt: skip
NEWCOMER_ACTIONS = (
    _action(Phase.ADD, System.GOOGLE, ActionKind.ADD_GROUP_MEMBER, "eng@example.co.jp", NEWCOMER,
            "MEMBER", person="e0077"),
    _action(Phase.CREATE_ACCOUNT, System.GOOGLE, ActionKind.CREATE_ACCOUNT, DOMAIN, NEWCOMER,
            person="e0077", params=(("given_name", "Jiro"), ("family_name", "Tanaka"))),
    _action(Phase.ADD, System.GCP, ActionKind.ADD_BINDING, "projects/example-stg",
            f"user:{NEWCOMER}", "roles/editor", person="e0077",
            params=(("approved_by", "e0002"),)),
)  # fmt: skip


LEAVERS_GITHUB_GRANTS = (
    Grant(GrantKind.GITHUB_ORG, "example", "hsuzuki", "member"),
    Grant(GrantKind.GITHUB_TEAM, "example/backend", "hsuzuki", "member"),
)


def _snapshot(
    *, incomplete: System | None = None, extra_grants: int = 0, github: tuple[Grant, ...] = ()
) -> Snapshot:
    parts = []
    for system in System:
        kind = {
            System.GOOGLE: GrantKind.GOOGLE_GROUP,
            System.GITHUB: GrantKind.GITHUB_TEAM,
            System.GCP: GrantKind.GCP_BINDING,
        }[system]
        grants = tuple(
            Grant(kind, "t", f"person{n}@example.com", "MEMBER") for n in range(extra_grants)
        ) + (github if system is System.GITHUB else ())
        status = ReadStatus(system, complete=system is not incomplete, problems=())
        parts.append(SnapshotPart(system, status, grants=grants))
    return Snapshot.of(NOW, parts)


def _plan(*actions: Action, snapshot: Snapshot | None = None) -> PlanValue:
    snap = snapshot or _snapshot()
    return PlanValue(NOW, tuple(actions), (), snap.fingerprint(), desired_commit="c0ffee")


def _providers(
    shared: list[str] | None = None, provider_time: datetime | None = None
) -> dict[System, RecordingProvider]:
    return {s: RecordingProvider(s, log=shared, provider_time=provider_time) for s in System}


def _run(
    plan: PlanValue,
    providers: dict[System, RecordingProvider],
    audit: AuditLog | None,
    *,
    confirm: bool = True,
    snapshot: Snapshot | None = None,
    limits: SafetyLimits = ROOMY,
    allow_mass_removal: bool = False,
    self_identities: tuple[str, ...] = (),
) -> ApplyReport:
    typed: dict[System, Provider] = dict(providers)
    ticks = iter(range(10_000))
    return apply_plan(
        plan,
        typed,
        snapshot=snapshot or _snapshot(),
        desired=DESIRED,
        limits=limits,
        audit=audit,
        confirm=confirm,
        allow_mass_removal=allow_mass_removal,
        actor="ops@admin-host",
        self_identities=self_identities,
        run_id="run-1",
        now_fn=lambda: NOW + timedelta(seconds=next(ticks)),
    )


def test_dry_run_calls_no_provider_and_writes_nothing_to_the_audit_log(tmp_path: Path) -> None:
    providers = _providers()
    audit = AuditLog(tmp_path / "audit.jsonl")
    report = _run(_plan(*LEAVER_ACTIONS, *NEWCOMER_ACTIONS), providers, audit, confirm=False)
    assert report.dry_run and report.exit_code == 0
    assert len(report.outcomes) == 9
    assert {o.status for o in report.outcomes} == {OutcomeStatus.PLANNED}
    assert all(p.calls == [] for p in providers.values())
    assert not (tmp_path / "audit.jsonl").exists()


def test_actions_run_leaver_google_then_github_then_gcp_then_creations_additions(
    tmp_path: Path,
) -> None:
    order: list[str] = []
    report = _run(
        _plan(*LEAVER_ACTIONS, *NEWCOMER_ACTIONS),
        _providers(order),
        AuditLog(tmp_path / "audit.jsonl"),
    )
    assert report.ok and report.exit_code == 0
    assert order == [
        f"suspend_account:{LEAVER}",
        f"sign_out:{LEAVER}",
        f"revoke_token:{LEAVER}",
        "remove_org_member:hsuzuki",
        "remove_team_member:hsuzuki",
        f"remove_binding:user:{LEAVER}",
        f"create_account:{NEWCOMER}",
        f"add_group_member:{NEWCOMER}",
        f"add_binding:user:{NEWCOMER}",
    ]


def test_a_failed_google_suspension_does_not_stop_the_leavers_github_and_gcp_removals(
    tmp_path: Path,
) -> None:
    providers = _providers()
    providers[System.GOOGLE].fail.add((ActionKind.SUSPEND_ACCOUNT, LEAVER))
    providers[System.GITHUB].crash.add((ActionKind.REMOVE_TEAM_MEMBER, "hsuzuki"))
    audit = AuditLog(tmp_path / "audit.jsonl")
    report = _run(_plan(*LEAVER_ACTIONS, *NEWCOMER_ACTIONS), providers, audit)
    assert report.exit_code == 1 and not report.ok
    failed = {(o.action.kind, o.message) for o in report.failures}
    assert failed == {
        (ActionKind.SUSPEND_ACCOUNT, f"PermanentProviderError: 403 forbidden for {LEAVER}"),
        (ActionKind.REMOVE_TEAM_MEMBER, "unexpected RuntimeError: provider bug"),
    }
    # every other action was still attempted, the leaver's later phases included
    assert sum(len(p.calls) for p in providers.values()) == 9
    assert len([o for o in report.outcomes if o.status is OutcomeStatus.APPLIED]) == 7
    # a partial offboarding is not claimed as complete
    assert report.offboarding_completed == ()
    assert report.offboarding_incomplete == ("e0042",)
    assert any("offboarding of e0042 not complete" in str(r) for r in report.partial)
    records = read_records(tmp_path / "audit.jsonl")
    assert RecordType.OFFBOARDING_COMPLETE not in {r.type for r in records}
    results = [r for r in records if r.type == RecordType.RESULT]
    assert [r.result["ok"] for r in results if r.result] == [
        False, True, True, True, False, True, True, True, True,
    ]  # fmt: skip


def test_every_action_has_an_intent_before_and_a_result_after_it_in_a_verified_chain(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    _run(_plan(*NEWCOMER_ACTIONS), _providers(), AuditLog(path))
    records = read_records(path)
    assert [r.type for r in records] == [
        "run-start", "intent", "result", "intent", "result", "intent", "result", "run-end",
    ]  # fmt: skip
    for intent, result in zip(records[1:-1:2], records[2:-1:2], strict=True):
        assert intent.action_id == result.action_id == (result.result or {})["action_id"]
    assert {r.run_id for r in records} == {"run-1"}
    assert {r.data["actor"] for r in records} == {"ops@admin-host"}
    assert {r.data["desired_commit"] for r in records} == {"c0ffee"}
    binding = [r for r in records if r.action and r.action["kind"] == "add_binding"]
    assert {r.data["approver"] for r in binding} == {"e0002"}
    assert records[-1].details == {
        "status": "completed", "applied": 3, "changed": 3, "failed": 0,
    }  # fmt: skip
    assert verify(path).ok


def test_offboarding_complete_records_the_provider_time_of_the_last_removal(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    removed = datetime(2026, 11, 30, 9, 0, 7, tzinfo=UTC)
    report = _run(_plan(*LEAVER_ACTIONS), _providers(provider_time=removed), AuditLog(path))
    assert report.offboarding_completed == ("e0042",)
    done = [r for r in read_records(path) if r.type == RecordType.OFFBOARDING_COMPLETE]
    assert len(done) == 1
    assert done[0].person_id == "e0042"
    assert done[0].data["provider_time"] == "2026-11-30T09:00:07+00:00"
    assert done[0].details["last_day"] == "2026-11-30"
    assert done[0].details["access_ends_at"] == "2026-11-30T18:00:00+09:00"
    assert done[0].details["removed_at_source"] == "provider"
    assert read_records(path)[-1].type == RecordType.RUN_END


def test_offboarding_is_not_claimed_complete_when_a_systems_read_was_incomplete(
    tmp_path: Path,
) -> None:
    snap = _snapshot(incomplete=System.GITHUB, github=LEAVERS_GITHUB_GRANTS)
    report = _run(
        _plan(*LEAVER_ACTIONS, snapshot=snap), _providers(), AuditLog(tmp_path / "a.jsonl"),
        snapshot=snap,
    )  # fmt: skip
    assert report.refused == ()  # a leaver's known grants are removed even then (DESIGN 6.2)
    assert report.offboarding_completed == ()
    assert report.offboarding_incomplete == ("e0042",)
    assert any("offboarding of e0042 not complete" in str(r) for r in report.partial)


@pytest.mark.parametrize(
    ("name", "action", "self_identities", "reason"),
    [
        (
            "protected google account",
            _action(Phase.REMOVE, System.GOOGLE, ActionKind.SUSPEND_ACCOUNT, DOMAIN,
                    "BreakGlass@example.co.jp"),
            (),
            "protected account",
        ),
        (
            "protected account as a GCP member",
            _action(Phase.REMOVE, System.GCP, ActionKind.REMOVE_BINDING, "organizations/123",
                    "user:breakglass@example.co.jp", "roles/owner"),
            (),
            "protected account",
        ),
        (
            "the tool's own service account",
            _action(Phase.REMOVE, System.GCP, ActionKind.REMOVE_BINDING, "projects/example-prod",
                    "serviceAccount:reconciler@example-prod.iam.gserviceaccount.com",
                    "roles/iam.securityAdmin"),
            ("reconciler@example-prod.iam.gserviceaccount.com",),
            "own identity",
        ),
        (
            "the tool's own GitHub bot",
            _action(Phase.REMOVE, System.GITHUB, ActionKind.REMOVE_ORG_MEMBER, "example",
                    "reconciler-bot"),
            ("reconciler-bot",),
            "own identity",
        ),
    ],
)  # fmt: skip
def test_an_action_on_a_protected_or_own_identity_refuses_the_whole_plan(
    tmp_path: Path, name: str, action: Action, self_identities: tuple[str, ...], reason: str
) -> None:
    providers = _providers()
    path = tmp_path / "audit.jsonl"
    report = _run(
        _plan(*NEWCOMER_ACTIONS, action),
        providers,
        AuditLog(path),
        self_identities=self_identities,
    )
    assert report.exit_code == 2, name
    assert report.refused and any(str(r).startswith(reason) for r in report.refused), name
    assert all(p.calls == [] for p in providers.values()), name
    records = read_records(path)
    assert [r.type for r in records] == ["run-start", "run-end"]
    assert records[-1].details["status"] == "refused"


def test_a_dry_run_reports_the_refusal_too(tmp_path: Path) -> None:
    bad = _action(Phase.REMOVE, System.GOOGLE, ActionKind.SUSPEND_ACCOUNT, DOMAIN,
                  "breakglass@example.co.jp")  # fmt: skip
    report = _run(_plan(bad), _providers(), AuditLog(tmp_path / "a.jsonl"), confirm=False)
    assert report.exit_code == 2 and report.outcomes == ()
    assert not (tmp_path / "a.jsonl").exists()


def test_actions_for_a_system_without_a_provider_refuse_the_plan(tmp_path: Path) -> None:
    providers = _providers()
    del providers[System.GCP]
    report = _run(_plan(*NEWCOMER_ACTIONS), providers, AuditLog(tmp_path / "a.jsonl"))
    assert [str(r) for r in report.refused] == [
        "no provider configured for gcp; its actions cannot be applied"
    ]
    assert providers[System.GOOGLE].calls == []


def _removals(n: int) -> list[Action]:
    return [
        _action(Phase.REMOVE, System.GOOGLE, ActionKind.REMOVE_GROUP_MEMBER, "t",
                f"person{i}@example.com", "MEMBER")
        for i in range(n)
    ]  # fmt: skip


def test_the_planners_removal_limit_refuses_a_mass_removal_unless_overridden(
    tmp_path: Path,
) -> None:
    snap = _snapshot(extra_grants=10)
    plan = _plan(*_removals(5), snapshot=snap)
    tight = SafetyLimits(max_removals=3, max_removal_ratio=1.0)
    providers = _providers()
    refused = _run(plan, providers, AuditLog(tmp_path / "a.jsonl"), snapshot=snap, limits=tight)
    assert refused.exit_code == 2 and refused.refused
    assert providers[System.GOOGLE].calls == []
    allowed = _run(
        plan, providers, AuditLog(tmp_path / "b.jsonl"), snapshot=snap, limits=tight,
        allow_mass_removal=True,
    )  # fmt: skip
    assert allowed.ok and len(providers[System.GOOGLE].calls) == 5


def test_a_confirmed_run_without_an_audit_log_is_refused() -> None:
    with pytest.raises(ReconcilerError, match="audit log"):
        _run(_plan(*NEWCOMER_ACTIONS), _providers(), None)


class Crash(BaseException):
    """Stands for the process dying (kill -9, power loss) in the middle of an action."""


class CrashingProvider(RecordingProvider):
    def apply(self, action: Action) -> object:  # type: ignore[override]
        super().apply(action)  # the change reaches the system...
        raise Crash  # ...and the process dies before the result is written


def test_a_rerun_after_a_crash_converges_and_the_log_shows_the_unfinished_intent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    providers = _providers()
    crashing = CrashingProvider(System.GCP, held=providers[System.GCP].held)
    with pytest.raises(Crash):
        _run(_plan(*NEWCOMER_ACTIONS), {**providers, System.GCP: crashing}, AuditLog(path))
    report = verify(path)
    assert report.ok  # a crash is not tampering
    assert [r.action["kind"] for r in report.unfinished_intents if r.action] == ["add_binding"]
    # the re-run (same plan here; normally re-planned from a fresh read) converges
    rerun = _run(_plan(*NEWCOMER_ACTIONS), providers, AuditLog(path))
    assert rerun.ok
    assert [o.changed for o in rerun.outcomes] == [False, False, False]  # already in place
    assert verify(path).ok


def test_progress_is_reported_after_each_action(tmp_path: Path) -> None:
    seen: list[tuple[int, int, str]] = []
    ticks = iter(range(100))
    apply_plan(
        _plan(*NEWCOMER_ACTIONS),
        dict(_providers()),
        snapshot=_snapshot(),
        desired=DESIRED,
        limits=ROOMY,
        audit=AuditLog(tmp_path / "a.jsonl"),
        confirm=True,
        allow_mass_removal=False,
        actor="ops@admin-host",
        now_fn=lambda: NOW + timedelta(seconds=next(ticks)),
        on_progress=lambda done, total, o: seen.append((done, total, o.action.kind.value)),
    )
    assert seen == [
        (1, 3, "create_account"), (2, 3, "add_group_member"), (3, 3, "add_binding"),
    ]  # fmt: skip


class LeakyProvider(RecordingProvider):
    """A provider whose error message carries a credential, as a careless client might."""

    def apply(self, action: Action) -> object:  # type: ignore[override]
        raise PermanentProviderError("401 Bad credentials for token ghp_" + "a1B2" * 9)


def test_a_token_in_a_provider_error_never_reaches_the_report_or_audit_log(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    providers = {**_providers(), System.GCP: LeakyProvider(System.GCP)}
    report = _run(_plan(*NEWCOMER_ACTIONS), providers, AuditLog(path))
    assert len(report.failures) == 1
    assert "ghp_" not in report.failures[0].message
    assert "401 Bad credentials" in report.failures[0].message
    assert "ghp_" not in path.read_text()


def test_a_plan_giving_access_to_a_person_under_an_emergency_hold_is_refused(
    tmp_path: Path,
) -> None:
    """Defence in depth behind the planner: a saved or hand-made plan made before the hold
    (or by a planner bug) must not hand an emergency-offboarded person anything back."""
    providers = _providers()
    typed: dict[System, Provider] = dict(providers)
    report = apply_plan(
        _plan(*NEWCOMER_ACTIONS),
        typed,
        snapshot=_snapshot(),
        desired=DESIRED,
        limits=ROOMY,
        audit=AuditLog(tmp_path / "audit.jsonl"),
        confirm=True,
        allow_mass_removal=False,
        actor="ops@admin-host",
        held=("e0077",),
        run_id="run-1",
    )
    assert report.exit_code == 2
    assert len(report.refused) == 3
    assert all(str(r).startswith("emergency hold: ") and "e0077" in str(r) for r in report.refused)
    assert all(p.calls == [] for p in providers.values())
