"""Pure policy checks turning desired state x Snapshot into Findings that cite the policy
article they serve (DESIGN 7); called by the planner (`reconciler.plan`) and by reports.

Also home of the small shared vocabulary both the checks and the planner need, so the two can
never disagree about it: who a principal is (`Identities`), which groups, teams and GCP roles
the product manages (`ManagedScope`), and which accounts it must never touch (`Untouchables`).
Every function here is pure: no I/O, and "now" is always a parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Self

# Which GCP roles are privileged and which names look shared are decided in one place, the
# desired-state checks, so validation and findings can never disagree about them.
from reconciler.desired.checking import PRIVILEGED_GCP_ROLES, looks_shared
from reconciler.desired.holding import repo_caught_up
from reconciler.model import (
    Account,
    AccountKind,
    AppPassword,
    Binding,
    DesiredAccess,
    DesiredState,
    EmergencyHold,
    EmploymentType,
    Entitlement,
    Finding,
    Grant,
    GrantKind,
    Invitation,
    OAuthToken,
    Person,
    PersonStatus,
    Severity,
    Snapshot,
    System,
    gcp_user,
    member_identity,
    normalise_email,
    normalise_login,
    normalise_member,
)

# Google's audit log types that must all be enabled for allServices (policy 第14.1条).
REQUIRED_AUDIT_LOG_TYPES = frozenset({"ADMIN_READ", "DATA_READ", "DATA_WRITE"})

EXPIRING_SOON_DAYS = 7  # an extra grant ending within a week is worth a heads-up

GROUP_ROLE_RANK = {"MEMBER": 0, "MANAGER": 1, "OWNER": 2}
ORG_ROLE_RANK = {"member": 0, "admin": 1}
TEAM_ROLE_RANK = {"member": 0, "maintainer": 1}


def higher_role(kind: GrantKind, a: str, b: str) -> str:
    """The stronger of two roles for one (kind, target): two roles asking for the same group
    or team yield the stronger membership, never two conflicting actions."""
    ranks = {
        GrantKind.GOOGLE_GROUP: GROUP_ROLE_RANK,
        GrantKind.GITHUB_ORG: ORG_ROLE_RANK,
        GrantKind.GITHUB_TEAM: TEAM_ROLE_RANK,
    }.get(kind, {})
    return a if ranks.get(a, -1) >= ranks.get(b, -1) else b


def email_domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower() if "@" in address else ""


def in_domains(address: str, domains: Iterable[str]) -> bool:
    """True when the address belongs to one of the domains or a subdomain of one."""
    domain = email_domain(address)
    return any(domain == d or domain.endswith("." + d) for d in (x.lower() for x in domains))


def status_of(access: DesiredAccess, person_id: str) -> PersonStatus:
    """A person the expansion does not mention is treated as not started: nothing is created
    for them and nothing of theirs is removed as a leaver's (the safe default)."""
    entry = access.people.get(person_id)
    return entry.status if entry is not None else PersonStatus.NOT_STARTED


# --------------------------------------------------------------------------------------------
# Who is who: matching accounts and principals to people.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GitHubMatch:
    """How a person's GitHub identity resolved against the snapshot."""

    login: str | None  # the login to act on now, or None when it cannot be trusted
    account: Account | None
    renamed_from: str | None = None  # the repo's login, when the account now has another
    squatter: Account | None = None  # another account holding the repo's login


