"""End to end through the real CLI (in-process), the real providers and client libraries, and
the sandbox over HTTP/gRPC: onboarding, transfer, offboarding, idempotence, dry run, saved
plans and the run lock, asserted on the sandbox's final state, its request log and the audit
log."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from reconciler.audit import RecordType, read_records, verify
from reconciler.demo.world import build_world
from reconciler.desired.loading import load_desired_dir
from reconciler.locking import run_lock
from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import (
    LEAVER,
    LEAVER_EMAIL,
    MOVER_EMAIL,
    NEWCOMER_EMAIL,
    ORG,
    TZ,
    access_state,
    audit_path,
    bindings,
    cli,
    cli_env,
    group_members,
    org_members,
    setup,
    state,
    team_members,
    today,
    users,
    writes,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_onboarding_creates_the_account_groups_invitation_and_bindings(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    assert NEWCOMER_EMAIL not in users(state(sandbox))

    result = cli(["apply", "--dir", str(directory), "--confirm"], env)

    assert result.exit_code == 0, result.output
    world = state(sandbox)
    account = users(world)[NEWCOMER_EMAIL]
    assert account["changePasswordAtNextLogin"] is True
    assert account["suspended"] is False
    assert account["name"]["familyName"] == "森"
    assert group_members(world, "eng@example.co.jp")[NEWCOMER_EMAIL] == "MEMBER"
    # GitHub: an invitation by account id (POST /orgs/{org}/invitations, `invitee_id`); the
    # membership is pending until the newcomer accepts it.
    assert "hnewcomer" not in org_members(world)
    assert [i["login"] for i in world["github"]["invitations"]] == ["hnewcomer"]
    assert f"user:{NEWCOMER_EMAIL}" in bindings(world, "projects/example-dev")["roles/editor"]
    assert "Check: `reconciler plan` should now show no changes" in result.stdout


def test_a_transfer_applies_every_addition_before_any_removal(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)

    assert cli(["apply", "--dir", str(directory), "--confirm"], env).exit_code == 0

    world = state(sandbox)
    assert team_members(world, "sre")["jmover"] == "maintainer"
    assert "jmover" not in team_members(world, "backend")
    assert group_members(world, "sre@example.co.jp")[MOVER_EMAIL] == "MEMBER"
    assert f"user:{MOVER_EMAIL}" in bindings(world, "projects/example-prod")["roles/viewer"]
    assert f"user:{MOVER_EMAIL}" not in bindings(world, "projects/example-dev")["roles/editor"]
    sent = writes(sandbox)
    added = [
        sent.index(("PUT", f"/orgs/{ORG}/teams/sre/memberships/jmover")),
        sent.index(("POST", "/admin/directory/v1/groups/sre%40example.co.jp/members")),
        sent.index(("POST", "/v3/projects/example-prod:setIamPolicy")),
    ]
    removed = sent.index(("DELETE", f"/orgs/{ORG}/teams/backend/memberships/jmover"))
    last_dev_write = (
        len(sent) - 1 - sent[::-1].index(("POST", "/v3/projects/example-dev:setIamPolicy"))
    )
    assert max(added) < removed < last_dev_write


def test_offboarding_cuts_google_sessions_then_github_then_gcp_and_is_recorded_the_same_day(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)

    assert cli(["apply", "--dir", str(directory), "--confirm"], env).exit_code == 0

    world = state(sandbox)
    assert users(world)[LEAVER_EMAIL]["suspended"] is True  # suspended, never deleted
    assert world["google"]["tokens"].get(LEAVER_EMAIL, []) == []
    assert world["google"]["asps"].get(LEAVER_EMAIL, []) == []
    assert LEAVER_EMAIL not in group_members(world, "eng@example.co.jp")
    assert "kleaver" not in org_members(world)
    assert f"user:{LEAVER_EMAIL}" not in bindings(world, "projects/example-dev")["roles/editor"]
    user_path = "/admin/directory/v1/users/kenji.leaver%40example.co.jp"
    leaver_writes = [w for w in writes(sandbox) if "kenji.leaver" in w[1] or "kleaver" in w[1]]
    assert leaver_writes[:4] == [
        ("PATCH", user_path),  # suspend first: no new sign-in can start
        ("POST", f"{user_path}/signOut"),
        ("DELETE", f"{user_path}/tokens/1234-mailsync.apps.example.com"),
        ("DELETE", f"{user_path}/asps/11"),
    ]
    sent = writes(sandbox)
    github_cut = sent.index(("DELETE", f"/orgs/{ORG}/memberships/kleaver"))
    assert sent.index(("DELETE", f"{user_path}/asps/11")) < github_cut
    assert github_cut < sent.index(("POST", "/v3/projects/example-dev:setIamPolicy"))

    records = read_records(audit_path(tmp_path))
    done = [r for r in records if r.type == RecordType.OFFBOARDING_COMPLETE]
    assert [r.person_id for r in done] == [LEAVER]
    details = done[0].data["details"]
    assert details["last_day"] == today().isoformat()
    removed_at = datetime.fromisoformat(details["removed_at"]).astimezone(TZ)
    assert removed_at.date() == today()  # the same day (policy 第5.2条3)
    assert verify(audit_path(tmp_path)).ok


def test_after_apply_a_fresh_plan_has_no_changes(sandbox: SandboxServer, tmp_path: Path) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    assert cli(["plan", "--dir", str(directory)], env).exit_code == 2

    assert cli(["apply", "--dir", str(directory), "--confirm"], env).exit_code == 0

    assert cli(["plan", "--dir", str(directory)], env).exit_code == 0
    again = cli(["apply", "--dir", str(directory), "--confirm"], env)
    assert again.exit_code == 0
    assert "no changes" in again.stdout


def test_the_demo_world_applied_completely_then_plan_shows_no_changes(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory = REPO_ROOT / "desired_state"
    world, drift = build_world(load_desired_dir(directory), datetime.now(TZ))
    assert len(drift) >= 10
    sandbox.sandbox.load_world(world)
    env = cli_env(sandbox, tmp_path)

    applied = cli(["apply", "--dir", str(directory), "--confirm", "--lang", "en"], env)

    assert applied.exit_code == 0, applied.output
    assert "0 failed" in applied.stdout
    after = cli(["plan", "--dir", str(directory), "--format", "json"], env)
    assert after.exit_code == 0, after.stdout
    assert json.loads(after.stdout)["plan"]["actions"] == []


def test_a_dry_run_changes_nothing_and_writes_no_audit_log(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    before = state(sandbox)

    result = cli(["apply", "--dir", str(directory)], env)

    assert result.exit_code == 0
    assert "dry run: 16 action(s) would be applied; nothing was changed" in result.stdout
    assert access_state(state(sandbox)) == access_state(before)
    assert writes(sandbox) == []
    assert not audit_path(tmp_path).exists()


def test_a_saved_plan_is_refused_when_edited_or_stale_and_applied_when_current(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    saved = tmp_path / "plan.json"
    assert cli(["plan", "--dir", str(directory), "--out", str(saved)], env).exit_code == 2
    before = state(sandbox)

    edited = tmp_path / "edited.json"
    document = json.loads(saved.read_text())
    document["plan"]["actions"][0]["principal"] = "someone.else@example.co.jp"
    edited.write_text(json.dumps(document))
    refused = cli(["apply", "--dir", str(directory), "--plan", str(edited), "--confirm"], env)
    assert refused.exit_code == 1
    assert "edited-plan" in refused.stderr
    assert access_state(state(sandbox)) == access_state(before)

    with sandbox.sandbox.lock:  # someone changes GitHub by hand after the plan was made
        sandbox.sandbox.world["github"]["members"].append({"login": "hnewcomer", "role": "member"})
    stale = cli(["apply", "--dir", str(directory), "--plan", str(saved), "--confirm"], env)
    assert stale.exit_code == 1
    assert "stale-plan" in stale.stderr
    assert writes(sandbox) == []

    with sandbox.sandbox.lock:
        sandbox.sandbox.world["github"]["members"].pop()
    current = cli(["apply", "--dir", str(directory), "--plan", str(saved), "--confirm"], env)
    assert current.exit_code == 0, current.output
    assert cli(["plan", "--dir", str(directory)], env).exit_code == 0


def test_a_second_confirmed_run_fails_naming_the_run_that_holds_the_lock(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)

    with run_lock(tmp_path / "state", run_id="20261126T010000Z-holder", command="apply"):
        result = cli(["apply", "--dir", str(directory), "--confirm"], env)

    assert result.exit_code == 1
    assert "another run is in progress" in result.stderr
    assert "20261126T010000Z-holder" in result.stderr
    assert writes(sandbox) == []
