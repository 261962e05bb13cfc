"""The control API answers discovery, faults and counters over real HTTP."""

from __future__ import annotations

import requests

from reconciler.sandbox.server import SandboxServer


def test_control_api_reports_faults_and_counts_requests(sandbox: SandboxServer) -> None:
    info = requests.get(f"{sandbox.url}/_sandbox/", timeout=5).json()
    assert info["base_url"] == sandbox.url
    assert info["iam_grpc"]
    r = requests.post(
        f"{sandbox.url}/_sandbox/faults",
        json={"path": "^/nowhere$", "nth": 1, "status": 503},
        timeout=5,
    )
    assert r.status_code == 201
    assert (
        requests.get(f"{sandbox.url}/_sandbox/faults", timeout=5).json()["faults"][0]["status"]
        == 503
    )
    assert (
        requests.get(f"{sandbox.url}/nowhere", timeout=5).status_code == 404
    )  # unmatched routes are never faulted
    counters = requests.get(f"{sandbox.url}/_sandbox/counters", timeout=5).json()
    assert counters["by_endpoint"]["unmatched"] == 1
