"""Render benchmark results (the dict `running.run_benchmark` returns) as rich tables on the
terminal; called by `python -m reconciler.bench`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

SYSTEM_NAMES = ("google", "github", "gcp")
COST_FIELDS = (
    ("round_trips", "round trips"),
    ("api_calls", "API calls"),
    ("core_points", "GitHub core pts"),
    ("graphql_points", "GitHub GraphQL pts"),
)


def _cell(measured: int, minimum: int) -> str:
    """ "measured / minimum", highlighted when the measurement is above the floor."""
    text = f"{measured} / {minimum}"
    return f"[bold yellow]{text}[/]" if measured > minimum else text


def cost_table(title: str, systems: Mapping[str, Any]) -> Table:
    """One row per system: each cost as measured / minimum, and whether the read was whole."""
    table = Table(title=title, title_justify="left")
    table.add_column("system")
    for _, label in COST_FIELDS:
        table.add_column(f"{label}\nmeasured / min", justify="right")
    table.add_column("read")
    for system, entry in systems.items():
        if not isinstance(entry, Mapping) or "measured" not in entry:
            continue
        measured, minimum = entry["measured"], entry["minimum"]
        table.add_row(
            system,
            *(_cell(measured[key], minimum[key]) for key, _ in COST_FIELDS),
            "complete" if entry.get("complete", True) else "[red]INCOMPLETE[/]",
        )
    return table


def render(results: Mapping[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    world = results["world"]
    console.print(
        f"[bold]reconciler bench[/]: {results['people']} people -> "
        f"{world['google_users']} Google users, {world['google_groups']} groups "
        f"({world['google_memberships']} memberships), {world['github_members']} GitHub "
        f"members, {world['github_teams']} teams, {world['gcp_resources']} GCP resources, "
        f"{world['gcp_service_accounts']} service accounts"
    )
    console.print(cost_table("1. Full read (read_all), cold", results["full_read"]))
    console.print(
        f"   + {results['full_read_oauth_round_trips']} OAuth token exchange(s) for Google "
        "domain-wide delegation (once per token lifetime)"
    )
    timings = results["timings_s"]
    per_system = ", ".join(f"{k} {v}" for k, v in sorted(timings["read_per_system"].items()))
    times = Table(title="Wall time", title_justify="left")
    times.add_column("phase")
    times.add_column("seconds", justify="right")
    for label, value in (
        ("generate + load + validate the repo", timings["generate_and_load"]),
        ("build the sandbox world", timings["build_world"]),
        (f"read_all ({per_system})", timings["read"]),
        ("expand + plan", timings["expand_and_plan"]),
        ("whole benchmark (all phases)", timings["total"]),
    ):
        times.add_row(label, f"{value:.3f}")
    console.print(times)
    plan = results["plan"]
    console.print(f"   plan: {plan['actions']} actions, {plan['findings']} findings")

    latency = results["latency"]
    per_system = latency["per_system_seconds"]
    console.print(
        f"\n[bold]2. Same read with {latency['latency_ms']} ms per request[/]: "
        f"{latency['read_seconds']} s in all; per system "
        + ", ".join(f"{k} {v} s" for k, v in sorted(per_system.items()))
        + f" (sequential sum {round(sum(per_system.values()), 3)} s: the systems are read "
        "concurrently)"
    )
    second = results["second_read"]
    console.print(
        cost_table(
            f"3. Second read, same providers, nothing changed ({second['seconds']} s)",
            second,
        )
    )
    lookups = Table(
        title="4. Emergency offboarding reverse look-ups (read_person_everywhere)",
        title_justify="left",
    )
    lookups.add_column("org size", justify="right")
    lookups.add_column("person")
    for system in ("google", "github", "gcp"):
        lookups.add_column(f"{system}\ntrips / min", justify="right")
    lookups.add_column("GitHub pts\ncore+gql", justify="right")
    lookups.add_column("seconds", justify="right")
    for entry in results["lookups"]:
        systems = entry["systems"]
        gh = systems["github"]["measured"]
        lookups.add_row(
            str(entry["people"]),
            entry["person"],
            *(
                _cell(systems[s]["measured"]["round_trips"], systems[s]["minimum"]["round_trips"])
                for s in ("google", "github", "gcp")
            ),
            f"{gh['core_points']}+{gh['graphql_points']}",
            str(entry["seconds"]),
        )
    console.print(lookups)
    targets = results.get("targets")
    if targets:
        console.print(targets_table(targets))
    throughput = results.get("throughput")
    if throughput:
        rates = Table(
            title="5. Sandbox throughput, 1,000 simple GETs (sandbox in its own process)",
            title_justify="left",
        )
        rates.add_column("client")
        rates.add_column("requests/s", justify="right")
        for label, key in (
            ("PyGithub get_organization", "pygithub_get_org"),
            ("google-api-python-client users.get", "google_api_client_users_get"),
            ("bare http.client, keep-alive", "bare_http_client"),
            ("2 bare http.client processes", "bare_http_client_x2"),
        ):
            rates.add_row(label, str(throughput[key]))
        console.print(rates)
    peers = results.get("peers")
    if peers:
        console.print(peers_table(peers))
        for note in peers_notes(peers):
            console.print(note)


def peers_table(peers: Mapping[str, Any]) -> Table:
    """Phase 6: each tool's round trips per system and its time on the same world; a peer the
    sandbox could not serve shows the round trips its own call pattern would spend."""
    table = Table(
        title=f"6. Peers on the same world (sandbox in its own process, "
        f"{peers['latency_ms']} ms per round trip)",
        title_justify="left",
    )
    table.add_column("tool")
    for system in SYSTEM_NAMES:
        table.add_column(f"{system}\ntrips", justify="right")
    table.add_column("seconds", justify="right")
    product = peers["reconciler"]
    table.add_row(
        "reconciler read_all",
        *(str(product["round_trips"].get(s, 0)) for s in SYSTEM_NAMES),
        str(product["seconds"]),
    )
    expected = peers["cartography_expected_round_trips"]
    for system, entry in peers["cartography"].items():
        skipped = "skipped" in entry
        trips = f"({expected[system]})" if skipped else str(entry["round_trips"].get(system, 0))
        table.add_row(
            f"cartography {system}",
            *(trips if s == system else "-" for s in SYSTEM_NAMES),
            "[yellow]skipped[/]" if skipped else str(entry["seconds"]),
        )
    terraform = peers["terraform"]
    table.add_row(
        f"Terraform refresh (formula;\nsequential / -parallelism={terraform['parallelism']})",
        *(str(terraform["round_trips"].get(s, 0)) for s in SYSTEM_NAMES),
        f"{terraform['sequential_seconds']} /\n{terraform['parallel_seconds']}",
    )
    return table


def peers_notes(peers: Mapping[str, Any]) -> list[str]:
    """The lines under the peers table: why a peer was skipped, and whether each measured
    peer spent exactly what its own page sizes predict (its read was whole)."""
    expected = peers["cartography_expected_round_trips"]
    notes = []
    for system, entry in peers["cartography"].items():
        if "skipped" in entry:
            notes.append(
                f"   cartography {system} skipped ({expected[system]}: the round trips its "
                f"call pattern would spend): {entry['skipped']}"
            )
        elif entry["round_trips"].get(system, 0) != expected[system]:
            notes.append(
                f"   [yellow]cartography {system}: {entry['round_trips'].get(system, 0)} round "
                f"trips, its page sizes predict {expected[system]}[/]"
            )
    return notes


def targets_table(targets: list[Mapping[str, Any]]) -> Table:
    """The scale targets: target, measured, met (as docs/benchmarks.md shows them)."""
    table = Table(title="Scale targets (sandbox in its own process)", title_justify="left")
    for column in ("target", "goal", "measured", "met"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for row in targets:
        sign = "<=" if row["unit"] == "x" else "<"
        met = {True: "[green]yes[/]", False: "[bold red]no[/]", None: "?"}[row["met"]]
        table.add_row(
            row["name"],
            f"{sign} {row['target']} {row['unit']}",
            f"{row['measured']} {row['unit']}",
            met,
        )
    return table
