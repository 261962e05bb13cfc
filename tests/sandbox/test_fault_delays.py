"""Fault delays around the handler: `delay_after_ms` answers late after the write took effect,
and a reset or a clearing of the faults (control API over HTTP, or `Sandbox.clear_faults`)
wakes a request still asleep in a delay and discards it, so it never acts on the new world
(the crash tests rely on this: tests/e2e/test_crash_safety.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import requests

from reconciler.sandbox.http import DISCARDED_MESSAGE
from reconciler.sandbox.server import SandboxServer
from tests.conftest import load
from tests.sandbox.test_github_rest import ORG, github_world


def _members(server: SandboxServer) -> set[str]:
    with server.sandbox.lock:
        return {m["login"] for m in server.sandbox.world["github"]["members"]}


# Far longer than any test may wait: a request still asleep when its thread is joined has
# not been woken.
LONG_DELAY_MS = 600_000
JOIN_SECONDS = 30


def _remove_in_thread(server: SandboxServer, login: str) -> tuple[threading.Thread, list[int]]:
    statuses: list[int] = []

    def call() -> None:
        resp = requests.delete(f"{server.url}/orgs/{ORG}/memberships/{login}", timeout=60)
        statuses.append(resp.status_code)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread, statuses


def _invite_in_thread(
    server: SandboxServer, login: str
) -> tuple[threading.Thread, list[requests.Response]]:
    """PUT an org membership for a non-member: the write creates a pending invitation."""
    answers: list[requests.Response] = []

    def call() -> None:
        answers.append(
            requests.put(
                f"{server.url}/orgs/{ORG}/memberships/{login}", json={"role": "member"}, timeout=60
            )
        )

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread, answers


def _invited(server: SandboxServer) -> set[str]:
    with server.sandbox.lock:
        return {i["login"] for i in server.sandbox.world["github"]["invitations"] if i["login"]}


def _reset_over_http(server: SandboxServer) -> None:
    resp = requests.post(f"{server.url}/_sandbox/reset", json={"world": github_world(members=3)})
    assert resp.status_code == 200


def _clear_faults_over_http(server: SandboxServer) -> None:
    assert requests.delete(f"{server.url}/_sandbox/faults", timeout=10).status_code == 204


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


def test_clear_faults_wakes_a_delayed_request_which_is_discarded(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world(members=3))
    sandbox.sandbox.add_fault(
        {"method": "DELETE", "path": "/memberships/user2$", "nth": 1, "delay_ms": LONG_DELAY_MS,
         "status": 503}
    )  # fmt: skip
    thread, statuses = _remove_in_thread(sandbox, "user2")
    _wait_until_fired(sandbox)
    sandbox.sandbox.clear_faults()
    thread.join(JOIN_SECONDS)
    assert not thread.is_alive(), "the request slept on after the faults were cleared"
    assert statuses == [503]
    assert sandbox.sandbox.faults == []
    assert "user2" in _members(sandbox)  # a faulted request never reaches the handler


@pytest.mark.parametrize(
    "wake", [_reset_over_http, _clear_faults_over_http], ids=["reset", "clear faults"]
)
def test_a_write_asleep_in_a_delay_is_discarded_by_a_reset_or_clearing_the_faults(
    sandbox: SandboxServer, wake: Callable[[SandboxServer], None]
) -> None:
    """A pure delay (no canned status) would run the handler when it wakes; after a reset or
    a clearing of the faults it must not: the write answers at once with an error and the
    world afterwards holds no trace of it."""
    load(sandbox, github_world(members=3))
    requests.post(
        f"{sandbox.url}/_sandbox/faults",
        json={"method": "PUT", "path": "/memberships/newcomer$", "nth": 1,
              "delay_ms": LONG_DELAY_MS},
        timeout=10,
    ).raise_for_status()  # fmt: skip
    thread, answers = _invite_in_thread(sandbox, "newcomer")
    _wait_until_fired(sandbox)
    wake(sandbox)
    thread.join(JOIN_SECONDS)
    assert not thread.is_alive(), "the write slept on through the reset"
    assert [a.status_code for a in answers] == [503]
    assert answers[0].json()["message"] == DISCARDED_MESSAGE
    assert "newcomer" not in _invited(sandbox)
    assert requests.get(f"{sandbox.url}/_sandbox/faults", timeout=10).json()["faults"] == []


def test_a_write_asleep_after_its_handler_is_discarded_by_a_reset_and_the_new_world_is_clean(
    sandbox: SandboxServer,
) -> None:
    """`delay_after_ms`: the handler changed the old world; the reset world must not show it
    and the late answer must not claim success."""
    load(sandbox, github_world(members=3))
    sandbox.sandbox.add_fault(
        {"method": "PUT", "path": "/memberships/newcomer$", "nth": 1,
         "delay_after_ms": LONG_DELAY_MS}
    )  # fmt: skip
    thread, answers = _invite_in_thread(sandbox, "newcomer")
    _wait_until_fired(sandbox)
    deadline = time.monotonic() + 5
    while "newcomer" not in _invited(sandbox):  # the effect holds in the old world
        assert time.monotonic() < deadline, "the handler never ran"
        time.sleep(0.01)
    _reset_over_http(sandbox)
    thread.join(JOIN_SECONDS)
    assert not thread.is_alive(), "the answer slept on through the reset"
    assert [a.status_code for a in answers] == [503]
    assert "newcomer" not in _invited(sandbox)
