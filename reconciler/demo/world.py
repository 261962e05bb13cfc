"""Build sandbox worlds from a desired state: the demo world (with realistic drift) and the
large generated worlds of the benchmarks. Called by `reconciler sandbox`, `reconciler demo`,
the benchmarks and the end-to-end tests.

The baseline is "what the systems held before today's HR edits were applied": everyone who
has started holds what their roles say, people who have left still hold everything (the
offboarding is due), future hires hold nothing. `DRIFT` then adds the kind of mess a real
organisation accumulates; each item names the finding or action it should produce, so the
demo shows every one of them.
"""

from __future__ import annotations

import base64
import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reconciler.desired.expanding import expand_access
from reconciler.desired.loading import load_desired_dir
from reconciler.model import (
    DesiredAccess,
    DesiredState,
    Entitlement,
    GrantKind,
    Organization,
    Person,
    PersonStatus,
    System,
)
from reconciler.plan import split_person_name
from reconciler.providers.google_auth import SANDBOX_CLIENT_ID
from reconciler.providers.permissions import ADMIN_SCOPES, GITHUB_APP_PERMISSIONS

World = dict[str, Any]

# The token `GitHubProvider.from_sandbox` authenticates with (the sandbox checks no token, but
# `GET /user` answers by it); tests/demo prove the provider and this map agree.
SANDBOX_GITHUB_TOKEN = "sandbox-token"  # noqa: S105 - a fixed sandbox value, not a secret

# The GCS state store's buckets (docs/operations.md, "State store"): run state and the audit
# head in a versioned bucket; audit segments in a versioned bucket with a retention policy
# (7 years; production locks it with Bucket Lock), so `RECONCILER_STATE_URL=gs://...` works
# against the demo sandbox as it does in production.
STATE_BUCKETS: tuple[dict[str, object], ...] = (
    {"name": "example-reconciler-state", "versioning": True},
    {
        "name": "example-reconciler-audit",
        "versioning": True,
        "retention_period": 220_752_000,
        # What deploy/terraform grants the runtime there: create and read, never delete.
        "caller_permissions": [
            "storage.buckets.get",
            "storage.objects.create",
            "storage.objects.get",
            "storage.objects.list",
        ],
    },
)


# The demo's desired-state repository, in the demo organisation, with pull request #1 open.
DESIRED_STATE_REPOSITORY = "desired-state"


def _acting_login(org: Organization) -> str | None:
    """The GitHub login the tool acts as in the demo: the protected GitHub account that is
    also a declared non-human account (the reconciler's bot), else the first protected
    GitHub account; None when nothing is protected on GitHub (the sandbox default applies)."""
    protected = [p.identity for p in org.protected_accounts if p.system is System.GITHUB]
    bots = {a.identity for a in org.non_human_accounts if a.system is System.GITHUB}
    return next((p for p in protected if p in bots), protected[0] if protected else None)


