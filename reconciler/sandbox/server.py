"""The sandbox server: one HTTP port for every REST API plus the `/_sandbox/` control API,
and one gRPC port for IAM Admin. Started by `reconciler sandbox` and by the test fixture.

`API_MODULES` is the one list of the emulated HTTP APIs; each registers its routes with
`register(app)`. See `Sandbox.dispatch` for the order in which latency, faults, routing and
the request log apply to every call (batch parts too).
"""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from reconciler.sandbox import (
    cloud_storage,
    control,
    github_graphql,
    github_rest,
    google_auth,
    google_cloud,
    google_directory,
    google_oidc,
)
from reconciler.sandbox.github_rest import GitHubWorld
from reconciler.sandbox.http import (
    FAULT_FIELDS,
    FaultRule,
    Request,
    Response,
    Route,
    Router,
    Telemetry,
    discarded,
    parse_request,
)

Describer = Callable[[str], dict[str, Any]]


class ApiModule(Protocol):
    """What an emulated API module exposes: a one-line `SERVES` for `GET /_sandbox/` and
    `register(app)`, which adds its routes (and its reset hook and discovery entries)."""

    SERVES: str
    __name__: str

    def register(self, app: Sandbox) -> None: ...


# Every HTTP API the sandbox serves, in registration order (the first matching route wins, so
# the control API comes first). IAM Admin is gRPC, on its own port (`iam_grpc`, started by
# SandboxServer). A new emulated API is a module here; nothing else lists them.
API_MODULES: tuple[ApiModule, ...] = (
    control,
    google_auth,
    google_oidc,
    google_directory,
    google_cloud,
    cloud_storage,
    github_rest,
    github_graphql,
)


class Sandbox:
    """The emulator's state and request pipeline, independent of sockets (tests can call
    `dispatch` directly, but product tests must go through real clients over HTTP)."""

    def __init__(self, world: dict[str, Any] | None = None, latency_ms: int = 0) -> None:
        self.lock = threading.RLock()
        self.world: dict[str, Any] = {}
        self.router = Router()
        self.telemetry = Telemetry()
        self.faults: list[FaultRule] = []
        self.latency_ms = latency_ms
        self.describers: list[Describer] = []
        self.reset_hooks: list[Callable[[], None]] = []
        self.grpc_address: str | None = None
        # Bumped by every reset and every clearing of the faults: a request that slept through
        # a bump (latency or a fault delay) belongs to a world or a fault that no longer
        # exists, so it is discarded instead of acting on the new one (`pause`).
        self.epoch = 0
        self._wake = threading.Condition()
        # The GitHub section's indices and rate-limit budgets, which REST and GraphQL share;
        # it lives with the sandbox it indexes and is rebuilt by every load_world.
        self.github = GitHubWorld(self)
        self.reset_hooks.append(self.github.on_load)
        self._register_all()
        self.load_world(world or {})

    # -- world ---------------------------------------------------------------------------
    def load_world(self, world: dict[str, Any]) -> None:
        """Replace the world; requests asleep in a delay wake and are discarded."""
        with self.lock:
            self.world = copy.deepcopy(world)
            for hook in self.reset_hooks:
                hook()
            self._bump_epoch()

    def _bump_epoch(self) -> None:
        with self._wake:
            self.epoch += 1
            self._wake.notify_all()

    def pause(self, milliseconds: int, epoch: int) -> bool:
        """Sleep up to `milliseconds`, cut short by a reset or a clearing of the faults.
        True when the request may go on: nothing was reset or cleared since it arrived
        (`epoch` is `self.epoch` as it was then). A test that killed its client, or reset
        the world, must not leave a request thread asleep to act on a later world."""
        with self._wake:
            if milliseconds > 0:
                self._wake.wait_for(lambda: self.epoch != epoch, milliseconds / 1000)
            return self.epoch == epoch

    def _register_all(self) -> None:
        """Register every module of `API_MODULES`, remembering which routes each added so
        `GET /_sandbox/` can say what the sandbox serves."""
        self.apis: list[dict[str, Any]] = []
        for module in API_MODULES:
            before = len(self.router.routes)
            module.register(self)
            added = self.router.routes[before:]
            self.apis.append({
                "name": module.__name__.rsplit(".", 1)[-1],
                "serves": module.SERVES,
                "routes": len(added),
            })  # fmt: skip

    # -- pipeline ------------------------------------------------------------------------
    def add_route(
        self,
        method: str,
        template: str,
        handler: Callable[[Request], Response],
        *,
        name: str,
        api: str,
    ) -> None:
        self.router.add(method, template, handler, name=name, api=api)

    def dispatch(self, req: Request, *, in_batch: int | None = None) -> Response:
        """Latency, then faults, then the route; every call is logged and counted. A request
        that slept (latency, a fault delay) through a reset or a clearing of the faults is
        answered `discarded` without running its handler, and one asleep in `delay_after_ms`
        answers `discarded` too: its effect was on a world or under a fault that is gone."""
        epoch = self.epoch
        # Latency is per round trip on the wire: the parts of a Google batch share the one
        # HTTP request that carried them, as they do against the real API.
        if self.latency_ms and in_batch is None and not req.path.startswith("/_sandbox/"):
            self.telemetry.add_latency(self.latency_ms)
            if not self.pause(self.latency_ms, epoch):
                return discarded()
        matched = self.router.match(req.method, req.path)
        route: Route | None = matched[0] if matched else None
        fault: FaultRule | None = None
        if route is not None and route.api != "control":
            fault = self.fault_for(req)
            if fault is not None:
                if not self.pause(fault.delay_ms, epoch):
                    return discarded()
                if fault.drop_connection or fault.status is not None:
                    resp = Response(
                        status=fault.status or 500,
                        body=_fault_body(fault.body),
                        headers={
                            "Content-Type": "application/json; charset=utf-8",
                            **fault.headers,
                        },
                        drop_connection=fault.drop_connection,
                    )
                    self.telemetry.record(req, route, resp.status, in_batch=in_batch)
                    return resp
        if matched is None:
            resp = Response.json(
                {"message": "Not Found", "sandbox": f"no route for {req.method} {req.path}"}, 404
            )
            self.telemetry.record(req, None, 404, in_batch=in_batch)
            return resp
        route, params = matched
        req.params = params
        seq = self.telemetry.record(req, route, 0, in_batch=in_batch)
        req.seq = seq
        try:
            resp = route.handler(req)
        except Exception as exc:  # an emulator bug must show as a 500, not a hung client
            resp = Response.json({"message": f"sandbox error: {type(exc).__name__}: {exc}"}, 500)
        self.telemetry.set_status(seq, resp.status)
        if fault is not None and not self.pause(fault.delay_after_ms, epoch):
            return discarded()  # the effect held in its world; the answer never gets out
        return resp

    def fault_for(self, req: Request) -> FaultRule | None:
        with self.lock:
            for rule in self.faults:
                if rule.matches(req.method, req.path) and rule.should_fire():
                    return rule
        return None

    def add_fault(self, spec: dict[str, Any]) -> FaultRule:
        unknown = set(spec) - FAULT_FIELDS
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        rule = FaultRule(**spec)
        with self.lock:
            self.faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        """Remove every fault rule; requests still asleep in a delay wake and are discarded."""
        with self.lock:
            self.faults.clear()
            self._bump_epoch()

    def describe(self, base_url: str) -> dict[str, Any]:
        info: dict[str, Any] = {
            "base_url": base_url,
            "iam_grpc": self.grpc_address,
            "apis": [dict(api) for api in self.apis],
        }
        for describer in self.describers:
            info.update(describer(base_url))
        return info


