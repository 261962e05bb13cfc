"""The yearly access inventory (棚卸, policy 第5.2条2) as a value: every account and grant in
every system at one instant, each matched to a person or marked unmanaged, orphaned, external,
protected or non-human, with where its access comes from; built by `build_inventory` for
`reconciler inventory`, rendered by `reports.inventory_files`.

Pure: the snapshot, "now", the git provenance of the repo's lines and the audit records of
revocations are parameters. The shell runs `git blame` and reads the audit log; the matching
of principals to people is `views.Identities`, the effective GCP access `views
.effective_bindings`, so the inventory cannot disagree with the plan about who is who.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime

from reconciler.desired.expanding import EMPLOYMENT
from reconciler.desired.reviewing import items_of_year
from reconciler.model import (
    Account,
    DesiredAccess,
    DesiredState,
    Entitlement,
    GrantKind,
    Message,
    NonHumanAccount,
    Person,
    PersonStatus,
    ReviewDecision,
    ReviewItem,
    Snapshot,
    SourceRef,
    System,
    member_identity,
    msg,
    normalise_login,
)
from reconciler.policy.people import training_overdue
from reconciler.policy.privilege import privileged_gcp_roles
from reconciler.views import StateViews, in_domains, status_of


@dataclass(frozen=True)
class Provenance:
    """The commit that last changed one line of the repo (`git blame --porcelain`)."""

    commit: str
    author: str
    date: str  # ISO 8601 day of the commit's author time


@dataclass(frozen=True)
class Carried:
    """The audit record that carried out a review's revocation (the removal's result)."""

    run_id: str
    seq: int

    def __str__(self) -> str:
        return f"{self.run_id} #{self.seq}"


# Who a principal is, in the inventory's words.
ACTIVE, NOT_STARTED, ORPHANED = "active", "not-started", "orphaned"
UNMANAGED, EXTERNAL, NON_HUMAN, PROTECTED, GROUP = (
    "unmanaged",
    "external",
    "non-human",
    "protected",
    "group",
)


@dataclass(frozen=True)
class InventoryRow:
    """One account or one grant in one system."""

    system: System
    kind: str  # account, group, org, team, collaborator, binding, service-account
    target: str
    principal: str
    role: str
    status: str  # active | not-started | orphaned | unmanaged | external | non-human | ...
    person_id: str = ""
    person_name: str = ""
    owner: str = ""  # the accountable person of a non-human account
    via: str = ""  # the group path of GCP access through groups ("directly" otherwise)
    source: str = ""  # the role or extra grant that gives it; "" when the repo does not
    approver: str = ""
    approved_on: str = ""
    expires: str = ""
    two_factor: str = ""  # yes | no | "" (not said by the API / not an account)
    last_login: str = ""
    privileged: bool = False
    commit: str = ""  # last commit that changed the line granting it
    author: str = ""
    decision: str = ""  # keep | revoke | pending | "" (not in this year's review)
    note: Message | None = None  # words for the reader, in the inventory's language


@dataclass(frozen=True)
class PersonRow:
    """One person of the repo with their compliance attributes (NDA 第6.1条, training 第11.1条)."""

    id: str
    name: str
    email: str
    github: str
    type: str
    department: str
    title: str
    start: str
    end: str
    status: str
    manager: str
    nda: str
    training: str
    training_overdue: bool


@dataclass(frozen=True)
class ReviewRow:
    """One grant of this year's access review, its decision, and for a revocation whether
    it has been carried out and by which audit record."""

    reviewer: str
    person_id: str
    system: System
    kind: str
    target: str
    role: str
    decision: str  # keep | revoke | pending
    comment: str
    file: str  # file:line of the decision
    # For a revoke: "run-id #seq" of the audit record, "" while still held, or a message
    # when the grant is gone without a record.
    done: str | Message


@dataclass(frozen=True)
class Inventory:
    year: int
    made_at: datetime
    organization: str
    timezone: str  # the organisation's: how the files word an instant or a day
    state_fingerprint: str
    desired_commit: str | None
    incomplete: tuple[System, ...]
    rows: tuple[InventoryRow, ...]
    people: tuple[PersonRow, ...]
    reviews: tuple[ReviewRow, ...]

    def of(self, system: System) -> tuple[InventoryRow, ...]:
        return tuple(r for r in self.rows if r.system is system)

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)


_KIND_WORD = {
    GrantKind.GOOGLE_ACCOUNT: "account",
    GrantKind.GOOGLE_GROUP: "group",
    GrantKind.GITHUB_ORG: "org",
    GrantKind.GITHUB_TEAM: "team",
    GrantKind.GITHUB_COLLABORATOR: "collaborator",
    GrantKind.GCP_BINDING: "binding",
}


def build_inventory(
    desired: DesiredState,
    access: DesiredAccess,
    snapshot: Snapshot,
    now: datetime,
    *,
    year: int,
    provenance: Mapping[tuple[str, int], Provenance],
    carried: Mapping[str, Carried],
) -> Inventory:
    """The inventory at `now` (`access` is the expansion at `now`). `provenance` maps
    (file, line) of the repo to the commit that last changed it; `carried` maps a review
    decision's `file:line` to the audit record of the removal it caused."""
    views = StateViews.of(desired, access, snapshot, now)
    builder = _Builder(views, year, provenance)
    rows = [*builder.google(), *builder.github(), *builder.gcp()]
    today = access.at.date()
    people = tuple(_person_row(desired, access, p, today) for p in desired.people.values())
    reviews = tuple(
        _review_row(item, carried, builder.held_now)
        for item in sorted(items_of_year(desired.reviews, year), key=_review_order)
    )
    return Inventory(
        year=year,
        made_at=now,
        organization=desired.organization.name,
        timezone=desired.organization.timezone,
        state_fingerprint=snapshot.fingerprint(),
        desired_commit=desired.commit,
        incomplete=tuple(s for s in snapshot.parts if not snapshot.is_complete(s)),
        rows=tuple(rows),
        people=people,
        reviews=reviews,
    )


