"""Sandbox throughput: requests per second it serves to the real client libraries and to a
bare HTTP client. Called by `python -m reconciler.bench`.

The sandbox runs in its own process, as `reconciler sandbox` does: in-process, client and
server would share one GIL and the number would measure Python's lock, not the emulator.
The real clients' numbers are bounded by the clients' own per-call overhead (about 1-1.7 ms,
research/client_libs.md section 4); the bare-client numbers show the emulator's headroom.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import multiprocessing
import time
from collections.abc import Callable, Iterator
from typing import Any

from reconciler.demo.world import World

CALLS = 1000


def _serve(world: World, ready: Any, port_box: Any) -> None:  # child process
    from reconciler.sandbox.server import Sandbox, SandboxServer

    server = SandboxServer(Sandbox(world)).start()
    port_box.value = int(server.url.rsplit(":", 1)[1])
    ready.set()
    while True:
        time.sleep(3600)


@contextlib.contextmanager
def sandbox_process(world: World) -> Iterator[str]:
    """A sandbox serving `world` in a process of its own; its base URL. Spawned, not forked:
    a fork after gRPC has started in the parent (any earlier phase or test did) aborts the
    child in gRPC's core."""
    ctx = multiprocessing.get_context("spawn")
    ready, port_box = ctx.Event(), ctx.Value("i", 0)
    child = ctx.Process(target=_serve, args=(world, ready, port_box), daemon=True)
    child.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("sandbox process did not start")
        yield f"http://127.0.0.1:{port_box.value}"
    finally:
        child.kill()
        child.join(5)


def _raw_worker(args: tuple[int, str, int]) -> int:
    port, path, calls = args
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(calls):
        conn.request("GET", path)
        conn.getresponse().read()
    return calls


def _rate(fn: Callable[[], object], calls: int) -> float:
    fn()  # warm the connection
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return calls / (time.perf_counter() - started)


def measure_throughput(
    world: World, org: str, user_email: str, calls: int = CALLS
) -> dict[str, float]:
    """Requests/s for one simple GET per client, and for 2 concurrent bare clients."""
    from github import Auth, Github
    from google.auth.credentials import AnonymousCredentials
    from googleapiclient.discovery import build_from_document
    from googleapiclient.discovery_cache import get_static_doc

    # Rate limits are part of the emulation; a throughput run would hit them by design.
    world = json.loads(json.dumps(world))
    world["github"]["secondary_rate_limit"] = {
        "points_per_minute": 10**9,
        "graphql_points_per_minute": 10**9,
        "retry_after": 60,
    }
    world["github"]["rate_limit"] = {"limit": 10**9, "remaining": 10**9, "reset": 4102444800}
    # So is the domain-wide delegation, which refuses the anonymous Directory client below:
    # this phase measures the emulator's speed per call, not the token flow.
    world.get("google", {}).pop("delegation", None)
    ctx = multiprocessing.get_context("spawn")
    with sandbox_process(world) as url:
        port = int(url.rsplit(":", 1)[1])
        github = Github(base_url=url, auth=Auth.Token("bench"), retry=None,
                        seconds_between_requests=None, seconds_between_writes=None)  # fmt: skip
        doc = json.loads(get_static_doc("admin", "directory_v1"))
        doc["rootUrl"] = url + "/"
        directory = build_from_document(doc, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
        results = {
            "pygithub_get_org": _rate(lambda: github.get_organization(org), calls),
            "google_api_client_users_get": _rate(
                lambda: directory.users().get(userKey=user_email).execute(), calls
            ),
        }
        started = time.perf_counter()
        _raw_worker((port, f"/orgs/{org}", calls))
        results["bare_http_client"] = calls / (time.perf_counter() - started)
        with ctx.Pool(2) as pool:
            started = time.perf_counter()
            done = sum(pool.map(_raw_worker, [(port, f"/orgs/{org}", calls)] * 2))
            results["bare_http_client_x2"] = done / (time.perf_counter() - started)
        return {k: round(v) for k, v in results.items()}
