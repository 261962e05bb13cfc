"""The shared, pure views of desired and actual state that the planner (`reconciler.planning`)
and the policy checks (`reconciler.policy`) both read, so the two can never disagree about them.

Who a principal is (`Identities`), the snapshot indexed by principal (`SnapshotIndex`), which
groups, teams and GCP roles the product manages (`ManagedScope`), which accounts it must never
touch (`Untouchables`), and everything a person still holds (`access_held`). Every function here
is pure: no I/O, and "now" is always a parameter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from operator import attrgetter
from typing import Self

from reconciler.model import (
    Account,
    AppPassword,
    Binding,
    DesiredAccess,
    DesiredState,
    EmergencyHold,
    Entitlement,
    Grant,
    GrantKind,
    IamPolicy,
    Invitation,
    Message,
    OAuthToken,
    Person,
    PersonStatus,
    Snapshot,
    System,
    Unread,
    gcp_user,
    grant_order,
    member_identity,
    msg,
    normalise_email,
    normalise_login,
    normalise_member,
)

GROUP_ROLE_RANK = {"MEMBER": 0, "MANAGER": 1, "OWNER": 2}
ORG_ROLE_RANK = {"member": 0, "admin": 1}
TEAM_ROLE_RANK = {"member": 0, "maintainer": 1}


_ROLE_RANKS: Mapping[GrantKind, Mapping[str, int]] = {
    GrantKind.GOOGLE_GROUP: GROUP_ROLE_RANK,
    GrantKind.GITHUB_ORG: ORG_ROLE_RANK,
    GrantKind.GITHUB_TEAM: TEAM_ROLE_RANK,
}


def higher_role(kind: GrantKind, a: str, b: str) -> str:
    """The stronger of two roles for one (kind, target): two roles asking for the same group
    or team yield the stronger membership, never two conflicting actions."""
    ranks = _ROLE_RANKS.get(kind, {})
    return a if ranks.get(a, -1) >= ranks.get(b, -1) else b


def email_domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower() if "@" in address else ""


def in_domains(address: str, domains: Iterable[str]) -> bool:
    """True when the address belongs to one of the domains or a subdomain of one."""
    domain = email_domain(address)
    for d in domains:  # a plain loop: called for every group member of a large read
        lowered = d.lower()
        if domain == lowered or domain.endswith("." + lowered):
            return True
    return False


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
    squatter_is_member: bool = False  # the squatter is an org member (not a looked-up invitee)


@dataclass(frozen=True)
class Identities:
    """Matches snapshot principals to people.

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
    # person id -> `addresses_of` and `iam_members_of`, worked out once per plan: the planners
    # and checks ask them of the same person several times
    addresses: Mapping[str, frozenset[str]] = field(default_factory=dict)
    iam_members: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def build(
        cls, desired: DesiredState, snapshot: Snapshot, people: Iterable[Person] | None = None
    ) -> Identities:
        """`people` are the repo's people in id order when the caller has them sorted."""
        ordered = sorted(desired.people.values(), key=_PERSON_ID) if people is None else people
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
        addresses: dict[str, frozenset[str]] = {}
        for person in ordered:
            email_owner.setdefault(person.email, person.id)
            found = by_address.get(person.email)
            if found is not None:
                google_accounts[person.id] = found
                for address in (found.name, *found.aliases):
                    email_owner.setdefault(normalise_email(address), person.id)
            addresses[person.id] = _addresses(person, found)
        iam_members = {pid: frozenset(map(gcp_user, a)) for pid, a in addresses.items()}

        gh_by_id = {a.id: a for a in (*h_looked_up, *h_accounts)}
        gh_by_login = {normalise_login(a.name): a for a in (*h_looked_up, *h_accounts)}
        members = frozenset(h_accounts)  # a set: one look-up per squatter, not an org scan
        github: dict[str, GitHubMatch] = {}
        login_owner: dict[str, str] = {}
        for person in ordered:
            match = _match_github(person, gh_by_id, gh_by_login, members)
            if match is None:
                continue
            github[person.id] = match
            if match.login is not None:
                login_owner.setdefault(match.login, person.id)
        return cls(google_accounts, email_owner, github, login_owner, addresses, iam_members)

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
        found = self.addresses.get(person.id)
        if found is not None:
            return found
        return _addresses(person, self.google_accounts.get(person.id))

    def iam_members_of(self, person: Person) -> frozenset[str]:
        """The IAM members (`user:` + address) of every Google address of the person."""
        found = self.iam_members.get(person.id)
        if found is not None:
            return found
        return frozenset(map(gcp_user, self.addresses_of(person)))


