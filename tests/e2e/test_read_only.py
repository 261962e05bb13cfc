"""Read-only credentials (`RECONCILER_READ_ONLY=true`, the desired-state repo's pull-request
plans) through the real CLI, the real client libraries and the sandbox: a delegation
authorised only for the read-only Directory scopes and a GitHub token that may only read
are enough for a plan, which says that OAuth tokens and app passwords were not read; the
plan comment is posted with its own token; apply and offboard are refused and change
nothing; doctor checks only the read-only scopes."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.demo.world import SANDBOX_GITHUB_TOKEN, build_world
from reconciler.desired.loading import load_desired_dir
from reconciler.providers.permissions import ADMIN_SCOPES, READ_ONLY_ADMIN_SCOPES
from reconciler.reports.plans import PLAN_COMMENT_MARKER
from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import TZ, cli, cli_env, state

REPO_ROOT = Path(__file__).resolve().parents[2]
DESIRED = REPO_ROOT / "desired_state"
PR = "example-co/desired-state#1"
READ_TOKEN = "plan-read-token"
COMMENT_TOKEN = "workflow-github-token"
NOT_READ = "OAuth tokens and app passwords were not read (read-only credentials)"


def read_only_world() -> dict[str, Any]:
    """The demo world, with the pull-request identity's credentials: a delegation authorised
    for the read-only scopes alone, a GitHub token granted only reads, and the workflow's
    token that may write pull-request comments and nothing else."""
    world = build_world(load_desired_dir(DESIRED), datetime.now(TZ))[0]
    world["google"]["delegation"]["scopes"] = [s.scope for s in READ_ONLY_ADMIN_SCOPES]
    github = world["github"]
    acting = github["tokens"][SANDBOX_GITHUB_TOKEN]
    github["tokens"] |= {READ_TOKEN: acting, COMMENT_TOKEN: "github-actions"}
    github["token_permissions"] = {
        READ_TOKEN: {"members": "read", "organization_administration": "read"},
        COMMENT_TOKEN: {"pull_requests": "write"},
    }
    return world


def read_only_env(sandbox: SandboxServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    return (
        cli_env(sandbox, tmp_path)
        | {
            "RECONCILER_READ_ONLY": "true",
            "RECONCILER_GITHUB_TOKEN": READ_TOKEN,
        }
        | extra
    )


def endpoints(sandbox: SandboxServer) -> list[str]:
    return [e.endpoint for e in sandbox.sandbox.telemetry.log]


def plan_comments(sandbox: SandboxServer) -> list[dict[str, Any]]:
    repo = state(sandbox)["github"]["repositories"][0]
    return [c for c in repo["issue_comments"] if PLAN_COMMENT_MARKER in c["body"]]


def test_a_read_only_plan_reads_with_read_only_credentials_and_says_what_it_did_not_read(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    sandbox.sandbox.load_world(read_only_world())
    env = read_only_env(sandbox, tmp_path, RECONCILER_PR_COMMENT_TOKEN=COMMENT_TOKEN)

    result = cli(["plan", "--dir", str(DESIRED), "--format", "json", "--pr-comment", PR], env)

    assert result.exit_code == 2, result.output  # changes pending: a complete, good plan
    plan = json.loads(result.stdout)["plan"]
    assert plan["incomplete_systems"] == []
    [note] = [n for n in plan["notes"] if n["kind"] == "unread"]
    assert note["message"].startswith(NOT_READ)
    assert note["system"] == "google"
    # Neither listed nor revoked: the demo world's leavers have tokens, and none is planned.
    assert not [a for a in plan["actions"] if a["kind"] in ("revoke_token", "delete_app_password")]
    # A leaver's finding never presents unread tokens as none.
    leavers = [f for f in plan["findings"] if f["code"] == "leaver-has-access"]
    assert leavers
    assert all(
        f["message"].endswith("; OAuth tokens and app passwords were not read") for f in leavers
    )
    called = endpoints(sandbox)
    assert "google.users.list" in called
    assert not [e for e in called if e.startswith(("google.tokens.", "google.asps."))]
    grants = state(sandbox)["google"]["oauth_grants"]
    assert {s for g in grants for s in g["scopes"]} == {s.scope for s in READ_ONLY_ADMIN_SCOPES}
    # The comment is the workflow token's, not the read-only credential's.
    [comment] = plan_comments(sandbox)
    assert comment["user"] == "github-actions"


def test_the_read_only_delegation_refuses_the_full_scopes(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Without RECONCILER_READ_ONLY the same credentials cannot plan: what made the
    pull-request plan job fail on the Workspace read."""
    sandbox.sandbox.load_world(read_only_world())
    env = read_only_env(sandbox, tmp_path)
    del env["RECONCILER_READ_ONLY"]

    result = cli(["plan", "--dir", str(DESIRED), "--format", "json"], env)

    assert result.exit_code == 3, result.output  # Google's read incomplete
    assert "google" in json.loads(result.stdout)["plan"]["incomplete_systems"]


