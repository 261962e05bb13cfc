"""The scale targets of `make bench` (issue "scale to 10,000 people"): each one measured the way
a user meets it, set next to its target; called by `python -m reconciler.bench`.

Every measurement runs in processes of its own, so one cannot inflate another's memory or
warm another's caches: the sandbox in a process of its own (as `reconciler sandbox` runs it) with
a per-request latency, the repo written to disk, and the client in a fresh interpreter
(`python -m reconciler.bench.scale MODE ...`, the functions at the bottom), whose peak
resident memory is its own. `offboard --now` is the real CLI in a subprocess, timed end to end
(interpreter start and imports included). The pure planner runs in this process on a
synthetic snapshot in which every desired grant is in place.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import requests

from reconciler.bench import minimums
from reconciler.bench.generating import generate_repo
from reconciler.bench.running import BENCH_NOW, lookup_subject
from reconciler.bench.throughput import sandbox_process
from reconciler.demo.world import World, build_world
from reconciler.desired.expanding import expand_access
from reconciler.desired.loading import load_desired_dir, load_desired_state
from reconciler.model import (
    Account,
    DesiredState,
    GrantKind,
    ReadStatus,
    Snapshot,
    SnapshotPart,
    System,
)
from reconciler.plan import plan_changes
from reconciler.providers.reading import settle_heap

MEDIUM, LARGE = 1_000, 10_000
PLANNER_GRANTS = 100_000
API_OF = {System.GOOGLE: "google", System.GITHUB: "github", System.GCP: "gcp"}


def target(
    name: str, goal: float, measured: float | None, unit: str, *, less: bool = True
) -> dict[str, Any]:
    """One row of the `targets` table: met is None when the number could not be measured."""
    met = None if measured is None else (measured < goal if less else measured <= goal)
    return {"name": name, "target": goal, "measured": measured, "unit": unit, "met": met}


def _write_repo(files: Mapping[str, bytes], root: Path) -> None:
    for name, raw in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)


def _client(mode: str, *args: str) -> dict[str, Any]:
    """`python -m reconciler.bench.scale MODE ARGS...` in a fresh interpreter; its JSON line."""
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "GRPC_VERBOSITY": "ERROR"}
    done = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "reconciler.bench.scale", mode, *args],
        capture_output=True, text=True, env=env, check=False, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"bench client {mode} failed: {done.stderr.strip()[-2000:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def _counters(url: str) -> dict[str, Any]:
    resp = requests.get(f"{url}/_sandbox/counters", timeout=30)
    resp.raise_for_status()
    counters: dict[str, Any] = resp.json()
    return counters


def _trips(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, int]:
    old, new = before.get("round_trips", {}), after.get("round_trips", {})
    return {api: int(new.get(api, 0)) - int(old.get(api, 0)) for api in new if api != "control"}


@contextlib.contextmanager
def _organisation(people: int, now: dt.datetime) -> Iterator[tuple[Path, DesiredState, World]]:
    files = generate_repo(people, now.date())
    desired = load_desired_state(files, commit=f"bench-{people}")
    world, _ = build_world(desired, now, drift=False)
    with tempfile.TemporaryDirectory(prefix=f"bench-{people}-") as tmp:
        root = Path(tmp) / "repo"
        _write_repo(files, root)
        yield root, desired, world


def measure_size(people: int, now: dt.datetime, latency_ms: int) -> dict[str, Any]:
    """Read + plan and `offboard --now` for one organisation size, the sandbox in its own
    process with `latency_ms` per round trip."""
    with (
        _organisation(people, now) as (root, desired, world),
        sandbox_process(world) as url,
        tempfile.TemporaryDirectory(prefix="bench-state-") as state,
    ):
        requests.post(f"{url}/_sandbox/latency", json={"latency_ms": latency_ms}, timeout=30)
        before = _counters(url)
        read = _client("read-plan", str(root), url, now.isoformat(), state, "reports")
        after = _counters(url)
        trips = _trips(before, after)
        # The next night: a new process, nothing changed, the cache from the state store.
        again = _client("read-plan", str(root), url, now.isoformat(), state)
        cold_points, rerun_points = (
            _github_points(before, after),
            _github_points(after, _counters(url)),
        )
        minimum = minimums.full_read(world, desired)
        ratios = {
            api: round(trips.get(api, 0) / minimum[system].round_trips, 3)
            for system, api in API_OF.items()
            if system in minimum
        }
        subject = lookup_subject(desired, now)  # the first leaver with a GitHub login
        before = _counters(url)
        offboard = _offboard(root, url, subject.id, now)
        off_trips = sum(_trips(before, _counters(url)).values())
    return {
        "people": people,
        "read_plan_seconds": read["seconds"],
        "read_plan_peak_mb": read["peak_mb"],
        "plan_actions": read["actions"],
        "round_trips": trips,
        "minimum_round_trips": {API_OF[s]: c.round_trips for s, c in minimum.items()},
        "round_trip_ratios": ratios,
        "offboard_person": subject.id,
        "offboard_seconds": offboard,
        "offboard_round_trips": off_trips,
        "github_cold_points": cold_points,
        "github_rerun_points": rerun_points,
        "rerun_seconds": again["seconds"],
        "drift_seconds": read.get("drift_seconds"),
        "inventory_seconds": read.get("inventory_seconds"),
        "inventory_rows": read.get("inventory_rows"),
        "reports_peak_mb": read.get("reports_peak_mb"),
    }


def _github_points(before: Mapping[str, Any], after: Mapping[str, Any]) -> int:
    """GitHub rate-limit points (core + GraphQL) spent between two counter readings."""
    old, new = before.get("rate_limit_points", {}), after.get("rate_limit_points", {})
    return sum(int(new.get(k, 0)) - int(old.get(k, 0)) for k in ("core", "graphql"))


def _offboard(root: Path, url: str, person: str, now: dt.datetime) -> float:
    """`reconciler offboard PERSON --now` (a dry run: the reads and the plan, no writes), the
    real CLI in a subprocess, wall time end to end."""
    with tempfile.TemporaryDirectory(prefix="bench-state-") as state:
        env = {
            **os.environ,
            "RECONCILER_SANDBOX_URL": url,
            "RECONCILER_STATE_DIR": state,
            "NO_PROXY": "127.0.0.1,localhost",
            "GRPC_VERBOSITY": "ERROR",
        }
        command = [sys.executable, "-m", "reconciler", "offboard", person, "--now"]
        command += ["--dir", str(root), "--at", now.isoformat()]
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
            command, capture_output=True, text=True, env=env, check=False, timeout=600
        )
        seconds = round(time.perf_counter() - started, 3)
    if done.returncode not in (0, 3):  # 3: partial, e.g. the offboarding is not proven done
        raise RuntimeError(f"offboard --now failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds


def measure_cold_load(people: int, now: dt.datetime) -> float:
    """Seconds to load and validate `people` people files from disk, in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        _write_repo(generate_repo(people, now.date()), Path(tmp))
        seconds: float = _client("load", tmp)["seconds"]
        return seconds


