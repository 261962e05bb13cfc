"""Emergency holds applied to a desired-access expansion; called by the planner
(`reconciler.planning.changes`) and by the commands that list or end holds.

Pure: the holds come from the state store through the shell, "now" is the expansion's instant.
A hold makes its person DEPARTED with no entitlements; that is the whole mechanism, so every
planner rule for leavers (cut order, no re-grant, leaver findings) applies to them unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from reconciler.model import (
    DesiredAccess,
    DesiredState,
    EmergencyHold,
    Person,
    PersonAccess,
    PersonStatus,
)


def repo_caught_up(desired: DesiredState, hold: EmergencyHold) -> bool:
    """True once the repo itself says the person's last day is on or before the hold's day
    (what `offboard --now` told the operator to commit)."""
    person = desired.people.get(hold.person_id)
    end = person.employment.end if person is not None else None
    return end is not None and end <= hold.day


def hold_has_ended(desired: DesiredState, access: DesiredAccess, hold: EmergencyHold) -> bool:
    """A hold ends when the repo has caught up AND the repo's own expansion already treats the
    person as departed. Catching up alone is not enough: an end date of today leaves them
    ACTIVE until today's offboarding time, and dropping the hold then would hand their access
    back for the rest of the afternoon."""
    entry = access.people.get(hold.person_id)
    departed = entry is not None and entry.status is PersonStatus.DEPARTED
    return repo_caught_up(desired, hold) and departed


def standing_holds(
    desired: DesiredState, access: DesiredAccess, holds: Iterable[EmergencyHold]
) -> tuple[EmergencyHold, ...]:
    """The holds that still act, in person-id order (`access` is the plain expansion)."""
    return tuple(
        sorted(
            (h for h in holds if not hold_has_ended(desired, access, h)),
            key=lambda h: h.person_id,
        )
    )


def apply_holds(access: DesiredAccess, holds: Iterable[EmergencyHold]) -> DesiredAccess:
    """`access` with every held person DEPARTED since their hold: nothing is granted to them,
    and what they still hold is planned for removal like any leaver's."""
    people = dict(access.people)
    changed = False
    for hold in holds:
        entry = people.get(hold.person_id)
        if entry is not None and entry.status is PersonStatus.DEPARTED:
            continue
        ends = hold.placed_at
        if entry is not None and entry.access_ends_at is not None:
            ends = min(ends, entry.access_ends_at)
        people[hold.person_id] = PersonAccess(
            person_id=hold.person_id, status=PersonStatus.DEPARTED, access_ends_at=ends
        )
        changed = True
    return replace(access, people=people) if changed else access


def new_hold(
    desired: DesiredState, person: Person, moment: datetime, *, run_id: str, actor: str
) -> EmergencyHold:
    """The hold an emergency offboarding at `moment` places on `person`."""
    day = moment.astimezone(ZoneInfo(desired.organization.timezone)).date()
    return EmergencyHold(
        person_id=person.id,
        placed_at=moment,
        day=day,
        run_id=run_id,
        actor=actor,
        email=person.email,
        github=person.github,
    )