def _addresses(person: Person, account: Account | None) -> frozenset[str]:
    extra = (account.name, *account.aliases) if account else ()
    return frozenset({person.email, *(normalise_email(a) for a in extra)})


def _match_github(
    person: Person,
    by_id: Mapping[str, Account],
    by_login: Mapping[str, Account],
    members: Collection[Account],
) -> GitHubMatch | None:
    if person.github is None and person.github_id is None:
        return None
    repo_login = normalise_login(person.github) if person.github else None
    holder = by_login.get(repo_login) if repo_login else None
    if person.github_id is None:
        return GitHubMatch(login=repo_login, account=holder)
    own = by_id.get(str(person.github_id))
    squatter = holder if holder is not None and holder.id != str(person.github_id) else None
    in_org = squatter is not None and squatter in members
    if own is not None:
        current = normalise_login(own.name)
        renamed = repo_login if repo_login and repo_login != current else None
        return GitHubMatch(
            login=current,
            account=own,
            renamed_from=renamed,
            squatter=squatter,
            squatter_is_member=in_org,
        )
    # Our id is not in the org. The repo's login is usable for an invitation only while no
    # account with another id holds it: inviting it would invite whoever owns it now.
    return GitHubMatch(
        login=None if squatter else repo_login,
        account=None,
        squatter=squatter,
        squatter_is_member=in_org,
    )


# --------------------------------------------------------------------------------------------
# Effective access: who really reaches each GCP resource, directly or through Google groups.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectiveBinding:
    """One principal reaching one role on one resource.

    `via` is empty for a member the binding names itself; for a member reached through a
    `group:` member it is the group path, the bound group first and the group that holds
    the principal last, so a finding can say exactly which membership to remove.
    """

    resource: str
    role: str
    member: str  # normalised IAM member of who reaches it: user:, serviceAccount:, group:, ...
    via: tuple[str, ...] = ()  # group emails, outermost (the bound group) first
    condition: str | None = None  # the binding's condition title, when it is conditional

    @property
    def conditional(self) -> bool:
        return self.condition is not None

    def path(self) -> str:
        """The group path in words, e.g. `group eng@example.co.jp > platform@example.co.jp`."""
        return "group " + " > ".join(self.via) if self.via else "directly"


def _as_member(address: str) -> str:
    """The IAM member a Google group member is when a binding reaches it through the group:
    Workspace lists service accounts and users by email alone."""
    address = normalise_email(address)
    kind = "serviceAccount" if address.endswith(".gserviceaccount.com") else "user"
    return normalise_member(f"{kind}:{address}")


def group_closure(
    group_grants: Iterable[Grant],
    users: Collection[str],
    domains: Iterable[str],
    groups: Collection[str] | None = None,
) -> Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]]:
    """For every group the read listed members of (or only those of `groups`, the ones a
    caller will look up): each principal inside it at any depth, with the shortest path of
    groups leading to it (the group itself first).

    The Directory API lists a nested group as a member by its email, so a member is a nested
    group when the read listed members of it; a cycle of groups is followed once. Any other
    member is a principal when it is a Workspace user (`users`: primary addresses and
    aliases) or an address outside the organisation's `domains` (a guest, a service account).
    An in-domain address that is neither is a nested group with no members (or one the read
    did not list): it reaches nobody, the same rule the planner uses to leave it in place.
    """
    if groups is not None and not groups:
        return {}  # nothing asked for: spare indexing every membership
    members: dict[str, list[str]] = {}
    for g in group_grants:
        if g.kind is GrantKind.GOOGLE_GROUP:
            members.setdefault(normalise_email(g.target), []).append(normalise_email(g.principal))
    wanted = {normalise_email(u) for u in users}
    domains = tuple(domains)
    closure: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {}
    tops = set(members) if groups is None else {normalise_email(g) for g in groups} & set(members)
    for top in sorted(tops):
        best: dict[str, tuple[str, ...]] = {}
        queue: deque[tuple[str, tuple[str, ...]]] = deque([(top, (top,))])
        seen = {top}
        while queue:  # breadth first: the first path found to a principal is the shortest
            group, path = queue.popleft()
            for address in sorted(set(members[group])):
                if address in members:
                    if address not in seen:
                        seen.add(address)
                        queue.append((address, (*path, address)))
                elif address in wanted or not in_domains(address, domains):
                    best.setdefault(address, path)
        closure[top] = tuple(sorted(best.items()))
    return closure