def measure_planner(desired: DesiredState, now: dt.datetime) -> dict[str, Any]:
    """The pure planner (expand, plan, fingerprint) on `desired` against a snapshot where
    every desired grant is in place: the planner still compares every grant."""
    access = expand_access(desired, now)
    grants = sorted(access.grants())
    parts = []
    for system in System:
        mine = tuple(g for g in grants if g.system is system)
        accounts = tuple(
            Account(system, str(n), g.principal)
            for n, g in enumerate(mine)
            if g.kind in (GrantKind.GOOGLE_ACCOUNT, GrantKind.GITHUB_ORG)
        )
        parts.append(SnapshotPart(system, ReadStatus(system, True), accounts=accounts, grants=mine))
    snapshot = Snapshot.of(now, parts)
    settle_heap()  # as `read_all` leaves the heap before every real plan
    started = time.perf_counter()
    access = expand_access(desired, now)
    expanded, expanded_cpu = time.perf_counter(), time.process_time()
    plan = plan_changes(desired, access, snapshot, now)
    planned, planned_cpu = time.perf_counter(), time.process_time()
    snapshot.fingerprint()  # once more, alone: its share of plan_changes
    gc.unfreeze()
    return {
        "desired_grants": len(grants),
        "actual_grants": len(snapshot.grants),
        "expand_seconds": round(expanded - started, 3),
        "seconds": round(planned - expanded, 3),  # plan_changes, its fingerprint included
        # The same in CPU seconds: on a shared machine the wall time also counts other work.
        "cpu_seconds": round(planned_cpu - expanded_cpu, 3),
        "fingerprint_seconds": round(time.perf_counter() - planned, 3),
        "actions": len(plan.actions),
    }