def _review_order(item: ReviewItem) -> tuple[str, str, str, str, str]:
    return (item.reviewer, item.person_id, item.kind.value, item.target, item.role)


class _Builder:
    """Matches each account and grant of the snapshot to the repo."""

    def __init__(
        self, views: StateViews, year: int, provenance: Mapping[tuple[str, int], Provenance]
    ) -> None:
        self.v = views
        self.provenance = provenance
        self.domains = views.desired.organization.domains
        self.non_human = {
            member_identity(n.identity): n for n in views.desired.organization.non_human_accounts
        }
        self.decisions = {
            (i.person_id, i.kind, i.target, i.role): i
            for i in items_of_year(views.desired.reviews, year)
        }
        self.privileged_roles = privileged_gcp_roles(views.desired)
        # A group listed as a member of another group (nested): a group, not a stranger.
        self.groups = {g.target.lower() for g in views.grants(GrantKind.GOOGLE_GROUP)}
        # (person, kind, target, role) of every grant held now: a revocation is done when
        # its grant is no longer among them.
        self.held_now: set[tuple[str, GrantKind, str, str]] = set()

    # -- who ----------------------------------------------------------------------------

    def _who(self, system: System, principal: str) -> tuple[str, str, str]:
        """(status, person id, owner) of a principal."""
        identity = member_identity(principal)
        nh: NonHumanAccount | None = self.non_human.get(identity)
        if nh is not None:
            return NON_HUMAN, "", nh.owner
        if self.v.untouchables.is_protected(principal):
            return PROTECTED, "", ""
        ids = self.v.ids
        if system is System.GOOGLE and identity in self.groups:
            return GROUP, "", ""
        if system is System.GOOGLE:
            pid = ids.person_of_email(principal)
        elif system is System.GITHUB:
            pid = ids.person_of_login(principal)
        else:
            pid = ids.person_of_member(principal)
            if principal.startswith("group:"):
                return GROUP, "", ""
        if pid is not None:
            status = status_of(self.v.access, pid)
            word = {PersonStatus.DEPARTED: ORPHANED, PersonStatus.NOT_STARTED: NOT_STARTED}
            return word.get(status, ACTIVE), pid, ""
        if "@" in identity and not in_domains(identity, self.domains):
            return EXTERNAL, "", ""
        if principal.startswith(("serviceAccount:", "domain:", "deleted:", "all")):
            return (NON_HUMAN if principal.startswith("serviceAccount:") else EXTERNAL), "", ""
        return UNMANAGED, "", ""

    # -- where it comes from ------------------------------------------------------------

    def _entitlement(self, pid: str, kind: GrantKind, target: str, role: str) -> Entitlement | None:
        entry = self.v.access.people.get(pid)
        for ent in entry.entitlements if entry else ():
            g = ent.grant
            if g.kind is kind and g.target.lower() == target.lower() and g.role == role:
                return ent
        return None

    def _line_of(self, person: Person, ent: Entitlement) -> SourceRef | None:
        if ent.via_role == EMPLOYMENT:
            return person.source
        if ent.approved_by:
            extra = next((g for g in person.grants if g.role == ent.via_role), None)
            return extra.source if extra else None
        return person.role_source(ent.via_role)

    def _row(
        self,
        system: System,
        kind: GrantKind | str,
        target: str,
        principal: str,
        role: str,
        *,
        account: Account | None = None,
        via: str = "",
        privileged: bool = False,
        note: Message | None = None,
    ) -> InventoryRow:
        status, pid, owner = self._who(system, principal)
        person = self.v.desired.people.get(pid) if pid else None
        grant_kind = kind if isinstance(kind, GrantKind) else None
        ent = self._entitlement(pid, grant_kind, target, role) if pid and grant_kind else None
        if pid and grant_kind and not via:
            self.held_now.add((pid, grant_kind, target, role))
        fields: dict[str, str] = {}
        if ent is not None and person is not None:
            extra = bool(ent.approved_by)
            fields["source"] = f"grant: {ent.via_role}" if extra else ent.via_role
            approval = next((g for g in person.grants if g.role == ent.via_role), None)
            if extra and approval is not None:
                fields["approver"] = approval.approved_by
                fields["approved_on"] = _day(approval.approved_on)
                fields["expires"] = _day(approval.expires)
            ref = self._line_of(person, ent)
            found = self.provenance.get((ref.file, ref.line)) if ref else None
            if found is not None:
                fields["commit"], fields["author"] = found.commit, found.author
            privileged = privileged or ent.privileged
        elif pid and status == ACTIVE and not via:
            note = note or msg("not granted by the repo")
        if pid and grant_kind is not None and not via:
            item = self.decisions.get((pid, grant_kind, target, role))
            if item is not None:
                fields["decision"] = item.decision.value if item.decision else "pending"
        return InventoryRow(
            system=system,
            kind=_KIND_WORD[kind] if isinstance(kind, GrantKind) else kind,
            target=target,
            principal=principal,
            role=role,
            status=status,
            person_id=pid,
            person_name=person.name if person else "",
            owner=owner,
            via=via,
            two_factor=_yes_no(account.two_factor_enrolled) if account else "",
            last_login=account.last_login.isoformat() if account and account.last_login else "",
            privileged=privileged,
            note=note,
            **fields,
        )

    # -- the systems ----------------------------------------------------------------------

    def google(self) -> list[InventoryRow]:
        part = self.v.snapshot.part(System.GOOGLE)
        if part is None:
            return []
        scope = self.v.desired.organization.systems.google
        domain = scope.domain if scope else ""
        by_email = {a.name: a for a in part.accounts}
        rows = [
            self._row(
                System.GOOGLE,
                GrantKind.GOOGLE_ACCOUNT,
                domain,
                a.name,
                "ADMIN" if a.is_admin else "USER",
                account=a,
                privileged=a.is_admin,
                note=msg("suspended") if a.suspended else None,
            )
            for a in sorted(part.accounts, key=lambda a: a.name)
        ]
        for g in self.v.grants(GrantKind.GOOGLE_GROUP):
            rows.append(
                self._row(
                    System.GOOGLE,
                    g.kind,
                    g.target,
                    g.principal,
                    g.role,
                    account=by_email.get(g.principal),
                )
            )
        return rows

    def github(self) -> list[InventoryRow]:
        part = self.v.snapshot.part(System.GITHUB)
        if part is None:
            return []
        by_login = {normalise_login(a.name): a for a in part.accounts}
        rows = []
        for kind in (GrantKind.GITHUB_ORG, GrantKind.GITHUB_TEAM, GrantKind.GITHUB_COLLABORATOR):
            for g in self.v.grants(kind):
                row = self._row(
                    System.GITHUB,
                    g.kind,
                    g.target,
                    g.principal,
                    g.role,
                    account=by_login.get(g.principal),
                    privileged=kind is GrantKind.GITHUB_ORG and g.role == "admin",
                )
                if kind is GrantKind.GITHUB_COLLABORATOR and row.status == UNMANAGED:
                    row = replace(row, status=EXTERNAL)  # an outside collaborator
                rows.append(row)
        return rows

    def gcp(self) -> list[InventoryRow]:
        part = self.v.snapshot.part(System.GCP)
        if part is None:
            return []
        rows = []
        for e in self.v.index.effective:
            condition = (
                msg("conditional: %(condition)s", condition=e.condition) if e.condition else None
            )
            rows.append(
                self._row(
                    System.GCP,
                    GrantKind.GCP_BINDING,
                    e.resource,
                    e.member,
                    e.role,
                    via=" > ".join(e.via) if e.via else "",
                    privileged=e.role in self.privileged_roles,
                    note=condition,
                )
            )
        for sa in sorted(part.service_accounts, key=lambda s: s.email):
            keys = sum(1 for k in sa.keys if k.key_type == "USER_MANAGED" and not k.disabled)
            row = self._row(
                System.GCP,
                "service-account",
                sa.project,
                f"serviceAccount:{sa.email}",
                "",
                note=msg("disabled; %(keys)s user-managed key(s)", keys=keys)
                if sa.disabled
                else msg("%(keys)s user-managed key(s)", keys=keys),
            )
            rows.append(row)
        return rows


