"""GitHub invitations go to a numeric account id, never to whoever holds a login now: through
the real CLI, the real PyGithub provider and the sandbox, asserted on the request bodies the
sandbox received, its invitations and the audit log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.audit import RecordType, read_records
from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import NEWCOMER, ORG, audit_path, cli, setup, state

INVITATIONS = f"/orgs/{ORG}/invitations"
SQUATTER_ID = 5011  # the scenario's GitHub user "hnewcomer": the login in the newcomer's file
OWN_ID = 7777  # the newcomer's own account, as recorded in their file


def _record_github_id(directory: Path, github_id: int) -> None:
    path = directory / "people" / f"{NEWCOMER}.yaml"
    path.write_text(path.read_text(encoding="utf-8") + f"github_id: {github_id}\n", "utf-8")


def _github_users(sandbox: SandboxServer, *users: dict[str, Any]) -> None:
    """Add GitHub users to the loaded world (reloaded, so its indices know them)."""
    world = state(sandbox)
    world["github"]["users"].extend(users)
    sandbox.sandbox.load_world(world)
    sandbox.sandbox.telemetry.reset()


def _invitation_requests(sandbox: SandboxServer) -> list[tuple[str, str, Any]]:
    """Every request that could invite someone: POST invitations, PUT org memberships."""
    with sandbox.sandbox.telemetry.lock:
        log = list(sandbox.sandbox.telemetry.log)
    return [
        (r.method, r.path, r.body)
        for r in log
        if (r.method == "POST" and r.path == INVITATIONS)
        or (r.method == "PUT" and r.path.startswith(f"/orgs/{ORG}/memberships/"))
    ]


def _invited(sandbox: SandboxServer) -> list[str | None]:
    return [i.get("login") for i in state(sandbox)["github"]["invitations"]]


def _findings(output: str) -> list[dict[str, Any]]:
    plan: dict[str, Any] = json.loads(output)
    findings: list[dict[str, Any]] = plan["plan"]["findings"]
    return findings


def test_a_login_only_person_is_invited_by_the_id_the_login_resolved_to_and_the_id_is_recorded(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)

    planned = cli(["plan", "--dir", str(directory)], env)
    assert planned.exit_code == 2, planned.output
    assert f"add github_id: {SQUATTER_ID} to their person file" in planned.output
    applied = cli(["apply", "--dir", str(directory), "--confirm"], env)

    assert applied.exit_code == 0, applied.output
    assert _invitation_requests(sandbox) == [
        ("POST", INVITATIONS, {"invitee_id": SQUATTER_ID, "role": "direct_member"})
    ]
    assert _invited(sandbox) == ["hnewcomer"]
    (result,) = [
        r
        for r in read_records(audit_path(tmp_path))
        if r.type == RecordType.RESULT and r.action and r.action["kind"] == "invite_org_member"
    ]
    assert result.action is not None and result.result is not None
    assert ["github_id", str(SQUATTER_ID)] in result.action["params"]
    assert f"account id {SQUATTER_ID}" in result.result["message"]


@pytest.mark.parametrize("own_account", [True, False], ids=["renamed", "gone"])
def test_an_account_holding_the_persons_old_login_is_never_invited_and_is_a_finding(
    sandbox: SandboxServer, tmp_path: Path, own_account: bool
) -> None:
    """The newcomer's recorded id is not in the org, and "hnewcomer" (the login in their
    file) is another account now. Renamed: their own account is found by id and invited by
    id under its new login. Gone: nobody is invited. Either way "hnewcomer" gets nothing."""
    directory, _, env = setup(sandbox, tmp_path)
    _record_github_id(directory, OWN_ID)
    if own_account:
        _github_users(sandbox, {"login": "hana-mori", "id": OWN_ID, "name": "森 花"})

    planned = cli(["plan", "--dir", str(directory), "--format", "json"], env)
    applied = cli(["apply", "--dir", str(directory), "--confirm"], env)

    # Own account found under its new login: invited by id. Gone: the invitation is held
    # back, so the run is partial (exit 3) until the person file names a login they own.
    partial = 0 if own_account else 3
    assert planned.exit_code == (2 if own_account else 3), planned.output
    taken = [f for f in _findings(planned.stdout) if f["code"] == "github-invitee-login-taken"]
    assert [(f["severity"], f["article"], f["subject"], f["person_id"]) for f in taken] == [
        ("high", "第5.2条1", "hnewcomer", NEWCOMER)
    ]
    assert str(SQUATTER_ID) in taken[0]["message"]
    assert applied.exit_code == partial, applied.output
    sent = _invitation_requests(sandbox)
    assert all(body.get("invitee_id") != SQUATTER_ID for _, _, body in sent), sent
    assert all(not path.endswith("/hnewcomer") for _, path, _ in sent), sent
    assert "hnewcomer" not in _invited(sandbox)
    if own_account:
        assert sent == [("POST", INVITATIONS, {"invitee_id": OWN_ID, "role": "direct_member"})]
        assert _invited(sandbox) == ["hana-mori"]
    else:
        assert sent == []
        assert _invited(sandbox) == []
