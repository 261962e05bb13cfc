"""Plain-data builders for planner and policy tests: a small organisation on example.co.jp,
people, a test-only role expansion, and snapshot parts. Used by tests/plan and tests/policy.

Everything is invented: the domain is example.co.jp, the GitHub org is example-org, the GCP
resources are projects/example-stg, projects/example-prod and organizations/123.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone

from reconciler.model import (
    Account,
    AppPassword,
    AuditConfig,
    Binding,
    BindingMode,
    DesiredAccess,
    DesiredState,
    Employment,
    EmploymentType,
    Entitlement,
    ExtraGrant,
    GcpGrant,
    GcpResourceScope,
    GitHubGrant,
    GitHubOrgSettings,
    GitHubScope,
    GitHubTeamGrant,
    GoogleGroupGrant,
    GoogleScope,
    Grant,
    GrantKind,
    IamPolicy,
    Invitation,
    NonHumanAccount,
    OAuthToken,
    Organization,
    Person,
    PersonAccess,
    PersonStatus,
    ProtectedAccount,
    ReadStatus,
    Role,
    SafetyLimits,
    ServiceAccount,
    Snapshot,
    SnapshotPart,
    System,
    Systems,
)

JST = timezone(timedelta(hours=9))
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=JST)
DOMAIN = "example.co.jp"
ORG = "example-org"
STG = "projects/example-stg"
PROD = "projects/example-prod"
ORG_NODE = "organizations/123"
ALL_AUDIT = (AuditConfig("allServices", ("ADMIN_READ", "DATA_READ", "DATA_WRITE")),)

ROLES: dict[str, Role] = {
    "engineer": Role(
        name="engineer",
        google_groups=(GoogleGroupGrant("eng@example.co.jp"),),
        github=GitHubGrant("member", (GitHubTeamGrant("backend"),)),
        gcp=(GcpGrant(STG, "roles/editor"), GcpGrant(PROD, "roles/viewer")),
    ),
    "sales": Role(name="sales", google_groups=(GoogleGroupGrant("sales@example.co.jp"),)),
    "eng-lead": Role(
        name="eng-lead",
        google_groups=(GoogleGroupGrant("eng@example.co.jp", "MANAGER"),),
        github=GitHubGrant("member", (GitHubTeamGrant("backend", "maintainer"),)),
    ),
    "sre": Role(name="sre", github=GitHubGrant("member", (GitHubTeamGrant("sre"),))),
    "org-owner": Role(name="org-owner", privileged=True, github=GitHubGrant("admin")),
    "prod-debug": Role(name="prod-debug", gcp=(GcpGrant(PROD, "roles/editor"),)),
    "security-officer": Role(
        name="security-officer",
        privileged=True,
        google_admin=True,
        gcp=(
            GcpGrant(ORG_NODE, "roles/resourcemanager.organizationAdmin"),
            GcpGrant(PROD, "roles/owner"),
        ),
    ),
}


def organization(
    *,
    gcp_modes: Mapping[str, BindingMode] | None = None,
    protected: Iterable[ProtectedAccount] = (),
    non_human: Iterable[NonHumanAccount] = (),
    limits: SafetyLimits | None = None,
    google: bool = True,
    github: bool = True,
) -> Organization:
    modes = gcp_modes or {
        STG: BindingMode.ADDITIVE,
        PROD: BindingMode.AUTHORITATIVE,
        ORG_NODE: BindingMode.AUTHORITATIVE,
    }
    return Organization(
        name="Example KK",
        domains=(DOMAIN,),
        timezone="Asia/Tokyo",
        security_officer="e0001",
        systems=Systems(
            google=GoogleScope("my_customer", DOMAIN) if google else None,
            github=GitHubScope(ORG) if github else None,
            gcp=tuple(
                GcpResourceScope(r, m, environment=_environment(r))
                for r, m in sorted(modes.items())
            ),
        ),
        protected_accounts=tuple(protected),
        non_human_accounts=tuple(non_human),
        limits=limits or SafetyLimits(),
    )


def _environment(resource: str) -> str | None:
    if resource.startswith("organizations/"):
        return None
    return "prod" if "prod" in resource else "stg"


def person(
    pid: str,
    email: str,
    *,
    name: str = "山田 太郎",
    roles: Iterable[str] = ("engineer",),
    github: str | None = None,
    github_id: int | None = None,
    grants: Iterable[ExtraGrant] = (),
    kind: EmploymentType = EmploymentType.EMPLOYEE,
    start: date = date(2025, 4, 1),
    end: date | None = None,
    nda: date | None = None,
    recovery_email: str | None = None,
) -> Person:
    return Person(
        id=pid,
        name=name,
        email=email,
        employment=Employment(kind, start, end, nda),
        roles=tuple(roles),
        grants=tuple(grants),
        github=github,
        github_id=github_id,
        recovery_email=recovery_email,
    )


def desired_state(
    people: Iterable[Person], org: Organization | None = None, commit: str = "c0ffee"
) -> DesiredState:
    return DesiredState(
        organization=org or organization(),
        roles=ROLES,
        people={p.id: p for p in people},
        commit=commit,
    )


def _role_grants(person: Person, role: Role) -> list[Grant]:
    grants = [
        Grant(GrantKind.GOOGLE_GROUP, g.group, person.email, g.role) for g in role.google_groups
    ]
    if role.github is not None and person.github:
        grants.append(Grant(GrantKind.GITHUB_ORG, ORG, person.github, role.github.org_role))
        grants += [
            Grant(GrantKind.GITHUB_TEAM, f"{ORG}/{t.team}", person.github, t.role)
            for t in role.github.teams
        ]
    grants += [
        Grant(GrantKind.GCP_BINDING, g.resource, f"user:{person.email}", g.role) for g in role.gcp
    ]
    if role.google_admin:
        grants.append(Grant(GrantKind.GOOGLE_ACCOUNT, DOMAIN, person.email, "ADMIN"))
    return grants


def expand(
    state: DesiredState,
    statuses: Mapping[str, PersonStatus] | None = None,
    *,
    at: datetime = NOW,
    ends_at: Mapping[str, datetime] | None = None,
) -> DesiredAccess:
    """A test-only stand-in for the real expansion: every person's roles and extra grants
    become entitlements, with the status the test says (ACTIVE by default). DEPARTED and
    NOT_STARTED people get no entitlements, as the real expansion does."""
    statuses = statuses or {}
    people = {}
    for p in state.people.values():
        status = statuses.get(p.id, PersonStatus.ACTIVE)
        ents: list[Entitlement] = []
        if status is PersonStatus.ACTIVE:
            for name in p.roles:
                role = state.roles[name]
                ents += [
                    Entitlement(g, p.id, name, privileged=role.privileged)
                    for g in _role_grants(p, role)
                ]
            for extra in p.grants:
                role = state.roles[extra.role]
                ents += [
                    Entitlement(
                        g,
                        p.id,
                        extra.role,
                        approved_by=extra.approved_by,
                        expires=extra.expires,
                        reason=extra.reason,
                        privileged=role.privileged,
                    )
                    for g in _role_grants(p, role)
                ]
        people[p.id] = PersonAccess(p.id, status, tuple(ents), (ends_at or {}).get(p.id))
    return DesiredAccess(at=at, people=people)


# ---- snapshot parts --------------------------------------------------------------------------


def g_user(
    email: str,
    uid: str | None = None,
    *,
    admin: bool = False,
    suspended: bool = False,
    two_sv: bool | None = True,
    last_login: datetime | None = NOW - timedelta(days=1),
    created: datetime | None = datetime(2025, 4, 1, tzinfo=JST),
    aliases: tuple[str, ...] = (),
) -> Account:
    return Account(
        System.GOOGLE,
        uid or f"g-{email.split('@', maxsplit=1)[0]}",
        email,
        suspended=suspended,
        is_admin=admin,
        two_factor_enrolled=two_sv,
        last_login=last_login,
        created=created,
        aliases=aliases,
    )


def google(
    users: Iterable[Account] = (),
    members: Iterable[tuple[str, str, str]] = (),  # (group, member, role)
    *,
    tokens: Iterable[OAuthToken] = (),
    asps: Iterable[AppPassword] = (),
    complete: bool = True,
) -> SnapshotPart:
    users = tuple(users)
    grants = [
        Grant(GrantKind.GOOGLE_ACCOUNT, DOMAIN, u.name, "ADMIN" if u.is_admin else "USER")
        for u in users
        if not u.suspended
    ]
    grants += [Grant(GrantKind.GOOGLE_GROUP, g, m, r) for g, m, r in members]
    return SnapshotPart(
        System.GOOGLE,
        ReadStatus(System.GOOGLE, complete, () if complete else ("members of eng@ failed",)),
        accounts=users,
        grants=tuple(grants),
        oauth_tokens=tuple(tokens),
        app_passwords=tuple(asps),
    )


def gh_user(login: str, uid: int, *, admin: bool = False, two_fa: bool | None = True) -> Account:
    return Account(System.GITHUB, str(uid), login, is_admin=admin, two_factor_enrolled=two_fa)


def github(
    members: Iterable[Account] = (),
    teams: Iterable[tuple[str, str, str]] = (),  # (slug, login, role)
    *,
    collaborators: Iterable[str] = (),
    invitations: Iterable[Invitation] = (),
    two_factor_required: bool = True,
    complete: bool = True,
    invitees: Iterable[Account] = (),
) -> SnapshotPart:
    """`invitees`: accounts the read looked up for people who may be invited (not members)."""
    members = tuple(members)
    grants = [
        Grant(GrantKind.GITHUB_ORG, ORG, m.name, "admin" if m.is_admin else "member")
        for m in members
    ]
    grants += [Grant(GrantKind.GITHUB_TEAM, f"{ORG}/{s}", login, r) for s, login, r in teams]
    grants += [Grant(GrantKind.GITHUB_COLLABORATOR, ORG, c, "outside") for c in collaborators]
    return SnapshotPart(
        System.GITHUB,
        ReadStatus(System.GITHUB, complete, () if complete else ("team page 2 failed",)),
        accounts=members,
        grants=tuple(grants),
        invitations=tuple(invitations),
        github_org=GitHubOrgSettings(ORG, 1, two_factor_required),
        invitees=tuple(invitees),
    )


def invitation(
    iid: int,
    *,
    login: str | None = None,
    email: str | None = None,
    age_days: int = 1,
    failed: bool = False,
) -> Invitation:
    created = NOW - timedelta(days=age_days)
    return Invitation(
        iid,
        ORG,
        login,
        email,
        "direct_member",
        created,
        failed_at=created + timedelta(hours=1) if failed else None,
        failed_reason="expired" if failed else None,
    )


def policy(
    resource: str,
    bindings: Iterable[Binding],
    audit: tuple[AuditConfig, ...] = ALL_AUDIT,
) -> IamPolicy:
    return IamPolicy(resource, "BwX=", 3, tuple(bindings), audit)


def gcp(
    policies: Iterable[IamPolicy] = (),
    *,
    service_accounts: Iterable[ServiceAccount] = (),
    complete: bool = True,
) -> SnapshotPart:
    """Grants are derived as the provider does: unconditional bindings only."""
    policies = tuple(policies)
    grants = tuple(
        Grant(GrantKind.GCP_BINDING, p.resource, m.lower(), b.role)
        for p in policies
        for b in p.bindings
        if not b.condition
        for m in b.members
    )
    return SnapshotPart(
        System.GCP,
        ReadStatus(System.GCP, complete, () if complete else ("getIamPolicy failed",)),
        grants=grants,
        policies=policies,
        service_accounts=tuple(service_accounts),
    )


def snapshot(*parts: SnapshotPart) -> Snapshot:
    return Snapshot.of(NOW, parts)


def baseline_policies(*extra: Binding, prod_extra: Iterable[Binding] = ()) -> list[IamPolicy]:
    """Policies where the security officer owns prod; extras go on stg / prod."""
    return [
        policy(STG, extra),
        policy(PROD, (Binding("roles/owner", ("user:cto@example.co.jp",)), *prod_extra)),
    ]


# ---- a whole small world ----------------------------------------------------------------------

CTO = person(
    "e0001",
    "cto@example.co.jp",
    name="鈴木 一郎",
    roles=("security-officer", "org-owner"),
    github="cto-gh",
    github_id=1,
)


def world(
    people: Iterable[Person] = (),
    *,
    statuses: Mapping[str, PersonStatus] | None = None,
    ends_at: Mapping[str, datetime] | None = None,
    org: Organization | None = None,
    g_users: Iterable[Account] = (),
    g_members: Iterable[tuple[str, str, str]] = (),
    tokens: Iterable[OAuthToken] = (),
    asps: Iterable[AppPassword] = (),
    gh_members: Iterable[Account] = (),
    teams: Iterable[tuple[str, str, str]] = (),
    collaborators: Iterable[str] = (),
    invitations: Iterable[Invitation] = (),
    gh_invitees: Iterable[Account] = (),
    stg: Iterable[Binding] = (),
    prod: Iterable[Binding] = (),
    incomplete: Iterable[System] = (),
    unread: Iterable[System] = (),
    two_factor_required: bool = True,
    service_accounts: Iterable[ServiceAccount] = (),
    stg_audit: tuple[AuditConfig, ...] = ALL_AUDIT,
) -> tuple[DesiredState, DesiredAccess, Snapshot]:
    """The CTO (security officer, sole super admin, sole org owner, prod owner) plus
    `people`, and a snapshot holding the CTO's access plus whatever the test adds."""
    state = desired_state([CTO, *people], org)
    access = expand(state, statuses, ends_at=ends_at)
    incomplete, unread = set(incomplete), set(unread)
    parts = [
        google(
            [g_user("cto@example.co.jp", admin=True), *g_users],
            g_members,
            tokens=tokens,
            asps=asps,
            complete=System.GOOGLE not in incomplete,
        ),
        github(
            [gh_user("cto-gh", 1, admin=True), *gh_members],
            teams,
            collaborators=collaborators,
            invitations=invitations,
            two_factor_required=two_factor_required,
            complete=System.GITHUB not in incomplete,
            invitees=gh_invitees,
        ),
        gcp(
            [
                policy(STG, tuple(stg), stg_audit),
                policy(PROD, (Binding("roles/owner", ("user:cto@example.co.jp",)), *prod)),
                policy(
                    ORG_NODE,
                    (
                        Binding(
                            "roles/resourcemanager.organizationAdmin", ("user:cto@example.co.jp",)
                        ),
                    ),
                ),
            ],
            service_accounts=service_accounts,
            complete=System.GCP not in incomplete,
        ),
    ]
    return state, access, snapshot(*(p for p in parts if p.system not in unread))
