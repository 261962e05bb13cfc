"""Domain types shared by every layer: desired state, actual state, plans and findings.

Everything here is an immutable value with no I/O. The desired-state loader builds the
`DesiredState`, providers build `Snapshot` parts, the planner turns both into a `Plan`.
Identifiers that humans type in several spellings (emails, GitHub logins, IAM members) are
normalised once, by `normalise_email` / `normalise_login` / `normalise_member`, at the boundary
where they enter the model; `member_identity` is the one way to compare them across systems.
The order actions run in is owned by their kind (`ACTION_KINDS`, `action_order_key`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import IntEnum, StrEnum
from itertools import chain
from operator import attrgetter
from typing import Any, TypeAlias


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively (RFC 5321 local parts are case-sensitive in theory,
    but Google Workspace treats them case-insensitively, and so must we)."""
    return email.strip().lower()


def normalise_login(login: str) -> str:
    """GitHub logins are case-insensitive: `TYamada` and `tyamada` are one account."""
    return login.strip().lower()


# Cloud IAM principal types whose identifier is an email address, in the API's own spelling.
# The type word is matched case-insensitively but written back as the API spells it, since
# setIamPolicy is given what a grant carries.
_EMAIL_MEMBER_TYPES = {t.lower(): t for t in ("user", "group", "serviceAccount")}
_SPECIAL_MEMBERS = {m.lower(): m for m in ("allUsers", "allAuthenticatedUsers")}
_DELETED = "deleted:"
_UID = "?uid="


def normalise_member(member: str) -> str:
    """The one spelling of a principal, so grants read from a policy, grants the repo wants and
    the members a write sends compare equal. Rules, per kind:

    - `user:`, `group:`, `serviceAccount:` + email: the type as the API spells it, the email
      lower-cased (Google treats addresses case-insensitively);
      `user:Alice@Example.co.jp` -> `user:alice@example.co.jp`.
    - `domain:` + domain: lower-cased (DNS names are case-insensitive).
    - `deleted:<type>:<email>?uid=<id>`: `deleted:` and the inner member as above; the uid
      is kept as written (an opaque id, it tells the old account from a new one of that name).
    - `allUsers`, `allAuthenticatedUsers`: the API's spelling.
    - a bare email or GitHub login (no type): lower-cased, as `normalise_email` /
      `normalise_login` do, so the same helper serves every system's principals.
    - anything else (`principal://…`, `principalSet://…`, unknown types): trimmed only; their
      parts may be case-sensitive, so they compare exactly.
    """
    value = member.strip()
    if value.lower().startswith(_DELETED):
        inner, uid_sep, uid = value[len(_DELETED) :].partition(_UID)
        return f"{_DELETED}{normalise_member(inner)}{uid_sep}{uid}"
    kind, sep, rest = value.partition(":")
    if not sep:
        return _SPECIAL_MEMBERS.get(value.lower(), value.lower())
    if kind.lower() in _EMAIL_MEMBER_TYPES:
        return f"{_EMAIL_MEMBER_TYPES[kind.lower()]}:{normalise_email(rest)}"
    if kind.lower() == "domain":
        return f"domain:{rest.strip().lower()}"
    return value


def member_identity(principal: str) -> str:
    """The part of a principal that names one account in any system, for checks that must
    recognise an account however it is spelled (protected, own and non-human identities):
    `user:Alice@Example.co.jp`, `Alice@example.co.jp` and `group:`/`serviceAccount:` members
    give their lower-cased email; a login gives itself lower-cased. A Workspace address names
    one account (a user, group or service account never share one), so the type is dropped.

    Two kinds keep their type, so they never equal a person's identity: `domain:x` is everyone
    in a domain, not a user, and a `deleted:` member is an account that no longer exists (a new
    account with the same address is a different principal and cannot use the old binding)."""
    value = normalise_member(principal)
    kind, sep, rest = value.partition(":")
    if sep and kind in _EMAIL_MEMBER_TYPES.values():
        return rest
    return value


def gcp_user(email: str) -> str:
    """The IAM member string of a Workspace user, as grants spell it."""
    return normalise_member(f"user:{email}")


# --------------------------------------------------------------------------------------------
# Desired state: what organization.yaml, roles.yaml and people/*.yaml say.
# --------------------------------------------------------------------------------------------


class System(StrEnum):
    """The three systems in scope; also the order of offboarding (sessions first)."""

    GOOGLE = "google"
    GITHUB = "github"
    GCP = "gcp"


class EmploymentType(StrEnum):
    EMPLOYEE = "employee"
    CONTRACTOR = "contractor"  # 業務委託: needs an NDA date (policy 第6.1条)
    DIRECTOR = "director"  # 取締役 (e.g. internal audit team)


class BindingMode(StrEnum):
    """How a GCP resource's IAM policy is managed.

    additive: only bindings the product created (for people in the repo) are removed.
    authoritative: every user binding not in the repo is removed (service accounts,
    groups, conditions and roles outside `managed_roles` are always preserved).
    """

    ADDITIVE = "additive"
    AUTHORITATIVE = "authoritative"


@dataclass(frozen=True)
class SourceRef:
    """Where a value came from in the desired-state repo, for errors and audit evidence."""

    file: str
    line: int  # 1-based
    column: int = 1  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Employment:
    type: EmploymentType
    start: date
    end: date | None = None  # last day of employment (inclusive)
    nda: date | None = None  # date the NDA was signed (contractors)