def _stable_id(*parts: str, digits: int = 21) -> str:
    """Deterministic numeric ids (Google user ids are 21 digits) so worlds diff cleanly."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return str(int(digest, 16))[:digits]


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _github_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _held_entitlements(
    desired: DesiredState,
    person: Person,
    now: datetime,
    everyone: DesiredAccess | None = None,
    last_days: dict[datetime, DesiredAccess] | None = None,
) -> list[Entitlement]:
    """What `person` held just before `now`, if nobody had offboarded them yet. `everyone` is
    `expand_access(desired, now)` when the caller already has it, and `last_days` caches the
    expansions at leavers' last days (leavers share a few last days): expanding the whole
    state once per person made large benchmark worlds quadratic (40 s for 1,000 people, and
    then 160 s for 10,000 people, once per leaver)."""
    tz = ZoneInfo(desired.organization.timezone)
    access = (everyone or expand_access(desired, now)).people[person.id]
    if access.status is PersonStatus.ACTIVE:
        return list(access.entitlements)
    if access.status is PersonStatus.DEPARTED and person.employment.end is not None:
        last_day_noon = datetime.combine(person.employment.end, datetime.min.time(), tz).replace(
            hour=12
        )
        cache = {} if last_days is None else last_days
        if last_day_noon not in cache:
            cache[last_day_noon] = expand_access(desired, last_day_noon)
        return list(cache[last_day_noon].people[person.id].entitlements)
    return []


@dataclass
class _Builder:
    desired: DesiredState
    now: datetime

    def __post_init__(self) -> None:
        org = self.desired.organization
        self.domain = org.systems.google.domain if org.systems.google else org.domains[0]
        self.customer = org.systems.google.customer if org.systems.google else "C00sandbox"
        self.github_org = org.systems.github.org if org.systems.github else "example-org"
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.members: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.gh_users: dict[str, dict[str, Any]] = {}
        self.gh_members: dict[str, str] = {}
        self.teams: dict[str, dict[str, Any]] = {}
        self.team_members: dict[str, dict[str, str]] = defaultdict(dict)
        self.bindings: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.audit_logged: set[str] = set()
        self.service_accounts: list[dict[str, Any]] = []
        self.invitations: list[dict[str, Any]] = []
        self.failed_invitations: list[dict[str, Any]] = []
        self.outside_collaborators: list[str] = []
        self.acting_login: str | None = None  # who the sandbox's GitHub token acts as
        self.tokens: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.asps: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._everyone: DesiredAccess | None = None  # expand_access(desired, now), once
        self._last_days: dict[datetime, DesiredAccess] = {}  # the same at leavers' last days

    # -- primitives ----------------------------------------------------------------------
    def add_user(
        self,
        email: str,
        name: str,
        *,
        admin: bool = False,
        created: datetime | None = None,
        recovery: str | None = None,
    ) -> dict[str, Any]:
        given, family = split_person_name(name)
        user: dict[str, Any] = {
            "id": _stable_id("google", email),
            "primaryEmail": email,
            "name": {"givenName": given, "familyName": family, "fullName": name},
            "suspended": False,
            "isAdmin": admin,
            "isEnrolledIn2Sv": True,
            "isEnforcedIn2Sv": True,
            "lastLoginTime": _rfc3339(self.now - timedelta(hours=20)),
            "creationTime": _rfc3339(created or self.now - timedelta(days=400)),
            "orgUnitPath": "/",
        }
        if recovery:
            user["recoveryEmail"] = recovery
        self.users.setdefault(email, user)
        return self.users[email]

    def add_group_member(self, group: str, email: str, role: str = "MEMBER") -> None:
        self.groups.setdefault(
            group, {"email": group, "name": group.split("@", maxsplit=1)[0], "description": ""}
        )
        member_id = self.users[email]["id"] if email in self.users else _stable_id("ext", email)
        self.members[group][email] = {
            "id": member_id,
            "email": email,
            "role": role,
            "type": "USER",
            "status": "ACTIVE",
        }

    def add_github_user(
        self, login: str, *, user_id: int | None = None, email: str | None = None, name: str = ""
    ) -> None:
        uid = user_id or int(_stable_id("github", login, digits=8))
        self.gh_users.setdefault(
            login,
            {
                "login": login,
                "id": uid,
                "name": name,
                "email": email,
                "two_factor": True,
                "previous_logins": [],
            },
        )

    def add_team_member(self, slug: str, login: str, role: str) -> None:
        self.teams.setdefault(
            slug,
            {
                "id": int(_stable_id("team", slug, digits=6)),
                "slug": slug,
                "name": slug,
                "privacy": "closed",
            },
        )
        self.team_members[slug][login] = role

    # -- baseline ------------------------------------------------------------------------
    def baseline(self) -> None:
        org = self.desired.organization
        for role in self.desired.roles.values():  # every managed group / team exists
            for g in role.google_groups:
                self.groups.setdefault(
                    g.group,
                    {
                        "email": g.group,
                        "name": g.group.split("@")[0],
                        "description": role.description,
                    },
                )
            for t in role.github.teams if role.github else ():
                self.teams.setdefault(
                    t.team,
                    {
                        "id": int(_stable_id("team", t.team, digits=6)),
                        "slug": t.team,
                        "name": t.team,
                        "privacy": "closed",
                    },
                )
        for protected in org.protected_accounts:
            if protected.system is System.GOOGLE:
                self.add_user(
                    protected.identity,
                    "Break Glass" if "break" in protected.identity else "Automation Admin",
                    admin=True,
                )
            elif protected.system is System.GITHUB:
                self.add_github_user(protected.identity)
                self.gh_members[protected.identity] = "admin"
        breakglass = next(
            (p.identity for p in org.protected_accounts if p.system is System.GOOGLE), None
        )
        for scope in org.systems.gcp:
            self.bindings[scope.resource] = self.bindings[scope.resource]  # every resource exists
            if breakglass and scope.resource.startswith("projects/"):
                # Every project needs an owner; the sealed break-glass account is the one
                # that policy 第10.2条 allows outside the security officer.
                self.bindings[scope.resource]["roles/owner"].add(f"user:{breakglass}")
            if scope.require_audit_logs:
                self.audit_logged.add(scope.resource)
        self.acting_login = _acting_login(org)
        for account in org.non_human_accounts:
            if account.system is System.GITHUB and account.identity not in self.gh_members:
                self.add_github_user(account.identity)
                self.gh_members[account.identity] = "member"
            elif account.system is System.GCP:
                project = account.identity.split("@", 1)[1].split(".", 1)[0]
                self.service_accounts.append(
                    {
                        "project": project,
                        "email": account.identity,
                        "unique_id": _stable_id("sa", account.identity),
                        "display_name": account.id,
                        "disabled": False,
                        "keys": [
                            {
                                "id": _stable_id("key", account.identity, digits=12),
                                "key_type": "SYSTEM_MANAGED",
                            }
                        ],
                    }
                )
                resource = f"projects/{project}"
                if resource in self.bindings:
                    self.bindings[resource]["roles/editor"].add(
                        f"serviceAccount:{account.identity}"
                    )
        for person in self.desired.people.values():
            self.add_person(person)

    def add_person(self, person: Person) -> None:
        if self._everyone is None:
            self._everyone = expand_access(self.desired, self.now)
        held = _held_entitlements(self.desired, person, self.now, self._everyone, self._last_days)
        if not held:
            return
        tz = ZoneInfo(self.desired.organization.timezone)
        created = datetime.combine(person.employment.start, datetime.min.time(), tz)
        for ent in held:
            grant = ent.grant
            if grant.kind is GrantKind.GOOGLE_ACCOUNT:
                self.add_user(
                    grant.principal,
                    person.name,
                    admin=grant.role == "ADMIN",
                    created=created,
                    recovery=person.recovery_email,
                )
        for ent in held:
            grant = ent.grant
            if grant.kind is GrantKind.GOOGLE_GROUP:
                self.add_group_member(grant.target, grant.principal, grant.role)
            elif grant.kind is GrantKind.GITHUB_ORG:
                self.add_github_user(
                    grant.principal, user_id=person.github_id, email=person.email, name=person.name
                )
                self.gh_members[grant.principal] = grant.role
            elif grant.kind is GrantKind.GITHUB_TEAM:
                self.add_team_member(grant.target.split("/", 1)[1], grant.principal, grant.role)
            elif grant.kind is GrantKind.GCP_BINDING:
                self.bindings[grant.target][grant.role].add(grant.principal)

    # -- output --------------------------------------------------------------------------
    def world(self) -> World:
        org = self.desired.organization
        officer = self.desired.people.get(org.security_officer)
        author = (officer.github if officer else None) or self.acting_login or "sandbox-bot"
        organization = next(
            (s.resource for s in org.systems.gcp if s.resource.startswith("organizations/")),
            "organizations/1",
        )
        resources = []
        for name, roles in self.bindings.items():
            policy: dict[str, Any] = {
                "version": 3,
                "bindings": [
                    {"role": role, "members": sorted(members)}
                    for role, members in sorted(roles.items())
                    if members
                ],
            }
            if name in self.audit_logged:
                policy["auditConfigs"] = [
                    {
                        "service": "allServices",
                        "auditLogConfigs": [
                            {"logType": "ADMIN_READ"},
                            {"logType": "DATA_READ"},
                            {"logType": "DATA_WRITE"},
                        ],
                    }
                ]
            resource: dict[str, Any] = {"name": name, "policy": policy}
            if name != organization and organization:
                resource["parent"] = organization
            if name.startswith("projects/"):
                resource["number"] = _stable_id("project", name, digits=12)
            resources.append(resource)
        return {
            "google": {
                "customer": self.customer,
                "domain": self.domain,
                "users": sorted(self.users.values(), key=lambda u: u["primaryEmail"]),
                "groups": [
                    {"id": _stable_id("group", g["email"], digits=17), **g}
                    for g in sorted(self.groups.values(), key=lambda g: g["email"])
                ],
                "members": {
                    g: sorted(m.values(), key=lambda x: x["email"])
                    for g, m in sorted(self.members.items())
                },
                "tokens": dict(self.tokens),
                "asps": dict(self.asps),
                # Domain-wide delegation granting exactly the scopes the product needs.
                "delegation": {
                    "client_id": SANDBOX_CLIENT_ID,
                    "scopes": [r.scope for r in ADMIN_SCOPES],
                },
            },
            "github": {
                "org": {
                    "login": self.github_org,
                    "id": int(_stable_id("org", self.github_org, digits=7)),
                    "name": org.name,
                    "two_factor_requirement_enabled": True,
                    "created_at": "2020-04-01T00:00:00Z",
                },
                "users": sorted(self.gh_users.values(), key=lambda u: u["login"]),
                "members": [
                    {"login": login, "role": role}
                    for login, role in sorted(self.gh_members.items())
                ],
                "teams": [
                    {
                        **team,
                        "members": [
                            {"login": login, "role": role}
                            for login, role in sorted(self.team_members[team["slug"]].items())
                        ],
                    }
                    for team in sorted(self.teams.values(), key=lambda t: t["slug"])
                ],
                "invitations": self.invitations,
                "failed_invitations": self.failed_invitations,
                "outside_collaborators": self.outside_collaborators,
                # The desired-state repository itself, with today's HR edit open for review:
                # where `plan --pr-comment example-co/desired-state#1` posts the plan.
                "repositories": [
                    {
                        "name": DESIRED_STATE_REPOSITORY,
                        "pull_requests": [
                            {"number": 1, "title": "People: today's HR edits", "user": author}
                        ],
                    }
                ],
                # The reconciler's GitHub App, installed with the permissions it needs.
                "installation": {
                    "id": int(_stable_id("installation", self.github_org, digits=8)),
                    "app_id": int(_stable_id("app", self.github_org, digits=6)),
                    "app_slug": "reconciler",
                    "permissions": {r.key: r.level for r in GITHUB_APP_PERMISSIONS},
                },
                **(
                    {"tokens": {SANDBOX_GITHUB_TOKEN: self.acting_login}}
                    if self.acting_login
                    else {}
                ),
            },
            "gcp": {
                "organization": organization,
                "resources": resources,
                "service_accounts": self.service_accounts,
            },
            "storage": {"buckets": [dict(bucket) for bucket in STATE_BUCKETS]},
        }


# --------------------------------------------------------------------------------------------
# Drift: the mess the nightly report and the demo must show. Each step picks its subject by
# what people do (role names, dates), so the recipe also works on a company's own repo copy.
# --------------------------------------------------------------------------------------------

DriftStep = Callable[[_Builder], str | None]


def _people(b: _Builder, predicate: Callable[[Person], bool]) -> list[Person]:
    return sorted((p for p in b.desired.people.values() if predicate(p)), key=lambda p: p.id)


def _active(b: _Builder, role_word: str) -> list[Person]:
    status = expand_access(b.desired, b.now).people
    return _people(
        b,
        lambda p: (
            status[p.id].status is PersonStatus.ACTIVE and any(role_word in r for r in p.roles)
        ),
    )


def _departed_last_week(b: _Builder) -> str | None:
    """Left a week ago; HR's ticket was handled by hand and only half done: Google suspended,
    but still in the GitHub org and one Google group -> offboarding + leaver-has-access."""
    today = b.now.astimezone(ZoneInfo(b.desired.organization.timezone)).date()
    leavers = _people(
        b, lambda p: p.employment.end is not None and p.employment.end < today - timedelta(days=2)
    )
    if not leavers:
        return None
    p = leavers[0]
    if p.email in b.users:
        b.users[p.email]["suspended"] = True
    kept_group = next((g for g, m in sorted(b.members.items()) if p.email in m), None)
    gh_role = b.gh_members.get(p.github or "")
    _forget_person(b, p)
    if kept_group:
        b.add_group_member(kept_group, p.email)
    if p.github and gh_role:
        b.gh_members[p.github] = gh_role
    return f"{p.id} left on {p.employment.end}: still in the GitHub org and {kept_group}"


def _external_member(b: _Builder) -> str | None:
    """A partner's address added to an engineering group by hand -> external-member."""
    group = next(
        (g for g in sorted(b.groups) if g.startswith("eng")), next(iter(sorted(b.groups)), None)
    )
    if group is None:
        return None
    b.add_group_member(group, "partner.dev@example.com")
    return f"partner.dev@example.com in {group}"