@dataclass(frozen=True)
class Identities:
    """Matches snapshot principals to people (DESIGN 4).

    Google: primary email or any alias of the person's account. GitHub: the stable numeric id
    when the person file has `github_id` (a renamed login is followed; an account that took the
    old login with a different id is a stranger), else the login. GCP: `user:<email>` for any
    of the person's Google addresses. `previous_github_logins` are NOT matched: without an id a
    former login proves nothing, since anyone may have registered it since.
    """

    google_accounts: Mapping[str, Account]  # person id -> their Workspace account
    email_owner: Mapping[str, str]  # any address (primary or alias) -> person id
    github: Mapping[str, GitHubMatch]  # person id -> match
    login_owner: Mapping[str, str]  # GitHub login (as it is now) -> person id

    @classmethod
    def build(cls, desired: DesiredState, snapshot: Snapshot) -> Identities:
        google_part = snapshot.part(System.GOOGLE)
        github_part = snapshot.part(System.GITHUB)
        g_accounts = google_part.accounts if google_part else ()
        h_accounts = github_part.accounts if github_part else ()
        # Accounts looked up for possible invitees count for matching, after the org's own.
        h_looked_up = github_part.invitees if github_part else ()

        by_address: dict[str, Account] = {}
        for account in g_accounts:
            for alias in account.aliases:
                by_address.setdefault(normalise_email(alias), account)
        for account in g_accounts:  # primary addresses win over aliases
            by_address[normalise_email(account.name)] = account

        google_accounts: dict[str, Account] = {}
        email_owner: dict[str, str] = {}
        for person in sorted(desired.people.values(), key=lambda p: p.id):
            email_owner.setdefault(person.email, person.id)
            found = by_address.get(person.email)
            if found is not None:
                google_accounts[person.id] = found
                for address in (found.name, *found.aliases):
                    email_owner.setdefault(normalise_email(address), person.id)

        gh_by_id = {a.id: a for a in (*h_looked_up, *h_accounts)}
        gh_by_login = {normalise_login(a.name): a for a in (*h_looked_up, *h_accounts)}
        github: dict[str, GitHubMatch] = {}
        login_owner: dict[str, str] = {}
        for person in sorted(desired.people.values(), key=lambda p: p.id):
            match = _match_github(person, gh_by_id, gh_by_login)
            if match is None:
                continue
            github[person.id] = match
            if match.login is not None:
                login_owner.setdefault(match.login, person.id)
        return cls(google_accounts, email_owner, github, login_owner)

    def person_of_email(self, address: str) -> str | None:
        return self.email_owner.get(normalise_email(address))

    def person_of_login(self, login: str) -> str | None:
        return self.login_owner.get(normalise_login(login))

    def person_of_member(self, member: str) -> str | None:
        """The person an IAM member string names (only `user:` members name people: not a
        group, a domain, or a deleted account that once had the person's address)."""
        member = normalise_member(member)
        if not member.startswith("user:"):
            return None
        return self.person_of_email(member_identity(member))

    def person_of_grant(self, grant: Grant) -> str | None:
        if grant.kind in (GrantKind.GOOGLE_ACCOUNT, GrantKind.GOOGLE_GROUP):
            return self.person_of_email(grant.principal)
        if grant.kind is GrantKind.GCP_BINDING:
            return self.person_of_member(grant.principal)
        return self.person_of_login(grant.principal)

    def addresses_of(self, person: Person) -> frozenset[str]:
        """Every Google address of the person: primary email plus their account's aliases."""
        account = self.google_accounts.get(person.id)
        extra = (account.name, *account.aliases) if account else ()
        return frozenset({person.email, *(normalise_email(a) for a in extra)})


def _match_github(
    person: Person, by_id: Mapping[str, Account], by_login: Mapping[str, Account]
) -> GitHubMatch | None:
    if person.github is None and person.github_id is None:
        return None
    repo_login = normalise_login(person.github) if person.github else None
    holder = by_login.get(repo_login) if repo_login else None
    if person.github_id is None:
        return GitHubMatch(login=repo_login, account=holder)
    own = by_id.get(str(person.github_id))
    squatter = holder if holder is not None and holder.id != str(person.github_id) else None
    if own is not None:
        current = normalise_login(own.name)
        renamed = repo_login if repo_login and repo_login != current else None
        return GitHubMatch(login=current, account=own, renamed_from=renamed, squatter=squatter)
    # Our id is not in the org. The repo's login is usable for an invitation only while no
    # account with another id holds it: inviting it would invite whoever owns it now.
    return GitHubMatch(login=None if squatter else repo_login, account=None, squatter=squatter)


@dataclass(frozen=True)
class SnapshotIndex:
    """The snapshot indexed once by principal, so planning and checking cost grows with the
    size of the organisation, not with its square (a leaver's grants are a look-up, not a
    scan of every grant)."""

    by_kind: Mapping[GrantKind, tuple[Grant, ...]]  # sorted
    by_principal: Mapping[tuple[GrantKind, str], tuple[Grant, ...]]  # sorted
    tokens: Mapping[str, tuple[OAuthToken, ...]]  # user -> tokens, by client id
    app_passwords: Mapping[str, tuple[AppPassword, ...]]  # user -> app passwords, by code id
    conditional: Mapping[str, tuple[tuple[str, Binding], ...]]  # member -> (resource, binding)

    @classmethod
    def of(cls, snapshot: Snapshot) -> SnapshotIndex:
        by_kind: dict[GrantKind, list[Grant]] = {}
        by_principal: dict[tuple[GrantKind, str], list[Grant]] = {}
        for g in sorted(snapshot.grants):
            by_kind.setdefault(g.kind, []).append(g)
            by_principal.setdefault((g.kind, g.principal), []).append(g)
        tokens: dict[str, list[OAuthToken]] = {}
        asps: dict[str, list[AppPassword]] = {}
        google = snapshot.part(System.GOOGLE)
        for t in sorted(google.oauth_tokens if google else (), key=lambda t: t.client_id):
            tokens.setdefault(normalise_email(t.user), []).append(t)
        for a in sorted(google.app_passwords if google else (), key=lambda a: a.code_id):
            asps.setdefault(normalise_email(a.user), []).append(a)
        conditional: dict[str, list[tuple[str, Binding]]] = {}
        for policy in sorted(snapshot.policies, key=lambda p: p.resource):
            for b in policy.bindings:
                if b.condition:
                    for m in sorted({normalise_member(m) for m in b.members}):
                        conditional.setdefault(m, []).append((policy.resource, b))
        return cls(
            by_kind={k: tuple(v) for k, v in by_kind.items()},
            by_principal={k: tuple(v) for k, v in by_principal.items()},
            tokens={k: tuple(v) for k, v in tokens.items()},
            app_passwords={k: tuple(v) for k, v in asps.items()},
            conditional={k: tuple(v) for k, v in conditional.items()},
        )

    def grants(self, kind: GrantKind) -> tuple[Grant, ...]:
        return self.by_kind.get(kind, ())

    def held(self, kind: GrantKind, principals: Iterable[str]) -> list[Grant]:
        """The grants of `kind` held by any of `principals`, sorted."""
        return sorted(g for p in set(principals) for g in self.by_principal.get((kind, p), ()))


