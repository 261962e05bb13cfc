"""Run the read benchmark: a generated N-person world in the sandbox, read through the real
client libraries, each system's round trips, API calls and GitHub points set next to the
minimum the APIs allow; called by `python -m reconciler.bench` (`make bench`) and its smoke
test.

Phases: (1) a full `read_all` and expand + plan, timed, with the GCP role-name check `plan`
and `apply` make before it; (2) the same read with a per-request
latency, to show what the providers' concurrency buys; (3) a second read with the same
providers, to show what conditional requests (ETags) save; (4) one person's reverse look-ups
(`read_person_everywhere`) in a small and in the large organisation, to show their cost does
not grow with the organisation; (5) the sandbox's throughput; (6) peers on the same world
(`peers.py`: cartography's fetch functions, a Terraform refresh count). Counts come from the
sandbox's telemetry (what crossed the wire), not from the providers' own bookkeeping, which
is reported beside them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from reconciler.bench import minimums
from reconciler.bench.generating import generate_desired
from reconciler.bench.minimums import Cost
from reconciler.bench.throughput import measure_throughput
from reconciler.demo.world import World, build_world
from reconciler.desired.expanding import expand_access
from reconciler.desired.gcp_roles import role_parents
from reconciler.model import DesiredState, GrantKind, Person, PersonStatus, Snapshot, System
from reconciler.plan import plan_changes
from reconciler.providers.base import ListsRoles, Provider
from reconciler.providers.connecting import connect_sandbox
from reconciler.providers.reading import read_all, read_person_everywhere
from reconciler.sandbox.iam_roles import predefined_roles
from reconciler.sandbox.server import Sandbox, SandboxServer

# A fixed moment keeps every run comparable: the generated repo's dates are relative to it.
BENCH_NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
# The sandbox's telemetry key of each system's API ("google_auth" is the OAuth token
# exchange of domain-wide delegation: one per credential lifetime, reported apart).
API_OF = {System.GOOGLE: "google", System.GITHUB: "github", System.GCP: "gcp"}


@dataclass
class BenchConfig:
    people: int = 1000
    latency_ms: int = 20
    lookup_sizes: tuple[int, ...] = (100, 1000)
    now: dt.datetime = BENCH_NOW
    throughput: bool = True  # phase 5 forks a sandbox process; the smoke test skips it
    peers: bool = True  # phase 6: cartography and the Terraform count on the same world


@dataclass
class _Clock:
    """Wall times of named phases, in seconds."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 3)


