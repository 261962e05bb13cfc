"""Emergency holds over an expansion, table-driven on plain values: a hold makes its person
departed until the repo's end date covers the hold's day AND that end has passed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

import pytest

from reconciler.desired.expanding import expand_access
from reconciler.desired.holding import apply_holds, repo_caught_up, standing_holds
from reconciler.model import (
    DesiredState,
    EmergencyHold,
    Employment,
    EmploymentType,
    GoogleGroupGrant,
    GoogleScope,
    Organization,
    Person,
    PersonStatus,
    Role,
    Systems,
)

TOKYO = ZoneInfo("Asia/Tokyo")
HOLD_DAY = dt.date(2026, 12, 1)
HOLD = EmergencyHold(
    person_id="e0042",
    placed_at=dt.datetime(2026, 12, 1, 10, 30, tzinfo=TOKYO),
    day=HOLD_DAY,
    run_id="run-1",
    actor="ops@admin-host.example.com",
    email="taro.yamada@example.co.jp",
)
ORG = Organization(
    name="Example",
    domains=("example.co.jp",),
    timezone="Asia/Tokyo",
    security_officer="e0002",
    systems=Systems(google=GoogleScope(customer="C01", domain="example.co.jp")),
)


def _desired(end: dt.date | None) -> DesiredState:
    person = Person(
        id="e0042",
        name="山田 太郎",
        email="taro.yamada@example.co.jp",
        employment=Employment(EmploymentType.EMPLOYEE, dt.date(2024, 4, 1), end),
        roles=("engineer",),
    )
    role = Role("engineer", google_groups=(GoogleGroupGrant("eng@example.co.jp"),))
    return DesiredState(organization=ORG, roles={"engineer": role}, people={"e0042": person})


@dataclass(frozen=True)
class Case:
    name: str
    end: dt.date | None
    at: dt.datetime
    caught_up: bool
    standing: bool


CASES = [
    Case("no end date yet: the hold stands", None, dt.datetime(2026, 12, 2, 9, 0, tzinfo=TOKYO),
         caught_up=False, standing=True),
    Case("an end date after the hold's day does not cover it", dt.date(2026, 12, 31),
         dt.datetime(2026, 12, 2, 9, 0, tzinfo=TOKYO), caught_up=False, standing=True),
    Case("end = the hold's day, before that day's offboarding time: still standing",
         HOLD_DAY, dt.datetime(2026, 12, 1, 12, 0, tzinfo=TOKYO), caught_up=True, standing=True),
    Case("end = the hold's day, at its offboarding time: ended", HOLD_DAY,
         dt.datetime(2026, 12, 1, 18, 0, tzinfo=TOKYO), caught_up=True, standing=False),
    Case("an earlier end date, long past: ended", dt.date(2026, 11, 28),
         dt.datetime(2026, 12, 1, 12, 0, tzinfo=TOKYO), caught_up=True, standing=False),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_hold_stands_until_the_repo_covers_it_and_its_end_has_passed(case: Case) -> None:
    desired = _desired(case.end)
    access = expand_access(desired, case.at)
    assert repo_caught_up(desired, HOLD) is case.caught_up
    standing = standing_holds(desired, access, [HOLD])
    assert (standing == (HOLD,)) is case.standing
    held = apply_holds(access, standing)
    # Whatever the repo says, the person is departed while the hold stands or after it ended.
    assert held.people["e0042"].status is PersonStatus.DEPARTED
    assert held.people["e0042"].entitlements == ()


def test_a_held_person_has_no_entitlements_and_their_access_ends_at_the_hold() -> None:
    desired = _desired(None)
    access = expand_access(desired, dt.datetime(2026, 12, 1, 11, 0, tzinfo=TOKYO))
    assert access.people["e0042"].status is PersonStatus.ACTIVE
    held = apply_holds(access, [HOLD])
    assert held.people["e0042"] == replace(
        held.people["e0042"], status=PersonStatus.DEPARTED, entitlements=()
    )
    assert held.people["e0042"].access_ends_at == HOLD.placed_at
