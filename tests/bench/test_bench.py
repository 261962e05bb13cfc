"""Smoke test of the benchmark at a tiny size (the real run is `make bench`): it runs every
phase against the sandbox through the real client libraries and fails when a provider spends
more round trips, calls or GitHub points than the APIs' documented minimum where it is meant
to reach it, so efficiency regressions fail CI. No timing is asserted (2 shared cores)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.bench import minimums
from reconciler.bench.__main__ import main
from reconciler.bench.generating import generate_repo
from reconciler.bench.minimums import Cost
from reconciler.bench.running import BENCH_NOW, BenchConfig, run_benchmark
from reconciler.desired.expanding import expand_access
from reconciler.desired.loading import load_desired_state
from reconciler.model import Employment, EmploymentType, Person, PersonStatus, System

SYSTEMS = ("google", "github", "gcp")


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return run_benchmark(
        BenchConfig(people=20, latency_ms=2, lookup_sizes=(12, 20), throughput=False, peers=False)
    )


def test_full_read_is_complete_and_costs_exactly_the_minimum(results: dict[str, Any]) -> None:
    for system in SYSTEMS:
        entry = results["full_read"][system]
        assert entry["complete"], entry["problems"]
        assert entry["measured"] == entry["minimum"], system


def test_the_gcp_role_check_costs_exactly_the_minimum(results: dict[str, Any]) -> None:
    check = results["role_check"]

    assert check["measured"] == check["minimum"]
    assert check["measured"]["round_trips"] >= 1  # the generated repo names GCP roles


def test_providers_own_counts_agree_with_the_wire(results: dict[str, Any]) -> None:
    for system in SYSTEMS:
        entry = results["full_read"][system]
        assert entry["provider_reported"] == {
            "round_trips": entry["measured"]["round_trips"],
            "api_calls": entry["measured"]["api_calls"],
        }, system


def test_unchanged_second_read_spends_no_points(results: dict[str, Any]) -> None:
    second = results["second_read"]["github"]
    assert second["complete"]
    # every REST GET is conditional and answered 304, and those 304s prove the GraphQL data
    # of the first read current, so GraphQL is not asked at all
    assert second["measured"] == second["minimum"]
    assert second["measured"]["core_points"] == 0
    assert second["measured"]["graphql_points"] == 0


def test_reverse_lookups_cost_the_minimum_and_the_same_at_every_size(
    results: dict[str, Any],
) -> None:
    lookups = results["lookups"]
    assert [entry["people"] for entry in lookups] == [12, 20]
    assert len({entry["person"] for entry in lookups}) == 1  # the same person in both orgs
    for entry in lookups:
        for system in SYSTEMS:
            cost = entry["systems"][system]
            assert cost["complete"], cost["problems"]
            assert cost["measured"] == cost["minimum"], (entry["people"], system)
    small, large = ({s: e["systems"][s]["measured"] for s in SYSTEMS} for e in lookups)
    assert small == large


def test_latency_phase_reads_every_system_concurrently(results: dict[str, Any]) -> None:
    latency = results["latency"]
    assert set(latency["per_system_seconds"]) == set(SYSTEMS)
    assert (
        latency["round_trips"]["github"]
        == results["full_read"]["github"]["measured"]["round_trips"]
    )


def test_command_line_writes_the_numbers_as_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    argv = ["--people", "8", "--latency-ms", "0", "--lookup-sizes", "", "--no-scale"]
    argv += ["--json", str(out)]
    assert main(argv) == 0
    written = json.loads(out.read_text("utf-8"))
    assert written["people"] == 8
    assert written["world"]["people"] == 8
    assert {"read", "expand_and_plan", "total"} <= set(written["timings_s"])
    # phase 6 ran on the same world: the product and each peer have their entry
    assert set(written["peers"]) >= {"reconciler", "cartography", "terraform"}
    assert set(written["peers"]["cartography"]) == {"google", "github"}


def test_generated_repo_validates_and_has_every_kind_of_person() -> None:
    files = generate_repo(150, BENCH_NOW.date())
    assert files == generate_repo(150, BENCH_NOW.date())  # deterministic
    desired = load_desired_state(files)
    assert len(desired.people) == 150
    status = expand_access(desired, BENCH_NOW).people
    people = desired.people.values()
    assert any(status[p.id].status is PersonStatus.DEPARTED for p in people)
    assert any(status[p.id].status is PersonStatus.NOT_STARTED for p in people)
    assert any(p.employment.nda is not None for p in people)  # contractors
    assert any(p.grants for p in people)  # a time-boxed prod-debug grant
    assert sum(1 for p in people if p.github) > 50
    assert {"squad-001", "squad-002", "office-001", "office-002", "club-001"} <= set(desired.roles)
    assert desired.organization.security_officer == "e00002"


# -- the minimum formulas, table-driven on plain worlds ------------------------------------------


def _google(users: int, group_sizes: list[int], other_domain_users: int = 0) -> dict[str, Any]:
    emails = [f"u{i}@example.co.jp" for i in range(users)]
    emails += [f"x{i}@example.com" for i in range(other_domain_users)]
    groups = [f"g{i}@example.co.jp" for i in range(len(group_sizes))]
    return {
        "google": {
            "domain": "example.co.jp",
            "users": [{"primaryEmail": e} for e in emails],
            "groups": [{"email": g} for g in groups],
            "members": {
                g: [{"email": f"m{i}@example.co.jp"} for i in range(size)]
                for g, size in zip(groups, group_sizes, strict=True)
            },
        }
    }


@pytest.mark.parametrize(
    ("name", "world", "expected"),
    [
        # 1 users page + 1 groups page + one batch of 2 member lists and 2x3 security calls
        ("small", _google(3, [5, 0]), Cost(3, 2 + 2 + 6)),
        # 501 users: 2 pages; 201 groups: 2 pages; 201 + 1002 batched calls: 2 batches
        ("pages", _google(501, [1] * 201), Cost(2 + 2 + 2, 4 + 201 + 1002)),
        # a 401-member group needs 3 sequential member pages: 3 batches though 1 would hold all
        ("long list", _google(1, [401]), Cost(1 + 1 + 3, 2 + 3 + 2)),
        # users outside the primary domain have no tokens/asps read
        ("other domain", _google(1, [], other_domain_users=4), Cost(1 + 1 + 1, 2 + 2)),
    ],
)
def test_google_minimum(name: str, world: dict[str, Any], expected: Cost) -> None:
    assert minimums.google_read(world) == expected, name


def _github(members: int, team_sizes: list[int], invitations: int = 0) -> dict[str, Any]:
    return {
        "github": {
            "members": [{"login": f"m{i}"} for i in range(members)],
            "teams": [{"members": [{"login": "x"}] * n} for n in team_sizes],
            "invitations": [{}] * invitations,
            "failed_invitations": [],
            "outside_collaborators": [],
        }
    }


@pytest.mark.parametrize(
    ("name", "world", "expected", "again"),
    [
        # members 1 page + teams 1 page (first 100 members inline) + org + 3 REST lists;
        # validators: members all/admin/2fa_disabled 3, team list 1, 2 teams x 2 lists
        ("small", _github(5, [3, 0]), Cost(6 + 8, 14, core_points=4 + 8, graphql_points=2), 0),
        # 250 members: 3 pages; a 250-member team: 2 more pages; 101 invitations: 2 pages;
        # validators: members 3 + 1 + 1, team list 1, teams (3 + 1) + (1 + 1)
        ("big", _github(250, [250, 1], 101), Cost(11 + 12, 23, 5 + 12, 6), 0),
        # 101 teams: 2 team pages; validators 3 + 2 + 101 x 2
        ("many teams", _github(1, [1] * 101), Cost(7 + 207, 214, 4 + 207, 3), 0),
        # 151 teams: 302 team validators would pass TEAM_VALIDATOR_LIMIT, so the teams are
        # re-read through GraphQL on every read (2 points) and only 3 + 2 validators remain
        ("too many teams", _github(1, [1] * 151), Cost(7 + 5, 12, 4 + 5, 3), 2),
    ],
)
def test_github_minimum(name: str, world: dict[str, Any], expected: Cost, again: int) -> None:
    assert minimums.github_read(world) == expected, name
    unchanged = minimums.github_unchanged_read(world)
    assert (unchanged.core_points, unchanged.graphql_points) == (0, again), name


def test_gcp_minimum_counts_policies_account_pages_and_keys() -> None:
    desired = load_desired_state(generate_repo(4, dt.date(2026, 11, 25)))
    accounts = [{"project": "example-dev"}] * 101 + [{"project": "elsewhere"}] * 7
    # 4 policies + dev 2 pages + stg 1 + prod 1 + 101 keys (accounts outside scope not read)
    assert minimums.gcp_read({"gcp": {"service_accounts": accounts}}, desired) == Cost(
        4 + 2 + 1 + 1 + 101, 4 + 2 + 1 + 1 + 101
    )


def _person(github: str | None, github_id: int | None) -> Person:
    return Person(
        id="e09999",
        name="試験 花子",
        email="hanako.shiken@example.co.jp",
        github=github,
        github_id=github_id,
        employment=Employment(EmploymentType.EMPLOYEE, dt.date(2020, 4, 1)),
    )


LOOKUP_WORLD: dict[str, Any] = {
    "google": {
        "users": [{"primaryEmail": "hanako.shiken@example.co.jp"}],
        "members": {
            "a@example.co.jp": [{"email": "hanako.shiken@example.co.jp"}],
            "b@example.co.jp": [{"email": "Hanako.Shiken@example.co.jp"}, {"email": "x@y.jp"}],
            "c@example.co.jp": [{"email": "x@y.jp"}],
        },
    },
    "github": {
        "users": [{"login": "hshiken", "id": 42}],
        "teams": [{"members": [{"login": "hshiken"}]}, {"members": []}],
        "invitations": [{}] * 150,
    },
}


@pytest.mark.parametrize(
    ("name", "github", "github_id", "expected_github"),
    [
        # user by id, membership, 1 GraphQL page of teams; 2 + 1 + 1 pages of the REST lists
        ("has an account", "hshiken", 42, Cost(7, 7, 6, 1)),
        ("found by login", "hshiken", None, Cost(7, 7, 6, 1)),
        # GET /user/{id} answers 404: nothing else about the person to read
        ("no such account", "hshiken", 7, Cost(5, 5, 5, 0)),
        ("no GitHub at all", None, None, Cost(4, 4, 4, 0)),
    ],
)
def test_person_lookup_minimum(
    name: str, github: str | None, github_id: int | None, expected_github: Cost
) -> None:
    costs = minimums.person_lookup(LOOKUP_WORLD, _person(github, github_id))
    # users.get + groups.list + one batch of 2 members.get, tokens.list, asps.list
    assert costs[System.GOOGLE] == Cost(3, 1 + 1 + 2 + 2), name
    assert costs[System.GITHUB] == expected_github, name
    assert costs[System.GCP] == Cost(1, 1), name


def test_throughput_phase_serves_every_client_from_a_separate_sandbox_process() -> None:
    from datetime import UTC, datetime

    from reconciler.bench.generating import generate_desired
    from reconciler.bench.throughput import measure_throughput
    from reconciler.demo.world import build_world

    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    desired = generate_desired(20, now.date())
    world, _ = build_world(desired, now)
    user = next(iter(desired.people.values())).email
    rates = measure_throughput(world, "example-co", user, calls=20)
    assert set(rates) == {
        "pygithub_get_org",
        "google_api_client_users_get",
        "bare_http_client",
        "bare_http_client_x2",
    }
    assert all(rate > 0 for rate in rates.values())


def test_the_scale_client_builds_the_drift_report_and_the_inventory_from_its_read() -> None:
    """The report targets are measured from a real read: a tiny organisation through the same
    client process the L world uses (numbers, not timings, are asserted)."""
    from reconciler.bench.scale import measure_size

    result = measure_size(30, BENCH_NOW, 0)
    assert result["inventory_rows"] > 30  # every account and grant, at least one per person
    assert result["drift_seconds"] >= 0 and result["inventory_seconds"] >= 0
    assert result["reports_peak_mb"] >= result["read_plan_peak_mb"]


def test_a_scale_client_reports_its_own_peak_memory_not_its_parents() -> None:
    """The client's peak is measured in the client: a parent holding 400 MB (as the benchmark
    process holds the L organisation and world) must not show in it. Linux's `ru_maxrss`
    carries the parent's high-water mark across exec, which inflated the L target."""
    import subprocess
    import sys

    held = bytearray(400 * 2**20)
    held[::4096] = b"\x01" * len(range(0, len(held), 4096))  # make every page resident
    done = subprocess.run(
        [sys.executable, "-c", "from reconciler.bench.scale import _peak_mb; print(_peak_mb())"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert held[0] == 1
    assert float(done.stdout.strip()) < 300  # the interpreter and its imports: about 50 MB