class _Meter:
    """Counter deltas of the sandbox's telemetry since `start()`.

    Deltas, not `Telemetry.reset()`: the Directory emulator finds a batch part's parent by
    log sequence number and remembers the ones it has claimed, so after a reset (which
    restarts the numbering) new batch parts can miss their parent and be counted as round
    trips of their own."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.before: dict[str, Any] = sandbox.telemetry.counters()

    def start(self) -> None:
        self.before = self.sandbox.telemetry.counters()

    def counters(self) -> dict[str, Any]:
        now = self.sandbox.telemetry.counters()
        return {
            key: {k: v - self.before.get(key, {}).get(k, 0) for k, v in now[key].items()}
            for key in ("round_trips", "api_calls", "rate_limit_points", "by_endpoint")
        }


def measured_costs(counters: Mapping[str, Any]) -> dict[System, Cost]:
    """Per-system costs from `Telemetry.counters()`: round trips on the wire, API calls with
    batch parts counted one each, GitHub points by resource."""
    trips, calls = counters.get("round_trips", {}), counters.get("api_calls", {})
    points = counters.get("rate_limit_points", {})
    # The sandbox counts a batch's envelope as a call of its own; Google's quota counts only
    # the calls inside it ("n requests batched count as n requests"), so the envelope is a
    # round trip but not an API call.
    envelopes = {"google": int(counters.get("by_endpoint", {}).get("google.batch", 0))}
    out = {}
    for system, api in API_OF.items():
        out[system] = Cost(
            round_trips=int(trips.get(api, 0)),
            api_calls=int(calls.get(api, 0)) - envelopes.get(api, 0),
            core_points=int(points.get("core", 0)) if system is System.GITHUB else 0,
            graphql_points=int(points.get("graphql", 0)) if system is System.GITHUB else 0,
        )
    return out


def _compare(
    measured: Mapping[System, Cost], minimum: Mapping[System, Cost], snapshot: Snapshot | None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for system, floor in minimum.items():
        entry: dict[str, Any] = {
            "measured": measured[system].as_dict(),
            "minimum": floor.as_dict(),
            "ratio_round_trips": _ratio(measured[system].round_trips, floor.round_trips),
            "ratio_api_calls": _ratio(measured[system].api_calls, floor.api_calls),
        }
        part = snapshot.part(system) if snapshot else None
        if part is not None:
            entry["complete"] = part.status.complete
            entry["problems"] = list(part.status.problems)
            entry["provider_reported"] = {
                "round_trips": part.status.round_trips,
                "api_calls": part.status.api_calls,
            }
        out[system.value] = entry
    return out


def _ratio(measured: int, floor: int) -> float | None:
    return round(measured / floor, 2) if floor else None


def _world_summary(world: World, desired: DesiredState) -> dict[str, int]:
    google, github, gcp = world["google"], world["github"], world["gcp"]
    return {
        "people": len(desired.people),
        "google_users": len(google["users"]),
        "google_groups": len(google["groups"]),
        "google_memberships": sum(len(m) for m in google["members"].values()),
        "github_members": len(github["members"]),
        "github_teams": len(github["teams"]),
        "github_team_memberships": sum(len(t["members"]) for t in github["teams"]),
        "gcp_resources": len(desired.organization.systems.gcp),
        "gcp_service_accounts": len(gcp["service_accounts"]),
    }


def _build(people: int, now: dt.datetime) -> tuple[DesiredState, World]:
    desired = generate_desired(people, now.date())
    world, _ = build_world(desired, now, drift=False)
    return desired, world


def lookup_subject(desired: DesiredState, now: dt.datetime) -> Person:
    """The person an emergency offboarding would target: the first leaver (by id) with a
    GitHub login, else the first person whose roles put them in the GitHub org."""
    access = expand_access(desired, now).people
    people = sorted(desired.people.values(), key=lambda p: p.id)
    leavers = [p for p in people if p.github and access[p.id].status is PersonStatus.DEPARTED]
    in_github = [
        p
        for p in people
        if any(e.grant.kind is GrantKind.GITHUB_ORG for e in access[p.id].entitlements)
    ]
    return (leavers or in_github or people)[0]


def _lookup(
    server: SandboxServer,
    providers: Mapping[System, Provider],
    person: Person,
    world: World,
    now: dt.datetime,
) -> dict[str, Any]:
    meter = _Meter(server.sandbox)
    started = time.perf_counter()
    snapshot = read_person_everywhere(providers, person, now)
    seconds = round(time.perf_counter() - started, 3)
    compared = _compare(
        measured_costs(meter.counters()), minimums.person_lookup(world, person), snapshot
    )
    return {
        "person": person.id,
        "seconds": seconds,
        "grants_found": len(snapshot.grants),
        "systems": compared,
    }


def _timed_read(
    providers: Mapping[System, Provider], desired: DesiredState, now: dt.datetime
) -> tuple[Snapshot, float, dict[str, float]]:
    """read_all, its wall time and each system's own wall time (from the progress hook)."""
    began: dict[System, float] = {}
    per_system: dict[str, float] = {}

    def progress(system: System, state: str) -> None:
        if state == "reading":
            began[system] = time.perf_counter()
        else:
            per_system[system.value] = round(time.perf_counter() - began[system], 3)

    started = time.perf_counter()
    snapshot = read_all(providers, desired, now, on_progress=progress)
    return snapshot, round(time.perf_counter() - started, 3), per_system


