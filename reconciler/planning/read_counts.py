"""Counts what a full read returned and compares them with the last complete read, so that a
member list which suddenly shrinks is treated as incomplete rather than trusted; called by
`reconciler.state.read_counts` (which loads and stores the counts) on every full read.

Why: an API can answer "successfully" with far too little (a token that lost its owner role
sees only itself, a directory answers one page and no next-page token). Every page succeeded,
so the provider calls the read complete, and the planner would remove everyone missing. The
last complete read is the only thing that can tell us the answer is implausible. The rule
borrows the removal limits: a count that fell by more than `limits.max_removal_ratio` of what
it was is suspicious, except in small systems (under `MIN_GRANTS_FOR_RATIO`), where one or two
leavers are a large fraction and mean nothing. Pure: no I/O, the caller passes the last counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from reconciler.model import (
    GrantKind,
    Organization,
    Snapshot,
    SnapshotPart,
    System,
)
from reconciler.planning.safety import MIN_GRANTS_FOR_RATIO

READ_COUNTS_FORMAT = 1  # the stored document's format (docs/operations.md)


@dataclass(frozen=True)
class ReadCounts:
    """The counts of one system's last complete, plausible read. `scope` names what was read
    (the GitHub org, the Workspace customer and domain, the GCP resources): counts of another
    scope say nothing about this one, so a changed scope starts afresh."""

    scope: str
    read_at: datetime
    counts: tuple[tuple[str, int], ...]


# What is counted per system: the lists whose silent shortening would turn into removals.
_GRANT_COUNTS: Mapping[System, tuple[tuple[str, GrantKind], ...]] = {
    System.GOOGLE: (("group memberships", GrantKind.GOOGLE_GROUP),),
    System.GITHUB: (
        ("org members", GrantKind.GITHUB_ORG),
        ("team memberships", GrantKind.GITHUB_TEAM),
        ("outside collaborators", GrantKind.GITHUB_COLLABORATOR),
    ),
    System.GCP: (),
}


def count_part(part: SnapshotPart) -> tuple[tuple[str, int], ...]:
    """The counts that matter for `part`'s system, by label, in a fixed order."""
    counts: list[tuple[str, int]] = []
    if part.system is System.GOOGLE:
        counts.append(("accounts", len(part.accounts)))
    for label, kind in _GRANT_COUNTS[part.system]:
        counts.append((label, sum(g.kind is kind for g in part.grants)))
    if part.system is System.GCP:
        # Every member of every binding on every resource in scope, conditional ones too: a
        # policy read back nearly empty is the GCP form of a shrunken member list.
        members = sum(len(b.members) for p in part.policies for b in p.bindings)
        counts.append(("binding members", members))
    return tuple(counts)


def scope_of(system: System, organization: Organization) -> str | None:
    """What `system` reads for this organisation, or None when it is not in scope."""
    systems = organization.systems
    if system is System.GOOGLE:
        return f"{systems.google.customer}/{systems.google.domain}" if systems.google else None
    if system is System.GITHUB:
        return systems.github.org.lower() if systems.github else None
    return ",".join(sorted(r.resource for r in systems.gcp)) or None


def shrinks(
    system: System, now: Mapping[str, int], last: ReadCounts, max_ratio: float
) -> list[str]:
    """One plain message per count that fell by more than `max_ratio` since `last`."""
    found = []
    when = last.read_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    for label, before in last.counts:
        current = now.get(label)
        if current is None or before < MIN_GRANTS_FOR_RATIO or current >= before:
            continue
        if (before - current) / before > max_ratio:
            found.append(
                f"{system.value} {label}: {current} now, {before} at the last complete read "
                f"on {when}; treated as incomplete"
            )
    return found


def check_read_counts(
    snapshot: Snapshot, last: Mapping[System, ReadCounts], organization: Organization
) -> tuple[Snapshot, dict[System, ReadCounts]]:
    """`snapshot` with every part whose counts shrank suspiciously marked incomplete (the
    messages name both counts), and the counts to remember: those of the parts that were
    read completely and plausibly, the earlier ones for every other system. A suspicious
    read never replaces the counts it is judged against, so it cannot become the new normal."""
    ratio = organization.limits.max_removal_ratio
    parts = dict(snapshot.parts)
    remember = dict(last)
    for system, part in snapshot.parts.items():
        scope = scope_of(system, organization)
        if scope is None or not part.status.complete:
            continue
        counts = count_part(part)
        before = last.get(system)
        if before is not None and before.scope != scope:
            before = None  # another org or other resources: nothing to compare with
        problems = shrinks(system, dict(counts), before, ratio) if before else []
        if problems:
            status = replace(
                part.status, complete=False, problems=(*part.status.problems, *problems)
            )
            parts[system] = replace(part, status=status)
        else:
            remember[system] = ReadCounts(scope, snapshot.read_at, counts)
    return replace(snapshot, parts=parts), remember


def read_counts_document(counts: Mapping[System, ReadCounts]) -> dict[str, Any]:
    """The stored JSON form (docs/operations.md, "read-counts.json")."""
    return {
        "format": READ_COUNTS_FORMAT,
        "systems": {
            system.value: {
                "scope": c.scope,
                "read_at": c.read_at.isoformat(),
                "counts": dict(c.counts),
            }
            for system, c in sorted(counts.items())
        },
    }


def parse_read_counts(document: Any) -> dict[System, ReadCounts]:
    """The stored form back; raises ValueError naming the field that is wrong, because a
    document we cannot understand must stop the run rather than silently disable the check."""
    if not isinstance(document, dict) or document.get("format") != READ_COUNTS_FORMAT:
        raise ValueError(f"expected an object with format {READ_COUNTS_FORMAT}")
    systems = document.get("systems")
    if not isinstance(systems, dict):
        raise ValueError("systems: expected an object")
    parsed: dict[System, ReadCounts] = {}
    for name, entry in systems.items():
        where = f"systems.{name}"
        try:
            system = System(name)
        except ValueError:
            raise ValueError(f"{where}: not a system (google, github, gcp)") from None
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object")
        scope, read_at, counts = entry.get("scope"), entry.get("read_at"), entry.get("counts")
        if not isinstance(scope, str):
            raise ValueError(f"{where}.scope: expected a string")
        try:
            when = datetime.fromisoformat(read_at) if isinstance(read_at, str) else None
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            raise ValueError(f"{where}.read_at: expected an ISO 8601 instant with a zone")
        if not isinstance(counts, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in counts.items()
        ):
            raise ValueError(f"{where}.counts: expected an object of non-negative integers")
        parsed[system] = ReadCounts(scope, when, tuple(counts.items()))
    return parsed