@dataclass(frozen=True)
class ExtraGrant:
    """A one-off role for one person, outside their standing roles."""

    role: str
    approved_by: str  # person id of the approver (the security officer, policy 第5.2条1)
    reason: str
    expires: date | None = None  # last day the grant is valid (inclusive)
    approved_on: date | None = None
    source: SourceRef | None = None


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    email: str  # normalised primary Workspace email
    employment: Employment
    roles: tuple[str, ...] = ()
    grants: tuple[ExtraGrant, ...] = ()
    github: str | None = None  # normalised login
    github_id: int | None = None  # stable numeric id, once known: survives renames
    previous_github_logins: tuple[str, ...] = ()
    recovery_email: str | None = None
    department: str | None = None
    title: str | None = None
    source: SourceRef | None = None
    manager: str | None = None  # person id of the manager (reviews their access yearly)
    training: date | None = None  # last security training (policy 第11.1条: yearly)
    # Where each entry of `roles` is written, in the same order: the line `git blame` reads
    # for the inventory's "who last changed this grant".
    role_sources: tuple[SourceRef, ...] = field(default=(), compare=False)

    def role_source(self, role: str) -> SourceRef | None:
        """The line of the person file that gives `role` as a standing role."""
        for name, ref in zip(self.roles, self.role_sources, strict=False):
            if name == role:
                return ref
        return None


@dataclass(frozen=True)
class GoogleGroupGrant:
    group: str  # normalised group email
    role: str = "MEMBER"  # MEMBER | MANAGER | OWNER


@dataclass(frozen=True)
class GitHubTeamGrant:
    team: str  # team slug
    role: str = "member"  # member | maintainer


@dataclass(frozen=True)
class GitHubGrant:
    org_role: str = "member"  # member | admin
    teams: tuple[GitHubTeamGrant, ...] = ()


@dataclass(frozen=True)
class GcpGrant:
    resource: str  # projects/ID | folders/NUM | organizations/NUM
    role: str  # roles/NAME | projects/ID/roles/NAME | organizations/NUM/roles/NAME
    # Where roles.yaml names the role, so an unknown role is reported at its line; not part
    # of the grant's identity.
    source: SourceRef | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Role:
    name: str
    description: str = ""
    privileged: bool = False  # only the security officer, or an approved time-boxed grant
    google_groups: tuple[GoogleGroupGrant, ...] = ()
    github: GitHubGrant | None = None
    gcp: tuple[GcpGrant, ...] = ()
    google_admin: bool = False  # Workspace super admin (privileged by nature)
    source: SourceRef | None = None
    owner: str | None = None  # person id accountable for the role (reviews its holders)


@dataclass(frozen=True)
class GcpResourceScope:
    resource: str
    mode: BindingMode = BindingMode.ADDITIVE
    environment: str | None = None  # dev | stg | prod (policy 第12.2条)
    require_audit_logs: bool = True  # policy 第14.1条


@dataclass(frozen=True)
class GoogleScope:
    customer: str  # Workspace customer id, or "my_customer"
    domain: str
    admin_subject: str | None = None  # the admin impersonated by domain-wide delegation


@dataclass(frozen=True)
class GitHubScope:
    org: str


@dataclass(frozen=True)
class Systems:
    google: GoogleScope | None = None
    github: GitHubScope | None = None
    gcp: tuple[GcpResourceScope, ...] = ()


@dataclass(frozen=True)
class ProtectedAccount:
    """A break-glass or bootstrap account the product never touches."""

    system: System
    identity: str  # normalised email / login / IAM member
    reason: str = ""


@dataclass(frozen=True)
class NonHumanAccount:
    """A service account, bot or integration user, owned by a person (policy 第5.1条)."""

    id: str
    system: System
    identity: str  # normalised email / login / service account email
    owner: str  # person id
    purpose: str = ""
    source: SourceRef | None = None


@dataclass(frozen=True)
class SafetyLimits:
    """Per-run removal limits; offboarding is exempt from them but has a leaver limit."""

    max_removals: int = 20
    max_removal_ratio: float = 0.1  # of the grants the system holds
    # Leavers one run may offboard; None: the larger of 3 and 5% of the people.
    max_offboardings: int | None = None
    dormant_after_days: int = 90
    stale_invitation_days: int = 7


@dataclass(frozen=True)
class Organization:
    name: str
    domains: tuple[str, ...]
    timezone: str  # IANA name, e.g. Asia/Tokyo
    security_officer: str  # person id (CTO, policy 第1.3条)
    systems: Systems
    offboarding_time: time = time(18, 0)  # local time access is cut on the last day
    chief_officer: str | None = None  # 最高責任者 (CEO), lead of the internal audit
    language: str | None = None  # reports' language (ja/en) unless --lang says otherwise
    protected_accounts: tuple[ProtectedAccount, ...] = ()
    non_human_accounts: tuple[NonHumanAccount, ...] = ()
    limits: SafetyLimits = field(default_factory=SafetyLimits)
    source: SourceRef | None = None