def _planner(people: str = str(LARGE)) -> dict[str, Any]:
    """The pure-planner target alone, on the `people`-person generated organisation."""
    desired = load_desired_state(generate_repo(int(people), BENCH_NOW.date()))
    return measure_planner(desired, BENCH_NOW)


def measure_targets(
    now: dt.datetime, latency_ms: int, *, medium: int = MEDIUM, large: int = LARGE
) -> dict[str, Any]:
    """Every scale target, measured; `medium` and `large` are the organisation sizes."""
    sizes = {"M": measure_size(medium, now, latency_ms), "L": measure_size(large, now, latency_ms)}
    cold = measure_cold_load(large, now)
    planner = measure_planner(load_desired_state(generate_repo(large, now.date())), now)
    m, big = sizes["M"], sizes["L"]
    rows = [
        target(f"read + plan, {large:,} people, wall", 5.0, big["read_plan_seconds"], "s"),
        target(f"read + plan, {medium:,} people, wall", 1.5, m["read_plan_seconds"], "s"),
        *(
            target(
                f"round trips / API minimum, {api}, {large:,} people", 1.1, ratio, "x", less=False
            )
            for api, ratio in big["round_trip_ratios"].items()
        ),
        target(
            f"peak memory of read + plan, {large:,} people", 300, big["read_plan_peak_mb"], "MB"
        ),
        target(
            f"pure planner, {planner['desired_grants']:,} desired x "
            f"{planner['actual_grants']:,} actual grants (plan_changes, fingerprint included)",
            1.0,
            planner["seconds"],
            "s",
        ),
        target(f"load {large:,} people files, cold", 2.0, cold, "s"),
        target(
            f"offboard PERSON --now end to end, {large:,} people", 2.0, big["offboard_seconds"], "s"
        ),
        target(
            f"offboard --now round trips, {large:,} people",
            25,
            big["offboard_round_trips"],
            "trips",
        ),
        *(
            target(
                f"unchanged nightly re-read (new process, persisted cache), GitHub points / "
                f"a cold read's, {size['people']:,} people",
                0.1,
                round(size["github_rerun_points"] / size["github_cold_points"], 3),
                "x",
                less=False,
            )
            for size in (m, big)
        ),
        target(f"drift report beyond its plan, {medium:,} people", 1.0, m["drift_seconds"], "s"),
        target(
            f"inventory, every format, {large:,} people ({big['inventory_rows']:,} rows)",
            60.0,
            big["inventory_seconds"],
            "s",
        ),
        target(
            f"peak memory after read + plan + drift + inventory, {large:,} people",
            500,
            big["reports_peak_mb"],
            "MB",
        ),
        target(
            f"offboard --now at {large:,} / at {medium:,} people",
            1.2,
            round(big["offboard_seconds"] / m["offboard_seconds"], 3),
            "x",
            less=False,
        ),
    ]
    return {"targets": rows, "sizes": sizes, "cold_load_seconds": cold, "planner": planner}


