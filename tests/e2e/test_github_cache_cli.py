"""The GitHub cache across one-shot CLI runs: `reconciler plan` twice, each a new set of
providers as in two nightly cron runs, the second revalidating from the state store's
`github-cache.json` with 304s; a member added in between is in the next plan."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.sandbox.github_rest import world_of
from reconciler.sandbox.server import SandboxServer
from reconciler.state.documents import GITHUB_CACHE_DOCUMENT
from tests.e2e.scenario import cli, setup


def _github_points(sandbox: SandboxServer) -> int:
    spent = sandbox.sandbox.telemetry.rate_limit_points
    return spent["core"] + spent["graphql"]


def test_a_second_cli_run_revalidates_github_from_the_state_store(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    first = cli(["plan", "--format", "json", "--dir", str(directory)], env)
    assert first.exit_code in (0, 2), first.output
    cold = _github_points(sandbox)
    assert (tmp_path / "state" / GITHUB_CACHE_DOCUMENT).exists()
    seen = len(sandbox.sandbox.telemetry.log)

    second = cli(["plan", "--format", "json", "--dir", str(directory)], env)

    assert second.exit_code == first.exit_code, second.output
    plans = [json.loads(r.stdout)["plan"] for r in (first, second)]
    assert plans[0]["actions"] == plans[1]["actions"]
    assert plans[0]["findings"] == plans[1]["findings"]
    assert _github_points(sandbox) - cold <= cold / 10
    assert any(r.status == 304 for r in sandbox.sandbox.telemetry.log[seen:])

    gw = world_of(sandbox.sandbox)
    with sandbox.sandbox.lock:
        gw.data["users"].append({"login": "kobayashi-x", "id": 88001, "two_factor": True})
        gw.data["members"].append({"login": "kobayashi-x", "role": "member"})
        gw.reindex()
    third = cli(["plan", "--format", "json", "--dir", str(directory)], env)
    assert "kobayashi-x" in third.stdout
    assert "kobayashi-x" not in second.stdout
