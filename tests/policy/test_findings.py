"""Table-driven tests of check_findings: one or more cases per finding code, each stating
the world, the finding expected (code, severity, article, subject) and, where it matters,
the look-alike that must NOT produce it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest

from reconciler.model import (
    Binding,
    EmploymentType,
    ExtraGrant,
    NonHumanAccount,
    Person,
    PersonStatus,
    ProtectedAccount,
    ServiceAccount,
    ServiceAccountKey,
    Severity,
    System,
)
from reconciler.plan import plan_changes
from reconciler.policy import check_findings
from tests.plan.builders import (
    NOW,
    ORG,
    PROD,
    STG,
    g_user,
    gh_user,
    invitation,
    organization,
    person,
    world,
)

TARO = "taro.yamada@example.co.jp"
ENG = "eng@example.co.jp"
READERS = "prod-readers@example.co.jp"
ADMINS = "gcp-admins@example.co.jp"
PLATFORM = "platform@example.co.jp"
S = Severity


def taro(**kw: Any) -> Person:
    defaults: dict[str, Any] = {"github": "tyamada"}
    defaults.update(kw)
    return person("e0042", TARO, **defaults)


@dataclass
class Case:
    name: str
    people: list[Person] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    statuses: dict[str, PersonStatus] = field(default_factory=dict)
    # (code, severity, article, subject); None for "must not be present"
    expected: tuple[str, Severity, str, str] | None = None
    absent: tuple[str, str] | None = None  # (code, subject) that must not be reported
    says: str | None = None  # a phrase the expected finding's message must contain


CASES = [
    Case(
        "a Workspace account nobody in the repo owns is unmanaged",
        state={"g_users": [g_user("ghost@example.co.jp")]},
        expected=("unmanaged-account", S.HIGH, "第5.1条", "ghost@example.co.jp"),
    ),
    Case(
        "a suspended stranger's account is not reported as unmanaged",
        state={"g_users": [g_user("ghost@example.co.jp", suspended=True)]},
        absent=("unmanaged-account", "ghost@example.co.jp"),
    ),
    Case(
        "a GitHub org member nobody in the repo is, is unmanaged",
        state={"gh_members": [gh_user("stranger", 77)]},
        expected=("unmanaged-account", S.HIGH, "第5.1条", "stranger"),
    ),
    Case(
        "an outside collaborator is an unmanaged grant to confirm",
        state={"collaborators": ["vendor-dev"]},
        expected=(
            "unmanaged-grant",
            S.MEDIUM,
            "第5.1条",
            f"github_collaborator {ORG} outside for vendor-dev",
        ),
    ),
    Case(
        "a user binding of a role the repo does not manage on an additive resource is an "
        "unmanaged grant",
        state={"stg": [Binding("roles/logging.viewer", ("user:ghost@example.co.jp",))]},
        expected=(
            "unmanaged-grant",
            S.MEDIUM,
            "第5.1条",
            f"gcp_binding {STG} roles/logging.viewer for user:ghost@example.co.jp",
        ),
    ),
    Case(
        "a stranger's binding that the plan removes is not also an unmanaged grant",
        state={"prod": [Binding("roles/viewer", ("user:ghost@example.co.jp",))]},
        absent=("unmanaged-grant", f"gcp_binding {PROD} roles/viewer for user:ghost@example.co.jp"),
    ),
    Case(
        "a nested group in a managed group is an unmanaged grant, left in place",
        state={"g_members": [(ENG, "platform@example.co.jp", "MEMBER")]},
        expected=(
            "unmanaged-grant",
            S.MEDIUM,
            "第5.1条",
            f"google_group {ENG} MEMBER for platform@example.co.jp",
        ),
    ),
    Case(
        "a leaver who still has access is critical once past the offboarding time",
        [taro()],
        {"g_users": [g_user(TARO)], "g_members": [(ENG, TARO, "MEMBER")]},
        {"e0042": PersonStatus.DEPARTED},
        expected=("leaver-has-access", S.CRITICAL, "第5.2条3", TARO),
    ),
    Case(
        "a leaver who reaches prod through a group has access, and the message names the path",
        [taro()],
        {
            "g_users": [g_user(TARO, suspended=True)],
            "g_members": [(READERS, TARO, "MEMBER")],
            "prod": [Binding("roles/viewer", (f"group:{READERS}",))],
        },
        {"e0042": PersonStatus.DEPARTED},
        expected=("leaver-has-access", S.CRITICAL, "第5.2条3", TARO),
        says=f"roles/viewer on {PROD} through group {READERS}",
    ),
    Case(
        "a leaver who reaches prod through nested groups is told the whole path",
        [taro()],
        {
            "g_users": [g_user(TARO, suspended=True)],
            "g_members": [(READERS, PLATFORM, "MEMBER"), (PLATFORM, TARO, "MEMBER")],
            "prod": [Binding("roles/viewer", (f"group:{READERS}",))],
        },
        {"e0042": PersonStatus.DEPARTED},
        expected=("leaver-has-access", S.CRITICAL, "第5.2条3", TARO),
        says=f"roles/viewer on {PROD} through group {READERS} > {PLATFORM}",
    ),
    Case(
        "roles/owner on prod through nested groups is an owner on prod",
        [taro()],
        {
            "g_users": [g_user(TARO)],
            "g_members": [(ADMINS, PLATFORM, "MEMBER"), (PLATFORM, TARO, "MEMBER")],
            "prod": [Binding("roles/owner", (f"group:{ADMINS}",))],
        },
        expected=(
            "owner-on-prod",
            S.HIGH,
            "第12.2条",
            f"{PROD} roles/owner user:{TARO} via group:{ADMINS}",
        ),
        says=f"through group {ADMINS} > {PLATFORM}; the plan does not change group memberships",
    ),
    Case(
        "a privileged role reached through a group makes a privileged holder",
        [taro()],
        {
            "g_users": [g_user(TARO)],
            "g_members": [(ADMINS, TARO, "MEMBER")],
            "stg": [Binding("roles/owner", (f"group:{ADMINS}",))],
        },
        expected=(
            "privileged-holder",
            S.CRITICAL,
            "第10.2条",
            f"{STG} roles/owner user:{TARO} via group:{ADMINS}",
        ),
        says=f"through group {ADMINS}",
    ),
    Case(
        "the security officer reaching a privileged role through a group is no privileged holder",
        state={
            "g_members": [(ADMINS, "cto@example.co.jp", "MEMBER")],
            "stg": [Binding("roles/owner", (f"group:{ADMINS}",))],
        },
        absent=(
            "privileged-holder",
            f"{STG} roles/owner user:cto@example.co.jp via group:{ADMINS}",
        ),
    ),
    Case(
        "a protected break-glass account in a group bound as owner on prod is no owner finding",
        state={
            "org": organization(
                protected=[ProtectedAccount(System.GOOGLE, "breakglass@example.co.jp")]
            ),
            "g_users": [g_user("breakglass@example.co.jp")],
            "g_members": [(ADMINS, "breakglass@example.co.jp", "MEMBER")],
            "prod": [Binding("roles/owner", (f"group:{ADMINS}",))],
        },
        absent=(
            "owner-on-prod",
            f"{PROD} roles/owner user:breakglass@example.co.jp via group:{ADMINS}",
        ),
    ),
    Case(
        "a leaver with only a suspended account has no access left",
        [taro()],
        {"g_users": [g_user(TARO, suspended=True)]},
        {"e0042": PersonStatus.DEPARTED},
        absent=("leaver-has-access", TARO),
    ),
    Case(
        "a leaver named in a conditional binding needs a manual removal",
        [taro()],
        {
            "prod": [
                Binding("roles/editor", (f"user:{TARO}",), {"title": "debug", "expression": "x"})
            ]
        },
        {"e0042": PersonStatus.DEPARTED},
        expected=(
            "leaver-conditional-binding",
            S.HIGH,
            "第5.2条3",
            f"{PROD} roles/editor user:{TARO}",
        ),
    ),
    Case(
        "access held before the start date is reported",
        [taro()],
        {"g_members": [(ENG, TARO, "MEMBER")]},
        {"e0042": PersonStatus.NOT_STARTED},
        expected=("access-before-start", S.MEDIUM, "第5.2条1", TARO),
    ),
    Case(
        "an active user without 2-Step Verification is reported",
        [taro()],
        {"g_users": [g_user(TARO, two_sv=False)]},
        expected=("2sv-not-enrolled", S.HIGH, "第5.3条", TARO),
    ),
    Case(
        "a super admin without 2-Step Verification is critical under 第12.5条",
        state={"g_users": [g_user("ops-admin@example.co.jp", admin=True, two_sv=False)]},
        expected=("2sv-not-enrolled", S.CRITICAL, "第12.5条", "ops-admin@example.co.jp"),
    ),
    Case(
        "a GitHub member without two-factor authentication is reported",
        [taro()],
        {"gh_members": [gh_user("tyamada", 42, two_fa=False)]},
        expected=("2sv-not-enrolled", S.HIGH, "第5.3条", "tyamada"),
    ),
    Case(
        "an org that does not require 2FA is reported",
        state={"two_factor_required": False},
        expected=("org-2fa-not-required", S.HIGH, "第5.3条", ORG),
    ),
    Case(
        "an org owner other than the security officer is a privileged holder",
        [taro(roles=("engineer", "org-owner"))],
        {"gh_members": [gh_user("tyamada", 42, admin=True)]},
        expected=(
            "privileged-holder",
            S.CRITICAL,
            "第10.2条",
            f"github_org {ORG} admin for tyamada",
        ),
    ),
    Case(
        "an approved, time-boxed org owner grant is not a privileged-holder finding",
        [taro(grants=[ExtraGrant("org-owner", "e0001", "migration", expires=date(2026, 12, 31))])],
        {"gh_members": [gh_user("tyamada", 42, admin=True)]},
        absent=("privileged-holder", f"github_org {ORG} admin for tyamada"),
    ),
    Case(
        "a super admin other than the security officer is a privileged holder",
        state={"g_users": [g_user("ops-admin@example.co.jp", admin=True)]},
        expected=("privileged-holder", S.CRITICAL, "第10.2条", "ops-admin@example.co.jp"),
    ),
    Case(
        "roles/owner for someone other than the security officer is a privileged holder",
        state={"stg": [Binding("roles/owner", (f"user:{TARO}",))]},
        expected=("privileged-holder", S.CRITICAL, "第10.2条", f"{STG} roles/owner user:{TARO}"),
    ),
    Case(
        "the security officer's own privileges are not findings",
        absent=("privileged-holder", "cto@example.co.jp"),
    ),
    Case(
        "a function mailbox is a shared account",
        state={"g_users": [g_user("dev-team@example.co.jp")]},
        expected=("shared-account", S.MEDIUM, "第5.1条", "dev-team@example.co.jp"),
    ),
    Case(
        "a group member outside the organisation's domains is external",
        state={"g_members": [(ENG, "friend@example.com", "MEMBER")]},
        expected=(
            "external-member",
            S.MEDIUM,
            "第6.1条",
            f"google_group {ENG} MEMBER for friend@example.com",
        ),
    ),
    Case(
        "an account unused beyond the dormant limit is dormant",
        [taro()],
        {"g_users": [g_user(TARO, last_login=NOW - timedelta(days=120))]},
        expected=("dormant-account", S.MEDIUM, "第5.2条2", TARO),
    ),
    Case(
        "an old account that never signed in is dormant",
        [taro()],
        {"g_users": [g_user(TARO, last_login=None)]},
        expected=("dormant-account", S.MEDIUM, "第5.2条2", TARO),
    ),
    Case(
        "a new account that has not signed in yet is not dormant",
        [taro()],
        {"g_users": [g_user(TARO, last_login=None, created=NOW - timedelta(days=2))]},
        absent=("dormant-account", TARO),
    ),
    Case(
        "a service account with a user-managed key is reported",
        state={
            "service_accounts": [
                ServiceAccount(
                    "ci@example-prod.iam.gserviceaccount.com",
                    "1001",
                    "example-prod",
                    keys=(
                        ServiceAccountKey("projects/p/serviceAccounts/s/keys/k", "USER_MANAGED"),
                    ),
                )
            ]
        },
        expected=("user-managed-key", S.HIGH, "第4.1条", "ci@example-prod.iam.gserviceaccount.com"),
    ),
    Case(
        "system-managed keys are not reported",
        state={
            "service_accounts": [
                ServiceAccount(
                    "ci@example-prod.iam.gserviceaccount.com",
                    "1001",
                    "example-prod",
                    keys=(
                        ServiceAccountKey("projects/p/serviceAccounts/s/keys/k", "SYSTEM_MANAGED"),
                    ),
                )
            ]
        },
        absent=("user-managed-key", "ci@example-prod.iam.gserviceaccount.com"),
    ),
    Case(
        "an invitation pending longer than the limit is stale",
        [taro()],
        {"invitations": [invitation(9, login="tyamada", age_days=10)]},
        expected=("stale-invitation", S.LOW, "第5.2条2", "tyamada"),
    ),
    Case(
        "a failed invitation is reported, since GitHub does not resend it",
        [taro()],
        {"invitations": [invitation(9, login="tyamada", failed=True)]},
        expected=("failed-invitation", S.LOW, "第5.2条1", "tyamada"),
    ),
    Case(
        "a deleted principal left in a binding is reported",
        state={"stg": [Binding("roles/viewer", ("deleted:user:old@example.co.jp?uid=123",))]},
        expected=(
            "deleted-principal",
            S.MEDIUM,
            "第5.2条2",
            f"{STG} roles/viewer deleted:user:old@example.co.jp?uid=123",
        ),
    ),
    Case(
        "a resource without data access audit logs is reported",
        state={"stg_audit": ()},
        expected=("audit-logs-disabled", S.HIGH, "第14.1条", STG),
    ),
    Case(
        "roles/owner on a prod resource is reported for anyone, the officer included",
        expected=(
            "owner-on-prod",
            S.HIGH,
            "第12.2条",
            f"{PROD} roles/owner user:cto@example.co.jp",
        ),
    ),
    Case(
        "an extra grant ending within a week is a heads-up",
        [
            taro(
                grants=[
                    ExtraGrant("prod-debug", "e0001", "incident", expires=NOW.date() + timedelta(3))
                ]
            )
        ],
        expected=(
            "expiring-grant",
            S.INFO,
            "第5.2条1",
            f"gcp_binding {PROD} roles/editor for user:{TARO}",
        ),
    ),
    Case(
        "a renamed GitHub login is noted so the person file can be updated",
        [taro(github_id=42)],
        {"gh_members": [gh_user("taro-y", 42)]},
        expected=("github-login-renamed", S.INFO, "第5.2条2", "taro-y"),
    ),
    Case(
        "a login taken by another account is reported",
        [taro(github_id=42)],
        {"gh_members": [gh_user("tyamada", 666)]},
        expected=("github-login-taken", S.HIGH, "第5.1条", "tyamada"),
    ),
    Case(
        "a login held outside the org by another account is reported when resolving an invitee",
        [taro(github_id=42)],
        {"gh_invitees": [gh_user("tyamada", 666)]},
        expected=("github-invitee-login-taken", S.HIGH, "第5.2条1", "tyamada"),
    ),
    Case(
        "a login held by the person's own account outside the org is no finding",
        [taro(github_id=42)],
        {"gh_invitees": [gh_user("tyamada", 42)]},
        absent=("github-invitee-login-taken", "tyamada"),
    ),
    Case(
        "a contractor without an NDA is reported",
        [taro(kind=EmploymentType.CONTRACTOR)],
        expected=("contractor-nda", S.HIGH, "第6.1条", TARO),
    ),
    Case(
        "a non-human account whose owner left has no owner",
        [taro()],
        {
            "org": organization(
                non_human=[NonHumanAccount("deploy", System.GITHUB, "deploy-bot", owner="e0042")]
            )
        },
        {"e0042": PersonStatus.DEPARTED},
        expected=("non-human-owner-departed", S.HIGH, "第5.1条", "deploy-bot"),
    ),
    Case(
        "a contractor with an NDA signed before starting is fine",
        [taro(kind=EmploymentType.CONTRACTOR, nda=date(2025, 3, 1))],
        absent=("contractor-nda", TARO),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check_findings(case: Case) -> None:
    desired, access, snap = world(case.people, statuses=case.statuses, **case.state)
    findings = check_findings(desired, access, snap, NOW)
    seen = {(f.code, f.severity, f.article, f.subject) for f in findings}
    if case.expected is not None:
        assert case.expected in seen, sorted(seen)
    if case.says is not None:
        assert case.expected is not None
        messages = [
            f.message
            for f in findings
            if (f.code, f.subject) == (case.expected[0], case.expected[3])
        ]
        assert any(case.says in m for m in messages), messages
    if case.absent is not None:
        assert case.absent not in {(f.code, f.subject) for f in findings}
        assert all(f.code != case.absent[0] or case.absent[1] not in f.subject for f in findings)


def test_leaver_finding_says_how_many_hours_past_the_offboarding_time() -> None:
    desired, access, snap = world(
        [taro()],
        statuses={"e0042": PersonStatus.DEPARTED},
        ends_at={"e0042": NOW - timedelta(hours=3)},
        g_users=[g_user(TARO)],
    )
    (leaver,) = [
        f for f in check_findings(desired, access, snap, NOW) if f.code == "leaver-has-access"
    ]
    assert "3.0 hours past" in leaver.message
    assert leaver.person_id == "e0042"
    assert leaver.severity is Severity.CRITICAL


def test_protected_and_non_human_accounts_are_exempt_from_account_findings() -> None:
    org = organization(
        protected=[ProtectedAccount(System.GOOGLE, "breakglass@example.co.jp")],
        non_human=[NonHumanAccount("ci", System.GOOGLE, "support@example.co.jp", owner="e0001")],
    )
    desired, access, snap = world(
        org=org,
        g_users=[
            g_user("breakglass@example.co.jp", admin=True, last_login=None),
            g_user("support@example.co.jp"),
        ],
    )
    codes = {(f.code, f.subject) for f in check_findings(desired, access, snap, NOW)}
    for subject in ("breakglass@example.co.jp", "support@example.co.jp"):
        for code in ("unmanaged-account", "shared-account", "dormant-account", "privileged-holder"):
            assert (code, subject) not in codes


def test_a_non_human_account_whose_owner_left_is_reported() -> None:
    org = organization(
        non_human=[NonHumanAccount("deploy", System.GITHUB, "deploy-bot", owner="e0042")]
    )
    desired, access, snap = world([taro()], org=org, statuses={"e0042": PersonStatus.DEPARTED})
    found = [
        f
        for f in check_findings(desired, access, snap, NOW)
        if f.code == "non-human-owner-departed"
    ]
    assert [(f.severity, f.article, f.subject) for f in found] == [
        (Severity.HIGH, "第5.1条", "deploy-bot")
    ]


def test_findings_are_sorted_by_severity_then_code_then_subject_and_included_in_the_plan() -> None:
    desired, access, snap = world(
        [taro()],
        statuses={"e0042": PersonStatus.DEPARTED},
        g_users=[g_user(TARO), g_user("ghost@example.co.jp", two_sv=False)],
        g_members=[(ENG, "friend@example.com", "MEMBER")],
        two_factor_required=False,
    )
    findings = check_findings(desired, access, snap, NOW)
    keys = [(f.severity.rank, f.code, f.subject) for f in findings]
    assert keys == sorted(keys)
    assert plan_changes(desired, access, snap, NOW).findings == findings


def test_the_planner_changes_no_group_membership_because_of_a_gcp_binding() -> None:
    """Effective access is reported, never acted on: a member reaching roles/owner on prod
    through an unmanaged group keeps the membership, and the group's binding stays."""
    desired, access, snap = world(
        [taro()],
        g_users=[g_user(TARO)],
        g_members=[(ADMINS, TARO, "MEMBER")],
        prod=[Binding("roles/owner", (f"group:{ADMINS}",))],
    )
    plan = plan_changes(desired, access, snap, NOW)
    assert [a for a in plan.actions if ADMINS in (a.target, a.principal, a.principal[6:])] == []
    assert any(f.code == "owner-on-prod" and ADMINS in f.subject for f in plan.findings)