def _owner_on_prod(b: _Builder) -> str | None:
    """An engineer granted roles/owner on prod during an incident, never removed."""
    prod = next(
        (s.resource for s in b.desired.organization.systems.gcp if s.environment == "prod"), None
    )
    engineers = _active(b, "backend") or _active(b, "engineer")
    if prod is None or not engineers:
        return None
    b.bindings[prod]["roles/owner"].add(f"user:{engineers[0].email}")
    return f"{engineers[0].id} holds roles/owner on {prod}"


def _shared_account(b: _Builder) -> str | None:
    """A shared `dev-team@` account several people log into -> shared-account."""
    email = f"dev-team@{b.domain}"
    b.add_user(email, "Dev Team")
    group = next((g for g in sorted(b.groups) if g.startswith("eng")), None)
    if group:
        b.add_group_member(group, email)
    return f"{email} exists"


def _two_step_off(b: _Builder) -> str | None:
    people = _active(b, "sales") or _active(b, "")
    if not people or people[0].email not in b.users:
        return None
    b.users[people[0].email]["isEnrolledIn2Sv"] = False
    b.users[people[0].email]["isEnforcedIn2Sv"] = False
    return f"{people[0].id} has 2-step verification off"


def _dormant(b: _Builder) -> str | None:
    people = _active(b, "customer-success") or _active(b, "")
    if not people or people[-1].email not in b.users:
        return None
    b.users[people[-1].email]["lastLoginTime"] = _rfc3339(b.now - timedelta(days=120))
    return f"{people[-1].id} has not logged in for 120 days"