def test_read_only_without_a_comment_token_refuses_to_post_with_the_read_credential(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    sandbox.sandbox.load_world(read_only_world())

    result = cli(
        ["plan", "--dir", str(DESIRED), "--pr-comment", PR], read_only_env(sandbox, tmp_path)
    )

    assert result.exit_code == 1, result.output
    assert "set RECONCILER_PR_COMMENT_TOKEN" in result.stderr
    assert len(result.stderr.strip().splitlines()[-1:]) == 1 and "Traceback" not in result.output
    assert plan_comments(sandbox) == []


def test_the_read_only_github_token_cannot_post_the_comment(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The sandbox enforces the token's permissions: a read-only token writing gets 403."""
    sandbox.sandbox.load_world(read_only_world())
    env = read_only_env(sandbox, tmp_path, RECONCILER_PR_COMMENT_TOKEN=READ_TOKEN)

    result = cli(["plan", "--dir", str(DESIRED), "--pr-comment", PR], env)

    assert result.exit_code == 1, result.output
    assert "the plan comment could not be posted" in result.stderr
    assert "Resource not accessible by personal access token" in result.stderr
    assert plan_comments(sandbox) == []


def test_apply_and_offboard_are_refused_in_read_only_mode_and_change_nothing(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    sandbox.sandbox.load_world(read_only_world())
    before = state(sandbox)
    env = read_only_env(sandbox, tmp_path)

    applied = cli(["apply", "--dir", str(DESIRED), "--confirm"], env)
    offboarded = cli(["offboard", "e0005", "--now", "--confirm", "--dir", str(DESIRED)], env)

    for result, command in ((applied, "apply"), (offboarded, "offboard")):
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == (
            f"error: {command} refused: RECONCILER_READ_ONLY=true (read-only credentials can "
            "only plan); run it with the service's credentials, without RECONCILER_READ_ONLY"
        )
    assert endpoints(sandbox) == []  # nothing read, nothing written
    assert state(sandbox) == before
    assert not (tmp_path / "state" / "audit.jsonl").exists()


def test_doctor_in_read_only_mode_checks_only_the_read_only_scopes(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    sandbox.sandbox.load_world(read_only_world())

    result = cli(["doctor", "--dir", str(DESIRED)], read_only_env(sandbox, tmp_path))

    for scope in READ_ONLY_ADMIN_SCOPES:
        assert f"ok scope {scope.scope}: authorised" in result.stdout
    read_only = {s.scope for s in READ_ONLY_ADMIN_SCOPES}
    for scope in ADMIN_SCOPES:
        if scope.scope not in read_only:  # user and user.security, group.member
            assert f"{scope.scope}:" not in result.stdout
    assert result.exit_code == 0, result.output


def test_doctor_in_read_only_mode_names_a_missing_read_only_scope(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = read_only_world()
    member_ro = "https://www.googleapis.com/auth/admin.directory.group.member.readonly"
    world["google"]["delegation"]["scopes"].remove(member_ro)
    sandbox.sandbox.load_world(world)

    result = cli(["doctor", "--dir", str(DESIRED)], read_only_env(sandbox, tmp_path))

    assert result.exit_code == 1, result.output
    assert f"MISSING scope {member_ro}: token refused: unauthorized_client" in result.stdout
    assert f"fix: authorise {member_ro} for client id" in result.stdout
