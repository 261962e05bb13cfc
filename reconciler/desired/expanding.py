"""Expand a DesiredState into the grants everyone should hold at one moment.

Pure (no clock: `at` is a parameter). Called by the planner, the reports and `reconciler
explain`. Timing rules (docs/desired-state.md), all in the organisation's timezone:

- a person is NOT_STARTED before their start date at 00:00 local;
- ACTIVE from then until their last day (`employment.end`) at `offboarding_time` (18:00);
- DEPARTED from that moment on: no grants at all, whatever their roles say;
- an extra grant is valid from its `approved_on` day (00:00 local, when given) through its
  `expires` day inclusive, i.e. until 00:00 local on the day after: "nothing after expiry";
- a grant an access review revoked (`reviews/YYYY/*.yaml`, `decision: revoke`) is not given,
  whatever the person's roles say.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from zoneinfo import ZoneInfo

from reconciler.model import (
    DesiredAccess,
    DesiredState,
    Entitlement,
    ExtraGrant,
    Grant,
    GrantKind,
    Person,
    PersonAccess,
    PersonStatus,
    ReviewDecision,
    ReviewItem,
    Role,
    gcp_user,
)

# When two roles yield the same access with different strengths, the stronger wins: one
# principal has one membership role per group, organisation or team (the APIs store one).
_RANK = {
    GrantKind.GOOGLE_ACCOUNT: ("USER", "ADMIN"),
    GrantKind.GOOGLE_GROUP: ("MEMBER", "MANAGER", "OWNER"),
    GrantKind.GITHUB_ORG: ("member", "admin"),
    GrantKind.GITHUB_TEAM: ("member", "maintainer"),
}
EMPLOYMENT = "employment"  # `via_role` of the Workspace account every active person has


def expand_access(state: DesiredState, at: dt.datetime) -> DesiredAccess:
    """What every person in `state` should hold at the moment `at` (timezone-aware)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("`at` must be timezone-aware")  # a naive time has no meaning here
    tz = ZoneInfo(state.organization.timezone)
    local = at.astimezone(tz)
    revoked = revocations(state)
    people = {
        pid: _person_access(state, person, local, revoked.get(pid, {}))
        for pid, person in state.people.items()
    }
    return DesiredAccess(at=local, people=people)


def revocations(state: DesiredState) -> dict[str, dict[tuple[GrantKind, str, str], ReviewItem]]:
    """person id -> (kind, target, role) -> the review item that revoked it. The latest
    year's decision on a grant wins, so a later review can keep what an earlier one revoked."""
    latest: dict[tuple[str, GrantKind, str, str], ReviewItem] = {}
    for item in sorted(state.reviews, key=lambda r: r.year):
        if item.decision is not None:
            latest[(item.person_id, item.kind, item.target, item.role)] = item
    found: dict[str, dict[tuple[GrantKind, str, str], ReviewItem]] = {}
    for (pid, kind, target, role), item in latest.items():
        if item.decision is ReviewDecision.REVOKE:
            found.setdefault(pid, {})[(kind, target, role)] = item
    return found


def repo_grants(
    state: DesiredState, person: Person
) -> Iterator[tuple[Grant, Role, ExtraGrant | None]]:
    """Every grant the person's roles and extra grants give, whatever the date (validity,
    employment and review decisions aside): what a review may name for this person."""
    for name in person.roles:
        if name in state.roles:
            for grant in _role_grants(state, person, state.roles[name]):
                yield grant, state.roles[name], None
    for extra in person.grants:
        if extra.role in state.roles:
            for grant in _role_grants(state, person, state.roles[extra.role]):
                yield grant, state.roles[extra.role], extra


def access_on(state: DesiredState, day: dt.date) -> DesiredAccess:
    """What everyone holds as `day` begins (00:00 local): "does X have access on that day?".

    The start of the day is chosen because every rule is day-granular except the offboarding
    time: a person whose start date is `day` is active, one whose last day is `day` is still
    active (their `access_ends_at` says until when), a grant that expires on `day` is valid.
    """
    tz = ZoneInfo(state.organization.timezone)
    return expand_access(state, dt.datetime.combine(day, dt.time(0), tz))


def status_at(state: DesiredState, person: Person, local: dt.datetime) -> PersonStatus:
    """The lifecycle status of `person` at `local` (already in the organisation's timezone)."""
    tz = local.tzinfo
    if local < dt.datetime.combine(person.employment.start, dt.time(0), tz):
        return PersonStatus.NOT_STARTED
    ends = _access_ends_at(state, person, tz)
    if ends is not None and local >= ends:
        return PersonStatus.DEPARTED
    return PersonStatus.ACTIVE