def _invitations(b: _Builder) -> str | None:
    b.invitations.append(
        {
            "id": 7001,
            "login": "kaito-candidate",
            "email": None,
            "role": "direct_member",
            "created_at": _github_time(b.now - timedelta(days=30)),
            "inviter": None,
            "team_ids": [],
        }
    )
    b.failed_invitations.append(
        {
            "id": 7002,
            "login": None,
            "email": "late.joiner@example.com",
            "role": "direct_member",
            "created_at": _github_time(b.now - timedelta(days=20)),
            "failed_at": _github_time(b.now - timedelta(days=13)),
            "failed_reason": "Invitation expired",
            "inviter": None,
            "team_ids": [],
        }
    )
    return "a 30-day-old pending invitation and an expired one"


def _user_managed_key(b: _Builder) -> str | None:
    if not b.service_accounts:
        return None
    sa = b.service_accounts[0]
    sa["keys"].append(
        {
            "id": "a1b2c3d4e5",
            "key_type": "USER_MANAGED",
            "valid_after": _github_time(b.now - timedelta(days=200)),
            "valid_before": "9999-12-31T23:59:59Z",
        }
    )
    return f"{sa['email']} has a user-managed key"


def _deleted_principal(b: _Builder) -> str | None:
    stg = next(
        (s.resource for s in b.desired.organization.systems.gcp if s.environment == "stg"), None
    )
    if stg is None:
        return None
    b.bindings[stg]["roles/viewer"].add(
        f"deleted:user:former.member@{b.domain}?uid=123456789012345678901"
    )
    return f"a deleted:user: binding on {stg}"


