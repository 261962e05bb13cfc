"""Property tests of the planner's safety invariants over generated small worlds (hypothesis):
whatever people, holdings, strangers and failed reads, the plan never touches a protected
account, removes on a failed read only what a leaver verifiably holds, passes check_safety,
and does not depend on input order."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.model import (
    Binding,
    NoteKind,
    OAuthToken,
    PersonStatus,
    ProtectedAccount,
    SafetyLimits,
    System,
)
from reconciler.plan import check_safety, plan_changes
from tests.plan.builders import NOW, g_user, gh_user, organization, person, world

ENG = "eng@example.co.jp"
PEOPLE = [
    person(f"e01{i}", f"member{i}@example.co.jp", name=f"Member{i} Example", github=f"member{i}")
    for i in range(4)
]
HOLDINGS = ("account", "suspended", "group", "github", "team", "stg", "prod", "token")
PROTECTED = [
    ProtectedAccount(System.GOOGLE, "breakglass@example.co.jp"),
    ProtectedAccount(System.GITHUB, "rescue-owner"),
]


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    statuses = {p.id: draw(st.sampled_from(list(PersonStatus))) for p in PEOPLE}
    statuses["e0001"] = draw(st.sampled_from([PersonStatus.ACTIVE, PersonStatus.DEPARTED]))
    state: dict[str, Any] = {
        "g_users": [g_user("breakglass@example.co.jp", admin=True)],
        "g_members": [(ENG, "breakglass@example.co.jp", "OWNER")],
        "gh_members": [gh_user("rescue-owner", 9, admin=True)] if draw(st.booleans()) else [],
        "teams": [],
        "stg": [],
        "prod": [],
        "tokens": [],
    }
    for i, p in enumerate(PEOPLE):
        held = draw(st.sets(st.sampled_from(HOLDINGS)))
        if "account" in held or "suspended" in held:
            state["g_users"].append(g_user(p.email, suspended="suspended" in held))
        if "group" in held:
            state["g_members"].append((ENG, p.email, draw(st.sampled_from(["MEMBER", "OWNER"]))))
        if "github" in held:
            state["gh_members"].append(gh_user(f"member{i}", 100 + i, admin=draw(st.booleans())))
            if "team" in held:
                state["teams"].append(("backend", f"member{i}", "member"))
        if "stg" in held:
            state["stg"].append(Binding("roles/editor", (f"user:{p.email}",)))
        if "prod" in held:
            state["prod"].append(Binding("roles/owner", (f"user:{p.email}",)))
        if "token" in held:
            state["tokens"].append(OAuthToken(p.email, "client"))
    for n in range(draw(st.integers(0, 3))):
        state["g_users"].append(g_user(f"stranger{n}@example.co.jp", admin=draw(st.booleans())))
        state["g_members"].append((ENG, f"stranger{n}@example.co.jp", "MEMBER"))
        state["gh_members"].append(gh_user(f"stranger{n}", 500 + n))
        state["prod"].append(Binding("roles/viewer", (f"user:stranger{n}@example.co.jp",)))
    state["incomplete"] = draw(st.sets(st.sampled_from(list(System))))
    return {"statuses": statuses, **state}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_planner_safety_invariants_hold_for_any_world(args: dict[str, Any]) -> None:
    org = organization(protected=PROTECTED)
    desired, access, snap = world(PEOPLE, org=org, **args)
    plan = plan_changes(desired, access, snap, NOW)

    protected = {"breakglass@example.co.jp", "user:breakglass@example.co.jp", "rescue-owner"}
    assert not [a for a in plan.actions if a.principal in protected]
    for a in plan.actions:
        if not snap.is_complete(a.system):  # only a leaver's removals on an incomplete read
            assert a.offboarding and a.is_removal, a
    held = dict(plan.held_back)
    assert set(held) <= set(args["incomplete"]) and all(n > 0 for n in held.values())
    assert len(
        [n for n in plan.notes if n.kind is NoteKind.HELD_BACK and " read incomplete " in n.message]
    ) == len(held)
    # The planner and the executor's last check agree (limits aside: random worlds are small).
    limits = SafetyLimits(max_removals=10_000, max_removal_ratio=1.0)
    assert (
        check_safety(
            plan,
            snap,
            limits,
            allow_mass_removal=False,
            allow_mass_offboarding=True,
            protected=PROTECTED,
        )
        == []
    ), plan.notes
    assert set(plan.incomplete_systems) == set(args["incomplete"])

    reordered = world(list(reversed(PEOPLE)), org=org, **args)
    assert plan_changes(*reordered, NOW).checksum == plan.checksum