def run_benchmark(config: BenchConfig) -> dict[str, Any]:
    """Every phase for `config.people` people; the JSON-ready results."""
    clock = _Clock()
    now = config.now
    with clock.phase("total"):
        with clock.phase("generate_and_load"):
            desired = generate_desired(config.people, now.date())
        with clock.phase("build_world"):
            world, drift = build_world(desired, now, drift=False)
        minimum = minimums.full_read(world, desired)
        results: dict[str, Any] = {
            "people": config.people,
            "now": now.isoformat(),
            "world": _world_summary(world, desired),
            "drift": drift,
        }
        with SandboxServer(Sandbox(world)) as server:
            meter = _Meter(server.sandbox)
            providers = connect_sandbox(server.url, desired)
            meter.start()
            snapshot, read_s, per_system = _timed_read(providers, desired, now)
            counters = meter.counters()
            results["full_read"] = _compare(measured_costs(counters), minimum, snapshot)
            results["full_read_oauth_round_trips"] = int(
                counters["round_trips"].get("google_auth", 0)
            )
            # (1b) The role-name check plan and apply make before reading (GCP ListRoles).
            meter.start()
            gcp = providers.get(System.GCP)
            if isinstance(gcp, ListsRoles):
                gcp.role_names(role_parents(desired))
            results["role_check"] = {
                "measured": measured_costs(meter.counters())[System.GCP].as_dict(),
                "minimum": minimums.gcp_role_check(
                    world, desired, len(predefined_roles())
                ).as_dict(),
            }
            with clock.phase("expand_and_plan"):
                plan = plan_changes(desired, expand_access(desired, now), snapshot, now)
            results["plan"] = {"actions": len(plan.actions), "findings": len(plan.findings)}

            # (3) The same providers again: their ETag caches are warm, nothing changed.
            meter.start()
            second, second_s, _ = _timed_read(providers, desired, now)
            unchanged = dict(minimum)
            unchanged[System.GITHUB] = minimums.github_unchanged_read(
                world, desired, dt.datetime.now(dt.UTC).date()
            )
            results["second_read"] = {
                "seconds": second_s,
                **_compare(measured_costs(meter.counters()), unchanged, second),
            }

            # (2) Fresh providers (cold caches) with a per-request latency.
            server.sandbox.latency_ms = config.latency_ms
            slow_providers = connect_sandbox(server.url, desired)
            meter.start()
            _, slow_s, slow_per_system = _timed_read(slow_providers, desired, now)
            server.sandbox.latency_ms = 0
            results["latency"] = {
                "latency_ms": config.latency_ms,
                "read_seconds": slow_s,
                "per_system_seconds": slow_per_system,
                "round_trips": meter.counters()["round_trips"],
            }

            # (4) Reverse look-ups of one person, chosen in the smallest organisation so that
            # they exist in every size (the generator is prefix-stable) ...
            smallest = min((*config.lookup_sizes, config.people))
            subject = lookup_subject(
                desired if smallest == config.people else _build(smallest, now)[0], now
            ).id
            person = desired.people[subject]
            # Fresh providers: cold ETag caches, as in the smaller organisation below.
            cold = connect_sandbox(server.url, desired)
            lookups = {config.people: _lookup(server, cold, person, world, now)}
        # ... in this organisation and in the other sizes asked for.
        for size in sorted(set(config.lookup_sizes) - {config.people}):
            small_desired, small_world = _build(size, now)
            with SandboxServer(Sandbox(small_world)) as small:
                small_providers = connect_sandbox(small.url, small_desired)
                lookups[size] = _lookup(
                    small, small_providers, small_desired.people[subject], small_world, now
                )
        results["lookups"] = [
            {"people": size, **lookups[size]}
            for size in sorted(lookups)
            if size in config.lookup_sizes or size == config.people
        ]
    results["timings_s"] = {**clock.seconds, "read": read_s, "read_per_system": per_system}
    if config.throughput:
        # (5) Requests/s the sandbox serves, the sandbox in its own process.
        some_user = next(iter(desired.people.values())).email
        results["throughput"] = measure_throughput(world, _github_org(desired), some_user)
    if config.peers:
        # (6) Peers on the same world, the sandbox in its own process with the same latency.
        from reconciler.bench.peers import measure_peers

        results["peers"] = measure_peers(world, desired, now, config.latency_ms)
    return results


def _github_org(desired: DesiredState) -> str:
    github = desired.organization.systems.github
    return github.org if github else "example-co"
