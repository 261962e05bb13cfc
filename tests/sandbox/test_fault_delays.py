"""Fault delays around the handler: `delay_after_ms` answers late after the write took effect,
and `Sandbox.clear_faults` wakes a request still asleep in a delay (the crash tests rely on
both: tests/e2e/test_crash_safety.py)."""

from __future__ import annotations

import threading
import time

import requests

from reconciler.sandbox.server import SandboxServer
from tests.conftest import load
from tests.sandbox.test_github_rest import ORG, github_world


def _members(server: SandboxServer) -> set[str]:
    with server.sandbox.lock:
        return {m["login"] for m in server.sandbox.world["github"]["members"]}


def _remove_in_thread(server: SandboxServer, login: str) -> tuple[threading.Thread, list[int]]:
    statuses: list[int] = []

    def call() -> None:
        resp = requests.delete(f"{server.url}/orgs/{ORG}/memberships/{login}", timeout=30)
        statuses.append(resp.status_code)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread, statuses


def _wait_until_fired(server: SandboxServer) -> None:
    deadline = time.monotonic() + 5
    while not server.sandbox.faults[0].fired:
        assert time.monotonic() < deadline, "the fault never fired"
        time.sleep(0.01)


def test_delay_after_applies_the_write_before_the_late_answer(sandbox: SandboxServer) -> None:
    load(sandbox, github_world(members=3))
    sandbox.sandbox.add_fault(
        {"method": "DELETE", "path": "/memberships/user2$", "nth": 1, "delay_after_ms": 400}
    )
    started = time.monotonic()
    thread, statuses = _remove_in_thread(sandbox, "user2")
    _wait_until_fired(sandbox)
    time.sleep(0.1)
    assert "user2" not in _members(sandbox)  # the effect holds while the client still waits
    assert statuses == []
    thread.join(5)
    assert statuses == [204]
    assert time.monotonic() - started >= 0.4
    assert sandbox.sandbox.faults[0].to_json()["delay_after_ms"] == 400


def test_clear_faults_wakes_a_delayed_request_which_then_answers_its_fault_status(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world(members=3))
    sandbox.sandbox.add_fault(
        {"method": "DELETE", "path": "/memberships/user2$", "nth": 1, "delay_ms": 60_000,
         "status": 503}
    )  # fmt: skip
    thread, statuses = _remove_in_thread(sandbox, "user2")
    _wait_until_fired(sandbox)
    started = time.monotonic()
    sandbox.sandbox.clear_faults()
    thread.join(5)
    assert time.monotonic() - started < 2
    assert statuses == [503]
    assert sandbox.sandbox.faults == []
    assert "user2" in _members(sandbox)  # a faulted request never reaches the handler