def grant_valid_at(grant: ExtraGrant, local: dt.datetime) -> bool:
    """True from `approved_on` 00:00 until the day after `expires` 00:00 (local)."""
    today = local.date()
    if grant.approved_on is not None and today < grant.approved_on:
        return False
    return grant.expires is None or today <= grant.expires


def _access_ends_at(
    state: DesiredState, person: Person, tz: dt.tzinfo | None
) -> dt.datetime | None:
    end = person.employment.end
    if end is None:
        return None
    return dt.datetime.combine(end, state.organization.offboarding_time, tz)


def _person_access(
    state: DesiredState,
    person: Person,
    local: dt.datetime,
    revoked: Mapping[tuple[GrantKind, str, str], ReviewItem],
) -> PersonAccess:
    status = status_at(state, person, local)
    ends = _access_ends_at(state, person, local.tzinfo)
    if status is not PersonStatus.ACTIVE:
        return PersonAccess(person.id, status, (), ends)
    chosen: dict[tuple[str, str, str, str], Entitlement] = {}
    for candidate in _candidates(state, person, local):
        grant = candidate.grant
        if (grant.kind, grant.target, grant.role) in revoked:
            continue  # revoked in an access review: removed although a role grants it
        key = candidate.grant.key
        held = chosen.get(key)
        if held is None or _better(candidate, held):
            chosen[key] = candidate
    entitlements = tuple(sorted(chosen.values(), key=lambda e: (e.grant, e.via_role)))
    return PersonAccess(person.id, status, entitlements, ends)


def _better(new: Entitlement, held: Entitlement) -> bool:
    """Stronger role first; at equal strength a standing role beats an extra grant (it does
    not lapse), then the role name decides, so the result never depends on file order."""
    ranks = _RANK.get(new.grant.kind, ())
    new_rank = ranks.index(new.grant.role) if new.grant.role in ranks else 0
    held_rank = ranks.index(held.grant.role) if held.grant.role in ranks else 0
    if new_rank != held_rank:
        return new_rank > held_rank
    new_order = (new.approved_by is not None, new.via_role)
    return new_order < (held.approved_by is not None, held.via_role)


def _candidates(state: DesiredState, person: Person, local: dt.datetime) -> Iterator[Entitlement]:
    systems = state.organization.systems
    if systems.google is not None:
        yield Entitlement(
            Grant(GrantKind.GOOGLE_ACCOUNT, systems.google.domain, person.email, "USER"),
            person.id,
            EMPLOYMENT,
        )
    sources: list[tuple[Role, ExtraGrant | None]] = [
        (state.roles[name], None) for name in person.roles if name in state.roles
    ]
    sources += [
        (state.roles[g.role], g)
        for g in person.grants
        if g.role in state.roles and grant_valid_at(g, local)
    ]
    for role, extra in sources:
        for grant in _role_grants(state, person, role):
            yield Entitlement(
                grant=grant,
                person_id=person.id,
                via_role=role.name,
                approved_by=extra.approved_by if extra else None,
                expires=extra.expires if extra else None,
                reason=extra.reason if extra else None,
                privileged=role.privileged or role.google_admin,
            )


def _role_grants(state: DesiredState, person: Person, role: Role) -> Iterator[Grant]:
    systems = state.organization.systems
    if systems.google is not None:
        if role.google_admin:
            yield Grant(GrantKind.GOOGLE_ACCOUNT, systems.google.domain, person.email, "ADMIN")
        for group in role.google_groups:
            yield Grant(GrantKind.GOOGLE_GROUP, group.group, person.email, group.role)
    # GitHub access needs a login: a person without one simply gets none (not an error, many
    # roles such as sales never use GitHub).
    if systems.github is not None and role.github is not None and person.github:
        org = systems.github.org
        yield Grant(GrantKind.GITHUB_ORG, org, person.github, role.github.org_role)
        for team in role.github.teams:
            yield Grant(GrantKind.GITHUB_TEAM, f"{org}/{team.team}", person.github, team.role)
    for binding in role.gcp:
        # Spelled by the one member normaliser, as the GCP provider spells what it reads.
        yield Grant(GrantKind.GCP_BINDING, binding.resource, gcp_user(person.email), binding.role)