class ReviewDecision(StrEnum):
    """A reviewer's decision on one grant in the yearly access review (棚卸, 第5.2条2)."""

    KEEP = "keep"
    REVOKE = "revoke"


@dataclass(frozen=True)
class ReviewItem:
    """One grant of one person as listed in a review file (`reviews/YYYY/<reviewer>.yaml`).

    The grant is named by kind, target and role: the principal follows from the person, so
    a renamed login or a new alias does not orphan the decision. A `revoke` drops this
    entitlement from the person's desired access (the planner removes it even though their
    role grants it) for as long as the review file says so."""

    year: int
    reviewer: str  # person id
    person_id: str
    kind: GrantKind
    target: str
    role: str
    via: str = ""  # the role (or extra grant's role) that gives it, as the review listed it
    decision: ReviewDecision | None = None  # None: not decided yet
    comment: str = ""
    source: SourceRef | None = field(default=None, compare=False)

    def matches(self, person_id: str, grant: Grant) -> bool:
        return (self.person_id, self.kind, self.target, self.role) == (
            person_id,
            grant.kind,
            grant.target,
            grant.role,
        )


@dataclass(frozen=True)
class DesiredState:
    organization: Organization
    roles: Mapping[str, Role]
    people: Mapping[str, Person]
    commit: str | None = None  # git commit of the desired-state repo, when known
    reviews: tuple[ReviewItem, ...] = ()  # every grant of every access review in reviews/

    def person_by_email(self, email: str) -> Person | None:
        wanted = normalise_email(email)
        return next((p for p in self.people.values() if p.email == wanted), None)

    def person_by_login(self, login: str) -> Person | None:
        wanted = normalise_login(login)
        return next(
            (
                p
                for p in self.people.values()
                if p.github == wanted or wanted in p.previous_github_logins
            ),
            None,
        )


@dataclass(frozen=True)
class EmergencyHold:
    """A person cut off by `offboard --now --confirm` before the repo said they left.

    While it stands, every plan treats the person as departed, whatever the repo says, so the
    next run cannot hand back what the emergency took away (policy 第5.2条3). It ends by itself
    once the repo's end date covers `day` (see `reconciler.desired.holding`), or by an explicit,
    audited `reconciler hold release`.
    """

    person_id: str
    placed_at: datetime  # when the emergency offboarding ran (timezone-aware)
    day: date  # that instant's calendar day in the organisation's timezone
    run_id: str
    actor: str
    email: str | None = None  # the identities the offboarding used, for the record
    github: str | None = None


# --------------------------------------------------------------------------------------------
# Grants: one unit of access, used for both desired and actual state.
# --------------------------------------------------------------------------------------------


class GrantKind(StrEnum):
    GOOGLE_ACCOUNT = "google_account"  # target: domain; role: USER | ADMIN
    GOOGLE_GROUP = "google_group"  # target: group email; role: MEMBER | MANAGER | OWNER
    GITHUB_ORG = "github_org"  # target: org; role: member | admin
    GITHUB_TEAM = "github_team"  # target: "org/team-slug"; role: member | maintainer
    GITHUB_COLLABORATOR = "github_collaborator"  # target: org; role: outside
    GCP_BINDING = "gcp_binding"  # target: resource; role: roles/...

    @property
    def system(self) -> System:
        return _GRANT_SYSTEM[self]  # a look-up: an enum's value and constructor are slow


_GRANT_SYSTEM = {k: System(k.value.split("_", 1)[0]) for k in GrantKind}


@dataclass(frozen=True, order=True, slots=True)
class Grant:
    """One principal holding one role on one target.

    `principal` is the normalised email (Google), login (GitHub) or IAM member (GCP, as
    `normalise_member` spells it: `user:alice@example.co.jp`).
    Two grants are "the same access" when their `key` is equal; the role may then differ
    (a role change), except for GCP where a principal holds each role as its own binding.
    """

    kind: GrantKind
    target: str
    principal: str
    role: str

    @property
    def system(self) -> System:
        return self.kind.system

    @property
    def key(self) -> tuple[str, str, str, str]:
        role = self.role if self.kind is GrantKind.GCP_BINDING else ""
        return (self.kind.value, self.target, self.principal, role)

    def describe(self) -> str:
        return f"{self.kind.value} {self.target} {self.role} for {self.principal}"


# The order of `Grant`s (its dataclass order: kind, target, principal, role) as a sort key:
# sorting 100,000 grants by it builds each key once, in C, instead of two tuples per
# comparison in the generated `__lt__`. Equal keys are equal grants: the order is the same.
grant_order: Callable[[Grant], tuple[GrantKind, str, str, str]] = attrgetter(
    "kind", "target", "principal", "role"
)


class PersonStatus(StrEnum):
    NOT_STARTED = "not_started"
    ACTIVE = "active"
    DEPARTED = "departed"  # past the offboarding moment of their last day


@dataclass(frozen=True)
class Entitlement:
    """A desired grant with the reason it exists (role or approved extra grant)."""

    grant: Grant
    person_id: str
    via_role: str  # the role that yields it
    approved_by: str | None = None  # set for extra grants
    expires: date | None = None
    reason: str | None = None
    privileged: bool = False


@dataclass(frozen=True)
class PersonAccess:
    person_id: str
    status: PersonStatus
    entitlements: tuple[Entitlement, ...] = ()
    access_ends_at: datetime | None = None  # offboarding moment, when an end date is known


