"""One action order: the planner sorts a plan by `model.action_order_key` and the executor
runs it in exactly that order, for every action kind, offboarding or not. A hand-made or
shuffled plan is put back into the same order before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.audit import AuditLog
from reconciler.execute import apply_plan, order_actions
from reconciler.model import (
    Action,
    ActionKind,
    DesiredAccess,
    DesiredState,
    Phase,
    Plan,
    SafetyLimits,
    Snapshot,
    System,
    action_order_key,
)
from reconciler.plan import plan_changes
from reconciler.planning.context import Candidates
from reconciler.providers.base import Provider
from tests.execute.recording_provider import RecordingProvider
from tests.plan.builders import NOW, organization, world
from tests.plan.test_plan_properties import PEOPLE, PROTECTED, worlds

ROOMY = SafetyLimits(max_removals=10_000, max_removal_ratio=1.0)

# Every kind as the planner builds it (Candidates.add derives phase and system from the kind);
# removals twice, once as a leaver's offboarding and once not.
_ALL: list[tuple[ActionKind, bool]] = [(k, False) for k in ActionKind] + [
    (k, True) for k in ActionKind if k.is_removal
]

# The one order, spelled out: a leaver's Google cuts (suspend, sign out, tokens, app passwords,
# groups), GitHub cuts (org, invitations, outside collaborator, teams), GCP; then accounts,
# additions, role changes and removals, each phase Google -> GitHub -> GCP.
EXPECTED = [
    (Phase.OFFBOARD_GOOGLE, ActionKind.SUSPEND_ACCOUNT),
    (Phase.OFFBOARD_GOOGLE, ActionKind.SIGN_OUT),
    (Phase.OFFBOARD_GOOGLE, ActionKind.REVOKE_TOKEN),
    (Phase.OFFBOARD_GOOGLE, ActionKind.DELETE_APP_PASSWORD),
    (Phase.OFFBOARD_GOOGLE, ActionKind.REMOVE_GROUP_MEMBER),
    (Phase.OFFBOARD_GITHUB, ActionKind.REMOVE_ORG_MEMBER),
    (Phase.OFFBOARD_GITHUB, ActionKind.CANCEL_INVITATION),
    (Phase.OFFBOARD_GITHUB, ActionKind.REMOVE_OUTSIDE_COLLABORATOR),
    (Phase.OFFBOARD_GITHUB, ActionKind.REMOVE_TEAM_MEMBER),
    (Phase.OFFBOARD_GCP, ActionKind.REMOVE_BINDING),
    (Phase.CREATE_ACCOUNT, ActionKind.CREATE_ACCOUNT),
    (Phase.CREATE_ACCOUNT, ActionKind.UNSUSPEND_ACCOUNT),
    (Phase.ADD, ActionKind.ADD_GROUP_MEMBER),
    (Phase.ADD, ActionKind.INVITE_ORG_MEMBER),
    (Phase.ADD, ActionKind.ADD_TEAM_MEMBER),
    (Phase.ADD, ActionKind.ADD_BINDING),
    (Phase.CHANGE, ActionKind.CHANGE_GROUP_ROLE),
    (Phase.CHANGE, ActionKind.CHANGE_ORG_ROLE),
    (Phase.CHANGE, ActionKind.CHANGE_TEAM_ROLE),
    (Phase.REMOVE, ActionKind.SUSPEND_ACCOUNT),
    (Phase.REMOVE, ActionKind.SIGN_OUT),
    (Phase.REMOVE, ActionKind.REVOKE_TOKEN),
    (Phase.REMOVE, ActionKind.DELETE_APP_PASSWORD),
    (Phase.REMOVE, ActionKind.REMOVE_GROUP_MEMBER),
    (Phase.REMOVE, ActionKind.REMOVE_ORG_MEMBER),
    (Phase.REMOVE, ActionKind.CANCEL_INVITATION),
    (Phase.REMOVE, ActionKind.REMOVE_OUTSIDE_COLLABORATOR),
    (Phase.REMOVE, ActionKind.REMOVE_TEAM_MEMBER),
    (Phase.REMOVE, ActionKind.REMOVE_BINDING),
]


def _every_kind() -> list[Action]:
    out = Candidates()
    for kind, offboarding in _ALL:
        out.add(kind, "target", "principal", offboarding=offboarding, reason=kind.value)
    return out.actions


def _providers() -> dict[System, Provider]:
    return {s: RecordingProvider(s) for s in System}


def _dry_run_order(plan: Plan, made: tuple[DesiredState, DesiredAccess, Snapshot]) -> list[Action]:
    """The order a dry run of the real executor reports it would apply `plan` in."""
    desired, _, snapshot = made
    report = apply_plan(
        plan,
        _providers(),
        snapshot=snapshot,
        desired=desired,
        limits=ROOMY,
        audit=None,
        confirm=False,
        allow_mass_removal=True,
        allow_mass_offboarding=True,
        actor="ops@admin-host",
    )
    assert not report.refused, report.refused
    return [o.action for o in report.outcomes]


def test_every_action_kind_has_one_place_in_the_order_and_its_phase_follows_from_the_kind() -> None:
    actions = _every_kind()
    assert len(actions) == len(EXPECTED)
    # the phase each action carries (and a saved plan shows) is the phase it runs in
    assert sorted((Phase(a.phase), a.kind) for a in actions) == sorted(EXPECTED)
    assert all(a.system is a.kind.system for a in actions)
    for shuffled in (actions, list(reversed(actions)), actions[1::2] + actions[::2]):
        ran = order_actions(shuffled)
        assert [(Phase(a.phase), a.kind) for a in ran] == EXPECTED


def test_the_executor_runs_a_plan_holding_every_kind_in_the_order_it_was_shown(
    tmp_path: Path,
) -> None:
    actions = sorted(_every_kind(), key=action_order_key)  # as the planner sorts a plan
    plan = Plan(NOW, tuple(actions), (), "fingerprint")
    log: list[str] = []
    providers: dict[System, Provider] = {s: RecordingProvider(s, log=log) for s in System}
    desired, _, snapshot = world([], org=organization())
    report = apply_plan(
        plan,
        providers,
        snapshot=snapshot,
        desired=desired,
        limits=ROOMY,
        audit=AuditLog(tmp_path / "audit.jsonl"),
        confirm=True,
        allow_mass_removal=True,
        allow_mass_offboarding=True,
        actor="ops@admin-host",
    )
    assert not report.refused, report.refused
    assert [o.action for o in report.outcomes] == actions
    assert log == [f"{a.kind.value}:{a.principal}" for a in actions]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.randoms(use_true_random=False))
def test_for_any_world_the_executor_runs_the_planners_actions_in_the_planners_order(
    args: dict[str, Any], random: Any
) -> None:
    made = world(PEOPLE, org=organization(protected=PROTECTED), **args)
    plan = plan_changes(*made, NOW)
    assert _dry_run_order(plan, made) == list(plan.actions)
    shuffled = list(plan.actions)
    random.shuffle(shuffled)
    assert order_actions(shuffled) == list(plan.actions)