# --------------------------------------------------------------------------------------------
# What the product manages, and what it never touches.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManagedScope:
    """Where the product is authoritative (DESIGN 4, "unmanaged access").

    - Google groups: the membership of every group some role references is managed (members
      not in the repo are removed); other groups are reported on, never changed.
    - GitHub: the org is authoritative for members when some role grants GitHub access, and
      so are the teams roles reference; outside collaborators are reported (they are granted
      per repository, which the product does not manage) except a leaver's, which are removed.
    - GCP: on every resource in scope the product manages the roles that roles.yaml assigns on
      that resource (`roles[resource]`). Only `user:` members of unconditional bindings of
      those roles are ever removed; serviceAccount:, group:, domain:, deleted: members and
      conditional bindings are preserved. On an `authoritative` resource every role is managed:
      any unconditional `user:` binding nobody in the repo is entitled to is removed; on an
      `additive` resource only bindings of people in the repo are corrected, strangers are
      reported.
    """

    groups: frozenset[str]
    org: str | None
    org_authoritative: bool
    teams: frozenset[str]  # "org/slug"
    roles: Mapping[str, frozenset[str]]  # GCP resource -> managed roles
    authoritative_resources: frozenset[str]
    resources: frozenset[str]  # GCP resources in scope

    @classmethod
    def of(cls, desired: DesiredState) -> ManagedScope:
        systems = desired.organization.systems
        org = normalise_login(systems.github.org) if systems.github else None
        groups = {normalise_email(g.group) for r in desired.roles.values() for g in r.google_groups}
        teams = {
            f"{org}/{t.team.lower()}"
            for r in desired.roles.values()
            if r.github is not None
            for t in r.github.teams
        }
        roles: dict[str, set[str]] = {}
        for role in desired.roles.values():
            for g in role.gcp:
                roles.setdefault(g.resource, set()).add(g.role)
        return cls(
            groups=frozenset(groups),
            org=org,
            org_authoritative=org is not None
            and any(r.github is not None for r in desired.roles.values()),
            teams=frozenset(teams) if org else frozenset(),
            roles={k: frozenset(v) for k, v in roles.items()},
            authoritative_resources=frozenset(
                s.resource for s in systems.gcp if s.mode.value == "authoritative"
            ),
            resources=frozenset(s.resource for s in systems.gcp),
        )

    def manages_gcp_role(self, resource: str, role: str) -> bool:
        """On an authoritative resource every role is managed for `user:` members ("nobody
        keeps production access the repo does not grant"); elsewhere only the roles that
        roles.yaml assigns there, so hand-made grants of other roles are reported, not cut."""
        return resource in self.authoritative_resources or role in self.roles.get(
            resource, frozenset()
        )


@dataclass(frozen=True)
class Untouchables:
    """Protected (break-glass) and non-human accounts: never in an action (DESIGN 6.4).

    An identity is protected in every system where its string appears, not only in the system
    it is listed under: a break-glass Workspace admin's `user:` binding on a project is just as
    much the way back in after a mistake.
    """

    protected: frozenset[str]
    non_human: frozenset[str]

    @classmethod
    def of(cls, desired: DesiredState) -> Untouchables:
        org = desired.organization
        return cls(
            protected=frozenset(member_identity(p.identity) for p in org.protected_accounts),
            non_human=frozenset(member_identity(n.identity) for n in org.non_human_accounts),
        )

    def is_protected(self, principal: str) -> bool:
        return member_identity(principal) in self.protected

    def is_non_human(self, principal: str) -> bool:
        return member_identity(principal) in self.non_human

    def untouchable(self, principal: str) -> bool:
        return self.is_protected(principal) or self.is_non_human(principal)


# --------------------------------------------------------------------------------------------
# The checks.
# --------------------------------------------------------------------------------------------