@dataclass(frozen=True)
class DesiredAccess:
    """What everyone should hold at one moment: the expansion of a DesiredState."""

    at: datetime  # timezone-aware
    people: Mapping[str, PersonAccess]

    def grants(self) -> frozenset[Grant]:
        return frozenset(e.grant for p in self.people.values() for e in p.entitlements)


# --------------------------------------------------------------------------------------------
# Actual state: what providers read.
# --------------------------------------------------------------------------------------------


class AccountKind(StrEnum):
    USER = "user"
    SERVICE_ACCOUNT = "service_account"
    BOT = "bot"


@dataclass(frozen=True)
class Account:
    """An identity in one system, keyed by the system's stable id."""

    system: System
    id: str  # Google user id, GitHub numeric id, service account unique id
    name: str  # normalised primary email / login
    kind: AccountKind = AccountKind.USER
    display_name: str = ""
    suspended: bool = False
    is_admin: bool = False  # Workspace super admin / GitHub org owner
    two_factor_enrolled: bool | None = None  # None: the API did not say
    two_factor_enforced: bool | None = None
    last_login: datetime | None = None
    created: datetime | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Invitation:
    """A pending or failed GitHub organisation invitation."""

    id: int
    org: str
    login: str | None  # normalised; None when invited by email
    email: str | None
    role: str  # direct_member | admin | billing_manager
    created_at: datetime
    failed_at: datetime | None = None
    failed_reason: str | None = None
    inviter: str | None = None


@dataclass(frozen=True)
class OAuthToken:
    user: str  # normalised email
    client_id: str
    display_text: str = ""
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AppPassword:
    user: str
    code_id: int
    name: str = ""


@dataclass(frozen=True)
class ServiceAccountKey:
    name: str  # projects/P/serviceAccounts/E/keys/K
    key_type: str  # USER_MANAGED | SYSTEM_MANAGED
    valid_after: datetime | None = None
    valid_before: datetime | None = None
    disabled: bool = False


@dataclass(frozen=True)
class ServiceAccount:
    email: str
    unique_id: str
    project: str
    display_name: str = ""
    disabled: bool = False
    keys: tuple[ServiceAccountKey, ...] = ()


@dataclass(frozen=True)
class Binding:
    role: str
    members: tuple[
        str, ...
    ]  # as the API spells them: user:x, group:x, serviceAccount:x, deleted:...
    condition: Mapping[str, str] | None = None  # title, expression, description


@dataclass(frozen=True)
class AuditConfig:
    service: str
    log_types: tuple[str, ...]


@dataclass(frozen=True)
class IamPolicy:
    resource: str
    etag: str  # base64, opaque: sent back on write for read-modify-write
    version: int
    bindings: tuple[Binding, ...] = ()
    audit_configs: tuple[AuditConfig, ...] = ()


@dataclass(frozen=True)
class ReadStatus:
    """Whether one system was read completely. An incomplete read forbids changes there
    (except removing a leaver's grants it did show)."""

    system: System
    complete: bool
    problems: tuple[str, ...] = ()  # plain reasons, never secrets
    api_calls: int = 0
    round_trips: int = 0


@dataclass(frozen=True)
class GitHubOrgSettings:
    org: str
    id: int
    two_factor_required: bool


class Unread(StrEnum):
    """Data a provider deliberately did not read, so no check may take its absence for "none":
    read-only credentials (RECONCILER_READ_ONLY) have no scope that lists OAuth tokens or app
    passwords (the Directory API's only scope for them, admin.directory.user.security, also
    revokes them)."""

    OAUTH_TOKENS = "OAuth tokens"
    APP_PASSWORDS = "app passwords"


@dataclass(frozen=True)
class SnapshotPart:
    """What one provider read: merged into the Snapshot."""

    system: System
    status: ReadStatus
    accounts: tuple[Account, ...] = ()
    grants: tuple[Grant, ...] = ()
    invitations: tuple[Invitation, ...] = ()
    oauth_tokens: tuple[OAuthToken, ...] = ()
    app_passwords: tuple[AppPassword, ...] = ()
    service_accounts: tuple[ServiceAccount, ...] = ()
    policies: tuple[IamPolicy, ...] = ()
    github_org: GitHubOrgSettings | None = None
    # GitHub accounts looked up by id or login for people who may be invited (not org members
    # nor collaborators): who holds a login now decides whether an invitation is safe.
    invitees: tuple[Account, ...] = ()
    # What was deliberately left unread (not a failure: the read stays complete); its
    # absence from the part means nothing.
    not_read: frozenset[Unread] = frozenset()


