"""`reconciler demo` (what `make run` runs): the sandbox seeded with the demo world, then a plan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel

from reconciler.cli import app
from reconciler.cli.common import language_of, load, now, require_sandbox_extra
from reconciler.cli.output import report_console
from reconciler.desired.expanding import expand_access
from reconciler.plan import plan_changes
from reconciler.reports.plans import render_text

# What to type after `make run`, exactly as printed: from the repository root, where `make`
# put the command in .venv/bin (it is not on PATH). tests/cli/test_demo_next_steps.py runs
# every line, so a renamed option or command cannot leave the hint wrong.
NEXT_STEPS: tuple[str, ...] = (
    ".venv/bin/reconciler sandbox &",
    "export RECONCILER_SANDBOX_URL=http://127.0.0.1:8900 RECONCILER_STATE_DIR=var",
    ".venv/bin/reconciler plan",
    ".venv/bin/reconciler apply --confirm",
    ".venv/bin/reconciler audit verify",
)


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="The desired-state repo.")] = Path(
        "desired_state"
    ),
) -> None:
    """The demo (`make run`): a sandbox seeded from the repo plus drift, then the plan.

    Reads the sandbox through the real client libraries and shows the plan and findings.
    Changes nothing."""
    require_sandbox_extra()
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
    # In the organisation's language (organization.yaml `language`), as `plan` shows it.
    console.print(render_text(result, desired, language_of(None, desired)))
    console.print("\nNext: apply it against a running sandbox (README, Quick start):")
    for line in NEXT_STEPS:
        console.print(f"  [bold]{escape(line)}[/]", soft_wrap=True, highlight=False)