def effective_bindings(
    policies: Iterable[IamPolicy],
    group_grants: Iterable[Grant],
    users: Collection[str] = (),
    domains: Iterable[str] = (),
) -> tuple[EffectiveBinding, ...]:
    """Every principal that reaches each role on each resource: the members a binding names
    (a `group:` member included, as itself) plus everyone a `group:` member reaches through
    Google group membership, nested groups included, each with its group path. Sorted.

    Only as complete as the Google read: a group outside the Workspace customer (another
    domain's) has no listed members and reaches nobody here."""
    policies = tuple(policies)
    # Only the groups a binding names are expanded: at 10,000 people the read lists ~1,500
    # groups, and bindings name a handful of them.
    bound = {
        member_identity(m)
        for policy in policies
        for b in policy.bindings
        for m in {normalise_member(m) for m in b.members}
        if m.startswith("group:")
    }
    closure = group_closure(group_grants, users, domains, bound)
    found: set[EffectiveBinding] = set()
    for policy in policies:
        for b in policy.bindings:
            condition = (b.condition or {}).get("title", "untitled") if b.condition else None
            for member in {normalise_member(m) for m in b.members}:
                found.add(EffectiveBinding(policy.resource, b.role, member, (), condition))
                if not member.startswith("group:"):
                    continue
                for address, path in closure.get(member_identity(member), ()):
                    found.add(
                        EffectiveBinding(
                            policy.resource, b.role, _as_member(address), path, condition
                        )
                    )
    return tuple(
        sorted(found, key=lambda e: (e.resource, e.role, e.member, e.via, e.condition or ""))
    )


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
    effective: tuple[EffectiveBinding, ...] = ()  # every binding, direct and through groups
    via_groups: Mapping[str, tuple[EffectiveBinding, ...]] = field(default_factory=dict)
    # member -> what they reach only through groups

    @classmethod
    def of(cls, snapshot: Snapshot, domains: Iterable[str] = ()) -> SnapshotIndex:
        """`domains` (the organisation's) tell a guest in a group from an empty nested group
        when expanding GCP bindings through groups (`effective_bindings`)."""
        by_kind: dict[GrantKind, tuple[Grant, ...]] = {}
        by_principal: dict[tuple[GrantKind, str], tuple[Grant, ...]] = {}
        # The dataclass order, not `grant_order`: the providers hand over sorted parts, and
        # timsort then compares ~n times, cheaper than building 100,000 key tuples. Then
        # each kind is one run, and a stable sort by principal keeps each principal's grants
        # in that order: grouping in C, no list per principal grown one grant at a time.
        for kind, run in groupby(sorted(snapshot.grants), key=_KIND):
            of_kind = by_kind[kind] = tuple(run)
            for principal, held in groupby(sorted(of_kind, key=_PRINCIPAL), key=_PRINCIPAL):
                by_principal[(kind, principal)] = tuple(held)
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
        users = [a for u in (google.accounts if google else ()) for a in (u.name, *u.aliases)]
        effective = effective_bindings(
            snapshot.policies, by_kind.get(GrantKind.GOOGLE_GROUP, ()), users, domains
        )
        via_groups: dict[str, list[EffectiveBinding]] = {}
        for e in effective:
            if e.via:
                via_groups.setdefault(e.member, []).append(e)
        return cls(
            by_kind=by_kind,
            by_principal=by_principal,
            tokens={k: tuple(v) for k, v in tokens.items()},
            app_passwords={k: tuple(v) for k, v in asps.items()},
            conditional={k: tuple(v) for k, v in conditional.items()},
            effective=effective,
            via_groups={k: tuple(v) for k, v in via_groups.items()},
        )

    def grants(self, kind: GrantKind) -> tuple[Grant, ...]:
        return self.by_kind.get(kind, ())

    def held(self, kind: GrantKind, principals: Iterable[str]) -> list[Grant]:
        """The grants of `kind` held by any of `principals`, sorted."""
        wanted = set(principals)
        if len(wanted) == 1:  # most people have one address: their grants are already sorted
            return list(self.by_principal.get((kind, wanted.pop()), ()))
        found = [g for p in wanted for g in self.by_principal.get((kind, p), ())]
        return sorted(found, key=grant_order)