@dataclass(frozen=True)
class Snapshot:
    """The actual state of every system in scope, as read at `read_at`."""

    read_at: datetime
    parts: Mapping[System, SnapshotPart]

    @classmethod
    def of(cls, read_at: datetime, parts: Iterable[SnapshotPart]) -> Snapshot:
        return cls(read_at=read_at, parts={p.system: p for p in parts})

    def part(self, system: System) -> SnapshotPart | None:
        return self.parts.get(system)

    def is_complete(self, system: System) -> bool:
        part = self.parts.get(system)
        return part is not None and part.status.complete

    def not_read(self, system: System) -> frozenset[Unread]:
        """What `system`'s provider deliberately did not read (read-only credentials)."""
        part = self.parts.get(system)
        return part.not_read if part is not None else frozenset()

    @property
    def accounts(self) -> tuple[Account, ...]:
        return tuple(a for p in self._ordered() for a in p.accounts)

    @property
    def grants(self) -> tuple[Grant, ...]:
        return tuple(chain.from_iterable(p.grants for p in self._ordered()))

    @property
    def invitations(self) -> tuple[Invitation, ...]:
        return tuple(i for p in self._ordered() for i in p.invitations)

    @property
    def policies(self) -> tuple[IamPolicy, ...]:
        return tuple(x for p in self._ordered() for x in p.policies)

    def _ordered(self) -> list[SnapshotPart]:
        return [self.parts[s] for s in System if s in self.parts]

    def fingerprint(self) -> str:
        """A digest of the state the planner looks at (not read times or call counts), so a
        saved plan can prove that nothing changed since it was made.

        Every field of every value read is in it, in a canonical order (sorted rows), so it
        changes exactly when something the planner sees changes. It is built directly, row
        by row, rather than by the generic `_canonical` walk: that walk (a dict per value,
        then sorted keys in the JSON encoder) was 60% of planning 100,000 grants."""
        payload: list[Any] = [_FINGERPRINT_VERSION]
        kinds = _KIND_VALUES
        for system, p in sorted(self.parts.items()):
            payload.append(
                [
                    system.value,
                    p.status.complete,
                    # A grant is four strings: its own row, the bulk of every snapshot. The
                    # kind's value by look-up (an enum's `.value` is a Python-level property)
                    # and a plain str, so the rows hold no enum and the collector can stop
                    # tracking them.
                    sorted((kinds[g.kind], g.target, g.principal, g.role) for g in p.grants),
                    # Other rows may hold None beside a value: sorted by their JSON text.
                    *(
                        sorted(_json(_fingerprint_row(x)) for x in items)
                        for items in (
                            p.accounts,
                            p.invitations,
                            p.oauth_tokens,
                            p.app_passwords,
                            p.service_accounts,
                            p.policies,
                            p.invitees,
                        )
                    ),
                    _fingerprint_row(p.github_org) if p.github_org is not None else None,
                    # Only when something was left unread, so every other fingerprint (and
                    # every plan saved before this field existed) stays what it was.
                    *([sorted(u.value for u in p.not_read)] if p.not_read else []),
                ]
            )
        return hashlib.sha256(_json(payload).encode()).hexdigest()


# Changes when the fingerprint's layout does: a plan saved by an older layout then no longer
# matches any read, and is refused as stale instead of compared wrongly.
_FINGERPRINT_VERSION = "snapshot/2"
_ROW_FIELDS: dict[type, tuple[str, ...]] = {}
_KIND_VALUES = {k: k.value for k in GrantKind}
# What `json.dumps(value, ensure_ascii=False, separators=(",", ":"))` uses, built once:
# `dumps` with arguments builds a new encoder per call, and the fingerprint encodes a row per
# account, token and policy.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _json(value: Any) -> str:
    return _ENCODER.encode(value)


def _fingerprint_row(value: Any) -> tuple[Any, ...]:
    """A dataclass value as a tuple of plain JSON values, field by field in declaration order,
    nested values and sequences as tuples. Compared with `_canonical`: no dict per value and
    no key sorting, which is what made it slow."""
    names = _ROW_FIELDS.get(type(value))
    if names is None:
        names = _ROW_FIELDS.setdefault(type(value), tuple(value.__dataclass_fields__))
    return tuple(_fingerprint_leaf(getattr(value, name)) for name in names)


def _fingerprint_leaf(value: Any) -> Any:
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool or kind is float:
        return value
    if isinstance(value, str):  # a StrEnum: its value
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return tuple(_fingerprint_leaf(v) for v in value)
    if isinstance(value, Mapping):  # a binding's condition
        return tuple(sorted((str(k), _fingerprint_leaf(v)) for k, v in value.items()))
    if hasattr(value, "__dataclass_fields__"):
        return _fingerprint_row(value)
    raise TypeError(f"no fingerprint for {kind.__name__}")


# --------------------------------------------------------------------------------------------
# Plans: actions and findings.
# --------------------------------------------------------------------------------------------


class Phase(IntEnum):
    """Execution order of actions: a leaver's sessions are cut first (Google),
    then GitHub, then GCP; for everyone else additions come before role changes, and
    removals come last, so a transfer never leaves someone without the access they need."""

    OFFBOARD_GOOGLE = 0
    OFFBOARD_GITHUB = 1
    OFFBOARD_GCP = 2
    CREATE_ACCOUNT = 10
    ADD = 11
    CHANGE = 20
    REMOVE = 30


