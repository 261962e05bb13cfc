"""Shared fixtures. The sandbox runs in-process on a random port; tests drive the real client
libraries against it over HTTP/gRPC and assert on its state and request log."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.sandbox.server import Sandbox, SandboxServer

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(autouse=True)
def _hermetic_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No RECONCILER_* variable of the developer's shell (a sandbox URL, a state dir, a token)
    leaks into a test: each test sets what it needs."""
    for name in list(os.environ):
        if name.startswith("RECONCILER_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    """One server per test session; `sandbox` resets it per test (starting servers costs ~ms
    but gRPC servers leak threads, so one is enough)."""
    with SandboxServer(Sandbox()) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    """The running sandbox, emptied of world, faults and log before each test."""
    app = sandbox_server.sandbox
    app.load_world({})
    app.clear_faults()
    app.telemetry.reset()
    app.latency_ms = 0
    yield sandbox_server


def load(server: SandboxServer, world: dict[str, Any]) -> None:
    server.sandbox.load_world(world)
