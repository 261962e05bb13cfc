"""`reconciler sandbox`: run the local API emulator in the foreground (demos, manual poking)."""

from __future__ import annotations

import json
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from reconciler.cli import app

console = Console(stderr=True)


def load_world_file(path: Path) -> dict[str, Any]:
    """A world file is JSON or YAML (see docs/sandbox.md)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in {".yaml", ".yml"}:
        from ruamel.yaml import YAML

        data = YAML(typ="safe").load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{path}: a world file must hold a mapping at the top level")
    return data


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
    from reconciler.sandbox.server import Sandbox, SandboxServer

    started = time.monotonic()
    if world is not None:
        data = load_world_file(world)
    else:
        from reconciler.demo.world import build_demo_world_from_dir

        data = build_demo_world_from_dir(directory, datetime.now(UTC))
    server = SandboxServer(Sandbox(data, latency_ms=latency_ms), port=port, grpc_port=grpc_port)
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
