"""Expansion timing and grant conventions, table-driven on plain model values (no YAML)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from reconciler.desired.expanding import access_on, expand_access
from reconciler.model import (
    DesiredState,
    Employment,
    EmploymentType,
    ExtraGrant,
    GcpGrant,
    GcpResourceScope,
    GitHubGrant,
    GitHubScope,
    GitHubTeamGrant,
    GoogleGroupGrant,
    GoogleScope,
    Grant,
    GrantKind,
    Organization,
    Person,
    PersonStatus,
    Role,
    Systems,
)

TOKYO = ZoneInfo("Asia/Tokyo")
DOMAIN = "example.co.jp"

ROLES = {
    "engineer": Role(
        name="engineer",
        google_groups=(GoogleGroupGrant("eng@example.co.jp"),),
        github=GitHubGrant("member", (GitHubTeamGrant("backend"),)),
        gcp=(GcpGrant("projects/example-dev", "roles/editor"),),
    ),
    "lead": Role(
        name="lead",
        google_groups=(GoogleGroupGrant("eng@example.co.jp", "MANAGER"),),
        github=GitHubGrant("member", (GitHubTeamGrant("backend", "maintainer"),)),
        gcp=(GcpGrant("projects/example-dev", "roles/viewer"),),
    ),
    "admin": Role(
        name="admin",
        privileged=True,
        google_admin=True,
        github=GitHubGrant("admin"),
    ),
    "prod-debug": Role(
        name="prod-debug",
        privileged=True,
        gcp=(GcpGrant("projects/example-prod", "roles/container.developer"),),
    ),
}
ORG = Organization(
    name="Example",
    domains=(DOMAIN,),
    timezone="Asia/Tokyo",
    security_officer="e0002",
    systems=Systems(
        google=GoogleScope("C01example", DOMAIN),
        github=GitHubScope("example-co"),
        gcp=(GcpResourceScope("projects/example-dev"), GcpResourceScope("projects/example-prod")),
    ),
)
DEBUG_GRANT = ExtraGrant(
    role="prod-debug",
    approved_by="e0002",
    reason="INC-2026-118",
    approved_on=dt.date(2026, 11, 20),
    expires=dt.date(2026, 12, 15),
)


def someone(
    start: str = "2025-04-01",
    end: str | None = None,
    roles: tuple[str, ...] = ("engineer",),
    grants: tuple[ExtraGrant, ...] = (),
    github: str | None = "tyamada",
) -> Person:
    return Person(
        id="e0003",
        name="山田 太郎",
        email="taro.yamada@example.co.jp",
        github=github,
        employment=Employment(
            EmploymentType.EMPLOYEE,
            dt.date.fromisoformat(start),
            dt.date.fromisoformat(end) if end else None,
        ),
        roles=roles,
        grants=grants,
    )


def tokyo(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TOKYO)


def state_of(person: Person) -> DesiredState:
    return DesiredState(ORG, ROLES, {person.id: person})


def grants_of(person: Person, at: dt.datetime) -> set[tuple[str, str, str]]:
    access = expand_access(state_of(person), at).people[person.id]
    return {(e.grant.kind.value, e.grant.target, e.grant.role) for e in access.entitlements}


ENGINEER_GRANTS = {
    ("google_account", DOMAIN, "USER"),
    ("google_group", "eng@example.co.jp", "MEMBER"),
    ("github_org", "example-co", "member"),
    ("github_team", "example-co/backend", "member"),
    ("gcp_binding", "projects/example-dev", "roles/editor"),
}
PROD_DEBUG = ("gcp_binding", "projects/example-prod", "roles/container.developer")

# (name, person, moment, status, grants)
ACTIVE, DEPARTED, NOT_STARTED = PersonStatus.ACTIVE, PersonStatus.DEPARTED, PersonStatus.NOT_STARTED
ADMIN_GRANTS = (
    ENGINEER_GRANTS - {("google_account", DOMAIN, "USER"), ("github_org", "example-co", "member")}
) | {("google_account", DOMAIN, "ADMIN"), ("github_org", "example-co", "admin")}

TIMING = [
    ("leaver holds access on their last day before 18:00",
     someone(end="2026-11-25"), tokyo("2026-11-25T17:59:59"), ACTIVE, ENGINEER_GRANTS),
    ("leaver holds nothing from 18:00 on their last day",
     someone(end="2026-11-25"), tokyo("2026-11-25T18:00:00"), DEPARTED, set()),
    ("leaver holds nothing after their last day",
     someone(end="2026-11-18"), tokyo("2026-11-25T09:00:00"), DEPARTED, set()),
    ("a UTC moment is judged in the organisation's timezone (09:00Z = 18:00 JST)",
     someone(end="2026-11-25"), dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC),
     DEPARTED, set()),
    ("future hire holds nothing the evening before the start date",
     someone(start="2026-12-01"), tokyo("2026-11-30T23:59:59"), NOT_STARTED, set()),
    ("future hire holds everything from 00:00 on the start date",
     someone(start="2026-12-01"), tokyo("2026-12-01T00:00:00"), ACTIVE, ENGINEER_GRANTS),
    ("time-boxed grant is valid on its expiry day until midnight",
     someone(grants=(DEBUG_GRANT,)), tokyo("2026-12-15T23:59:59"), ACTIVE,
     ENGINEER_GRANTS | {PROD_DEBUG}),
    ("time-boxed grant gives nothing after its expiry day; standing roles remain",
     someone(grants=(DEBUG_GRANT,)), tokyo("2026-12-16T00:00:00"), ACTIVE, ENGINEER_GRANTS),
    ("grant gives nothing before the day it was approved",
     someone(grants=(DEBUG_GRANT,)), tokyo("2026-11-19T12:00:00"), ACTIVE, ENGINEER_GRANTS),
    ("a departed person's valid grant gives nothing",
     someone(end="2026-11-25", grants=(DEBUG_GRANT,)), tokyo("2026-11-26T10:00:00"),
     DEPARTED, set()),
    ("no GitHub login, no GitHub grants",
     someone(github=None), tokyo("2026-11-25T12:00:00"), ACTIVE,
     {g for g in ENGINEER_GRANTS if not g[0].startswith("github")}),
    ("the stronger role wins per group, organisation and team; GCP roles add up",
     someone(roles=("engineer", "lead")), tokyo("2026-11-25T12:00:00"), ACTIVE,
     {("google_account", DOMAIN, "USER"), ("google_group", "eng@example.co.jp", "MANAGER"),
      ("github_org", "example-co", "member"), ("github_team", "example-co/backend", "maintainer"),
      ("gcp_binding", "projects/example-dev", "roles/editor"),
      ("gcp_binding", "projects/example-dev", "roles/viewer")}),
    ("google_admin makes the account ADMIN and org admin beats member",
     someone(roles=("engineer", "admin")), tokyo("2026-11-25T12:00:00"), ACTIVE,
     ADMIN_GRANTS),
]  # fmt: skip


@pytest.mark.parametrize(
    ("person", "at", "status", "expected"), [c[1:] for c in TIMING], ids=[c[0] for c in TIMING]
)
def test_expansion_at_a_moment(
    person: Person, at: dt.datetime, status: PersonStatus, expected: set[tuple[str, str, str]]
) -> None:
    access = expand_access(state_of(person), at).people[person.id]
    assert access.status is status
    assert grants_of(person, at) == expected


def test_grants_follow_the_shared_conventions() -> None:
    access = expand_access(state_of(someone(grants=(DEBUG_GRANT,))), tokyo("2026-12-01T10:00"))
    got = {e.grant for e in access.people["e0003"].entitlements}
    assert Grant(GrantKind.GOOGLE_ACCOUNT, DOMAIN, "taro.yamada@example.co.jp", "USER") in got
    assert Grant(GrantKind.GITHUB_TEAM, "example-co/backend", "tyamada", "member") in got
    member = "user:taro.yamada@example.co.jp"
    assert (
        Grant(GrantKind.GCP_BINDING, "projects/example-prod", member, "roles/container.developer")
        in got
    )
    debug = next(e for e in access.people["e0003"].entitlements if e.via_role == "prod-debug")
    assert (debug.approved_by, debug.expires, debug.reason, debug.privileged) == (
        "e0002", dt.date(2026, 12, 15), "INC-2026-118", True,
    )  # fmt: skip


def test_leaver_access_ends_at_the_offboarding_moment_in_local_time() -> None:
    access = expand_access(state_of(someone(end="2026-11-25")), tokyo("2026-11-25T10:00"))
    assert access.people["e0003"].access_ends_at == tokyo("2026-11-25T18:00")
    assert access.at.utcoffset() == dt.timedelta(hours=9)


@pytest.mark.parametrize(
    ("day", "status"),
    [
        ("2026-11-25", PersonStatus.ACTIVE),  # the last day itself: access until 18:00
        ("2026-11-26", PersonStatus.DEPARTED),
        ("2026-11-30", PersonStatus.NOT_STARTED),  # before the start date below
    ],
)
def test_access_on_a_date_is_judged_as_the_day_begins(day: str, status: PersonStatus) -> None:
    person = (
        someone(end="2026-11-25")
        if status is not PersonStatus.NOT_STARTED
        else someone(start="2026-12-01")
    )
    access = access_on(state_of(person), dt.date.fromisoformat(day))
    assert access.people["e0003"].status is status
    assert access.at == tokyo(f"{day}T00:00")


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        expand_access(state_of(someone()), dt.datetime(2026, 11, 25, 12, 0))
