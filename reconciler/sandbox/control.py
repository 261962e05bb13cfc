"""The `/_sandbox/` control API: discovery, world state, reset, faults, latency, request log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.sandbox.http import Request, Response
from reconciler.sandbox.worlds import world_problems

if TYPE_CHECKING:
    from reconciler.sandbox.server import Sandbox

SERVES = "Control API: discovery, world state, reset, faults, latency, request log (/_sandbox/)"


def register(app: Sandbox) -> None:
    def info(req: Request) -> Response:
        return Response.json(app.describe(req.base_url))

    def state(req: Request) -> Response:
        with app.lock:
            return Response.json(app.world)

    def reset(req: Request) -> Response:
        payload = req.json()
        world = payload.get("world", payload) if isinstance(payload, dict) else None
        if not isinstance(world, dict):
            return Response.json({"error": "body must be a world object"}, 400)
        problems = world_problems(world)
        if problems:
            return Response.json(
                {"error": "the world breaks its schema", "problems": problems}, 400
            )
        app.load_world(world)
        app.clear_faults()
        app.telemetry.reset()
        return Response.json({"ok": True})

    def faults_get(req: Request) -> Response:
        with app.lock:
            return Response.json({"faults": [f.to_json() for f in app.faults]})

    def faults_post(req: Request) -> Response:
        payload = req.json()
        specs: list[dict[str, Any]] = (
            payload.get("faults", [payload]) if isinstance(payload, dict) else payload
        )
        try:
            rules = [app.add_fault(spec) for spec in specs]
        except (TypeError, ValueError) as exc:
            return Response.json({"error": str(exc)}, 400)
        return Response.json({"faults": [r.to_json() for r in rules]}, 201)

    def faults_delete(req: Request) -> Response:
        app.clear_faults()
        return Response.empty()

    def requests_get(req: Request) -> Response:
        with app.telemetry.lock:
            log = [vars(r).copy() for r in app.telemetry.log]
        since = req.int_arg("since", 0)
        return Response.json({"requests": [r for r in log if r["seq"] > since]})

    def counters(req: Request) -> Response:
        return Response.json(app.telemetry.counters())

    def counters_reset(req: Request) -> Response:
        app.telemetry.reset()
        return Response.empty()

    def latency(req: Request) -> Response:
        app.latency_ms = int(req.json().get("latency_ms", 0))
        return Response.json({"latency_ms": app.latency_ms})

    for method, path, handler in (
        ("GET", "/_sandbox/", info),
        ("GET", "/_sandbox/state", state),
        ("POST", "/_sandbox/reset", reset),
        ("GET", "/_sandbox/faults", faults_get),
        ("POST", "/_sandbox/faults", faults_post),
        ("DELETE", "/_sandbox/faults", faults_delete),
        ("GET", "/_sandbox/requests", requests_get),
        ("GET", "/_sandbox/counters", counters),
        ("DELETE", "/_sandbox/counters", counters_reset),
        ("POST", "/_sandbox/latency", latency),
    ):
        endpoint = path.removeprefix("/_sandbox").strip("/") or "info"
        app.add_route(
            method, path, handler, name=f"sandbox.{endpoint}.{method.lower()}", api="control"
        )