class ActionKind(StrEnum):
    # Google Workspace
    CREATE_ACCOUNT = "create_account"
    SUSPEND_ACCOUNT = "suspend_account"
    UNSUSPEND_ACCOUNT = "unsuspend_account"
    SIGN_OUT = "sign_out"
    REVOKE_TOKEN = "revoke_token"  # noqa: S105 - an action name, not a secret
    DELETE_APP_PASSWORD = "delete_app_password"  # noqa: S105 - an action name
    ADD_GROUP_MEMBER = "add_group_member"
    CHANGE_GROUP_ROLE = "change_group_role"
    REMOVE_GROUP_MEMBER = "remove_group_member"
    # GitHub
    INVITE_ORG_MEMBER = "invite_org_member"
    CHANGE_ORG_ROLE = "change_org_role"
    REMOVE_ORG_MEMBER = "remove_org_member"
    CANCEL_INVITATION = "cancel_invitation"
    ADD_TEAM_MEMBER = "add_team_member"
    CHANGE_TEAM_ROLE = "change_team_role"
    REMOVE_TEAM_MEMBER = "remove_team_member"
    REMOVE_OUTSIDE_COLLABORATOR = "remove_outside_collaborator"
    # GCP
    ADD_BINDING = "add_binding"
    REMOVE_BINDING = "remove_binding"

    @property
    def system(self) -> System:
        return ACTION_KINDS[self].system

    @property
    def is_removal(self) -> bool:
        return ACTION_KINDS[self].removal

    @property
    def rank(self) -> int:
        return ACTION_KINDS[self].rank

    def phase(self, offboarding: bool) -> Phase:
        """A leaver's removals run in their system's offboarding phase, before anything else;
        every other action runs in its kind's own phase."""
        rule = ACTION_KINDS[self]
        if offboarding and rule.removal:
            return _OFFBOARD_PHASE[rule.system]
        return rule.phase


@dataclass(frozen=True)
class ActionKindRule:
    """What an action kind is, in one place: the system it changes, whether it removes access
    (removal limits, incomplete reads), the phase it runs in outside an offboarding, and its
    rank, which orders kinds within a phase."""

    system: System
    removal: bool
    phase: Phase
    rank: int


_OFFBOARD_PHASE = {
    System.GOOGLE: Phase.OFFBOARD_GOOGLE,
    System.GITHUB: Phase.OFFBOARD_GITHUB,
    System.GCP: Phase.OFFBOARD_GCP,
}

# Rows run in rank order within a phase, Google before GitHub before GCP. A leaver's cuts
# follow this order: suspend first so no new sign-in can start, then end the sessions that exist
# (Admin SDK: suspending does not sign the user out, hence users.signOut), then OAuth tokens
# and app passwords, which survive both, then groups. On GitHub the org membership goes first
# (DELETE /orgs/{org}/memberships/{user} also removes team memberships and cancels a pending
# invitation), then what membership does not cover (invitations by email, outside
# collaborator access), and team memberships last. Additions: an org invitation before team
# memberships, which need an org member.
# kind: (system, removes access, phase outside an offboarding, rank)
ACTION_KINDS: Mapping[ActionKind, ActionKindRule] = {
    ActionKind.CREATE_ACCOUNT: ActionKindRule(System.GOOGLE, False, Phase.CREATE_ACCOUNT, 0),
    ActionKind.UNSUSPEND_ACCOUNT: ActionKindRule(System.GOOGLE, False, Phase.CREATE_ACCOUNT, 1),
    ActionKind.SUSPEND_ACCOUNT: ActionKindRule(System.GOOGLE, True, Phase.REMOVE, 2),
    ActionKind.SIGN_OUT: ActionKindRule(System.GOOGLE, True, Phase.REMOVE, 3),
    ActionKind.REVOKE_TOKEN: ActionKindRule(System.GOOGLE, True, Phase.REMOVE, 4),
    ActionKind.DELETE_APP_PASSWORD: ActionKindRule(System.GOOGLE, True, Phase.REMOVE, 5),
    ActionKind.ADD_GROUP_MEMBER: ActionKindRule(System.GOOGLE, False, Phase.ADD, 6),
    ActionKind.CHANGE_GROUP_ROLE: ActionKindRule(System.GOOGLE, False, Phase.CHANGE, 7),
    ActionKind.REMOVE_GROUP_MEMBER: ActionKindRule(System.GOOGLE, True, Phase.REMOVE, 8),
    ActionKind.INVITE_ORG_MEMBER: ActionKindRule(System.GITHUB, False, Phase.ADD, 10),
    ActionKind.CHANGE_ORG_ROLE: ActionKindRule(System.GITHUB, False, Phase.CHANGE, 11),
    ActionKind.REMOVE_ORG_MEMBER: ActionKindRule(System.GITHUB, True, Phase.REMOVE, 12),
    ActionKind.CANCEL_INVITATION: ActionKindRule(System.GITHUB, True, Phase.REMOVE, 13),
    ActionKind.REMOVE_OUTSIDE_COLLABORATOR: ActionKindRule(System.GITHUB, True, Phase.REMOVE, 14),
    ActionKind.ADD_TEAM_MEMBER: ActionKindRule(System.GITHUB, False, Phase.ADD, 15),
    ActionKind.CHANGE_TEAM_ROLE: ActionKindRule(System.GITHUB, False, Phase.CHANGE, 16),
    ActionKind.REMOVE_TEAM_MEMBER: ActionKindRule(System.GITHUB, True, Phase.REMOVE, 17),
    ActionKind.ADD_BINDING: ActionKindRule(System.GCP, False, Phase.ADD, 20),
    ActionKind.REMOVE_BINDING: ActionKindRule(System.GCP, True, Phase.REMOVE, 21),
}


