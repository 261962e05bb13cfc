"""Table-driven tests of the shrinking-read rule (reconciler.planning.read_counts): what is
counted per system, when a count that fell is treated as an incomplete read, which counts are
remembered, and the stored document's form. Plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.model import Binding, SafetyLimits, Snapshot, SnapshotPart, System
from reconciler.planning.read_counts import (
    ReadCounts,
    check_read_counts,
    count_part,
    parse_read_counts,
    read_counts_document,
)
from tests.plan.builders import (
    NOW,
    ORG,
    PROD,
    STG,
    g_user,
    gcp,
    gh_user,
    github,
    google,
    organization,
    policy,
    snapshot,
)

LAST_READ = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
GH_SCOPE = ORG
GOOGLE_SCOPE = "my_customer/example.co.jp"
GCP_SCOPE = "organizations/123,projects/example-prod,projects/example-stg"
SCOPES = {System.GITHUB: GH_SCOPE, System.GOOGLE: GOOGLE_SCOPE, System.GCP: GCP_SCOPE}


def gh_members(n: int) -> SnapshotPart:
    return github(
        [gh_user("owner", 1, admin=True), *(gh_user(f"dev{i}", 10 + i) for i in range(n - 1))]
    )


def last_github(members: int, scope: str = GH_SCOPE) -> ReadCounts:
    counts = (("org members", members), ("team memberships", 0), ("outside collaborators", 0))
    return ReadCounts(scope, LAST_READ, counts)


def test_count_part_counts_what_a_silent_shortening_would_remove() -> None:
    g = google(
        [g_user("a@example.co.jp"), g_user("b@example.co.jp", suspended=True)],
        [("eng@example.co.jp", "a@example.co.jp", "MEMBER")],
    )
    h = github(
        [gh_user("owner", 1, admin=True)],
        [("backend", "owner", "member")],
        collaborators=["vendor"],
    )
    two = Binding("roles/editor", ("user:a@example.co.jp", "group:x@example.co.jp"))
    conditional = Binding("roles/viewer", ("user:a@example.co.jp",), condition="c")
    c = gcp([policy(STG, [two]), policy(PROD, [conditional])])
    assert count_part(g) == (("accounts", 2), ("group memberships", 1))
    assert count_part(h) == (
        ("org members", 1),
        ("team memberships", 1),
        ("outside collaborators", 1),
    )
    assert count_part(c) == (("binding members", 3),)  # conditional bindings count too


@dataclass
class Case:
    name: str
    part: SnapshotPart
    last: dict[System, ReadCounts]
    complete: bool
    problems: list[str] = field(default_factory=list)
    remembered: bool = True  # the new counts replace the last ones
    ratio: float = 0.1


CASES = [
    Case("a first read is trusted and remembered", gh_members(46), {}, complete=True),
    Case(
        "an org shrunk to its owner is incomplete, naming both counts",
        gh_members(1),
        {System.GITHUB: last_github(46)},
        complete=False,
        problems=[
            "github org members: 1 now, 46 at the last complete read on 2026-11-30T02:00Z; "
            "treated as incomplete"
        ],
        remembered=False,
    ),
    Case(
        "a drop within the removal ratio is trusted",
        gh_members(42),  # 4 of 46 = 8.7%
        {System.GITHUB: last_github(46)},
        complete=True,
    ),
    Case(
        "a drop just above the removal ratio is not",
        gh_members(41),  # 5 of 46 = 10.9%
        {System.GITHUB: last_github(46)},
        complete=False,
        problems=["github org members: 41 now, 46 at"],
        remembered=False,
    ),
    Case(
        "the organisation's own ratio is used",
        gh_members(30),
        {System.GITHUB: last_github(46)},
        complete=True,
        ratio=0.5,
    ),
    Case(
        "a small system is not judged by the ratio",
        gh_members(1),
        {System.GITHUB: last_github(9)},
        complete=True,
    ),
    Case(
        "a growing org is trusted", gh_members(60), {System.GITHUB: last_github(46)}, complete=True
    ),
    Case(
        "counts of another org say nothing about this one",
        gh_members(1),
        {System.GITHUB: last_github(46, scope="another-org")},
        complete=True,
    ),
    Case(
        "a read already incomplete is neither judged again nor remembered",
        github([gh_user("owner", 1, admin=True)], complete=False),
        {System.GITHUB: last_github(46)},
        complete=False,
        problems=["team page 2 failed"],
        remembered=False,
    ),
    Case(
        "Workspace accounts that vanished make the Google read incomplete",
        google([g_user("admin@example.co.jp", admin=True)]),
        {System.GOOGLE: ReadCounts(GOOGLE_SCOPE, LAST_READ, (("accounts", 120),))},
        complete=False,
        problems=["google accounts: 1 now, 120 at the last complete read on 2026-11-30T02:00Z"],
        remembered=False,
    ),
    Case(
        "a GCP read whose policies came back nearly empty is incomplete",
        gcp([policy(PROD, [Binding("roles/owner", ("user:cto@example.co.jp",))])]),
        {System.GCP: ReadCounts(GCP_SCOPE, LAST_READ, (("binding members", 80),))},
        complete=False,
        problems=["gcp binding members: 1 now, 80 at"],
        remembered=False,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check_read_counts(case: Case) -> None:
    org = organization(limits=SafetyLimits(max_removal_ratio=case.ratio))
    judged, remember = check_read_counts(snapshot(case.part), case.last, org)

    part = judged.part(case.part.system)
    assert part is not None
    assert part.status.complete is case.complete
    for expected in case.problems:
        assert any(p.startswith(expected) for p in part.status.problems), part.status.problems
    if case.complete:
        assert part == case.part  # a trusted read is passed on unchanged
    kept = remember.get(case.part.system)
    if case.remembered:
        assert kept == ReadCounts(SCOPES[case.part.system], NOW, count_part(case.part))
    else:
        assert kept == case.last.get(case.part.system)


def test_only_the_suspicious_system_is_marked_and_the_others_are_remembered() -> None:
    snap = snapshot(google([g_user("a@example.co.jp")]), gh_members(1))
    judged, remember = check_read_counts(snap, {System.GITHUB: last_github(46)}, organization())
    assert judged.is_complete(System.GOOGLE) and not judged.is_complete(System.GITHUB)
    assert remember[System.GOOGLE].read_at == NOW
    assert remember[System.GITHUB] == last_github(46)


def test_a_system_out_of_scope_is_not_counted() -> None:
    snap = snapshot(gh_members(1))
    judged, remember = check_read_counts(
        snap, {System.GITHUB: last_github(46)}, organization(github=False)
    )
    assert judged.is_complete(System.GITHUB)
    assert remember == {System.GITHUB: last_github(46)}


def test_the_stored_document_reads_back_equal() -> None:
    counts = {
        System.GITHUB: last_github(46),
        System.GCP: ReadCounts(GCP_SCOPE, LAST_READ, (("binding members", 3),)),
    }
    document = read_counts_document(counts)
    assert document["format"] == 1
    assert document["systems"]["github"] == {
        "scope": ORG,
        "read_at": "2026-11-30T02:00:00+00:00",
        "counts": {"org members": 46, "team memberships": 0, "outside collaborators": 0},
    }
    assert parse_read_counts(document) == counts  # fmt: skip


def _doc(**github: Any) -> dict[str, Any]:
    entry = {"scope": ORG, "read_at": "2026-11-30T02:00:00+00:00", "counts": {"org members": 46}}
    return {"format": 1, "systems": {"github": {**entry, **github}}}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "format 1"),
        ({"format": 2, "systems": {}}, "format 1"),
        ({"format": 1}, "systems: expected an object"),
        ({"format": 1, "systems": {"gitlab": {}}}, "systems.gitlab: not a system"),
        (_doc(scope=7), "systems.github.scope"),
        (_doc(read_at="yesterday"), "systems.github.read_at"),
        (_doc(read_at="2026-11-30T02:00:00"), "systems.github.read_at"),
        (_doc(counts={"org members": -1}), "systems.github.counts"),
        (_doc(counts={"org members": "46"}), "systems.github.counts"),
        (_doc(counts={"org members": True}), "systems.github.counts"),
    ],
)
def test_a_document_that_is_not_understood_names_the_field(document: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_read_counts(document)


def test_the_snapshot_keeps_its_read_time() -> None:
    judged, _ = check_read_counts(snapshot(gh_members(3)), {}, organization())
    assert isinstance(judged, Snapshot) and judged.read_at == NOW
