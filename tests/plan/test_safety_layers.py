"""The planner's own guards, each on its own (DESIGN 6.4, docs/safety.md): pure tests with plain
data. Found by mutation testing: the per-system planners already skip protected strangers, so
only a protected account that is ALSO a person in the repo shows whether the planner's final
guard (`_drop_untouchables`) holds."""

from __future__ import annotations

from reconciler.model import Binding, NoteKind, PersonStatus, ProtectedAccount, System
from reconciler.plan import check_safety, plan_changes
from tests.plan.builders import (
    NOW,
    g_user,
    gh_user,
    organization,
    person,
    world,
)

ENG = "eng@example.co.jp"
RESCUE = "rescue.admin@example.co.jp"


def test_a_protected_account_that_is_also_a_departed_person_gets_no_action_at_all() -> None:
    # The break-glass admin was (wrongly) also entered as an employee who has now left: the
    # people planners would suspend, sign out and strip them everywhere. Protection wins.
    rescue = person("e0900", RESCUE, github="rescue-gh", github_id=900)
    org = organization(
        protected=[
            ProtectedAccount(System.GOOGLE, RESCUE, "break-glass"),
            ProtectedAccount(System.GITHUB, "rescue-gh", "break-glass"),
        ]
    )
    desired, access, snap = world(
        [rescue],
        org=org,
        statuses={"e0900": PersonStatus.DEPARTED},
        g_users=[g_user(RESCUE, admin=True)],
        g_members=[(ENG, RESCUE, "MEMBER")],
        gh_members=[gh_user("rescue-gh", 900)],
        teams=[("backend", "rescue-gh", "member")],
        prod=[Binding("roles/viewer", (f"user:{RESCUE}",))],
    )
    plan = plan_changes(desired, access, snap, NOW)
    named = [
        a.describe() for a in plan.actions if RESCUE in a.principal or "rescue-gh" in a.principal
    ]
    assert named == []
    assert any(
        n.kind is NoteKind.UNTOUCHED and n.message.startswith(f"left {RESCUE} untouched (protected")
        for n in plan.notes
    )
    protected = desired.organization.protected_accounts
    limits = desired.organization.limits
    assert check_safety(plan, snap, limits, allow_mass_removal=False, protected=protected) == []
