"""The CLI's share of the safety rules, each on its own (docs/safety.md): the command wires the
repo's removal limits, the operator's override, the tool's own identities and the run lock into
the executor. The executor's tests prove the executor; these prove the wiring, through the
real CLI and providers against the sandbox. Found by mutation testing: each test fails when
the one argument or lock it names is dropped from `reconciler/cli/commands_apply.py`."""

from __future__ import annotations

import copy
from pathlib import Path

from reconciler.locking import run_lock
from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import (
    MOVER_EMAIL,
    access_state,
    audit_path,
    bindings,
    cli,
    setup,
    state,
    writes,
)

ROBOT = "ops-robot@example.co.jp"  # the admin the tool impersonates (domain-wide delegation)
BOT = "example-reconciler-bot"  # the GitHub login the sandbox token acts as (GET /user)


def _tighten_limits(directory: Path) -> None:
    org = directory / "organization.yaml"
    text = org.read_text(encoding="utf-8")
    tight = text.replace(
        "limits: {max_removals: 50, max_removal_ratio: 1.0}",
        "limits: {max_removals: 1, max_removal_ratio: 1.0}",
    )
    assert tight != text
    org.write_text(tight, encoding="utf-8")


def test_the_repos_removal_limit_refuses_the_cli_run_unless_the_operator_overrides_it(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    _tighten_limits(directory)  # the mover loses two grants; the leaver's cuts are exempt

    refused = cli(["apply", "--dir", str(directory), "--confirm"], env)

    assert refused.exit_code == 2, refused.output
    assert "TooManyRemovals" in refused.output
    assert writes(sandbox) == []

    allowed = cli(["apply", "--dir", str(directory), "--confirm", "--allow-mass-removal"], env)

    assert allowed.exit_code == 0, allowed.output
    dev_editors = bindings(state(sandbox), "projects/example-dev")["roles/editor"]
    assert f"user:{MOVER_EMAIL}" not in dev_editors


def test_the_cli_refuses_a_plan_that_would_remove_the_admin_the_tool_acts_as(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    # The delegated admin is a stranger in a managed group: the planner plans its removal,
    # which would cut the access the run itself uses; only the tool's own identity guard,
    # fed from the settings by the CLI, stops it.
    world = state(sandbox)
    google = world["google"]
    robot = copy.deepcopy(google["users"][0])
    robot.update(primaryEmail=ROBOT, id="199999999999999999999", isAdmin=True, aliases=[])
    google["users"].append(robot)
    google["members"]["eng@example.co.jp"].append(
        {"email": ROBOT, "role": "MEMBER", "type": "USER", "status": "ACTIVE", "id": robot["id"]}
    )
    sandbox.sandbox.load_world(world)
    sandbox.sandbox.telemetry.reset()
    env = {**env, "RECONCILER_GOOGLE_ADMIN_SUBJECT": ROBOT}

    result = cli(["apply", "--dir", str(directory), "--confirm"], env)

    assert result.exit_code == 2, result.output
    assert "own identity" in result.output
    assert writes(sandbox) == []


def test_a_confirmed_emergency_offboarding_waits_for_no_one_and_fails_naming_the_lock_holder(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)

    with run_lock(tmp_path / "state", run_id="20261126T010000Z-nightly", command="apply"):
        result = cli(["offboard", "e0010", "--now", "--confirm", "--dir", str(directory)], env)

    assert result.exit_code == 1, result.output
    assert "another run is in progress" in result.output
    assert "20261126T010000Z-nightly" in result.output
    assert writes(sandbox) == []
    assert not audit_path(tmp_path).exists()


def _unprotect_the_bot_and_make_the_officer_an_owner(directory: Path) -> None:
    """The repo forgets to protect the tool's own GitHub login, and the security officer
    becomes the org's other owner (so the bot is not the last owner, whom the planner keeps
    for its own reasons)."""
    org = directory / "organization.yaml"
    text = org.read_text(encoding="utf-8")
    bare = text.replace(
        "  - {system: github, identity: example-reconciler-bot, reason: the org owner the tool "
        "acts as}\n",
        "",
    )
    assert bare != text
    org.write_text(bare, encoding="utf-8")
    roles = directory / "roles.yaml"
    roles.write_text(
        roles.read_text(encoding="utf-8")
        + "org-owner:\n  privileged: true\n  github: {org_role: admin}\n",
        encoding="utf-8",
    )
    officer = directory / "people" / "e0002.yaml"
    officer.write_text(
        officer.read_text(encoding="utf-8").replace("roles: [engineer]", "roles: [org-owner]"),
        encoding="utf-8",
    )


def test_the_cli_refuses_a_plan_that_would_remove_the_github_login_the_token_acts_as(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    _unprotect_the_bot_and_make_the_officer_an_owner(directory)
    world = state(sandbox)
    assert world["github"]["tokens"] == {"sandbox-token": BOT}  # the demo world's mapping
    for member in world["github"]["members"]:
        if member["login"] == "ksuzuki":
            member["role"] = "admin"
    sandbox.sandbox.load_world(world)
    sandbox.sandbox.telemetry.reset()
    before = access_state(state(sandbox))

    dry = cli(["apply", "--dir", str(directory)], env)
    assert dry.exit_code == 2, dry.output  # the dry run already shows the refusal
    assert f"remove_org_member {BOT} on example-co" in dry.output
    result = cli(["apply", "--dir", str(directory), "--confirm"], env)

    # Only the login learnt from GET /user stops it: the repo no longer protects the bot.
    assert result.exit_code == 2, result.output
    assert "own identity" in result.output
    assert f"remove_org_member {BOT} on example-co" in result.output
    assert writes(sandbox) == []
    assert access_state(state(sandbox)) == before


def test_apply_refuses_to_start_when_the_github_login_cannot_be_learnt(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    sandbox.sandbox.add_fault(
        {"path": "^/user$", "every": True, "status": 401,
         "body": {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}}
    )  # fmt: skip
    before = access_state(state(sandbox))

    result = cli(["apply", "--dir", str(directory), "--confirm"], env)

    assert result.exit_code == 1, result.output
    assert "refusing to start" in result.output
    assert "GET /user" in result.output
    assert "Bad credentials" in result.output
    with sandbox.sandbox.telemetry.lock:
        endpoints = [r.endpoint for r in sandbox.sandbox.telemetry.log if r.api != "control"]
    # Learnt before anything is read: the run stopped at its first question.
    assert "github.graphql" not in endpoints
    assert writes(sandbox) == []
    assert access_state(state(sandbox)) == before


def test_emergency_offboarding_refuses_to_cut_the_person_whose_token_the_tool_uses(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    # The tool runs with the security officer's personal token: offboarding them would cut
    # the run's own access half-way (and their login is in no protected_accounts list).
    world = state(sandbox)
    world["github"]["tokens"] = {"sandbox-token": "ksuzuki"}
    sandbox.sandbox.load_world(world)
    sandbox.sandbox.telemetry.reset()
    before = access_state(state(sandbox))

    result = cli(["offboard", "e0002", "--now", "--confirm", "--dir", str(directory)], env)

    assert result.exit_code == 2, result.output
    assert "own identity" in result.output
    assert "remove_org_member ksuzuki on example-co" in result.output
    assert writes(sandbox) == []
    assert access_state(state(sandbox)) == before