def _no_audit_logs(b: _Builder) -> str | None:
    dev = next(
        (s.resource for s in b.desired.organization.systems.gcp if s.environment == "dev"), None
    )
    if dev is None:
        return None
    b.audit_logged.discard(dev)
    return f"{dev} has no audit configs"


def _renamed_login(b: _Builder) -> str | None:
    """Someone renamed their GitHub account; the repo still has the old login. Matching by
    the stable id keeps their access; a squatter on the old login would get nothing."""
    # Only someone who is a member: the not-yet-onboarded newcomer has an account but no
    # membership (a KeyError below in small generated worlds where they are the last backend).
    people = [
        p
        for p in _active(b, "backend")
        if p.github and p.github_id and p.github in b.gh_users and p.github in b.gh_members
    ]
    if not people:
        return None
    p = people[-1]
    assert p.github is not None
    new_login = f"{p.github}-renamed"
    user = b.gh_users.pop(p.github)
    user["login"], user["previous_logins"] = new_login, [p.github]
    b.gh_users[new_login] = user
    b.gh_members[new_login] = b.gh_members.pop(p.github)
    for members in b.team_members.values():
        if p.github in members:
            members[new_login] = members.pop(p.github)
    return f"{p.id} renamed GitHub login {p.github} -> {new_login}"


