"""What every per-system planner reads (`PlanContext`) and writes (`Candidates`); used only
inside `reconciler.planning`."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from reconciler.model import (
    Action,
    ActionKind,
    Entitlement,
    Grant,
    GrantKind,
    Message,
    Note,
    NoteKind,
    Person,
    PersonStatus,
    SnapshotPart,
    System,
    reason_words,
)
from reconciler.views import StateViews, status_of


@dataclass(frozen=True)
class PlanContext(StateViews):
    """The views as the planners read them; `changes` passes the same object to the policy
    checks, so identities and the snapshot index are built once per plan."""

    def people(self) -> Iterator[tuple[Person, PersonStatus]]:
        """Everyone in the repo, in id order, with their status at `now`."""
        for person in self.everyone:
            yield person, status_of(self.access, person.id)

    def entitlements(self, person_id: str, kind: GrantKind) -> tuple[Entitlement, ...]:
        """The person's entitlements of `kind`, sorted by grant."""
        return self.entitled.of_person(person_id, kind)

    def part(self, system: System) -> SnapshotPart | None:
        return self.snapshot.part(system)

    def held(self, kind: GrantKind, principals: Iterable[str]) -> list[Grant]:
        return self.index.held(kind, principals)


@dataclass
class Candidates:
    """Actions proposed by the per-system planners, before the guards in `changes` filter
    them, plus plain notes about what was deliberately not done and why."""

    actions: list[Action] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    # The notes already added, so a repeated note is dropped with a set look-up: at 10,000
    # people a scan of the list per note made planning quadratic (12 s of a 14 s GitHub plan).
    _noted: set[Note] = field(default_factory=set, repr=False)

    def add(
        self,
        kind: ActionKind,
        target: str,
        principal: str,
        role: str = "",
        *,
        person_id: str | None = None,
        offboarding: bool = False,
        reason: str = "",
        params: Mapping[str, str] | None = None,
    ) -> None:
        # Phase and system follow from the kind (model.ACTION_KINDS): a planner cannot put
        # an action in a phase the executor would run at another moment.
        self.actions.append(
            Action(
                phase=int(kind.phase(offboarding)),
                system=kind.system,
                kind=kind,
                target=target,
                principal=principal,
                role=role,
                person_id=person_id,
                offboarding=offboarding,
                reason=reason,
                params=tuple(sorted((params or {}).items())),
            )
        )

    def note(
        self,
        kind: NoteKind,
        text: Message,
        *,
        person_id: str | None = None,
        system: System | None = None,
        principal: str | None = None,
    ) -> None:
        """`text` is the note's words (`msg(...)`), worded in the reader's language when the
        plan is shown; `Note.message` keeps their English."""
        note = Note(
            kind, str(text), person_id=person_id, system=system, principal=principal, text=text
        )
        if note not in self._noted:
            self._noted.add(note)
            self.notes.append(note)

    def add_membership_changes(
        self,
        person_id: str,
        wanted: Mapping[str, str],
        held: Mapping[str, Grant],
        *,
        principal: str,
        managed: Collection[str],
        kinds: tuple[ActionKind, ActionKind, ActionKind],
        role_label: str,
    ) -> None:
        """One person's memberships of groups or teams (`wanted` and `held`, by target):
        add what is missing as `principal`, correct a differing role, and remove what is no
        longer wanted, but only from `managed` targets (the others are reported, not
        changed). `kinds` are the (add, change, remove) action kinds."""
        add, change, remove = kinds
        for target, role in sorted(wanted.items()):
            have = held.get(target)
            if have is None:
                self.add(
                    add,
                    target,
                    principal,
                    role,
                    person_id=person_id,
                    reason=reason_words("granted by the person's roles"),
                )
            elif have.role != role:
                self.add(
                    change,
                    target,
                    have.principal,
                    role,
                    person_id=person_id,
                    reason=f"{role_label} in the repo is {role}",
                    params={"old_role": have.role},
                )
        for target, have in sorted(held.items()):
            if target not in wanted and target in managed:
                self.add(
                    remove,
                    target,
                    have.principal,
                    have.role,
                    person_id=person_id,
                    reason=reason_words("no longer granted by the person's roles"),
                )
