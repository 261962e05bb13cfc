"""`reconciler offboard PERSON --now --confirm` end to end: only that person is touched, in
the offboarding order, it is recorded, the repo change is printed, and its cost (round trips
to the sandbox) does not grow with the organisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.audit import RecordType, read_records, verify
from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import (
    NEWCOMER_EMAIL,
    ORG,
    STAYER,
    STAYER_EMAIL,
    access_state,
    audit_path,
    bindings,
    cli,
    org_members,
    setup,
    state,
    today,
    users,
    writes,
)


def _without_stayer(world: dict[str, Any]) -> Any:
    """The world minus every trace of the stayer: what must be unchanged by their offboarding."""
    text = repr(access_state(world))
    for name in (STAYER_EMAIL, "sstayer"):
        assert name in text
    google, github, gcp = world["google"], world["github"], world["gcp"]
    google["users"] = [u for u in google["users"] if u["primaryEmail"] != STAYER_EMAIL]
    for group, members in google["members"].items():
        google["members"][group] = [m for m in members if m["email"] != STAYER_EMAIL]
    google["sign_outs"] = [s for s in google.get("sign_outs", []) if s["user"] != STAYER_EMAIL]
    github["members"] = [m for m in github["members"] if m["login"] != "sstayer"]
    for team in github["teams"]:
        team["members"] = [m for m in team["members"] if m["login"] != "sstayer"]
    for resource in gcp["resources"]:
        policy = resource["policy"]
        # etag and version change with any write to the policy (the sandbox bumps the etag;
        # the provider writes version 1 when no binding has a condition, as IAM allows)
        policy.pop("etag", None)
        policy.pop("version", None)
        for binding in policy["bindings"]:
            binding["members"] = [m for m in binding["members"] if STAYER_EMAIL not in m]
    return access_state(world)


def test_offboard_now_cuts_only_that_persons_access_in_order_and_prints_the_repo_change(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    before = state(sandbox)

    result = cli(["offboard", "sstayer", "--now", "--confirm", "--dir", str(directory)], env)

    assert result.exit_code == 0, result.output
    after = state(sandbox)
    assert users(after)[STAYER_EMAIL]["suspended"] is True
    assert "sstayer" not in org_members(after)
    assert f"user:{STAYER_EMAIL}" not in bindings(after, "projects/example-dev")["roles/editor"]
    # nobody else was touched: the leaver, newcomer and mover still await `apply`
    assert _without_stayer(after) == _without_stayer(before)
    assert NEWCOMER_EMAIL not in users(after)
    sent = writes(sandbox)
    assert all("saburo.stayer" in path or "sstayer" in path or "IamPolicy" in path
               for _, path in sent), sent  # fmt: skip
    assert sent[0] == ("PATCH", "/admin/directory/v1/users/saburo.stayer%40example.co.jp")
    github_cut = sent.index(("DELETE", f"/orgs/{ORG}/memberships/sstayer"))
    google_writes = [i for i, (_, p) in enumerate(sent) if p.startswith("/admin/")]
    gcp_writes = [i for i, (_, p) in enumerate(sent) if "setIamPolicy" in p]
    assert max(google_writes) < github_cut < min(gcp_writes)

    done = [r for r in read_records(audit_path(tmp_path))
            if r.type == RecordType.OFFBOARDING_COMPLETE]  # fmt: skip
    assert [r.person_id for r in done] == [STAYER]
    assert done[0].data["details"]["last_day"] == today().isoformat()
    assert verify(audit_path(tmp_path)).ok
    assert f"people/{STAYER}.yaml" in result.stdout
    assert f"employment.end: {today()}" in result.stdout


def test_offboard_without_confirm_changes_nothing(sandbox: SandboxServer, tmp_path: Path) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    before = access_state(state(sandbox))

    result = cli(["offboard", STAYER_EMAIL, "--now", "--dir", str(directory)], env)

    assert result.exit_code == 0, result.output
    assert "would be applied" in result.stdout
    assert access_state(state(sandbox)) == before
    assert not audit_path(tmp_path).exists()


def test_offboard_without_now_or_of_an_unknown_person_is_refused(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)

    assert cli(["offboard", STAYER, "--dir", str(directory)], env).exit_code == 1
    unknown = cli(["offboard", "nobody@example.com", "--now", "--dir", str(directory)], env)
    assert unknown.exit_code == 1
    assert "cannot offboard 'nobody@example.com'" in unknown.stderr
    assert writes(sandbox) == []


def _offboarding_round_trips(sandbox: SandboxServer, tmp_path: Path, extra: int) -> int:
    directory, _, env = setup(sandbox, tmp_path / f"org{extra}", extra_people=extra)
    result = cli(["offboard", STAYER, "--now", "--confirm", "--dir", str(directory)], env)
    assert result.exit_code == 0, result.output
    counters = sandbox.sandbox.telemetry.counters()
    total: int = counters["total_round_trips"]
    control: int = counters["round_trips"].get("control", 0)
    return total - control


def test_emergency_offboarding_costs_the_same_in_a_ten_times_larger_organisation(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    small = _offboarding_round_trips(sandbox, tmp_path, extra=0)  # 5 people
    large = _offboarding_round_trips(sandbox, tmp_path, extra=45)  # 50 people

    assert small == large
    assert small < 40


def test_an_unrelated_broken_file_does_not_block_an_emergency_offboarding(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    # Another person's file breaks validation (an unknown field), as a contractor's missing
    # NDA date would: the whole repo no longer loads, but the emergency must still go through.
    broken = directory / "people" / "e0012.yaml"
    broken.write_text(broken.read_text(encoding="utf-8") + "nda_signed: someday\n", "utf-8")
    assert cli(["validate", str(directory)], env).exit_code == 1

    result = cli(["offboard", STAYER, "--now", "--confirm", "--dir", str(directory)], env)

    assert result.exit_code == 0, result.output
    assert users(state(sandbox))[STAYER_EMAIL]["suspended"] is True
    assert "sstayer" not in org_members(state(sandbox))


def test_a_broken_own_file_is_bridged_by_the_operators_email_and_login(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    (directory / "people" / f"{STAYER}.yaml").write_text("id: [broken\n", encoding="utf-8")

    without = cli(["offboard", STAYER, "--now", "--confirm", "--dir", str(directory)], env)
    assert without.exit_code == 1 and "--email" in without.stderr
    result = cli(
        ["offboard", STAYER, "--now", "--confirm", "--dir", str(directory),
         "--email", STAYER_EMAIL, "--github", "sstayer"],
        env,
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr
    assert users(state(sandbox))[STAYER_EMAIL]["suspended"] is True
    assert "sstayer" not in org_members(state(sandbox))
