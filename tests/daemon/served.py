"""Helpers for the daemon tests: a real desired-state git repo made by the test, a real
`reconciler serve` subprocess (uvicorn on 127.0.0.1) against the in-process sandbox, signed
webhook deliveries, a notification receiver on 127.0.0.1, and the metrics as numbers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from reconciler.daemon.signing import sign
from reconciler.demo.world import build_world
from reconciler.desired.loading import load_desired_dir
from reconciler.model import DesiredState
from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import LEAVER, today, write_repo

SECRET = b"test-webhook-secret-0123"
WAIT = 45.0  # seconds any condition may take before the test gives up (never asserted on)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=Test", "-c", "user.email=test@example.com",
         *args],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()


def leaver_file(repo: Path, *, leaving: bool) -> None:
    """The leaver's person file, with or without today as their last day."""
    path = repo / "people" / f"{LEAVER}.yaml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r", end: [0-9-]+", "", text)
    if leaving:
        text = text.replace("start: 2020-04-01", f"start: 2020-04-01, end: {today()}")
    path.write_text(text, encoding="utf-8")


def make_repo(tmp_path: Path, **options: Any) -> tuple[Path, DesiredState]:
    """A git repo (branch main) of the e2e company in which nobody leaves yet."""
    repo = write_repo(tmp_path / "origin", **options)
    leaver_file(repo, leaving=False)
    git(repo, "init", "--quiet", "--initial-branch", "main")
    commit(repo, "initial desired state")
    return repo, load_desired_dir(repo)


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", message)
    return git(repo, "rev-parse", "HEAD")


def converged_world(sandbox: SandboxServer, desired: DesiredState) -> None:
    """The sandbox as the repo says now: the start-up run has nothing to do."""
    world, _ = build_world(desired, datetime.now(UTC), drift=False)
    sandbox.sandbox.load_world(world)
    sandbox.sandbox.telemetry.reset()


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


@dataclass
class Receiver:
    """A notification endpoint on 127.0.0.1 that keeps every JSON body it gets."""

    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def events(self, event: str) -> list[dict[str, Any]]:
        return [b for b in list(self.bodies) if b.get("event") == event]


@contextmanager
def receiver() -> Iterator[Receiver]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            got.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/notify", got)
    finally:
        server.shutdown()
        server.server_close()


def daemon_env(sandbox: SandboxServer, tmp_path: Path, repo: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    env.update(
        RECONCILER_SANDBOX_URL=sandbox.url,
        RECONCILER_REPO_URL=str(repo),
        RECONCILER_STATE_DIR=str(tmp_path / "state"),
        RECONCILER_WORK_DIR=str(tmp_path / "work"),
        RECONCILER_WEBHOOK_SECRET=SECRET.decode(),
        RECONCILER_ACTOR="reconciler-serve@example.com",
        RECONCILER_LOG_FORMAT="json",
        RECONCILER_LOG_LEVEL="info",
        NO_PROXY="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    log: Path

    def metrics(self) -> dict[str, float]:
        """`name{labels}` -> value, from /metrics."""
        text = requests.get(f"{self.url}/metrics", timeout=10).text
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def metric(self, name: str) -> float:
        return self.metrics().get(name, 0.0)

    def idle(self) -> bool:
        m = self.metrics()
        return m.get('reconciler_jobs{state="running"}') == 0 and (
            m.get('reconciler_jobs{state="waiting"}') == 0
        )

    def runs(self, trigger: str) -> float:
        label = f'trigger="{trigger}"'
        return sum(
            v
            for k, v in self.metrics().items()
            if k.startswith("reconciler_runs_total{") and label in k
        )

    def wait_ready(self) -> None:
        wait_for(
            lambda: requests.get(f"{self.url}/readyz", timeout=10).status_code == 200,
            "the daemon to be ready",
        )
        wait_for(self.idle, "the start-up run to finish")

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def serve(env: Mapping[str, str], tmp_path: Path, *args: str) -> Iterator[Served]:
    """`reconciler serve --port 0` in a subprocess; SIGTERM and a wait at the end."""
    log = tmp_path / f"serve-{uuid.uuid4().hex[:6]}.log"
    with log.open("w", encoding="utf-8") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "serve", "--port", "0", *args],
            env=dict(env), stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
    try:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            found = re.search(r"listening on (http://[0-9.]+:[0-9]+)", line)
            if found:
                url = found[1]
                break
        if url is None:
            process.wait(timeout=30)
            raise AssertionError(f"serve did not start: {log.read_text()}")
        yield Served(url, process, log)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def deliver(
    url: str,
    event: str,
    payload: Mapping[str, Any] | bytes,
    *,
    secret: bytes | None = SECRET,
    delivery: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> requests.Response:
    """One GitHub webhook delivery, signed with `secret` (None: unsigned)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
    }
    if secret is not None:
        sent["X-Hub-Signature-256"] = sign(secret, body)
    sent.update(headers or {})
    return requests.post(f"{url}/webhook/github", data=body, headers=sent, timeout=10)


def push_payload(commit_sha: str, branch: str = "main") -> dict[str, Any]:
    return {
        "ref": f"refs/heads/{branch}",
        "after": commit_sha,
        "repository": {"full_name": "example-co/desired-state"},
        "pusher": {"name": "hr-bot"},
    }