def _person_row(desired: DesiredState, access: DesiredAccess, p: Person, today: date) -> PersonRow:
    status = status_of(access, p.id)
    return PersonRow(
        id=p.id,
        name=p.name,
        email=p.email,
        github=p.github or "",
        type=p.employment.type.value,
        department=p.department or "",
        title=p.title or "",
        start=_day(p.employment.start),
        end=_day(p.employment.end),
        status=status.value,
        manager=p.manager or "",
        nda=_day(p.employment.nda),
        training=_day(p.training),
        training_overdue=status is PersonStatus.ACTIVE and training_overdue(p, today),
    )


def _review_row(
    item: ReviewItem,
    carried: Mapping[str, Carried],
    held_now: set[tuple[str, GrantKind, str, str]],
) -> ReviewRow:
    where = f"{item.source.file}:{item.source.line}" if item.source else ""
    done: str | Message = ""
    if item.decision is ReviewDecision.REVOKE:
        record = carried.get(where)
        still = (item.person_id, item.kind, item.target, item.role) in held_now
        done = str(record) if record is not None else ("" if still else msg("not held"))
    return ReviewRow(
        reviewer=item.reviewer,
        person_id=item.person_id,
        system=item.kind.system,
        kind=_KIND_WORD[item.kind],
        target=item.target,
        role=item.role,
        decision=item.decision.value if item.decision else "pending",
        comment=item.comment,
        file=where,
        done=done,
    )


def _day(value: date | None) -> str:
    return value.isoformat() if value else ""


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")
