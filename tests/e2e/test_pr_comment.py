"""`reconciler plan --pr-comment OWNER/REPO#N` through the real CLI, PyGithub and the sandbox:
the plan is ONE comment on the pull request, found again by its hidden marker among the
pull request's comments (past the first page) and edited in place on the next run."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.demo.world import build_world
from reconciler.desired.loading import load_desired_dir
from reconciler.reports.plans import PLAN_COMMENT_MARKER
from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import TZ, cli, cli_env, state

REPO_ROOT = Path(__file__).resolve().parents[2]
DESIRED = REPO_ROOT / "desired_state"
PR = "example-co/desired-state#1"
# More reviewers' comments than one page (100) holds, so the marker is found by following
# the Link header, not on the first page only.
HUMAN_COMMENTS = 120


def demo_world_with_review_thread() -> dict[str, Any]:
    world, _ = build_world(load_desired_dir(DESIRED), datetime.now(TZ))
    repo = world["github"]["repositories"][0]
    repo["issue_comments"] = [
        {"id": 8_100_000 + i, "issue_number": 1, "body": f"review note {i}",
         "user": repo["pull_requests"][0]["user"], "created_at": "2026-11-30T01:00:00Z"}
        for i in range(HUMAN_COMMENTS)
    ]  # fmt: skip
    return world


def plan_comments(sandbox: SandboxServer) -> list[dict[str, Any]]:
    repo = state(sandbox)["github"]["repositories"][0]
    return [c for c in repo["issue_comments"] if PLAN_COMMENT_MARKER in c["body"]]


def test_the_plan_is_one_comment_created_once_and_then_updated_in_place(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    sandbox.sandbox.load_world(demo_world_with_review_thread())
    env = cli_env(sandbox, tmp_path) | {"GITHUB_SERVER_URL": "https://github.example.com",
                                        "GITHUB_REPOSITORY": "example-co/desired-state",
                                        "GITHUB_RUN_ID": "4242"}  # fmt: skip

    first = cli(["plan", "--dir", str(DESIRED), "--pr-comment", PR], env)

    assert first.exit_code == 2, first.output  # changes pending, whatever the comment
    assert "plan comment posted on example-co/desired-state#1" in first.stderr
    [created] = plan_comments(sandbox)
    assert "<details>" in created["body"]
    run_url = "https://github.example.com/example-co/desired-state/actions/runs/4242"
    assert run_url in created["body"]

    sandbox.sandbox.telemetry.reset()
    env["GITHUB_RUN_ID"] = "4243"
    second = cli(["plan", "--dir", str(DESIRED), "--pr-comment", PR], env)

    assert second.exit_code == 2, second.output
    assert "plan comment updated on example-co/desired-state#1" in second.stderr
    [updated] = plan_comments(sandbox)
    assert updated["id"] == created["id"]
    assert "actions/runs/4243" in updated["body"]
    repo = state(sandbox)["github"]["repositories"][0]
    assert len(repo["issue_comments"]) == HUMAN_COMMENTS + 1  # reviewers' comments untouched
    assert all(c["body"].startswith("review note") for c in repo["issue_comments"][:-1])


def test_a_malformed_pull_request_reference_is_one_line_and_reads_nothing(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    sandbox.sandbox.load_world(demo_world_with_review_thread())
    sandbox.sandbox.telemetry.reset()

    result = cli(["plan", "--dir", str(DESIRED), "--pr-comment", "desired-state/1"],
                 cli_env(sandbox, tmp_path))  # fmt: skip

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: --pr-comment 'desired-state/1' is not a pull request: write OWNER/REPO#NUMBER, "
        "e.g. example-co/desired-state#12"
    ]
    assert "Traceback" not in result.output
    assert plan_comments(sandbox) == []


def test_a_pull_request_that_does_not_exist_fails_naming_it(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    sandbox.sandbox.load_world(demo_world_with_review_thread())

    result = cli(["plan", "--dir", str(DESIRED), "--pr-comment", "example-co/desired-state#7"],
                 cli_env(sandbox, tmp_path))  # fmt: skip

    assert result.exit_code == 1
    expected = "error: --pr-comment example-co/desired-state#7: the plan comment could not be"
    assert expected in result.stderr
    assert "Traceback" not in result.output