def _stray_access(b: _Builder) -> str | None:
    """Hand-made access the repo does not grant: an outside collaborator, an extra team
    member, a forgotten app password and OAuth grant of a leaver."""
    b.add_github_user("ext-auditor-tmp")
    b.outside_collaborators.append("ext-auditor-tmp")
    designers = _active(b, "designer")
    if designers and designers[0].github and b.teams:
        b.add_team_member(sorted(b.teams)[0], designers[0].github, "member")
    today = b.now.astimezone(ZoneInfo(b.desired.organization.timezone)).date()
    leavers = _people(b, lambda p: p.employment.end is not None and p.employment.end <= today)
    for p in leavers:
        b.tokens[p.email].append(
            {
                "clientId": "1234567890-mailsync.apps.example.com",
                "displayText": "Mail Sync",
                "scopes": ["https://mail.google.com/"],
            }
        )
        b.asps[p.email].append({"codeId": 11, "name": "old phone"})
    return "an outside collaborator, a hand-added team member, leavers' tokens"


def _forget_person(b: _Builder, person: Person) -> None:
    """Remove every membership and binding of `person` (not their accounts)."""
    for group_members in b.members.values():
        group_members.pop(person.email, None)
    for team_members in b.team_members.values():
        team_members.pop(person.github or "", None)
    b.gh_members.pop(person.github or "", None)
    for roles in b.bindings.values():
        for principals in roles.values():
            principals.discard(f"user:{person.email}")


def _not_yet_onboarded(b: _Builder) -> str | None:
    """The most recent starter's onboarding has not run yet -> create account, groups,
    GitHub invitation, bindings."""
    status = expand_access(b.desired, b.now).people
    starters = _people(b, lambda p: status[p.id].status is PersonStatus.ACTIVE)
    if not starters:
        return None
    p = max(starters, key=lambda p: (p.employment.start, p.id))
    _forget_person(b, p)
    b.users.pop(p.email, None)
    # The GitHub account itself stays: a newcomer brings their own account (GitHub accounts
    # are personal, not issued by the org); only the org membership is missing. Without the
    # account the invitation (PUT /orgs/{org}/memberships/{username}) would answer 404.
    return f"{p.id} started on {p.employment.start}; onboarding has not run yet"


def _transfer(b: _Builder) -> str | None:
    """An SRE who moved from frontend last week: the systems still hold the old role's
    access -> adds of the new role before removals of the old one."""
    sres = [p for p in _active(b, "sre") if p.roles == ("sre",)]
    if not sres or "engineer-frontend" not in b.desired.roles:
        return None
    p = sres[-1]
    before = replace(
        b.desired, people={**b.desired.people, p.id: replace(p, roles=("engineer-frontend",))}
    )
    _forget_person(b, p)
    held = _held_entitlements(before, before.people[p.id], b.now)
    for ent in held:
        grant = ent.grant
        if grant.kind is GrantKind.GOOGLE_GROUP:
            b.add_group_member(grant.target, grant.principal, grant.role)
        elif grant.kind is GrantKind.GITHUB_ORG:
            b.gh_members[grant.principal] = grant.role
        elif grant.kind is GrantKind.GITHUB_TEAM:
            b.add_team_member(grant.target.split("/", 1)[1], grant.principal, grant.role)
        elif grant.kind is GrantKind.GCP_BINDING:
            b.bindings[grant.target][grant.role].add(grant.principal)
    return f"{p.id} moved from engineer-frontend to sre; the systems still hold frontend access"


DRIFT: tuple[DriftStep, ...] = (
    _not_yet_onboarded,
    _transfer,
    _departed_last_week,
    _external_member,
    _owner_on_prod,
    _shared_account,
    _two_step_off,
    _dormant,
    _invitations,
    _user_managed_key,
    _deleted_principal,
    _no_audit_logs,
    _renamed_login,
    _stray_access,
)


def build_world(
    desired: DesiredState, now: datetime, *, drift: bool = True
) -> tuple[World, list[str]]:
    """The sandbox world for `desired` at `now`, and a description of each drift applied."""
    builder = _Builder(desired, now)
    builder.baseline()
    applied = [note for step in (DRIFT if drift else ()) if (note := step(builder))]
    return builder.world(), applied


def build_demo_world_from_dir(directory: Path, now: datetime) -> World:
    return build_world(load_desired_dir(directory), now)[0]


def etag_of(payload: str) -> str:
    return base64.b64encode(hashlib.sha256(payload.encode()).digest()[:8]).decode()
