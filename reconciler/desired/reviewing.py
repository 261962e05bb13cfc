"""The yearly access review (棚卸, policy 第5.2条2) as pure functions: who reviews which grant,
the review files `reconciler review start` writes, how complete a year's review is (`review
status`), and the checks `validate` runs on the files (`loading` calls `review_problems`).

A review file is `reviews/YYYY/<reviewer-id>.yaml`: one item per grant with `decision: keep |
revoke` left empty for the reviewer. A `revoke` is carried out by the planner: the expansion
(`expanding.revocations`) drops the entitlement, so the next plan removes it, citing the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler.desired.expanding import EMPLOYMENT, repo_grants
from reconciler.desired.layout import review_file
from reconciler.desired.problems import DesiredStateError
from reconciler.model import (
    DesiredAccess,
    DesiredState,
    Entitlement,
    Person,
    PersonStatus,
    ReviewItem,
    System,
)


def review_problems(state: DesiredState) -> list[DesiredStateError]:
    """Every review item that names a grant the person's roles and extra grants do not give
    (a typo, or a role since removed), and every grant listed twice for one year."""
    problems: list[DesiredStateError] = []
    given: dict[str, set[tuple[str, str, str]]] = {}
    seen: dict[tuple[int, str, str, str, str], str] = {}
    for item in state.reviews:
        person = state.people.get(item.person_id)
        where = item.source
        file, line, column = (where.file, where.line, where.column) if where else ("", 1, 1)
        if person is None:
            continue  # reported by the file checks
        if person.id not in given:
            given[person.id] = {
                (g.kind.value, g.target, g.role) for g, _, _ in repo_grants(state, person)
            }
        wanted = (item.kind.value, item.target, item.role)
        if wanted not in given[person.id]:
            problems.append(
                DesiredStateError(
                    file,
                    line,
                    column,
                    "",
                    f"unknown grant: no role or grant of {person.id} gives {item.kind.value} "
                    f"{item.target} {item.role}",
                )
            )
        key = (item.year, item.person_id, *wanted)
        first = seen.setdefault(key, f"{file}:{line}")
        if first != f"{file}:{line}":
            problems.append(
                DesiredStateError(
                    file,
                    line,
                    column,
                    "",
                    f"{person.id}'s {item.kind.value} {item.target} {item.role} is already "
                    f"reviewed in {first}",
                )
            )
    return problems


class NoReviewer(ValueError):
    """A grant nobody but its holder could review (set `chief_officer` or a manager)."""


def reviewer_of(state: DesiredState, person: Person, ent: Entitlement) -> str:
    """Who decides on `ent`: the security officer for a privileged grant; otherwise the
    person's manager, else the role's owner, else the security officer. Never the holder:
    the next in line takes it, and the chief officer reviews the security officer's own."""
    org = state.organization
    role = state.roles.get(ent.via_role)
    candidates: list[str | None] = [org.security_officer]
    if not ent.privileged:
        candidates = [person.manager, role.owner if role else None, org.security_officer]
    candidates.append(org.chief_officer)
    for who in candidates:
        if who is not None and who != person.id and who in state.people:
            return who
    raise NoReviewer(
        f"nobody but {person.id} can review their {ent.grant.kind.value} {ent.grant.target}: "
        "set chief_officer in organization.yaml or a manager in their file"
    )


def reviewable(access: DesiredAccess) -> Iterable[Entitlement]:
    """The entitlements a review covers: every role and extra grant of every active person.
    The Workspace account itself (`employment`) is not a grant: it ends with employment."""
    for entry in sorted(access.people.values(), key=lambda p: p.person_id):
        if entry.status is not PersonStatus.ACTIVE:
            continue
        for ent in entry.entitlements:
            if ent.via_role != EMPLOYMENT:
                yield ent


def review_files(state: DesiredState, access: DesiredAccess, year: int) -> dict[str, str]:
    """{path: YAML text} of every reviewer's file for `year`, from `access` (the expansion
    at the start of the review). Raises NoReviewer when a grant has nobody to review it."""
    by_reviewer: dict[str, list[Entitlement]] = {}
    for ent in reviewable(access):
        person = state.people[ent.person_id]
        by_reviewer.setdefault(reviewer_of(state, person, ent), []).append(ent)
    return {
        review_file(year, reviewer): _render(state, year, reviewer, ents)
        for reviewer, ents in sorted(by_reviewer.items())
    }


def _render(state: DesiredState, year: int, reviewer: str, ents: list[Entitlement]) -> str:
    """The file as YAML with every string JSON-quoted (valid YAML, no surprises from names)."""
    name = state.people[reviewer].name
    lines = [
        "# yaml-language-server: $schema=../../schema.json",
        f"# Access review {year} (棚卸, policy 第5.2条2) for {reviewer} ({name}).",
        "# For every grant write decision: keep or decision: revoke, and a comment when useful.",
        "# A revoke removes the grant at the next apply, even though the role gives it.",
        f"year: {year}",
        f"reviewer: {reviewer}",
        "grants:",
    ]
    for ent in sorted(ents, key=lambda e: (e.person_id, e.grant)):
        person = state.people[ent.person_id]
        lines += [
            f"  - person: {ent.person_id}  # {person.name}",
            f"    kind: {ent.grant.kind.value}",
            f"    target: {json.dumps(ent.grant.target)}",
            f"    role: {json.dumps(ent.grant.role)}",
            f"    via: {json.dumps(ent.via_role)}",
            f"    privileged: {'true' if ent.privileged else 'false'}",
            "    decision:  # keep | revoke",
            '    comment: ""',
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Completeness:
    """How many of a year's review items have a decision, by reviewer and by system."""

    year: int
    by_reviewer: Mapping[str, tuple[int, int]]  # reviewer -> (decided, total)
    by_system: Mapping[System, tuple[int, int]]
    revoked: int

    @property
    def total(self) -> int:
        return sum(t for _, t in self.by_reviewer.values())

    @property
    def decided(self) -> int:
        return sum(d for d, _ in self.by_reviewer.values())

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.decided == self.total


def completeness(state: DesiredState, year: int) -> Completeness:
    by_reviewer: dict[str, list[int]] = {}
    by_system: dict[System, list[int]] = {}
    revoked = 0
    for item in items_of_year(state.reviews, year):
        done = int(item.decision is not None)
        for counter in (
            by_reviewer.setdefault(item.reviewer, [0, 0]),
            by_system.setdefault(item.kind.system, [0, 0]),
        ):
            counter[0] += done
            counter[1] += 1
        revoked += int(item.decision is not None and item.decision.value == "revoke")
    return Completeness(
        year,
        {k: (v[0], v[1]) for k, v in sorted(by_reviewer.items())},
        {k: (v[0], v[1]) for k, v in sorted(by_system.items())},
        revoked,
    )


def items_of_year(items: Iterable[ReviewItem], year: int) -> list[ReviewItem]:
    return [i for i in items if i.year == year]
