"""Emergency holds, the leaver limit, offboarding evidence, exit codes and what-if runs, end
to end: the real CLI and providers against the sandbox, asserting on the sandbox's state and
the audit log. Each test fails when the rule it names is removed."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from reconciler.audit import RecordType, read_records, verify
from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import (
    LEAVER,
    ORG,
    STAYER,
    STAYER_EMAIL,
    audit_path,
    bindings,
    cli,
    org_members,
    setup,
    state,
    today,
    users,
    world_before,
    writes,
)


def _records(tmp_path: Path, type_: str) -> list[dict[str, object]]:
    return [dict(r.data) for r in read_records(audit_path(tmp_path)) if r.type == type_]


def _set_end(directory: Path, person: str, end: str) -> None:
    path = directory / "people" / f"{person}.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("type: employee, start: 2019-04-01}",
                                 f"type: employee, start: 2019-04-01, end: {end}}}"),
                    encoding="utf-8")  # fmt: skip
    assert f"end: {end}" in path.read_text(encoding="utf-8")


def test_an_emergency_offboarding_is_not_undone_by_the_next_apply(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    assert (
        cli(["offboard", STAYER, "--now", "--confirm", "--dir", str(directory)], env).exit_code == 0
    )
    placed = _records(tmp_path, RecordType.HOLD_PLACED)
    assert [r["person_id"] for r in placed] == [STAYER]
    sandbox.sandbox.telemetry.reset()

    # The repo still says the stayer works here; the next run must not give anything back.
    result = cli(["apply", "--confirm", "--dir", str(directory)], env)

    assert result.exit_code == 0, result.output
    world = state(sandbox)
    assert users(world)[STAYER_EMAIL]["suspended"] is True
    assert "sstayer" not in org_members(world)
    assert not [i for i in world["github"]["invitations"] if i.get("login") == "sstayer"]
    assert f"user:{STAYER_EMAIL}" not in bindings(world, "projects/example-dev")["roles/editor"]
    assert not [w for w in writes(sandbox) if "saburo.stayer" in w[1] or "sstayer" in w[1]]

    planned = cli(["plan", "--format", "json", "--dir", str(directory)], env)
    findings = json.loads(planned.stdout)["plan"]["findings"]
    hold = [f for f in findings if f["code"] == "emergency-hold-not-in-repo"]
    assert len(hold) == 1 and hold[0]["severity"] == "critical" and hold[0]["article"] == "第5.2条3"
    assert f"employment.end: {today()}" in hold[0]["message"]
    listed = cli(["hold", "list", "--json", "--dir", str(directory)], env)
    assert [h["person_id"] for h in json.loads(listed.stdout)["holds"]] == [STAYER]


def test_a_hold_ends_by_itself_once_the_repo_end_date_covers_it(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    assert (
        cli(["offboard", STAYER, "--now", "--confirm", "--dir", str(directory)], env).exit_code == 0
    )
    _set_end(directory, STAYER, str(today()))  # the change `offboard` told us to commit

    result = cli(["apply", "--confirm", "--dir", str(directory)], env)

    assert result.exit_code == 0, result.output
    ended = _records(tmp_path, RecordType.HOLD_ENDED)
    assert [r["person_id"] for r in ended] == [STAYER]
    listed = cli(["hold", "list", "--json", "--dir", str(directory)], env)
    assert json.loads(listed.stdout)["holds"] == []
    assert users(state(sandbox))[STAYER_EMAIL]["suspended"] is True  # the repo keeps them out
    assert verify(audit_path(tmp_path)).ok


def test_a_released_hold_is_audited_with_who_and_why_and_the_repo_rules_again(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    assert (
        cli(["offboard", STAYER, "--now", "--confirm", "--dir", str(directory)], env).exit_code == 0
    )

    missing = cli(["hold", "release", "e9999", "--reason", "wrong person"], env)
    assert missing.exit_code == 1 and "no emergency hold for 'e9999'" in missing.output
    released = cli(["hold", "release", STAYER, "--reason", "false alarm: laptop found"], env)

    assert released.exit_code == 0, released.output
    [record] = _records(tmp_path, RecordType.HOLD_RELEASED)
    assert record["person_id"] == STAYER
    assert record["actor"] == "ops@admin-host.example.com"
    assert record["details"]["reason"] == "false alarm: laptop found"  # type: ignore[index]
    assert cli(["apply", "--confirm", "--dir", str(directory)], env).exit_code == 0
    assert users(state(sandbox))[STAYER_EMAIL]["suspended"] is False  # given back, on purpose


def test_more_leavers_than_the_limit_are_refused_naming_them_unless_allowed(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path, extra_people=3)
    yesterday = str(today() - timedelta(days=1))
    for i in range(3):  # a mistaken bulk edit: three more people "left" yesterday
        path = directory / "people" / f"e1{i:03d}.yaml"
        text = path.read_text(encoding="utf-8")
        ended = text.replace("start: 2022-04-01}", f"start: 2022-04-01, end: {yesterday}}}")
        path.write_text(ended, encoding="utf-8")
    sandbox.sandbox.telemetry.reset()

    refused = cli(["apply", "--confirm", "--dir", str(directory)], env)

    assert refused.exit_code == 2, refused.output
    assert "offboards 4 people (e0010, e1000, e1001, e1002)" in refused.output
    assert "--allow-mass-offboarding" in refused.output
    # The refusal in the reader's language (the audit log keeps the English).
    japanese = cli(["apply", "--confirm", "--lang", "ja", "--dir", str(directory)], env)
    assert japanese.exit_code == 2, japanese.output
    assert "4 人(e0010, e1000, e1001, e1002)をオフボーディングします" in japanese.output
    assert "offboards 4 people" not in japanese.stdout  # (the JSON log line keeps English)
    assert writes(sandbox) == []
    assert users(state(sandbox))["staff0@example.co.jp"]["suspended"] is False

    allowed = cli(["apply", "--confirm", "--allow-mass-offboarding", "--dir", str(directory)], env)
    assert allowed.exit_code == 0, allowed.output
    assert users(state(sandbox))["staff0@example.co.jp"]["suspended"] is True


def test_one_emergency_leaver_is_never_blocked_by_the_leaver_limit(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    org = directory / "organization.yaml"
    org.write_text(org.read_text(encoding="utf-8").replace(
        "limits: {max_removals: 50, max_removal_ratio: 1.0}",
        "limits: {max_removals: 50, max_removal_ratio: 1.0, max_offboardings: 1}"),
        encoding="utf-8")  # fmt: skip
    result = cli(["offboard", STAYER, "--now", "--confirm", "--dir", str(directory)], env)
    assert result.exit_code == 0, result.output
    assert users(state(sandbox))[STAYER_EMAIL]["suspended"] is True


def test_access_kept_by_a_rule_is_recorded_as_offboarding_incomplete_and_exits_3(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, desired, env = setup(sandbox, tmp_path)
    world = world_before(desired)
    # The leaver is the organisation's only owner: the last-owner rule keeps them.
    members = world["github"]["members"]
    for member in members:
        member["role"] = "admin" if member["login"] == "kleaver" else "member"
    sandbox.sandbox.load_world(world)

    result = cli(["apply", "--confirm", "--dir", str(directory)], env)

    assert result.exit_code == 3, result.output
    assert "kept kleaver: the last owner of the GitHub organisation" in result.output  # the note
    assert "PARTIAL" in result.output and "should now show no changes" not in result.output
    assert "kleaver" in org_members(state(sandbox))
    assert not [r for r in _records(tmp_path, RecordType.OFFBOARDING_COMPLETE)
                if r["person_id"] == LEAVER]  # fmt: skip
    [incomplete] = _records(tmp_path, RecordType.OFFBOARDING_INCOMPLETE)
    assert incomplete["person_id"] == LEAVER
    details = incomplete["details"]
    assert f"GitHub org {ORG}" in details["still_held"]  # type: ignore[index]
    assert any("last owner" in k for k in details["kept_by"])  # type: ignore[index]
    run_end = _records(tmp_path, RecordType.RUN_END)[-1]
    assert run_end["details"]["status"] == "partial"  # type: ignore[index]


def test_an_incomplete_read_makes_apply_exit_3_with_advice_that_matches(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    sandbox.sandbox.add_fault(
        {"method": "POST", "path": r"^/v3/projects/example-prod:getIamPolicy$", "every": True,
         "status": 503}
    )  # fmt: skip

    result = cli(["apply", "--confirm", "--dir", str(directory)], env)

    assert result.exit_code == 3, result.output
    assert "the gcp read was incomplete" in result.output
    assert "should now show no changes" not in result.output
    assert cli(["plan", "--dir", str(directory)], env).exit_code == 3
    assert cli(["apply", "--dir", str(directory)], env).exit_code == 3  # a dry run says so too
    sandbox.sandbox.clear_faults()
    clean = cli(["apply", "--confirm", "--dir", str(directory)], env)
    assert clean.exit_code == 0, clean.output
    assert "should now show no changes" in clean.output


def test_a_what_if_with_confirm_is_refused_outside_the_sandbox(tmp_path: Path) -> None:
    directory = tmp_path / "desired_state"
    from tests.e2e.scenario import write_repo

    write_repo(directory)
    env = {"RECONCILER_STATE_DIR": str(tmp_path / "state"), "RECONCILER_SANDBOX_URL": ""}
    past = "2026-01-05T09:00:00+09:00"

    result = cli(["apply", "--confirm", "--at", past, "--dir", str(directory)], env)

    assert result.exit_code == 1
    assert f"--at {past} with --confirm is refused" in result.output
    assert not audit_path(tmp_path).exists()


def test_a_what_if_applied_to_the_sandbox_is_recorded_as_backdated(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    moment = f"{today()}T12:00:00+09:00"
    result = cli(["apply", "--confirm", "--at", moment, "--dir", str(directory)], env)
    assert result.exit_code in (0, 3), result.output
    [start] = _records(tmp_path, RecordType.RUN_START)
    assert start["details"]["backdated_to"] == f"{today()}T03:00:00+00:00"  # type: ignore[index]


def test_a_confirmed_run_prints_its_closing_audit_head_which_verify_accepts(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    result = cli(["apply", "--confirm", "--dir", str(directory)], env)
    assert result.exit_code == 0, result.output
    last = read_records(audit_path(tmp_path))[-1]
    assert last.type == RecordType.RUN_END
    head = str(last.data["hash"])
    assert f"audit head {head}" in result.output
    verified = cli(["audit", "verify", "--expect-head", head, str(audit_path(tmp_path))], env)
    assert verified.exit_code == 0, verified.output
