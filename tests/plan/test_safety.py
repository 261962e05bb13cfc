"""Table-driven tests of check_safety: each case is a plan, the state it will be applied to,
and the UnsafePlan types expected (plain data, no mocks)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from reconciler.model import (
    Action,
    ActionKind,
    Binding,
    PersonStatus,
    Phase,
    Plan,
    ProtectedAccount,
    SafetyLimits,
    Snapshot,
    System,
)
from reconciler.plan import (
    ChangeOnIncompleteRead,
    RemovalOnIncompleteRead,
    RemovesLastAdmin,
    TooManyRemovals,
    TouchesProtectedAccount,
    UnsafePlan,
    check_safety,
    plan_changes,
    raise_if_unsafe,
)
from tests.plan.builders import (
    NOW,
    ORG,
    PROD,
    g_user,
    gcp,
    gh_user,
    github,
    google,
    person,
    snapshot,
    world,
)

A = ActionKind
ENG = "eng@example.co.jp"


def members(n: int) -> list[tuple[str, str, str]]:
    return [(ENG, f"user{i:02d}@example.co.jp", "MEMBER") for i in range(n)]


def remove(principal: str, *, offboarding: bool = False, group: str = ENG) -> Action:
    return Action(
        Phase.OFFBOARD_GOOGLE if offboarding else Phase.REMOVE,
        System.GOOGLE,
        A.REMOVE_GROUP_MEMBER,
        group,
        principal,
        "MEMBER",
        offboarding=offboarding,
    )


def act(kind: ActionKind, system: System, target: str, principal: str, role: str = "") -> Action:
    return Action(Phase.REMOVE, system, kind, target, principal, role)


def plan_of(*actions: Action) -> Plan:
    return Plan(NOW, tuple(actions), (), "fp")


ADMINS = google(
    [g_user("cto@example.co.jp", admin=True), g_user("boss@example.co.jp", admin=True)],
    members(40),
)
ONE_ADMIN = google([g_user("cto@example.co.jp", admin=True)], members(4))
OWNERS = github([gh_user("cto-gh", 1, admin=True), gh_user("dev", 2)])


@dataclass
class Case:
    name: str
    plan: Plan
    state: Snapshot
    expected: list[type[UnsafePlan]] = field(default_factory=list)
    limits: SafetyLimits = field(default_factory=lambda: SafetyLimits(max_removals=5))
    allow_mass_removal: bool = False


CASES = [
    Case("a few removals are safe", plan_of(remove("user01@example.co.jp")), snapshot(ADMINS)),
    Case(
        "more removals than the per-run count limit are refused",
        plan_of(*(remove(f"user{i:02d}@example.co.jp") for i in range(6))),
        snapshot(ADMINS),
        [TooManyRemovals, TooManyRemovals],  # per run and per system
        limits=SafetyLimits(max_removals=5, max_removal_ratio=1.0),
    ),
    Case(
        "a removal ratio above the limit is refused",
        plan_of(*(remove(f"user{i:02d}@example.co.jp") for i in range(5))),
        snapshot(ADMINS),  # 42 grants: 5/42 = 12% > 10%
        [TooManyRemovals],
        limits=SafetyLimits(max_removals=20, max_removal_ratio=0.1),
    ),
    Case(
        "the ratio is not applied to a system holding fewer than ten grants",
        plan_of(remove("user01@example.co.jp"), remove("user02@example.co.jp")),
        snapshot(ONE_ADMIN),  # 5 grants: 40%, but only 2 removals
    ),
    Case(
        "offboarding removals are exempt from the limits",
        plan_of(*(remove(f"user{i:02d}@example.co.jp", offboarding=True) for i in range(30))),
        snapshot(ADMINS),
    ),
    Case(
        "allow_mass_removal lifts the limits",
        plan_of(*(remove(f"user{i:02d}@example.co.jp") for i in range(30))),
        snapshot(ADMINS),
        allow_mass_removal=True,
    ),
    Case(
        "a removal on an incomplete read is refused",
        plan_of(remove("user01@example.co.jp")),
        snapshot(google([g_user("cto@example.co.jp", admin=True)], members(4), complete=False)),
        [RemovalOnIncompleteRead],
    ),
    Case(
        "a leaver's grant the incomplete read did show may be removed",
        plan_of(remove("user01@example.co.jp", offboarding=True)),
        snapshot(google([g_user("cto@example.co.jp", admin=True)], members(4), complete=False)),
    ),
    Case(
        "a leaver's grant the incomplete read did not show is refused",
        plan_of(remove("user99@example.co.jp", offboarding=True)),
        snapshot(google([g_user("cto@example.co.jp", admin=True)], members(4), complete=False)),
        [RemovalOnIncompleteRead],
    ),
    Case(
        "a removal on a system that was not read is refused",
        plan_of(act(A.REMOVE_ORG_MEMBER, System.GITHUB, ORG, "dev", "member")),
        snapshot(ADMINS),
        [RemovalOnIncompleteRead],
    ),
    Case(
        "an addition on an incomplete read is refused",
        plan_of(act(A.ADD_GROUP_MEMBER, System.GOOGLE, ENG, "new@example.co.jp", "MEMBER")),
        snapshot(google([g_user("cto@example.co.jp", admin=True)], members(4), complete=False)),
        [ChangeOnIncompleteRead],
    ),
    Case(
        "an invitation on an incomplete read is refused",
        plan_of(act(A.INVITE_ORG_MEMBER, System.GITHUB, ORG, "dev", "member")),
        snapshot(ADMINS, github([gh_user("cto-gh", 1, admin=True)], complete=False)),
        [ChangeOnIncompleteRead],
    ),
    Case(
        "an account creation on an incomplete read is refused",
        plan_of(act(A.CREATE_ACCOUNT, System.GOOGLE, "example.co.jp", "new@example.co.jp")),
        snapshot(google([g_user("cto@example.co.jp", admin=True)], members(4), complete=False)),
        [ChangeOnIncompleteRead],
    ),
    Case(
        "a role change on an incomplete read is refused",
        plan_of(act(A.CHANGE_ORG_ROLE, System.GITHUB, ORG, "dev", "admin")),
        snapshot(ADMINS, github([gh_user("dev", 2)], complete=False)),
        [ChangeOnIncompleteRead],
    ),
    Case(
        "an addition on a system that was not read is refused",
        plan_of(act(A.ADD_BINDING, System.GCP, PROD, "user:dev@example.co.jp", "roles/viewer")),
        snapshot(ADMINS),
        [ChangeOnIncompleteRead],
    ),
    Case(
        "an addition on a completely read system is allowed beside an incomplete one",
        plan_of(act(A.ADD_GROUP_MEMBER, System.GOOGLE, ENG, "new@example.co.jp", "MEMBER")),
        snapshot(ADMINS, github([gh_user("cto-gh", 1, admin=True)], complete=False)),
    ),
    Case(
        "any action on a protected account is refused, in any spelling",
        plan_of(
            act(A.ADD_BINDING, System.GCP, PROD, "user:BreakGlass@example.co.jp", "roles/viewer")
        ),
        snapshot(ADMINS, gcp()),
        [TouchesProtectedAccount],
    ),
    Case(
        "suspending the last super admin is refused",
        plan_of(act(A.SUSPEND_ACCOUNT, System.GOOGLE, "example.co.jp", "cto@example.co.jp")),
        snapshot(ONE_ADMIN),
        [RemovesLastAdmin],
    ),
    Case(
        "suspending one of two super admins is allowed",
        plan_of(act(A.SUSPEND_ACCOUNT, System.GOOGLE, "example.co.jp", "cto@example.co.jp")),
        snapshot(ADMINS),
    ),
    Case(
        "removing the last org owner is refused",
        plan_of(act(A.REMOVE_ORG_MEMBER, System.GITHUB, ORG, "cto-gh", "admin")),
        snapshot(ONE_ADMIN, OWNERS),
        [RemovesLastAdmin],
    ),
    Case(
        "demoting the last org owner is refused",
        plan_of(act(A.CHANGE_ORG_ROLE, System.GITHUB, ORG, "cto-gh", "member")),
        snapshot(ONE_ADMIN, OWNERS),
        [RemovesLastAdmin],
    ),
    Case(
        "removing an ordinary member beside the owner is allowed",
        plan_of(act(A.REMOVE_ORG_MEMBER, System.GITHUB, ORG, "dev", "member")),
        snapshot(ONE_ADMIN, OWNERS),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check_safety(case: Case) -> None:
    problems = check_safety(
        case.plan,
        case.state,
        case.limits,
        allow_mass_removal=case.allow_mass_removal,
        protected=[ProtectedAccount(System.GOOGLE, "breakglass@example.co.jp")],
    )
    assert [type(p) for p in problems] == case.expected
    assert all(str(p) for p in problems)


def test_removing_the_last_project_owner_is_refused() -> None:
    _, _, state = world()
    lone = plan_of(act(A.REMOVE_BINDING, System.GCP, PROD, "user:cto@example.co.jp", "roles/owner"))
    problems = check_safety(lone, state, SafetyLimits(), allow_mass_removal=False)
    assert [type(p) for p in problems] == [RemovesLastAdmin]
    _, _, shared = world(prod=[Binding("roles/owner", ("group:owners@example.co.jp",))])
    assert check_safety(lone, shared, SafetyLimits(), allow_mass_removal=False) == []


def test_raise_if_unsafe_raises_the_first_problem_and_counts_the_rest() -> None:
    plan = plan_of(
        act(A.SUSPEND_ACCOUNT, System.GOOGLE, "example.co.jp", "cto@example.co.jp"),
        remove("user01@example.co.jp"),
    )
    state = snapshot(google([g_user("cto@example.co.jp", admin=True)], members(4), complete=False))
    with pytest.raises(RemovalOnIncompleteRead, match="2 more problem"):
        raise_if_unsafe(plan, state, SafetyLimits(), allow_mass_removal=False)


def test_plans_from_the_planner_pass_the_safety_check() -> None:
    """Defence in depth agrees with the planner: a leaver who is the last admin and a stranger
    on an incomplete read produce a plan the executor accepts as it is."""
    taro = person("e0042", "taro.yamada@example.co.jp", github="tyamada")
    desired, access, state = world(
        [taro],
        statuses={"e0001": PersonStatus.DEPARTED, "e0042": PersonStatus.DEPARTED},
        g_users=[g_user("taro.yamada@example.co.jp"), g_user("ghost@example.co.jp")],
        g_members=[
            (ENG, "taro.yamada@example.co.jp", "MEMBER"),
            (ENG, "ghost@example.co.jp", "MEMBER"),
        ],
        gh_members=[gh_user("tyamada", 42)],
        incomplete=[System.GOOGLE],
    )
    plan = plan_changes(desired, access, state, NOW)
    assert plan.actions
    limits = desired.organization.limits
    protected = desired.organization.protected_accounts
    assert check_safety(plan, state, limits, allow_mass_removal=False, protected=protected) == []
