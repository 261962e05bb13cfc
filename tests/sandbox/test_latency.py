"""Latency is added per round trip on the wire, as a real network would: the parts of a
Google batch share the one HTTP request that carried them."""

from __future__ import annotations

from reconciler.sandbox.server import SandboxServer
from tests.sandbox.test_google_directory import DOMAIN, directory, google_world


def test_latency_is_paid_once_per_batch_not_once_per_part(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world(users=20))
    sandbox.sandbox.latency_ms = 50
    svc = directory(sandbox.url)
    svc.users().get(userKey=f"user0000@{DOMAIN}").execute()
    batch = svc.new_batch_http_request()
    for i in range(20):
        batch.add(svc.users().get(userKey=f"user{i:04d}@{DOMAIN}"))
    batch.execute()
    # One plain call and one batch: two round trips, not 21.
    assert sandbox.sandbox.telemetry.counters()["latency_ms_total"] == 2 * 50


def test_batch_parts_name_their_parent_after_the_log_was_reset(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world(users=3))
    svc = directory(sandbox.url)
    for _ in range(2):  # the second batch reuses log sequence numbers after the reset
        sandbox.sandbox.telemetry.reset()
        batch = svc.new_batch_http_request()
        for i in range(3):
            batch.add(svc.users().get(userKey=f"user{i:04d}@{DOMAIN}"))
        batch.execute()
        log = sandbox.sandbox.telemetry.log
        outer = [r for r in log if r.endpoint == "google.batch"]
        assert [r.batch_parent for r in log if r.endpoint == "google.users.get"] == [
            outer[0].seq
        ] * 3
        assert sandbox.sandbox.telemetry.counters()["round_trips"]["google"] == 1
