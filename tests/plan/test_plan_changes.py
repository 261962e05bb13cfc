"""Table-driven tests of plan_changes: (name, world, expected actions) with plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest

from reconciler.model import (
    ActionKind,
    AppPassword,
    Binding,
    BindingMode,
    ExtraGrant,
    NonHumanAccount,
    NoteKind,
    OAuthToken,
    Person,
    PersonStatus,
    Phase,
    ProtectedAccount,
    System,
)
from reconciler.plan import plan_changes
from tests.plan.builders import (
    NOW,
    ORG,
    ORG_NODE,
    PROD,
    STG,
    g_user,
    gh_user,
    invitation,
    organization,
    person,
    world,
)

A = ActionKind
TARO = "taro.yamada@example.co.jp"
HANAKO = "hanako.sato@example.co.jp"
ENG = "eng@example.co.jp"
SALES = "sales@example.co.jp"


def taro(**kw: Any) -> Person:
    defaults: dict[str, Any] = {"github": "tyamada"}
    defaults.update(kw)
    return person("e0042", TARO, **defaults)


def engineer_state(login: str = "tyamada", uid: int = 42) -> dict[str, Any]:
    """Everything an engineer holds when fully onboarded."""
    return {
        "g_users": [g_user(TARO)],
        "g_members": [(ENG, TARO, "MEMBER")],
        "gh_members": [gh_user(login, uid)],
        "teams": [("backend", login, "member")],
        "stg": [Binding("roles/editor", (f"user:{TARO}",))],
        "prod": [Binding("roles/viewer", (f"user:{TARO}",))],
    }


@dataclass
class Case:
    name: str
    people: list[Person]
    state: dict[str, Any] = field(default_factory=dict)
    statuses: dict[str, PersonStatus] = field(default_factory=dict)
    # (kind, target, principal, role) in plan order
    actions: list[tuple[ActionKind, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # substrings each note list must contain


def leaver_state() -> dict[str, Any]:
    state = engineer_state()
    state.update(
        tokens=[OAuthToken(TARO, "client-b.apps.example.com"), OAuthToken(TARO, "client-a")],
        asps=[AppPassword(TARO, 7, "mail client")],
        collaborators=["tyamada"],
        invitations=[invitation(501, email=TARO)],
    )
    return state


CASES = [
    Case(
        "onboarding creates the account, adds groups and bindings, invites, and defers teams",
        [taro(recovery_email="taro@example.com")],
        actions=[
            (A.CREATE_ACCOUNT, "example.co.jp", TARO, "USER"),
            (A.ADD_GROUP_MEMBER, ENG, TARO, "MEMBER"),
            (A.INVITE_ORG_MEMBER, ORG, "tyamada", "member"),
            (A.ADD_BINDING, PROD, f"user:{TARO}", "roles/viewer"),
            (A.ADD_BINDING, STG, f"user:{TARO}", "roles/editor"),
        ],
        notes=["teams example-org/backend wait until tyamada accepts"],
    ),
    Case(
        "a fully onboarded engineer needs nothing",
        [taro()],
        engineer_state(),
    ),
    Case(
        "an active person whose account is suspended is unsuspended, not re-created",
        [taro()],
        {**engineer_state(), "g_users": [g_user(TARO, suspended=True)]},
        actions=[(A.UNSUSPEND_ACCOUNT, "example.co.jp", TARO, "")],
    ),
    Case(
        "a pending invitation for the login is not sent again and teams wait for it",
        [taro()],
        {
            **engineer_state(),
            "gh_members": [],
            "teams": [],
            "invitations": [invitation(9, login="tyamada")],
        },
        notes=["wait until tyamada accepts"],
    ),
    Case(
        "a pending invitation by email also counts as invited",
        [taro()],
        {
            **engineer_state(),
            "gh_members": [],
            "teams": [],
            "invitations": [invitation(9, email=TARO)],
        },
    ),
    Case(
        "an org member missing from a team is added to it",
        [taro()],
        {**engineer_state(), "teams": []},
        actions=[(A.ADD_TEAM_MEMBER, f"{ORG}/backend", "tyamada", "member")],
    ),
    Case(
        "a lead's group and team roles are changed in place with the old role kept",
        [taro(roles=("engineer", "eng-lead"))],
        engineer_state(),
        actions=[
            (A.CHANGE_GROUP_ROLE, ENG, TARO, "MANAGER"),
            (A.CHANGE_TEAM_ROLE, f"{ORG}/backend", "tyamada", "maintainer"),
        ],
    ),
    Case(
        "a member granted org ownership by an approved, time-boxed grant is promoted in place",
        [taro(grants=[ExtraGrant("org-owner", "e0001", "migration", expires=date(2026, 12, 1))])],
        engineer_state(),
        actions=[(A.CHANGE_ORG_ROLE, ORG, "tyamada", "admin")],
    ),
    Case(
        "privileged access without an approved, time-boxed grant is held back (第10.2条)",
        [taro(roles=("engineer", "org-owner", "security-officer"))],
        engineer_state(),
        notes=["held back change_org_role tyamada", "not the security officer"],
    ),
    Case(
        "an owner whose roles say member is demoted while another owner remains",
        [taro()],
        {**engineer_state(), "gh_members": [gh_user("tyamada", 42, admin=True)]},
        actions=[(A.CHANGE_ORG_ROLE, ORG, "tyamada", "member")],
    ),
    Case(
        "a managed team the roles no longer grant is left; an unmanaged team is not touched",
        [taro()],
        {
            **engineer_state(),
            "teams": [
                ("backend", "tyamada", "member"),
                ("sre", "tyamada", "member"),
                ("book-club", "tyamada", "member"),
            ],
        },
        actions=[(A.REMOVE_TEAM_MEMBER, f"{ORG}/sre", "tyamada", "member")],
    ),
    Case(
        "a transfer adds the new access before removing the old",
        [taro(roles=("sales",))],
        engineer_state(),
        actions=[
            (A.ADD_GROUP_MEMBER, SALES, TARO, "MEMBER"),
            (A.REMOVE_GROUP_MEMBER, ENG, TARO, "MEMBER"),
            (A.REMOVE_ORG_MEMBER, ORG, "tyamada", "member"),
            (A.REMOVE_BINDING, PROD, f"user:{TARO}", "roles/viewer"),
            (A.REMOVE_BINDING, STG, f"user:{TARO}", "roles/editor"),
        ],
    ),
    Case(
        "a leaver is offboarded Google first, then GitHub, then GCP, all flagged offboarding",
        [taro()],
        leaver_state(),
        statuses={"e0042": PersonStatus.DEPARTED},
        actions=[
            (A.SUSPEND_ACCOUNT, "example.co.jp", TARO, ""),
            (A.SIGN_OUT, "example.co.jp", TARO, ""),
            (A.REVOKE_TOKEN, "example.co.jp", TARO, ""),
            (A.REVOKE_TOKEN, "example.co.jp", TARO, ""),
            (A.DELETE_APP_PASSWORD, "example.co.jp", TARO, ""),
            (A.REMOVE_GROUP_MEMBER, ENG, TARO, "MEMBER"),
            (A.REMOVE_ORG_MEMBER, ORG, "tyamada", "member"),
            (A.CANCEL_INVITATION, ORG, TARO, ""),
            (A.REMOVE_OUTSIDE_COLLABORATOR, ORG, "tyamada", "outside"),
            (A.REMOVE_BINDING, PROD, f"user:{TARO}", "roles/viewer"),
            (A.REMOVE_BINDING, STG, f"user:{TARO}", "roles/editor"),
        ],
    ),
    Case(
        "a leaver's conditional binding is left for a human (a finding), never edited",
        [taro()],
        {
            "g_users": [g_user(TARO, suspended=True)],
            "prod": [
                Binding(
                    "roles/editor", (f"user:{TARO}",), {"title": "until 2026-12", "expression": "x"}
                )
            ],
        },
        statuses={"e0042": PersonStatus.DEPARTED},
    ),
    Case(
        "a leaver already suspended with nothing left needs nothing",
        [taro()],
        {"g_users": [g_user(TARO, suspended=True)]},
        statuses={"e0042": PersonStatus.DEPARTED},
    ),
    Case(
        "nothing is created before the start date and early access is not removed",
        [taro()],
        {"g_members": [(ENG, TARO, "MEMBER")]},
        statuses={"e0042": PersonStatus.NOT_STARTED},
    ),
    Case(
        "strangers are removed from managed groups, the org and authoritative resources only",
        [],
        {
            "g_users": [g_user("ghost@example.co.jp")],
            "g_members": [
                (ENG, "ghost@example.co.jp", "MEMBER"),  # a user nobody in the repo is
                (ENG, "friend@example.com", "MEMBER"),  # outside the domain
                (ENG, "platform@example.co.jp", "MEMBER"),  # not a user: a nested group
                ("all@example.co.jp", "ghost@example.co.jp", "MEMBER"),  # unmanaged group
            ],
            "gh_members": [gh_user("stranger", 77)],
            "teams": [("backend", "stranger", "member")],
            "stg": [Binding("roles/editor", ("user:ghost@example.co.jp",))],  # additive
            "prod": [
                Binding("roles/viewer", ("user:ghost@example.co.jp", "group:eng@example.co.jp")),
                Binding(
                    "roles/viewer", ("serviceAccount:ci@example-prod.iam.gserviceaccount.com",)
                ),
                # a role roles.yaml never assigns: still managed, the resource is authoritative
                Binding("roles/logging.viewer", ("user:ghost@example.co.jp",)),
            ],
        },
        actions=[
            (A.REMOVE_GROUP_MEMBER, ENG, "friend@example.com", "MEMBER"),
            (A.REMOVE_GROUP_MEMBER, ENG, "ghost@example.co.jp", "MEMBER"),
            (A.REMOVE_ORG_MEMBER, ORG, "stranger", "member"),
            (A.REMOVE_BINDING, PROD, "user:ghost@example.co.jp", "roles/logging.viewer"),
            (A.REMOVE_BINDING, PROD, "user:ghost@example.co.jp", "roles/viewer"),
        ],
    ),
    Case(
        "an unmanaged Workspace account is reported, never suspended automatically",
        [],
        {"g_users": [g_user("ghost@example.co.jp")]},
    ),
    Case(
        "a renamed GitHub login is followed by id and the squatter on the old login gets nothing",
        [taro(github_id=42)],
        {
            **engineer_state(login="taro-y", uid=42),
            "gh_members": [gh_user("taro-y", 42), gh_user("tyamada", 666)],
            "teams": [("backend", "tyamada", "member")],
        },
        actions=[
            (A.ADD_TEAM_MEMBER, f"{ORG}/backend", "taro-y", "member"),
            (A.REMOVE_ORG_MEMBER, ORG, "tyamada", "member"),
        ],
    ),
    Case(
        "when only a squatter holds the person's login, nobody is invited on their behalf",
        [taro(github_id=42)],
        {**engineer_state(), "gh_members": [gh_user("tyamada", 666)], "teams": []},
        actions=[(A.REMOVE_ORG_MEMBER, ORG, "tyamada", "member")],
        notes=["belongs to another account"],
    ),
    Case(
        "a leaver's renamed account is removed by id, not the squatter on the old login",
        [taro(github_id=42)],
        {"gh_members": [gh_user("taro-y", 42), gh_user("tyamada", 666)]},
        statuses={"e0042": PersonStatus.DEPARTED},
        actions=[
            (A.REMOVE_ORG_MEMBER, ORG, "taro-y", "member"),
            (A.REMOVE_ORG_MEMBER, ORG, "tyamada", "member"),
        ],
    ),
    Case(
        "a person matched through a Workspace alias is not re-created",
        [taro()],
        {
            **engineer_state(),
            "g_users": [g_user("t.yamada@example.co.jp", aliases=(TARO,))],
            "g_members": [(ENG, "t.yamada@example.co.jp", "MEMBER")],
        },
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_plan_changes(case: Case) -> None:
    desired, access, snap = world(case.people, statuses=case.statuses, **case.state)
    plan = plan_changes(desired, access, snap, NOW)
    got = [(a.kind, a.target, a.principal, a.role) for a in plan.actions]
    assert got == case.actions
    for expected in case.notes:
        assert any(expected in n.message for n in plan.notes), plan.notes


def test_offboarding_actions_carry_the_ids_the_apis_need_and_the_offboarding_flag() -> None:
    desired, access, snap = world(
        [taro()], statuses={"e0042": PersonStatus.DEPARTED}, **leaver_state()
    )
    plan = plan_changes(desired, access, snap, NOW)
    assert all(a.offboarding and a.person_id == "e0042" for a in plan.actions)
    params = {(a.kind, a.params) for a in plan.actions if a.params}
    assert params == {
        (A.REVOKE_TOKEN, (("client_id", "client-a"),)),
        (A.REVOKE_TOKEN, (("client_id", "client-b.apps.example.com"),)),
        (A.DELETE_APP_PASSWORD, (("code_id", "7"),)),
        (A.CANCEL_INVITATION, (("invitation_id", "501"),)),
    }
    phases = [a.phase for a in plan.actions]
    assert phases == sorted(phases)
    assert {a.phase for a in plan.actions} == {
        Phase.OFFBOARD_GOOGLE,
        Phase.OFFBOARD_GITHUB,
        Phase.OFFBOARD_GCP,
    }


def test_create_account_splits_the_name_and_never_carries_a_password() -> None:
    desired, access, snap = world([taro(name="山田 太郎", recovery_email="taro@example.com")])
    create = next(a for a in plan_changes(desired, access, snap, NOW).actions)
    assert create.kind is A.CREATE_ACCOUNT
    assert dict(create.params) == {
        "given_name": "太郎",
        "family_name": "山田",
        "recovery_email": "taro@example.com",
    }
    assert create.phase < min(a.phase for a in plan_changes(desired, access, snap, NOW).actions[1:])


def test_role_changes_keep_the_old_role_for_the_audit_log() -> None:
    desired, access, snap = world([taro(roles=("engineer", "eng-lead"))], **engineer_state())
    changes = [
        a for a in plan_changes(desired, access, snap, NOW).actions if a.phase == Phase.CHANGE
    ]
    assert {a.param("old_role") for a in changes} == {"MEMBER", "member"}


# ---- safety inside the planner ---------------------------------------------------------------


@dataclass
class IncompleteCase:
    """A world with some systems read incompletely: the actions still planned, the count held
    back per system, and the words the one note per system must contain."""

    name: str
    people: list[Person]
    state: dict[str, Any]
    incomplete: list[System]
    actions: set[tuple[ActionKind, str]]
    held_back: tuple[tuple[System, int], ...]
    notes: list[str] = field(default_factory=list)
    statuses: dict[str, PersonStatus] = field(default_factory=dict)


HANAKO_SALES = person("e0043", HANAKO, roles=("sales",))

INCOMPLETE_CASES = [
    IncompleteCase(
        "a failed member list invites nobody and changes no role, with one note for github",
        # 18 developers in the repo; the partial read showed only dev17, as an admin: the
        # planner would invite 17 people who are probably members and demote dev17
        [
            person(f"e1{i:03d}", f"dev{i:02d}@example.co.jp", github=f"dev{i:02d}")
            for i in range(18)
        ],
        {
            "g_users": [g_user(f"dev{i:02d}@example.co.jp") for i in range(18)],
            "g_members": [(ENG, f"dev{i:02d}@example.co.jp", "MEMBER") for i in range(18)],
            "gh_members": [gh_user("dev17", 117, admin=True)],
            "teams": [("backend", "dev17", "member")],
            "stg": [
                Binding("roles/editor", tuple(f"user:dev{i:02d}@example.co.jp" for i in range(18)))
            ],
            "prod": [
                Binding("roles/viewer", tuple(f"user:dev{i:02d}@example.co.jp" for i in range(18)))
            ],
        },
        [System.GITHUB],
        set(),
        ((System.GITHUB, 18),),
        [
            "github read incomplete (team page 2 failed): 18 change(s) held back: "
            "17 invitations, 1 role change"
        ],
    ),
    IncompleteCase(
        "a failed user list creates no account and adds to no group",
        [taro(), HANAKO_SALES],
        {
            "gh_members": [gh_user("tyamada", 42)],
            "teams": [("backend", "tyamada", "member")],
            "stg": [Binding("roles/editor", (f"user:{TARO}",))],
            "prod": [Binding("roles/viewer", (f"user:{TARO}",))],
        },
        [System.GOOGLE],
        set(),
        ((System.GOOGLE, 4),),
        [
            "google read incomplete (members of eng@ failed): 4 change(s) held back: "
            "2 account creations, 2 additions"
        ],
    ),
    IncompleteCase(
        "a leaver's known grants are still removed; the rest of that system waits",
        [taro(), HANAKO_SALES],
        {
            "g_users": [g_user(TARO), g_user(HANAKO), g_user("ghost@example.co.jp")],
            "g_members": [
                (ENG, TARO, "MEMBER"),
                (ENG, HANAKO, "MEMBER"),  # transfer removal: held back
                (ENG, "ghost@example.co.jp", "MEMBER"),  # stranger: held back
            ],
        },
        [System.GOOGLE],
        {(A.SUSPEND_ACCOUNT, TARO), (A.SIGN_OUT, TARO), (A.REMOVE_GROUP_MEMBER, TARO)},
        ((System.GOOGLE, 3),),
        [
            "google read incomplete (members of eng@ failed): 3 change(s) held back: "
            "2 removals, 1 addition"
        ],
        statuses={"e0042": PersonStatus.DEPARTED},
    ),
    IncompleteCase(
        "two incomplete systems get one note each, and a complete one is planned as usual",
        [taro()],
        {},
        [System.GITHUB, System.GCP],
        {(A.CREATE_ACCOUNT, TARO), (A.ADD_GROUP_MEMBER, TARO)},
        ((System.GITHUB, 1), (System.GCP, 2)),
        [
            "github read incomplete (team page 2 failed): 1 change(s) held back: 1 invitation",
            "gcp read incomplete (getIamPolicy failed): 2 change(s) held back: 2 additions",
        ],
    ),
    IncompleteCase(
        "an incomplete read with nothing to hold back says nothing and counts nothing",
        [taro()],
        engineer_state(),
        [System.GITHUB],
        set(),
        (),
    ),
]


@pytest.mark.parametrize("case", INCOMPLETE_CASES, ids=[c.name for c in INCOMPLETE_CASES])
def test_an_incomplete_read_holds_back_every_change_but_a_leavers_known_removals(
    case: IncompleteCase,
) -> None:
    desired, access, snap = world(
        case.people, statuses=case.statuses, incomplete=case.incomplete, **case.state
    )
    plan = plan_changes(desired, access, snap, NOW)
    assert {(a.kind, a.principal) for a in plan.actions} == case.actions
    assert plan.held_back == case.held_back
    assert plan.held_back_total == sum(n for _, n in case.held_back)
    assert set(plan.incomplete_systems) == set(case.incomplete)
    read_notes = [n.message for n in plan.notes if n.kind is NoteKind.HELD_BACK and n.system]
    assert read_notes == case.notes  # one per system with something held back, no more


def test_a_system_that_was_not_read_gets_no_actions_at_all() -> None:
    desired, access, snap = world([taro()], unread=[System.GITHUB])
    plan = plan_changes(desired, access, snap, NOW)
    assert not [a for a in plan.actions if a.system is System.GITHUB]
    assert System.GITHUB in plan.incomplete_systems
    assert any(n.kind is NoteKind.NOT_READ and n.system is System.GITHUB for n in plan.notes), (
        plan.notes
    )


def test_protected_and_non_human_accounts_never_appear_in_actions() -> None:
    org = organization(
        protected=[
            ProtectedAccount(System.GOOGLE, "breakglass@example.co.jp", "break-glass"),
            ProtectedAccount(System.GITHUB, "rescue-owner"),
        ],
        non_human=[NonHumanAccount("ci", System.GITHUB, "ci-bot", owner="e0001")],
    )
    desired, access, snap = world(
        org=org,
        g_users=[g_user("breakglass@example.co.jp", admin=True)],
        g_members=[(ENG, "breakglass@example.co.jp", "OWNER")],
        gh_members=[gh_user("rescue-owner", 5, admin=True), gh_user("ci-bot", 6)],
        prod=[Binding("roles/viewer", ("user:breakglass@example.co.jp",))],
    )
    plan = plan_changes(desired, access, snap, NOW)
    assert plan.actions == ()


def test_the_last_super_admin_org_owner_and_project_owner_are_kept_when_they_leave() -> None:
    desired, access, snap = world(statuses={"e0001": PersonStatus.DEPARTED})
    plan = plan_changes(desired, access, snap, NOW)
    kinds = {(a.kind, a.target) for a in plan.actions}
    assert (A.SUSPEND_ACCOUNT, "example.co.jp") not in kinds
    assert (A.REMOVE_ORG_MEMBER, ORG) not in kinds
    assert (A.REMOVE_BINDING, PROD) not in kinds
    # What does not remove the last admin still happens: sessions cut, other bindings gone.
    assert (A.SIGN_OUT, "example.co.jp") in kinds
    assert (A.REMOVE_BINDING, ORG_NODE) in kinds
    kept = [n.message for n in plan.notes if n.kind is NoteKind.KEPT]
    assert len(kept) == 3


def test_a_leaving_admin_is_removed_when_another_admin_remains() -> None:
    boss = person("e0002", "boss@example.co.jp", roles=("org-owner",), github="boss-gh")
    desired, access, snap = world(
        [boss],
        statuses={"e0001": PersonStatus.DEPARTED},
        g_users=[g_user("boss@example.co.jp", admin=True)],
        gh_members=[gh_user("boss-gh", 2, admin=True)],
    )
    kinds = {(a.kind, a.principal) for a in plan_changes(desired, access, snap, NOW).actions}
    assert (A.SUSPEND_ACCOUNT, "cto@example.co.jp") in kinds
    assert (A.REMOVE_ORG_MEMBER, "cto-gh") in kinds


def test_additive_resource_corrects_people_in_the_repo_but_reports_strangers() -> None:
    org = organization(gcp_modes={STG: BindingMode.ADDITIVE, PROD: BindingMode.ADDITIVE})
    desired, access, snap = world(
        [taro(roles=("sales",))],
        org=org,
        g_users=[g_user(TARO)],
        g_members=[(SALES, TARO, "MEMBER")],
        prod=[Binding("roles/viewer", (f"user:{TARO}", "user:ghost@example.co.jp"))],
    )
    plan = plan_changes(desired, access, snap, NOW)
    assert [(a.kind, a.principal) for a in plan.actions] == [(A.REMOVE_BINDING, f"user:{TARO}")]
    assert any(f.code == "unmanaged-grant" and "ghost" in f.subject for f in plan.findings), (
        plan.findings
    )


# ---- the plan as a value ---------------------------------------------------------------------


def test_plan_is_deterministic_and_sorted() -> None:
    state = leaver_state()
    args: dict[str, Any] = {"statuses": {"e0042": PersonStatus.DEPARTED}, **state}
    hanako = person("e0043", HANAKO, roles=("sales",))
    first = plan_changes(*world([taro(), hanako], **args), NOW)
    again = plan_changes(*world([hanako, taro()], **args), NOW)
    assert first == again
    assert first.checksum == again.checksum
    kinds = [a.kind for a in first.actions]
    assert kinds.index(A.SUSPEND_ACCOUNT) < kinds.index(A.SIGN_OUT) < kinds.index(A.REVOKE_TOKEN)
    phases = [a.phase for a in first.actions]
    assert phases == sorted(phases)
    ranks = [f.severity.rank for f in first.findings]
    assert ranks == sorted(ranks)


def test_plan_records_the_state_fingerprint_and_desired_commit() -> None:
    desired, access, snap = world([taro()], **engineer_state())
    plan = plan_changes(desired, access, snap, NOW + timedelta(minutes=1))
    assert plan.state_fingerprint == snap.fingerprint()
    assert plan.desired_commit == "c0ffee"
    assert plan.made_at == NOW + timedelta(minutes=1)
    assert not plan.has_changes


def test_an_action_granted_by_an_extra_grant_carries_its_approver_and_expiry() -> None:
    grant = ExtraGrant("org-owner", "e0001", "migration", expires=date(2026, 12, 1))
    desired, access, snap = world([taro(grants=[grant])], **engineer_state())
    promote = next(
        a for a in plan_changes(desired, access, snap, NOW).actions if a.kind is A.CHANGE_ORG_ROLE
    )
    assert promote.param("approved_by") == "e0001"
    assert promote.param("expires") == "2026-12-01"
    assert "approved by e0001 until 2026-12-01" in promote.reason


def test_actions_granted_by_roles_carry_no_approver() -> None:
    desired, access, snap = world([taro()])
    assert all(not a.param("approved_by") for a in plan_changes(desired, access, snap, NOW).actions)