def _fault_body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, delayed ACKs add ~40 ms to
    # every keep-alive request (research/client_libs.md section 0).
    disable_nagle_algorithm = True
    server: _HTTPServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = parse_request(self.command, self.path, headers, body)
        resp = self.server.sandbox.dispatch(req)
        if resp.drop_connection:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        body_out = b"" if resp.status == 304 or self.command == "HEAD" else resp.body
        self.send_header("Content-Length", str(len(body_out)))
        self.end_headers()
        if body_out:
            self.wfile.write(body_out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log lives in Telemetry, not on stderr


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)


class PortUnavailable(Exception):
    """A port the sandbox was asked to listen on cannot be had (in use, or not permitted);
    `str()` names the port and its use."""


def probe_port(host: str, port: int, what: str) -> None:
    """Raise PortUnavailable if `host:port` cannot be bound right now. gRPC's C core reports a
    failed bind only as a RuntimeError after logging its own error lines, so its port is
    tried here first; 0 (any free port) always succeeds."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As gRPC binds: SO_REUSEADDR, so a port in TIME_WAIT is free, a listening one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortUnavailable(
                f"cannot listen on {host}:{port} ({what}): {exc.strerror or exc}"
            ) from None


class SandboxServer:
    """Runs a Sandbox on 127.0.0.1: HTTP in a thread, gRPC (IAM Admin) on its own port.
    Raises PortUnavailable when either port cannot be bound."""

    def __init__(
        self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, grpc_port: int = 0
    ) -> None:
        self.sandbox = sandbox
        try:
            self.http = _HTTPServer((host, port), sandbox)
        except OSError as exc:
            raise PortUnavailable(
                f"cannot listen on {host}:{port} (HTTP): {exc.strerror or exc}"
            ) from None
        self.host = host
        self._thread = threading.Thread(
            target=self.http.serve_forever, name="sandbox-http", daemon=True
        )
        from reconciler.sandbox import iam_grpc

        try:
            probe_port(host, grpc_port, "IAM gRPC")
            self.grpc = iam_grpc.serve(sandbox, host, grpc_port)
        except (PortUnavailable, RuntimeError) as exc:
            self.http.server_close()
            if isinstance(exc, PortUnavailable):
                raise
            raise PortUnavailable(f"cannot listen on {host}:{grpc_port} (IAM gRPC)") from None
        sandbox.grpc_address = f"{host}:{self.grpc.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http.server_address[1]}"

    def start(self) -> SandboxServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.grpc.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
