"""The sandbox's HTTP plumbing: a router, request/response values, fault injection, request log.

Each emulated API module (`google_directory`, `google_cloud`, `github_rest`, `github_graphql`)
registers its routes on a `Router`; `server.SandboxServer` serves them all on one port.
Stdlib only, so the emulator starts in milliseconds and imports nothing of the product.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Request:
    method: str
    path: str  # unquoted path, without query string
    raw_path: str  # as sent, with query string
    query: dict[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    base_url: str  # scheme://host:port as the client addressed us (from the Host header)
    params: dict[str, str] = field(default_factory=dict)  # path parameters from the route
    seq: int = 0  # this request's entry in the request log (set by Sandbox.dispatch)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def int_arg(self, name: str, default: int) -> int:
        value = self.arg(name)
        try:
            return int(value) if value is not None else default
        except ValueError:
            return default

    def json(self) -> Any:
        if not self.body:
            return {}
        return json.loads(self.body)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop_connection: bool = False

    @classmethod
    def json(
        cls, payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        hdrs = {"Content-Type": "application/json; charset=utf-8"}
        hdrs.update(headers or {})
        return cls(status=status, body=json.dumps(payload).encode(), headers=hdrs)

    @classmethod
    def empty(cls, status: int = 204, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status=status, body=b"", headers=dict(headers or {}))


Handler = Callable[[Request], Response]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    name: str  # endpoint name for counters, e.g. "github.orgs.members.list"
    api: str  # "google" | "github" | "gcp" | "control"


class Router:
    """Maps (method, path regex) to handlers. Patterns use `{name}` for one path segment and
    `{name+}` for the rest of the path (like Google's `{+name}`)."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, *, name: str, api: str) -> None:
        regex = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", template)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self.routes.append(Route(method.upper(), re.compile(f"^{regex}$"), handler, name, api))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method != method:
                continue
            m = route.pattern.match(path)
            if m:
                return route, {k: unquote(v) for k, v in m.groupdict().items()}
        return None


@dataclass
class FaultRule:
    """Answer matching calls with a canned response, a delay or a dropped connection.

    method / path: a method (or "*") and a regex searched in the request path.
    nth: fire on the nth matching call only (1-based); every: fire on every call;
    probability: fire at random with a seeded generator (repeatable runs).
    times: stop after firing this many times (0 = unlimited).
    """

    path: str
    method: str = "*"
    nth: int | None = None
    every: bool = False
    probability: float | None = None
    seed: int = 0
    times: int = 0
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay_ms: int = 0
    drop_connection: bool = False
    # Sleep AFTER the handler ran (its effect is in the world) and before the answer is sent:
    # how the crash tests land a kill after a write took effect but before the client saw it.
    delay_after_ms: int = 0
    seen: int = 0
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._regex = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        # `method` is one method, "*", or alternatives such as "POST|PATCH|DELETE".
        return (self.method == "*" or method in self.method.upper().split("|")) and bool(
            self._regex.search(path)
        )

    def should_fire(self) -> bool:
        self.seen += 1
        if self.times and self.fired >= self.times:
            return False
        if self.nth is not None:
            hit = self.seen == self.nth
        elif self.probability is not None:
            hit = self._rng.random() < self.probability
        else:
            hit = self.every or self.nth is None
        if hit:
            self.fired += 1
        return hit

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "method": self.method, "nth": self.nth, "every": self.every,
            "probability": self.probability, "times": self.times, "status": self.status,
            "delay_ms": self.delay_ms, "drop_connection": self.drop_connection,
            "delay_after_ms": self.delay_after_ms, "seen": self.seen, "fired": self.fired,
        }  # fmt: skip


DISCARDED_MESSAGE = (
    "sandbox: request discarded, the world was reset or the faults cleared while it waited"
)


def discarded() -> Response:
    """The answer to a request that slept through a reset or a clearing of the faults: a 503
    (clients treat it as a failure to retry), never the effect of its handler."""
    return Response.json({"message": DISCARDED_MESSAGE}, 503)


