"""`reconciler demo` (what `make run` runs): the sandbox seeded with the demo world, then a plan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel

from reconciler.cli import app
from reconciler.cli.common import load, now
from reconciler.cli.output import report_console
from reconciler.desired.expanding import expand_access
from reconciler.plan import plan_changes
from reconciler.reports.plans import render_text


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="The desired-state repo.")] = Path(
        "desired_state"
    ),
) -> None:
    """The demo (`make run`): a sandbox seeded from the repo plus drift, then the plan.

    Reads the sandbox through the real client libraries and shows the plan and findings.
    Changes nothing."""
    from reconciler.demo.world import build_world
    from reconciler.providers.connecting import connect_sandbox
    from reconciler.providers.reading import read_all
    from reconciler.sandbox.server import Sandbox, SandboxServer

    console = report_console()
    desired = load(directory)
    moment = now()
    world, drift = build_world(desired, moment)
    console.print(
        Panel(
            f"{len(desired.people)} people, {len(desired.roles)} roles in {directory}/\n"
            "The sandbox world holds what the repo says, plus this drift:\n"
            + "\n".join(f"  • {d}" for d in drift),
            title="reconciler demo",
            expand=False,
        )
    )
    with SandboxServer(Sandbox(world)) as server:
        console.print(f"sandbox at {server.url} (IAM gRPC {server.sandbox.grpc_address})")
        providers = connect_sandbox(server.url, desired)
        snapshot = read_all(providers, desired, moment)
        counters = server.sandbox.telemetry.counters()
    for system, part in snapshot.parts.items():
        state = (
            "complete" if part.status.complete else "INCOMPLETE: " + "; ".join(part.status.problems)
        )
        console.print(f"read {system.value}: {state}")
    console.print(
        f"{counters['total_round_trips']} HTTP/gRPC round trips, "
        f"{sum(counters['api_calls'].values())} API calls, "
        f"GitHub rate-limit points {counters['rate_limit_points']}"
    )
    result = plan_changes(desired, expand_access(desired, moment), snapshot, moment)
    console.print(render_text(result, desired))
    console.print(
        "\nNext: [bold]reconciler sandbox &[/] then "
        "[bold]RECONCILER_SANDBOX_URL=http://127.0.0.1:8900 reconciler apply --confirm[/] "
        "(see README)."
    )