# -- the client processes ------------------------------------------------------------------


def _peak_mb() -> float:
    """This process's own peak resident memory in MB.

    Not `ru_maxrss` on Linux: exec records the high-water mark of the memory it replaces, so
    a fresh interpreter's `ru_maxrss` starts at its parent's peak (here the benchmark process
    holding the L organisation and world, about 290–460 MB, which it reported as the client's
    peak). `VmHWM` in /proc/self/status is the high-water mark of the process's own memory,
    which starts afresh at exec."""
    try:
        with Path("/proc/self/status").open(encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    # Elsewhere (macOS: bytes, no exec inheritance to correct for) the resource module's.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 1024), 1)


def _read_plan(directory: str, url: str, at: str, state: str, reports: str = "") -> dict[str, Any]:
    """A read + plan as `reconciler plan` makes it: the GitHub cache in the state directory."""
    from reconciler.log import configure_logging
    from reconciler.providers.connecting import connect_sandbox
    from reconciler.providers.reading import read_all
    from reconciler.state import LocalStateStore
    from reconciler.state.documents import GITHUB_CACHE_DOCUMENT, StoredDocument

    configure_logging(level="warning")
    now = dt.datetime.fromisoformat(at)
    desired = load_desired_dir(directory)
    cache = StoredDocument(LocalStateStore(state), GITHUB_CACHE_DOCUMENT)
    providers = connect_sandbox(url, desired, github_cache=cache)
    started = time.perf_counter()
    snapshot = read_all(providers, desired, now)
    access = expand_access(desired, now)
    plan = plan_changes(desired, access, snapshot, now)
    seconds = round(time.perf_counter() - started, 3)
    result: dict[str, Any] = {
        "seconds": seconds,
        "peak_mb": _peak_mb(),
        "actions": len(plan.actions),
    }
    if reports == "reports":
        result |= _reports(desired, access, snapshot, plan, now)
    return result


def _reports(
    desired: DesiredState, access: Any, snapshot: Any, plan: Any, now: dt.datetime
) -> dict[str, Any]:
    """The drift report and the whole inventory (every format) from the read just made: what
    each adds beyond the plan it is built from, and the process's peak memory after them."""
    from reconciler.reports.drift import drift_report, render_drift_json
    from reconciler.reports.i18n import language
    from reconciler.reports.inventory import build_inventory
    from reconciler.reports.inventory_files import inventory_files, render_manifest

    started = time.perf_counter()
    render_drift_json(
        drift_report(desired, access, snapshot, plan, now, None),
        language("en"),
        desired.organization.timezone,
    )
    drift_seconds = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    inventory = build_inventory(
        desired, access, snapshot, now, year=now.year, provenance={}, carried={}
    )
    files = inventory_files(inventory, "ja")
    files["manifest.json"] = render_manifest(files, inventory, None)
    return {
        "drift_seconds": drift_seconds,
        "inventory_seconds": round(time.perf_counter() - started, 3),
        "inventory_rows": len(inventory.rows),
        "reports_peak_mb": _peak_mb(),
    }


def _load(directory: str) -> dict[str, Any]:
    started = time.perf_counter()
    desired = load_desired_dir(directory)
    return {"seconds": round(time.perf_counter() - started, 3), "people": len(desired.people)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reconciler.bench.scale")
    parser.add_argument("mode", choices=("read-plan", "load", "planner"))
    parser.add_argument("args", nargs="*")
    ns = parser.parse_args(argv)
    if ns.mode == "read-plan":
        out = _read_plan(*ns.args)
    elif ns.mode == "load":
        out = _load(*ns.args)
    else:  # planner [PEOPLE]: the pure-planner target alone
        out = _planner(*ns.args)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