FAULT_FIELDS = {
    "path", "method", "nth", "every", "probability", "seed", "times",
    "status", "headers", "body", "delay_ms", "drop_connection", "delay_after_ms",
}  # fmt: skip


@dataclass
class LoggedRequest:
    seq: int
    method: str
    path: str
    query: dict[str, list[str]]
    endpoint: str
    api: str
    status: int
    body: Any  # parsed JSON body when there is one
    at: float
    batch_parent: int | None = None  # seq of the enclosing batch request


class Telemetry:
    """Request log and per-endpoint counters: what tests and benchmarks assert on."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[LoggedRequest] = []
        self.by_endpoint: Counter[str] = Counter()
        self.round_trips: Counter[str] = Counter()  # per API: HTTP requests on the wire
        self.api_calls: Counter[str] = Counter()  # per API: calls, counting batch parts
        self.rate_limit_points: Counter[str] = Counter()  # GitHub "core" / "graphql"
        self.latency_ms_total = 0  # injected latency actually paid, per round trip
        self.seq = 0

    def record(
        self, req: Request, route: Route | None, status: int, *, in_batch: int | None = None
    ) -> int:
        body: Any = None
        if req.body and req.headers.get("content-type", "").startswith("application/json"):
            try:
                body = _redact(json.loads(req.body))
            except ValueError:
                body = None
        with self.lock:
            self.seq += 1
            endpoint = route.name if route else "unmatched"
            api = route.api if route else "unknown"
            self.log.append(
                LoggedRequest(self.seq, req.method, req.path, req.query, endpoint, api, status,
                              body, time.time(), in_batch)
            )  # fmt: skip
            self.by_endpoint[endpoint] += 1
            self.api_calls[api] += 1
            if in_batch is None:
                self.round_trips[api] += 1
            return self.seq

    def set_status(self, seq: int, status: int) -> None:
        """Fill in the answer's status once known; a no-op if the log was reset meanwhile."""
        with self.lock:
            if 0 < seq <= len(self.log) and self.log[seq - 1].seq == seq:
                self.log[seq - 1].status = status

    def add_latency(self, ms: int) -> None:
        with self.lock:
            self.latency_ms_total += ms

    def add_points(self, resource: str, points: int) -> None:
        with self.lock:
            self.rate_limit_points[resource] += points

    def reset(self) -> None:
        with self.lock:
            self.log.clear()
            self.by_endpoint.clear()
            self.round_trips.clear()
            self.api_calls.clear()
            self.rate_limit_points.clear()
            self.latency_ms_total = 0
            self.seq = 0

    def counters(self) -> dict[str, Any]:
        with self.lock:
            return {
                "by_endpoint": dict(self.by_endpoint),
                "round_trips": dict(self.round_trips),
                "api_calls": dict(self.api_calls),
                "rate_limit_points": dict(self.rate_limit_points),
                "total_round_trips": sum(self.round_trips.values()),
                "latency_ms_total": self.latency_ms_total,
            }


_SECRET_FIELDS = {"password", "hashfunction", "private_key", "privatekey", "token", "access_token"}


def _redact(value: Any) -> Any:
    """The request log is served over HTTP and shown in test failures: a password sent with
    users.insert must not be readable there, even though it is random."""
    if isinstance(value, dict):
        return {
            k: _mask(v) if k.lower() in _SECRET_FIELDS else _redact(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _mask(secret: Any) -> str:
    """Length and a short digest prefix: enough for a test to tell two random passwords apart
    and check their length, useless for recovering them."""
    text = str(secret)
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"<redacted {len(text)} chars sha256:{digest}>"


def parse_request(
    method: str, raw_path: str, headers: Mapping[str, str], body: bytes, scheme: str = "http"
) -> Request:
    parts = urlsplit(raw_path)
    host = headers.get("host", "127.0.0.1")
    return Request(
        method=method.upper(),
        path=parts.path,
        raw_path=raw_path,
        query=parse_qs(parts.query, keep_blank_values=True),
        headers=headers,
        body=body,
        base_url=f"{scheme}://{host}",
    )
