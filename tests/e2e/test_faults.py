"""Fault injection end to end: the real providers (with a short retry policy) against sandbox
fault rules, through the same `apply_changes` the `apply` command runs. A 5xx fails one action
and not the others; an etag conflict is re-read and succeeds; a 429 waits for Retry-After; an
incomplete read removes nothing in that system except the leaver's grants."""

from __future__ import annotations

import time
from pathlib import Path

import requests

from reconciler.audit import RecordType, read_records
from reconciler.cli.common import now
from reconciler.execute import OutcomeStatus
from reconciler.model import ActionKind
from reconciler.runs import RunContext, apply_changes
from reconciler.sandbox.server import SandboxServer
from reconciler.settings import Settings
from tests.e2e.scenario import (
    LEAVER_EMAIL,
    MOVER_EMAIL,
    ORG,
    audit_path,
    bindings,
    cli,
    fast_providers,
    group_members,
    org_members,
    setup,
    state,
    team_members,
    writes,
)


def _context(tmp_path: Path) -> RunContext:
    return RunContext(
        settings=Settings(state_dir=tmp_path / "state", _env_file=None),
        moment=now(),
        confirm=True,
        actor="ops@admin-host.example.com",
    )


def test_a_5xx_on_one_action_fails_it_alone_and_a_rerun_converges(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, desired, env = setup(sandbox, tmp_path)
    sandbox.sandbox.add_fault(
        {"method": "POST", "path": f"^/orgs/{ORG}/invitations$", "every": True, "status": 502}
    )  # fmt: skip

    report = apply_changes(desired, fast_providers(sandbox, desired), _context(tmp_path)).report

    assert report.exit_code == 1
    assert [o.action.kind for o in report.failures] == [ActionKind.INVITE_ORG_MEMBER]
    assert "502" in report.failures[0].message
    assert sum(o.status is OutcomeStatus.APPLIED for o in report.outcomes) == 15
    world = state(sandbox)
    assert world["github"]["invitations"] == []
    assert "kleaver" not in org_members(world)  # the other actions were applied
    invite_calls = [w for w in writes(sandbox) if w == ("POST", f"/orgs/{ORG}/invitations")]
    assert len(invite_calls) == 3  # FAST_RETRY's attempts

    sandbox.sandbox.clear_faults()
    rerun = apply_changes(desired, fast_providers(sandbox, desired), _context(tmp_path)).report
    assert rerun.exit_code == 0
    assert [o.action.kind for o in rerun.outcomes] == [ActionKind.INVITE_ORG_MEMBER]
    assert [i["login"] for i in state(sandbox)["github"]["invitations"]] == ["hnewcomer"]
    assert cli(["plan", "--dir", str(directory)], env).exit_code == 0


def test_an_etag_conflict_on_a_gcp_write_is_reread_and_both_changes_survive(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, desired, env = setup(sandbox, tmp_path)
    # "Someone else" grants a viewer binding on prod just before our first write there, so
    # our write carries a stale etag and gets 409 ABORTED (IAM docs: retry the whole
    # read-modify-write).
    resp = requests.post(
        f"{sandbox.url}/_sandbox/gcp/concurrent-changes",
        json={"resource": "projects/example-prod", "nth": 1,
              "add": [{"role": "roles/viewer", "member": "group:auditors@example.co.jp"}]},
        timeout=5,
    )  # fmt: skip
    assert resp.status_code == 201

    report = apply_changes(desired, fast_providers(sandbox, desired), _context(tmp_path)).report

    assert report.exit_code == 0, report.failures
    prod_writes = [w for w in writes(sandbox) if w[1] == "/v3/projects/example-prod:setIamPolicy"]
    assert len(prod_writes) == 2  # the conflicting write, then the one after the re-read
    with sandbox.sandbox.telemetry.lock:
        statuses = [r.status for r in sandbox.sandbox.telemetry.log
                    if r.path == "/v3/projects/example-prod:setIamPolicy"]  # fmt: skip
    assert statuses == [409, 200]
    viewers = bindings(state(sandbox), "projects/example-prod")["roles/viewer"]
    assert {f"user:{MOVER_EMAIL}", "group:auditors@example.co.jp"} <= viewers
    assert cli(["plan", "--dir", str(directory)], env).exit_code == 0


def test_a_429_with_retry_after_is_waited_out_and_then_succeeds(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    sandbox.sandbox.add_fault(
        {"method": "PUT", "path": f"^/orgs/{ORG}/teams/sre/memberships/jmover$", "nth": 1,
         "status": 429, "headers": {"Retry-After": "1"},
         "body": {"message": "You have exceeded a secondary rate limit."}}
    )  # fmt: skip

    started = time.monotonic()
    result = cli(["apply", "--dir", str(directory), "--confirm"], env)  # production policy

    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 1.0
    with sandbox.sandbox.telemetry.lock:
        put = ("PUT", f"/orgs/{ORG}/teams/sre/memberships/jmover")
        tries = [(r.status, r.at) for r in sandbox.sandbox.telemetry.log
                 if (r.method, r.path) == put]  # fmt: skip
    assert [status for status, _ in tries] == [429, 200]
    assert tries[1][1] - tries[0][1] >= 1.0  # not sooner than the server asked
    assert team_members(state(sandbox), "sre")["jmover"] == "maintainer"


def test_an_incomplete_read_removes_nothing_there_except_the_leavers_grants(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, desired, env = setup(sandbox, tmp_path)
    # The prod policy cannot be read (every attempt fails), so the GCP read is incomplete.
    sandbox.sandbox.add_fault(
        {"method": "POST", "path": r"^/v3/projects/example-prod:getIamPolicy$", "every": True,
         "status": 503}
    )  # fmt: skip

    run = apply_changes(desired, fast_providers(sandbox, desired), _context(tmp_path))
    plan, report = run.plan, run.report

    world = state(sandbox)
    dev_editors = bindings(world, "projects/example-dev")["roles/editor"]
    assert f"user:{LEAVER_EMAIL}" not in dev_editors  # the leaver's known grant: removed
    assert f"user:{MOVER_EMAIL}" in dev_editors  # the mover's old grant: held back
    assert not [a for a in plan.actions if a.system.value == "gcp" and a.is_removal
                and not a.offboarding]  # fmt: skip
    assert LEAVER_EMAIL not in group_members(world, "eng@example.co.jp")  # Google was complete
    assert "jmover" not in team_members(world, "backend")  # GitHub was complete
    # grants a failed read did not show may still exist: completion is not claimed
    assert report.offboarding_completed == ()
    records = read_records(audit_path(tmp_path))
    assert not [r for r in records if r.type == RecordType.OFFBOARDING_COMPLETE]

    sandbox.sandbox.clear_faults()
    assert cli(["apply", "--dir", str(directory), "--confirm"], env).exit_code == 0
    assert (
        f"user:{MOVER_EMAIL}"
        not in bindings(state(sandbox), "projects/example-dev")["roles/editor"]
    )
    assert cli(["plan", "--dir", str(directory)], env).exit_code == 0


def test_the_retry_settings_reach_every_call_of_a_cli_run(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """RECONCILER_RETRY_ATTEMPTS bounds the tries of a call that keeps failing: the sandbox
    sees exactly that many, and the read is incomplete (never empty)."""
    from tests.e2e.scenario import cli_env

    directory, _, env = setup(sandbox, tmp_path)
    path = r"^/v3/projects/example-prod:getIamPolicy$"
    sandbox.sandbox.add_fault({"method": "POST", "path": path, "every": True, "status": 503})

    result = cli(["plan", "--dir", str(directory)], cli_env(sandbox, tmp_path) | {
        "RECONCILER_RETRY_ATTEMPTS": "2"})  # fmt: skip

    assert result.exit_code == 3, result.output
    assert [f.fired for f in sandbox.sandbox.faults] == [2]
    refused = cli(["plan", "--dir", str(directory)], env | {"RECONCILER_RETRY_ATTEMPTS": "0"})
    assert refused.exit_code != 0
    assert "RECONCILER_RETRY_ATTEMPTS" in refused.output and "Traceback" not in refused.output