@dataclass
class _Findings:
    items: list[Finding] = field(default_factory=list)

    def add(  # noqa: PLR0917 - positional in Finding's field order, so a call reads as the row
        self,
        code: str,
        severity: Severity,
        article: str,
        system: System | None,
        subject: str,
        message: str,
        person_id: str | None = None,
    ) -> None:
        self.items.append(Finding(code, severity, article, system, subject, message, person_id))


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Most severe first, then by code and subject, so the same inputs give the same report."""
    unique = set(findings)
    return tuple(
        sorted(
            unique,
            key=lambda f: (
                f.severity.rank,
                f.code,
                f.subject,
                f.system.value if f.system else "",
                f.person_id or "",
                f.message,
            ),
        )
    )


@dataclass(frozen=True)
class StateViews:
    """Desired and actual state with what every check and planner derives from them
    (identities, managed scope, untouchables, the snapshot index), built once per plan."""

    desired: DesiredState
    access: DesiredAccess
    snapshot: Snapshot
    now: datetime
    ids: Identities
    scope: ManagedScope
    untouchables: Untouchables
    index: SnapshotIndex
    holds: tuple[EmergencyHold, ...] = ()  # the standing emergency holds, already in `access`

    @classmethod
    def of(
        cls,
        desired: DesiredState,
        access: DesiredAccess,
        snapshot: Snapshot,
        now: datetime,
        holds: tuple[EmergencyHold, ...] = (),
    ) -> Self:
        return cls(
            desired=desired,
            access=access,
            snapshot=snapshot,
            now=now,
            ids=Identities.build(desired, snapshot),
            scope=ManagedScope.of(desired),
            untouchables=Untouchables.of(desired),
            index=SnapshotIndex.of(snapshot),
            holds=holds,
        )

    def grants(self, kind: GrantKind) -> tuple[Grant, ...]:
        return self.index.grants(kind)


def check_findings(
    desired: DesiredState, access: DesiredAccess, snapshot: Snapshot, now: datetime
) -> tuple[Finding, ...]:
    """Every policy observation about desired and actual state at `now`, sorted."""
    return findings_of(StateViews.of(desired, access, snapshot, now))


def findings_of(views: StateViews) -> tuple[Finding, ...]:
    """`check_findings` over views already built (the planner's), so they are built once."""
    ctx = _Context(**{f.name: getattr(views, f.name) for f in fields(StateViews)})
    out = _Findings()
    _check_people(ctx, out)
    _check_holds(ctx, out)
    _check_accounts(ctx, out)
    _check_github(ctx, out)
    _check_google_groups(ctx, out)
    _check_gcp(ctx, out)
    _check_privileged(ctx, out)
    return sort_findings(out.items)


@dataclass(frozen=True)
class _Context(StateViews):
    """The views as the checks read them."""

    def accounts(self, system: System) -> tuple[Account, ...]:
        part = self.snapshot.part(system)
        return part.accounts if part else ()

    def status(self, person_id: str) -> PersonStatus:
        return status_of(self.access, person_id)

    def entitlements(self, person_id: str) -> tuple[Entitlement, ...]:
        entry = self.access.people.get(person_id)
        return entry.entitlements if entry else ()


def access_held(
    ids: Identities, index: SnapshotIndex, snapshot: Snapshot, person: Person
) -> list[str]:
    """Plain descriptions of everything the person still holds anywhere (for leavers and
    people who have not started yet)."""
    held: list[str] = []
    addresses = ids.addresses_of(person)
    account = ids.google_accounts.get(person.id)
    if account is not None and not account.suspended:
        held.append("an active Google account")
    match = ids.github.get(person.id)
    login = match.login if match else None
    members = {gcp_user(a) for a in addresses}
    held += [f"group {g.target}" for g in index.held(GrantKind.GOOGLE_GROUP, addresses)]
    for kind in (GrantKind.GITHUB_ORG, GrantKind.GITHUB_TEAM, GrantKind.GITHUB_COLLABORATOR):
        what = kind.value.removeprefix("github_")
        held += [f"GitHub {what} {g.target}" for g in index.held(kind, [login] if login else [])]
    held += [f"{g.role} on {g.target}" for g in index.held(GrantKind.GCP_BINDING, members)]
    tokens = sum(len(index.tokens.get(a, ())) for a in addresses)
    asps = sum(len(index.app_passwords.get(a, ())) for a in addresses)
    if tokens:
        held.append(f"{tokens} OAuth token(s)")
    if asps:
        held.append(f"{asps} app password(s)")
    for inv in pending_invitations_of(snapshot, login, addresses):
        held.append(f"a pending GitHub invitation to {inv.org}")
    for member in sorted(members):
        held += [f"conditional {b.role} on {r}" for r, b in index.conditional.get(member, ())]
    return held


def pending_invitations_of(
    snapshot: Snapshot, login: str | None, addresses: Iterable[str]
) -> list[Invitation]:
    """Pending (not failed) org invitations addressed to the login or one of the emails."""
    wanted = {normalise_email(a) for a in addresses}
    return sorted(
        (
            i
            for i in snapshot.invitations
            if i.failed_at is None
            and (
                (login is not None and i.login == login)
                or (i.email is not None and normalise_email(i.email) in wanted)
            )
        ),
        key=lambda i: i.id,
    )


def _check_people(ctx: _Context, out: _Findings) -> None:
    today = ctx.now.date()
    for person in sorted(ctx.desired.people.values(), key=lambda p: p.id):
        status = ctx.status(person.id)
        if status is PersonStatus.DEPARTED:
            _check_leaver(ctx, out, person)
        elif status is PersonStatus.NOT_STARTED:
            held = access_held(ctx.ids, ctx.index, ctx.snapshot, person)
            if held:
                out.add(
                    "access-before-start",
                    Severity.MEDIUM,
                    "第5.2条1",
                    None,
                    person.email,
                    f"{person.id} starts on {person.employment.start} but already holds: "
                    + ", ".join(held),
                    person.id,
                )
        if status is not PersonStatus.DEPARTED and (
            person.employment.type is EmploymentType.CONTRACTOR
            and (person.employment.nda is None or person.employment.nda > person.employment.start)
        ):
            out.add(
                "contractor-nda",
                Severity.HIGH,
                "第6.1条",
                None,
                person.email,
                f"contractor {person.id} has no NDA signed on or before the start date "
                f"{person.employment.start}",
                person.id,
            )
        for ent in ctx.entitlements(person.id):
            if ent.approved_by is None or ent.expires is None:
                continue
            left = (ent.expires - today).days
            if 0 <= left <= EXPIRING_SOON_DAYS:
                out.add(
                    "expiring-grant",
                    Severity.INFO,
                    "第5.2条1",
                    ent.grant.system,
                    ent.grant.describe(),
                    f"{person.id}'s grant via {ent.via_role} ends on {ent.expires} "
                    f"({left} day(s) left); renew it with a new approval if still needed",
                    person.id,
                )
        match = ctx.ids.github.get(person.id)
        if match is not None and match.renamed_from is not None and match.account is not None:
            out.add(
                "github-login-renamed",
                Severity.INFO,
                "第5.2条2",
                System.GITHUB,
                match.account.name,
                f"{person.id}'s GitHub account {person.github_id} is now called "
                f"{match.account.name} (the repo says {match.renamed_from}); "
                "update the person file",
                person.id,
            )
        if match is not None and match.squatter is not None:
            _report_login_taken(ctx, out, person, match, match.squatter)
    people = ctx.desired.people
    for nh in ctx.desired.organization.non_human_accounts:
        owner = people.get(nh.owner)
        if owner is None or ctx.status(owner.id) is PersonStatus.DEPARTED:
            why = "is not in the repo" if owner is None else "has left"
            out.add(
                "non-human-owner-departed",
                Severity.HIGH,
                "第5.1条",
                nh.system,
                nh.identity,
                f"non-human account {nh.id} ({nh.identity}) is owned by {nh.owner}, who {why}; "
                "assign a new owner or disable it",
                nh.owner if owner else None,
            )


def _check_holds(ctx: _Context, out: _Findings) -> None:
    """An emergency hold the repo has not caught up with: reality and the repo disagree, and
    only the hold stops the next run from giving the access back (policy 第5.2条3)."""
    for hold in ctx.holds:
        if repo_caught_up(ctx.desired, hold):
            continue
        person = ctx.desired.people.get(hold.person_id)
        why = (
            "is not in the repo any more"
            if person is None
            else "still has no end date"
            if person.employment.end is None
            else f"still ends on {person.employment.end}"
        )
        out.add(
            "emergency-hold-not-in-repo",
            Severity.CRITICAL,
            "第5.2条3",
            None,
            hold.email or hold.person_id,
            f"{hold.person_id} was offboarded in an emergency on {hold.day} (run {hold.run_id}, "
            f"by {hold.actor}) but their file {why}; commit `employment.end: {hold.day}` to "
            "people/" + f"{hold.person_id}.yaml. Until then the hold keeps them offboarded.",
            hold.person_id,
        )


def _report_login_taken(
    ctx: _Context, out: _Findings, person: Person, match: GitHubMatch, squatter: Account
) -> None:
    """Another account (a different numeric id) holds the login in the person file. Inside
    the org it is an unmanaged member (第5.1条) and removed as a stranger; outside it, the read
    found it while resolving the person for an invitation, and access issued to it would go
    to someone nobody assessed or approved (第5.2条1): it is never invited."""
    part = ctx.snapshot.part(System.GITHUB)
    taken = f"the login {squatter.name} in {person.id}'s file now belongs to another GitHub "
    taken += f"account (id {squatter.id}, not {person.github_id})"
    if part is not None and squatter in part.accounts:
        out.add(
            "github-login-taken",
            Severity.HIGH,
            "第5.1条",
            System.GITHUB,
            squatter.name,
            f"{taken}; it is given nothing on their behalf",
            person.id,
        )
        return
    if match.login is not None:
        then = f"{person.id} is invited by account id as {match.login}"
    else:
        then = f"{person.id}'s invitation is held back"
    out.add(
        "github-invitee-login-taken",
        Severity.HIGH,
        "第5.2条1",
        System.GITHUB,
        squatter.name,
        f"{taken}, outside the organisation: it is never invited; {then}. Put the person's "
        "current login in their file",
        person.id,
    )


def _check_leaver(ctx: _Context, out: _Findings, person: Person) -> None:
    held = access_held(ctx.ids, ctx.index, ctx.snapshot, person)
    if not held:
        return
    entry = ctx.access.people.get(person.id)
    ends = entry.access_ends_at if entry else None
    if ends is not None:
        hours = (ctx.now - ends).total_seconds() / 3600
        overdue = hours > 0
        when = f"{hours:.1f} hours past the offboarding time {ends.isoformat()}"
    else:
        overdue, when = True, "with no recorded offboarding time"
    out.add(
        "leaver-has-access",
        Severity.CRITICAL if overdue else Severity.HIGH,
        "第5.2条3",
        None,
        person.email,
        f"{person.id} has left but still holds {', '.join(held)} ({when})",
        person.id,
    )
    for member in sorted({gcp_user(a) for a in ctx.ids.addresses_of(person)}):
        for resource, binding in ctx.index.conditional.get(member, ()):
            title = (binding.condition or {}).get("title", "untitled")
            out.add(
                "leaver-conditional-binding",
                Severity.HIGH,
                "第5.2条3",
                System.GCP,
                f"{resource} {binding.role} {member}",
                f"{person.id} is named in a conditional binding of {binding.role} on "
                f"{resource} ({title}); the product does not edit conditional bindings: "
                "remove it by hand",
                person.id,
            )


def _report_two_factor(out: _Findings, account: Account, owner: str | None, message: str) -> None:
    """2SV / 2FA off (policy 第5.3条); for an administrator it is 第12.5条 and critical.
    `None` (the API did not say) is not reported: only a known "off" is a finding."""
    if account.two_factor_enrolled is not False:
        return
    out.add(
        "2sv-not-enrolled",
        Severity.CRITICAL if account.is_admin else Severity.HIGH,
        "第12.5条" if account.is_admin else "第5.3条",
        account.system,
        account.name,
        message,
        owner,
    )


def _check_accounts(ctx: _Context, out: _Findings) -> None:
    org = ctx.desired.organization
    limit = timedelta(days=org.limits.dormant_after_days)
    for account in sorted(ctx.accounts(System.GOOGLE), key=lambda a: a.name):
        if account.suspended or account.kind is not AccountKind.USER:
            continue
        name = account.name
        owner = ctx.ids.person_of_email(name)
        untouchable = ctx.untouchables.untouchable(name)
        if owner is None and not untouchable:
            out.add(
                "unmanaged-account",
                Severity.HIGH,
                "第5.1条",
                System.GOOGLE,
                name,
                f"Workspace account {name} belongs to nobody in the repo; add a person file, "
                "list it as protected or non-human, or suspend it by hand",
            )
        if not untouchable and looks_shared(name):
            out.add(
                "shared-account",
                Severity.MEDIUM,
                "第5.1条",
                System.GOOGLE,
                name,
                f"{name} looks like a shared account; personal accounts only, or list it as "
                "a non-human account with an owner",
                owner,
            )
        departed = owner is not None and ctx.status(owner) is PersonStatus.DEPARTED
        if not departed:
            _report_two_factor(
                out,
                account,
                owner,
                f"{name} has not enrolled in 2-Step Verification"
                + (" and is a super admin" if account.is_admin else ""),
            )
        if not untouchable and not departed:
            last = account.last_login
            if last is None and account.created is not None and ctx.now - account.created > limit:
                out.add(
                    "dormant-account",
                    Severity.MEDIUM,
                    "第5.2条2",
                    System.GOOGLE,
                    name,
                    f"{name} has never signed in since {account.created.date()}",
                    owner,
                )
            elif last is not None and ctx.now - last > limit:
                out.add(
                    "dormant-account",
                    Severity.MEDIUM,
                    "第5.2条2",
                    System.GOOGLE,
                    name,
                    f"{name} last signed in on {last.date()}, more than "
                    f"{org.limits.dormant_after_days} days ago",
                    owner,
                )


def _check_github(ctx: _Context, out: _Findings) -> None:
    part = ctx.snapshot.part(System.GITHUB)
    if part is None:
        return
    limits = ctx.desired.organization.limits
    if part.github_org is not None and not part.github_org.two_factor_required:
        out.add(
            "org-2fa-not-required",
            Severity.HIGH,
            "第5.3条",
            System.GITHUB,
            part.github_org.org,
            f"the GitHub organisation {part.github_org.org} does not require two-factor "
            "authentication for its members",
        )
    for account in sorted(part.accounts, key=lambda a: a.name):
        owner = ctx.ids.person_of_login(account.name)
        departed = owner is not None and ctx.status(owner) is PersonStatus.DEPARTED
        if not departed:
            _report_two_factor(
                out,
                account,
                owner,
                f"GitHub member {account.name} has no two-factor authentication",
            )
    for grant in ctx.grants(GrantKind.GITHUB_ORG):
        if ctx.ids.person_of_login(grant.principal) is None and not (
            ctx.untouchables.untouchable(grant.principal)
        ):
            out.add(
                "unmanaged-account",
                Severity.HIGH,
                "第5.1条",
                System.GITHUB,
                grant.principal,
                f"GitHub {grant.role} {grant.principal} of {grant.target} is not in the repo"
                + ("; the plan removes them" if ctx.scope.org_authoritative else ""),
            )
    for grant in ctx.grants(GrantKind.GITHUB_COLLABORATOR):
        owner = ctx.ids.person_of_login(grant.principal)
        if owner is not None and ctx.status(owner) is PersonStatus.DEPARTED:
            continue  # the leaver finding covers it and the plan removes it
        if ctx.untouchables.untouchable(grant.principal):
            continue
        out.add(
            "unmanaged-grant",
            Severity.MEDIUM,
            "第5.1条",
            System.GITHUB,
            grant.describe(),
            f"{grant.principal} is an outside collaborator on repositories of {grant.target}; "
            "repository access is granted by hand, so confirm it is approved",
            owner,
        )
    for inv in sorted(part.invitations, key=lambda i: i.id):
        who = inv.login or inv.email or str(inv.id)
        owner = (ctx.ids.person_of_login(inv.login) if inv.login else None) or (
            ctx.ids.person_of_email(inv.email) if inv.email else None
        )
        if inv.failed_at is not None:
            out.add(
                "failed-invitation",
                Severity.LOW,
                "第5.2条1",
                System.GITHUB,
                who,
                f"the invitation of {who} to {inv.org} failed on {inv.failed_at.date()} "
                f"({inv.failed_reason or 'no reason given'}); GitHub does not resend it",
                owner,
            )
            continue
        age = ctx.now - inv.created_at
        if age > timedelta(days=limits.stale_invitation_days):
            out.add(
                "stale-invitation",
                Severity.LOW,
                "第5.2条2",
                System.GITHUB,
                who,
                f"the invitation of {who} to {inv.org} has been pending for {age.days} days",
                owner,
            )
        if owner is None and not ctx.untouchables.untouchable(who):
            out.add(
                "unmanaged-grant",
                Severity.MEDIUM,
                "第5.1条",
                System.GITHUB,
                f"invitation {inv.org} {who}",
                f"{who} has a pending invitation to {inv.org} but is not in the repo",
            )


def _check_google_groups(ctx: _Context, out: _Findings) -> None:
    org = ctx.desired.organization
    user_accounts = {a.name for a in ctx.accounts(System.GOOGLE)}
    groups = {g.target for g in ctx.grants(GrantKind.GOOGLE_GROUP)}
    for grant in ctx.grants(GrantKind.GOOGLE_GROUP):
        owner = ctx.ids.person_of_email(grant.principal)
        if not in_domains(grant.principal, org.domains):
            out.add(
                "external-member",
                Severity.MEDIUM,
                "第6.1条",
                System.GOOGLE,
                grant.describe(),
                f"{grant.principal} is outside the organisation's domains and is a "
                f"{grant.role} of {grant.target}; confirm an NDA covers them",
                owner,
            )
        if (
            grant.target in ctx.scope.groups
            and owner is None
            and grant.principal not in user_accounts
            and in_domains(grant.principal, org.domains)
            and not ctx.untouchables.untouchable(grant.principal)
        ):
            kind = "nested group" if grant.principal in groups else "member"
            out.add(
                "unmanaged-grant",
                Severity.MEDIUM,
                "第5.1条",
                System.GOOGLE,
                grant.describe(),
                f"{kind} {grant.principal} of the managed group {grant.target} is not in the "
                "repo and is not a known user, so it is left in place; review it",
            )


def _check_gcp(ctx: _Context, out: _Findings) -> None:
    desired = ctx.access.grants()
    scopes = {s.resource: s for s in ctx.desired.organization.systems.gcp}
    for policy in sorted(ctx.snapshot.policies, key=lambda p: p.resource):
        scope = scopes.get(policy.resource)
        for binding in policy.bindings:
            for member in sorted({normalise_member(m) for m in binding.members}):
                if member.startswith("deleted:"):
                    out.add(
                        "deleted-principal",
                        Severity.MEDIUM,
                        "第5.2条2",
                        System.GCP,
                        f"{policy.resource} {binding.role} {member}",
                        f"{binding.role} on {policy.resource} still names a deleted principal",
                    )
                if (
                    scope is not None
                    and scope.environment == "prod"
                    and binding.role == "roles/owner"
                    # a sealed break-glass account is the sanctioned owner (第10.2条 exception)
                    and not ctx.untouchables.untouchable(member)
                ):
                    out.add(
                        "owner-on-prod",
                        Severity.HIGH,
                        "第12.2条",
                        System.GCP,
                        f"{policy.resource} roles/owner {member}",
                        f"{member} holds roles/owner on the production resource "
                        f"{policy.resource}; use narrower roles and time-boxed elevation",
                        ctx.ids.person_of_member(member),
                    )
        if scope is not None and scope.require_audit_logs:
            enabled = {
                t for c in policy.audit_configs if c.service == "allServices" for t in c.log_types
            }
            missing = sorted(REQUIRED_AUDIT_LOG_TYPES - enabled)
            if missing:
                out.add(
                    "audit-logs-disabled",
                    Severity.HIGH,
                    "第14.1条",
                    System.GCP,
                    policy.resource,
                    f"{policy.resource} does not log {', '.join(missing)} for allServices",
                )
    for grant in ctx.grants(GrantKind.GCP_BINDING):
        if grant.target not in ctx.scope.resources or not grant.principal.startswith("user:"):
            continue
        if grant in desired or ctx.untouchables.untouchable(grant.principal):
            continue
        owner = ctx.ids.person_of_member(grant.principal)
        status = ctx.status(owner) if owner else None
        if status in (PersonStatus.DEPARTED, PersonStatus.NOT_STARTED):
            continue  # covered by the leaver / before-start findings
        managed = ctx.scope.manages_gcp_role(grant.target, grant.role)
        removed = managed and (
            owner is not None or grant.target in ctx.scope.authoritative_resources
        )
        if not removed:
            out.add(
                "unmanaged-grant",
                Severity.MEDIUM,
                "第5.1条",
                System.GCP,
                grant.describe(),
                f"{grant.principal} holds {grant.role} on {grant.target}, which the repo does "
                "not grant"
                + (
                    " and the product does not manage (role not in roles.yaml)"
                    if not managed
                    else " (additive resource: reported, not removed)"
                ),
                owner,
            )
    part = ctx.snapshot.part(System.GCP)
    for sa in sorted(part.service_accounts if part else (), key=lambda s: s.email):
        keys = [k for k in sa.keys if k.key_type == "USER_MANAGED" and not k.disabled]
        if keys:
            out.add(
                "user-managed-key",
                Severity.HIGH,
                "第4.1条",
                System.GCP,
                sa.email,
                f"service account {sa.email} has {len(keys)} user-managed key(s); keys "
                "belong in the secret manager or should be replaced by workload identity",
            )


def privileged_gcp_roles(desired: DesiredState) -> frozenset[str]:
    """Built-in admin roles plus every GCP role granted by a role marked `privileged`."""
    marked = {g.role for r in desired.roles.values() if r.privileged for g in r.gcp}
    return PRIVILEGED_GCP_ROLES | marked


def _approved_time_boxed(ctx: _Context, person_id: str | None, kind: GrantKind, *keys: str) -> bool:
    """True when the person holds the privilege through an approved grant that expires: the
    only way someone other than the security officer may hold it (policy 第10.2条)."""
    if person_id is None:
        return False
    for ent in ctx.entitlements(person_id):
        g = ent.grant
        if g.kind is kind and ent.approved_by and ent.expires is not None:
            if kind is GrantKind.GCP_BINDING and (g.target, g.role) == keys:
                return True
            if kind is not GrantKind.GCP_BINDING and g.role in keys:
                return True
    return False


def _check_privileged(ctx: _Context, out: _Findings) -> None:
    for account in sorted(ctx.accounts(System.GOOGLE), key=lambda a: a.name):
        if not account.is_admin or account.suspended:
            continue
        _report_privileged_holder(
            ctx,
            out,
            system=System.GOOGLE,
            subject=account.name,
            holder=account.name,
            owner=ctx.ids.person_of_email(account.name),
            holds=f"{account.name} is a Workspace super admin",
            grant=(GrantKind.GOOGLE_ACCOUNT, "ADMIN"),
        )
    for grant in ctx.grants(GrantKind.GITHUB_ORG):
        if grant.role != "admin":
            continue
        _report_privileged_holder(
            ctx,
            out,
            system=System.GITHUB,
            subject=grant.describe(),
            holder=grant.principal,
            owner=ctx.ids.person_of_login(grant.principal),
            holds=f"{grant.principal} is an owner of the GitHub organisation {grant.target}",
            grant=(GrantKind.GITHUB_ORG, "admin"),
        )
    privileged = privileged_gcp_roles(ctx.desired)
    # Conditional bindings are left out: a condition is how GCP time-boxes an elevation.
    for policy in sorted(ctx.snapshot.policies, key=lambda p: p.resource):
        for binding in policy.bindings:
            if binding.condition or binding.role not in privileged:
                continue
            for member in sorted({normalise_member(m) for m in binding.members}):
                _report_privileged_holder(
                    ctx,
                    out,
                    system=System.GCP,
                    subject=f"{policy.resource} {binding.role} {member}",
                    holder=member,
                    owner=ctx.ids.person_of_member(member),
                    holds=f"{member} holds the privileged role {binding.role} on {policy.resource}",
                    grant=(GrantKind.GCP_BINDING, policy.resource, binding.role),
                )


def _report_privileged_holder(
    ctx: _Context,
    out: _Findings,
    *,
    system: System,
    subject: str,
    holder: str,
    owner: str | None,
    holds: str,
    grant: tuple[GrantKind, *tuple[str, ...]],
) -> None:
    """Policy 第10.2条: a privilege held by anyone but the security officer (or a protected
    account) is a finding unless an approved, time-boxed grant of `grant` covers it."""
    if owner == ctx.desired.organization.security_officer or ctx.untouchables.is_protected(holder):
        return
    kind, *keys = grant
    if _approved_time_boxed(ctx, owner, kind, *keys):
        return
    out.add(
        "privileged-holder",
        Severity.CRITICAL,
        "第10.2条",
        system,
        subject,
        f"{holds} but is not the security officer and has no approved, time-boxed grant",
        owner,
    )