@dataclass(frozen=True, order=True)
class Action:
    """One idempotent change to one system.

    `phase` is `kind.phase(offboarding)` (offboarding session cuts first, then additions
    before removals so a transfer never leaves someone with nothing in between); it is kept
    in the saved plan for readers, but the order is `action_order_key`, from the kind.
    `params` carries the extra arguments an API call needs (old role, token client id,
    invitation id, ...) as strings so the action serialises to JSON unchanged.
    """

    phase: int
    system: System
    kind: ActionKind
    target: str
    principal: str
    role: str = ""
    person_id: str | None = None
    offboarding: bool = False
    reason: str = ""
    params: tuple[tuple[str, str], ...] = ()

    @property
    def is_removal(self) -> bool:
        return self.kind.is_removal

    def param(self, name: str, default: str = "") -> str:
        return dict(self.params).get(name, default)

    @property
    def identity(self) -> tuple[str, str, str, str, str, tuple[tuple[str, str], ...]]:
        """What makes two actions the same change (everything but the phase, the person,
        the reason): `id` is its digest; the planner de-duplicates by it directly."""
        return (self.system, self.kind, self.target, self.principal, self.role, self.params)

    @property
    def id(self) -> str:
        """Stable identity of the change, for the audit log and idempotent re-runs."""
        system, kind, target, principal, role, params = self.identity
        return sha256_json([system, kind, target, principal, role, list(params)])[:16]

    def describe(self) -> str:
        role = f" ({self.role})" if self.role else ""
        return f"{self.kind.value} {self.principal} on {self.target}{role}"


OrderKey = tuple[int, int, str, str, str, tuple[tuple[str, str], ...]]


