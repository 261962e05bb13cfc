"""A protected account is protected however an action spells it, in all three layers that
guard it (the planner's Untouchables, `check_safety`, the executor's own
`find_forbidden_actions`), because all three compare `model.member_identity`; and a `domain:`
or `deleted:` member is never mistaken for the user whose address it resembles."""

from __future__ import annotations

import pytest

from reconciler.execute import find_forbidden_actions
from reconciler.model import Action, ActionKind, Plan, ProtectedAccount, SafetyLimits, System
from reconciler.plan import TouchesProtectedAccount, check_safety
from reconciler.views import Identities, Untouchables
from tests.plan.builders import NOW, PROD, organization, person, world

# Listed as an IAM member, as a GCP break-glass owner would be.
PROTECTED = (ProtectedAccount(System.GCP, "user:breakglass@example.co.jp", "break-glass owner"),)
ROOMY = SafetyLimits(max_removals=10_000, max_removal_ratio=1.0)

PROTECTED_SPELLINGS = [
    "user:breakglass@example.co.jp",
    "user:BreakGlass@Example.co.jp",
    "USER:breakglass@example.co.jp",
    " user:breakglass@example.co.jp ",
    "breakglass@example.co.jp",
    "BREAKGLASS@EXAMPLE.CO.JP",
]
NOT_A_USER = [
    "domain:example.co.jp",
    "domain:Example.co.jp",
    "deleted:user:breakglass@example.co.jp?uid=1234567890",
]


def _layers(principal: str) -> tuple[bool, bool, bool]:
    """(planner, check_safety, executor): does each call the principal protected?"""
    desired, _, snapshot = world([], org=organization(protected=PROTECTED))
    action = Action(
        30, System.GCP, ActionKind.REMOVE_BINDING, PROD, principal, "roles/owner", reason="test"
    )
    plan = Plan(NOW, (action,), (), snapshot.fingerprint())
    safety = check_safety(plan, snapshot, ROOMY, allow_mass_removal=True, protected=PROTECTED)
    return (
        Untouchables.of(desired).is_protected(principal),
        any(isinstance(p, TouchesProtectedAccount) for p in safety),
        bool(find_forbidden_actions(plan, desired, ())),
    )


@pytest.mark.parametrize("principal", PROTECTED_SPELLINGS)
def test_a_protected_user_is_protected_in_every_spelling_by_every_layer(principal: str) -> None:
    assert _layers(principal) == (True, True, True)


@pytest.mark.parametrize("principal", NOT_A_USER)
def test_a_domain_or_deleted_member_is_never_mistaken_for_the_protected_user(
    principal: str,
) -> None:
    assert _layers(principal) == (False, False, False)


@pytest.mark.parametrize("principal", NOT_A_USER)
def test_a_domain_or_deleted_member_names_no_person(principal: str) -> None:
    someone = person("e0100", "breakglass@example.co.jp", name="Break Glass")
    desired, _, snapshot = world([someone])
    ids = Identities.build(desired, snapshot)
    assert ids.person_of_member("user:BreakGlass@Example.co.jp") == "e0100"
    assert ids.person_of_member(principal) is None
