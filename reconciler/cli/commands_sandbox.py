"""`reconciler sandbox`: run the local API emulator in the foreground (demos, manual poking)."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from reconciler.cli import app
from reconciler.cli.common import fail, load, require_sandbox_extra

console = Console(stderr=True)


@app.command()
def sandbox(
    world: Annotated[
        Path | None,
        typer.Option(help="World file (JSON/YAML). Default: the demo world built from --dir."),
    ] = None,
    directory: Annotated[
        Path, typer.Option("--dir", help="Desired-state repo the demo world is built from.")
    ] = Path("desired_state"),
    port: Annotated[int, typer.Option(help="HTTP port on 127.0.0.1 (0 = any free port).")] = 8900,
    grpc_port: Annotated[int, typer.Option(help="gRPC port for IAM Admin (0 = any).")] = 0,
    latency_ms: Annotated[int, typer.Option(help="Added latency per request, in ms.")] = 0,
) -> None:
    """Run the local emulator of Google Directory, GitHub and GCP IAM on 127.0.0.1.

    Point the product at it with RECONCILER_SANDBOX_URL=http://127.0.0.1:PORT; poke it with
    curl (GET /_sandbox/ lists the base URLs). Stops on Ctrl-C.
    """
    require_sandbox_extra()
    from reconciler.sandbox.server import PortUnavailable, Sandbox, SandboxServer
    from reconciler.sandbox.worlds import WorldError, load_world_file

    started = time.monotonic()
    if world is not None:
        try:
            data = load_world_file(world)
        except WorldError as exc:
            fail(f"--world {exc}")
    else:
        from reconciler.demo.world import build_world

        data, _ = build_world(load(directory), datetime.now(UTC))
    try:
        server = SandboxServer(Sandbox(data, latency_ms=latency_ms), port=port, grpc_port=grpc_port)
    except PortUnavailable as exc:
        fail(
            f"{exc}: stop what listens there, or pick another with --port / --grpc-port "
            "(0 = any free port)"
        )
    server.start()
    elapsed = time.monotonic() - started
    console.print(
        f"[bold green]sandbox ready[/] in {elapsed:.2f}s at [bold]{server.url}[/] "
        f"(IAM gRPC {server.sandbox.grpc_address}); try: curl {server.url}/_sandbox/"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