# --------------------------------------------------------------------------------------------
# What the product manages, and what it never touches.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManagedScope:
    """Where the product is authoritative ("unmanaged access").

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
    """Protected (break-glass) and non-human accounts: never in an action.

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
        identity = member_identity(principal)  # once: the planners ask this of every stranger
        return identity in self.protected or identity in self.non_human


@dataclass(frozen=True)
class Entitled:
    """The desired access indexed once by person and kind of grant, each group sorted by
    grant, so the planners and checks look a person's entitlements up instead of filtering
    and sorting them again per person and kind (48,000 small sorts at 10,000 people)."""

    by_person: Mapping[tuple[str, GrantKind], tuple[Entitlement, ...]]  # sorted by grant
    # kind -> every person's entitlements of it (the values of `by_person`), so a check
    # that wants one kind's grants does not walk every other kind's
    by_kind: Mapping[GrantKind, tuple[tuple[Entitlement, ...], ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, access: DesiredAccess) -> Entitled:
        by_person: dict[tuple[str, GrantKind], tuple[Entitlement, ...]] = {}
        by_kind: dict[GrantKind, list[tuple[Entitlement, ...]]] = {}
        for pid, entry in access.people.items():
            # Sorted by grant, kind first: each kind's entitlements are one run of the list.
            ordered = sorted(entry.entitlements, key=_BY_GRANT)
            for kind, run in groupby(ordered, key=_GRANT_KIND):
                found = by_person[(pid, kind)] = tuple(run)
                by_kind.setdefault(kind, []).append(found)
        return cls(by_person, {k: tuple(v) for k, v in by_kind.items()})

    def of_person(self, person_id: str, kind: GrantKind) -> tuple[Entitlement, ...]:
        return self.by_person.get((person_id, kind), ())

    def grants(self, kind: GrantKind) -> frozenset[Grant]:
        """Every desired grant of `kind`, whoever it is for."""
        return frozenset(e.grant for found in self.by_kind.get(kind, ()) for e in found)


_PERSON_ID = attrgetter("id")
_KIND = attrgetter("kind")
_PRINCIPAL = attrgetter("principal")
# `grant_order` of each entitlement's grant.
_BY_GRANT = attrgetter("grant.kind", "grant.target", "grant.principal", "grant.role")
_GRANT_KIND = attrgetter("grant.kind")


@dataclass(frozen=True)
class GroupMembers:
    """Who each member of a Google group is, decided once per address rather than once per
    membership and per reader (at 10,000 people: 60,000 memberships of 10,000 addresses, read
    by the planner's stranger removal and by the group checks)."""

    owner: Mapping[str, str]  # member address -> the person it is (absent: nobody in the repo)
    outside: frozenset[str]  # member addresses outside the organisation's domains

    @classmethod
    def of(cls, ids: Identities, index: SnapshotIndex, domains: Iterable[str]) -> GroupMembers:
        domains = tuple(domains)
        addresses = set(map(_PRINCIPAL, index.grants(GrantKind.GOOGLE_GROUP)))
        owner: dict[str, str] = {}
        for address in addresses:
            person_id = ids.person_of_email(address)
            if person_id is not None:
                owner[address] = person_id
        return cls(owner, frozenset(a for a in addresses if not in_domains(a, domains)))


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
    entitled: Entitled
    members: GroupMembers
    everyone: tuple[Person, ...]  # the repo's people, in id order
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
        people = tuple(sorted(desired.people.values(), key=_PERSON_ID))
        ids = Identities.build(desired, snapshot, people)
        domains = desired.organization.domains
        index = SnapshotIndex.of(snapshot, domains)
        return cls(
            desired=desired,
            access=access,
            snapshot=snapshot,
            now=now,
            ids=ids,
            scope=ManagedScope.of(desired),
            untouchables=Untouchables.of(desired),
            index=index,
            entitled=Entitled.of(access),
            members=GroupMembers.of(ids, index, domains),
            everyone=people,
            holds=holds,
        )

    def grants(self, kind: GrantKind) -> tuple[Grant, ...]:
        return self.index.grants(kind)


def access_held(
    ids: Identities, index: SnapshotIndex, snapshot: Snapshot, person: Person
) -> tuple[Message, ...]:
    """Plain descriptions of everything the person still holds anywhere (for leavers and
    people who have not started yet), as messages the reports word in their language;
    `str()` of each is the English the audit log keeps."""
    held: list[Message] = []
    addresses = ids.addresses_of(person)
    account = ids.google_accounts.get(person.id)
    if account is not None and not account.suspended:
        held.append(msg("an active Google account"))
    match = ids.github.get(person.id)
    login = match.login if match else None
    members = ids.iam_members_of(person)
    held += [
        msg("group %(group)s", group=g.target)
        for g in index.held(GrantKind.GOOGLE_GROUP, addresses)
    ]
    logins = [login] if login else []
    held += [
        msg("GitHub org %(org)s", org=g.target) for g in index.held(GrantKind.GITHUB_ORG, logins)
    ]
    held += [
        msg("GitHub team %(team)s", team=g.target)
        for g in index.held(GrantKind.GITHUB_TEAM, logins)
    ]
    held += [
        msg("GitHub collaborator %(org)s", org=g.target)
        for g in index.held(GrantKind.GITHUB_COLLABORATOR, logins)
    ]
    held += [
        msg("%(role)s on %(resource)s", role=g.role, resource=g.target)
        for g in index.held(GrantKind.GCP_BINDING, members)
    ]
    tokens = sum(len(index.tokens.get(a, ())) for a in addresses)
    asps = sum(len(index.app_passwords.get(a, ())) for a in addresses)
    if tokens:
        held.append(msg("%(count)s OAuth token(s)", count=tokens))
    if asps:
        held.append(msg("%(count)s app password(s)", count=asps))
    for inv in pending_invitations_of(snapshot, login, addresses):
        held.append(msg("a pending GitHub invitation to %(org)s", org=inv.org))
    for member in sorted(members):
        held += [
            msg("conditional %(role)s on %(resource)s", role=b.role, resource=r)
            for r, b in index.conditional.get(member, ())
        ]
    for member in sorted(members):
        held += [
            msg(
                "conditional %(role)s on %(resource)s through %(path)s",
                role=e.role,
                resource=e.resource,
                path=e.path(),
            )
            if e.conditional
            else msg(
                "%(role)s on %(resource)s through %(path)s",
                role=e.role,
                resource=e.resource,
                path=e.path(),
            )
            for e in index.via_groups.get(member, ())
        ]
    return tuple(held)


def unread_message(unread: Iterable[Unread]) -> Message:
    """ "OAuth tokens and app passwords": how the plan note and the checks name what was not
    read, in one wording per language."""
    found = set(unread)
    if found >= {Unread.OAUTH_TOKENS, Unread.APP_PASSWORDS}:
        return msg("OAuth tokens and app passwords")
    if Unread.APP_PASSWORDS in found:
        return msg("app passwords")
    return msg("OAuth tokens")


def access_unread(ids: Identities, snapshot: Snapshot, person: Person) -> frozenset[Unread]:
    """What the person may hold that was deliberately not read (OAuth tokens and app
    passwords, read-only credentials), or nothing. Tokens and app passwords outlive a
    suspension, so any Google account of theirs may still have some: a check must say "not
    read" rather than take `access_held`'s silence about them for "none"."""
    unread = snapshot.not_read(System.GOOGLE)
    if not unread or person.id not in ids.google_accounts:
        return frozenset()
    return frozenset(unread)


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