def action_order_key(action: Action) -> OrderKey:
    """The one order of actions: the planner sorts a plan by it and the executor runs in it.
    Phase and rank come from the kind (`ACTION_KINDS`) and whether it is an offboarding, not
    from the stored `phase`, so no field of a saved plan can move an action; target,
    principal, role and params make the order total and deterministic."""
    return (
        int(action.kind.phase(action.offboarding)),
        action.kind.rank,
        action.target,
        action.principal,
        action.role,
        action.params,
    )


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for the most severe; a look-up, since findings are sorted by it by the ten
        thousand."""
        return SEVERITY_RANK[self]


# Severity.rank as a mapping, for sort keys: a property of an enum member is a slow look-up.
SEVERITY_RANK: Mapping[Severity, int] = {s: n for n, s in enumerate(Severity)}


# A value a Message fills in: an identifier or number (shown as written), an instant (named
# `*_at`) or a day (named `*_on`), shown in the reader's language and the organisation's
# timezone, or other messages (a list is joined the reader's way).
MessageParam: TypeAlias = "str | int | date | datetime | Message | tuple[Message, ...]"


@dataclass(frozen=True)
class Message:
    """Words for people that each output renders in its reader's language: an English gettext
    msgid with named `%(name)s` placeholders and the values that fill them. The checks and the
    planner, which know no language, build these with `msg(...)`; `reports.i18n` renders them
    (Japanese or English, dates in the organisation's timezone); `str()` is the plain English
    (ISO dates) that logs, the audit log and `Finding.message` keep.

    The msgid is the gettext key: `make messages` extracts the literal of every `msg` call into the
    catalogues, and a test fails while one has no Japanese translation."""

    msgid: str
    params: tuple[tuple[str, MessageParam], ...] = ()

    def __str__(self) -> str:
        return self.render(lambda words: words, lambda moment: moment.isoformat(), ", ")

    def render(
        self,
        gettext: Callable[[str], str],
        moment: Callable[[date], str],
        separator: str,
    ) -> str:
        """The message through `gettext`, each day or instant worded by `moment`, each list of
        messages joined by `separator`."""

        def value(param: MessageParam) -> str | int:
            if isinstance(param, Message):
                return param.render(gettext, moment, separator)
            if isinstance(param, tuple):
                return separator.join(str(value(p)) for p in param)
            if isinstance(param, date):
                return moment(param)
            return param

        return gettext(self.msgid) % {name: value(p) for name, p in self.params}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        """A message as `to_jsonable` wrote it (a saved plan): days and instants come back by
        their names (`*_on`, `*_at`), nested messages by their shape."""
        params = tuple((str(k), _param_from_json(str(k), v)) for k, v in data["params"])
        return cls(str(data["msgid"]), params)


def _param_from_json(name: str, value: Any) -> MessageParam:
    if isinstance(value, Mapping):
        return Message.from_json(value)
    if isinstance(value, list):
        return tuple(Message.from_json(v) for v in value)
    if isinstance(value, str) and name.endswith("_at"):
        return datetime.fromisoformat(value)
    if isinstance(value, str) and name.endswith("_on"):
        return date.fromisoformat(value)
    if isinstance(value, int | str):
        return value
    raise ValueError(f"message parameter {name!r}: {value!r} is not a message value")


def verbatim(words: str) -> Message:
    """Words that have no message of their own (a hand-made plan's note), shown as they are in
    every language."""
    return Message("%(words)s", (("words", words),))


def msg(msgid: str, /, **params: MessageParam) -> Message:
    """A message with its values by name (the form `make messages` extracts). An instant must
    be named `*_at` and a day `*_on`, so a saved plan reads them back as what they were."""
    for name, value in params.items():
        if isinstance(value, datetime) != name.endswith("_at") or (
            isinstance(value, date) and not isinstance(value, datetime)
        ) != name.endswith("_on"):
            raise ValueError(f"message parameter {name!r}: instants end in _at, days in _on")
    return Message(msgid, tuple(sorted(params.items())))


def reason_words(words: str) -> str:
    """A fixed action reason ("granted by the person's roles"), returned as it is: an action
    keeps its English reason (the audit log, saved plans), and this marks the words for
    `make messages`, so a report shows them in its language (`Language.gettext(reason)`).
    Reasons made with values stay English."""
    return words


@dataclass(frozen=True)
class Finding:
    """A policy observation; each cites the policy article it serves."""

    code: str  # e.g. "leaver-has-access", "unmanaged-account"
    severity: Severity
    article: str  # e.g. "第5.2条3"
    system: System | None
    subject: str  # the account, grant or resource concerned
    message: str  # the English words (str(text) when the check gave a Message)
    person_id: str | None = None
    text: Message | None = None  # the words for each reader's language (`reports.i18n`)

    @property
    def words(self) -> Message:
        """`text`, or `message` as it is for a finding made without one."""
        return self.text if self.text is not None else verbatim(self.message)


class NoteKind(StrEnum):
    """What a planner note means for the run (a value, so callers never match on wording)."""

    HELD_BACK = "held-back"  # a change the repo asks for was not planned (incomplete read, rule)
    KEPT = "kept"  # access a leaver or the repo says should go is kept by a safety rule
    NOT_READ = "not-read"  # a system in scope was not read: nothing is planned for it
    UNTOUCHED = "untouched"  # a protected or non-human account was left alone (steady state)
    WAITING = "waiting"  # waits for something outside the run (an invitation's acceptance)
    ADVICE = "advice"  # something for a human to fix in the repo; nothing is held back
    # Data deliberately not read (read-only credentials): the plan claims nothing about it,
    # and nothing is held back, since a read-only run changes nothing anyway.
    UNREAD = "unread"

    @property
    def partial(self) -> bool:
        """True when a run with this note did less than the repo asks: its exit code says so."""
        return self in _PARTIAL_NOTES


_PARTIAL_NOTES = frozenset({NoteKind.HELD_BACK, NoteKind.KEPT, NoteKind.NOT_READ})


@dataclass(frozen=True)
class Note:
    """Something the planner deliberately did not do, and why; printed with the plan."""

    kind: NoteKind
    message: str
    person_id: str | None = None  # whom it concerns, when it concerns one person
    system: System | None = None
    principal: str | None = None  # the account it concerns (an email, login or IAM member)
    text: Message | None = None  # `message` for each reader's language (`reports.i18n`)

    def __str__(self) -> str:
        return self.message

    @property
    def words(self) -> Message:
        """`text`, or `message` as it is for a note made without one (a hand-made plan)."""
        return self.text if self.text is not None else verbatim(self.message)

    def concerns(self, person: Person) -> bool:
        """True when the note is about `person`: by id, or by one of their identities."""
        if self.person_id is not None:
            return self.person_id == person.id
        names = {person.email, *([person.github] if person.github else [])}
        return self.principal is not None and member_identity(self.principal) in names


@dataclass(frozen=True)
class Plan:
    """The reviewable difference between desired and actual state: a value with a checksum."""

    made_at: datetime
    actions: tuple[Action, ...]
    findings: tuple[Finding, ...]
    state_fingerprint: str
    desired_commit: str | None = None
    incomplete_systems: tuple[System, ...] = ()
    notes: tuple[Note, ...] = ()  # what the planner deliberately did not do, and why
    # (system, count) for each system whose changes were held back because its read was
    # incomplete: the CLI's exit code must not say "nothing to do" while changes wait there.
    held_back: tuple[tuple[System, int], ...] = ()

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    @property
    def partial_notes(self) -> tuple[Note, ...]:
        """The notes that make applying this plan a partial run (held back, kept, not read)."""
        return tuple(n for n in self.notes if n.kind.partial)

    @property
    def held_back_total(self) -> int:
        """How many changes an incomplete read held back, over all systems."""
        return sum(n for _, n in self.held_back)

    def content(self) -> dict[str, Any]:
        return {
            "made_at": self.made_at.isoformat(),
            "desired_commit": self.desired_commit,
            "state_fingerprint": self.state_fingerprint,
            "incomplete_systems": [s.value for s in self.incomplete_systems],
            "actions": [_canonical(a) for a in self.actions],
            "findings": [_canonical(f) for f in self.findings],
            "notes": [_canonical(n) for n in self.notes],
            "held_back": {s.value: n for s, n in self.held_back},
        }

    @property
    def checksum(self) -> str:
        return sha256_json(self.content())


# --------------------------------------------------------------------------------------------
# Canonical JSON, used for checksums and fingerprints.
# --------------------------------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {k: _canonical(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_canonical(v) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, set | frozenset) else items
    return value


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums and dates as plain JSON values."""
    return _canonical(value)


def sha256_json(value: Any) -> str:
    data = json.dumps(_canonical(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()
