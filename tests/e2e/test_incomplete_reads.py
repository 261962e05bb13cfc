"""An incomplete read changes nothing in that system but a leaver's known grants, through the
real CLI and providers against the sandbox: a fault fails the GitHub member list (GraphQL) or
the Google user list, `reconciler plan` proposes no invitation / account creation and says
once per system what it held back, and `reconciler apply --confirm` writes nothing to that
system except the removal of the leaver's grants the partial read did show."""

from __future__ import annotations

import json
import re
from pathlib import Path

from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import (
    LEAVER_EMAIL,
    NEWCOMER_EMAIL,
    ORG,
    access_state,
    cli,
    group_members,
    org_members,
    setup,
    state,
    users,
    writes,
)

# A permanent error (not retried), so the production retry policy the CLI uses fails at once.
_FORBIDDEN = {"message": "Resource not accessible by integration"}


def _plan_json(directory: Path, env: dict[str, str]) -> dict[str, object]:
    result = cli(["plan", "--dir", str(directory), "--format", "json"], env)
    assert result.exit_code == 3, result.output  # partial: the github read was incomplete
    plan: dict[str, object] = json.loads(result.stdout)["plan"]
    return plan


def _read_notes(plan: dict[str, object]) -> list[str]:
    notes = plan["notes"]
    assert isinstance(notes, list)
    return [
        n["message"]
        for n in notes
        if n["kind"] == "held-back" and " read incomplete " in n["message"]
    ]


def test_a_failed_github_member_list_invites_nobody_and_applies_only_the_leavers_known_cuts(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    # The first GraphQL call of a read is the member list; the teams query after it succeeds.
    sandbox.sandbox.add_fault(
        {"method": "POST", "path": "^/graphql$", "nth": 1, "status": 403, "body": _FORBIDDEN}
    )

    plan = _plan_json(directory, env)

    actions = plan["actions"]
    assert isinstance(actions, list)
    github = [a for a in actions if a["system"] == "github"]
    assert not [a for a in github if a["kind"] == "invite_org_member"]
    # the leaver's org membership was not in the partial read, so not even that is removed
    assert github == []
    assert plan["incomplete_systems"] == ["github"]
    (note,) = _read_notes(plan)
    assert note.startswith("github read incomplete (members: GitHub answered 403: Resource not")
    held = re.search(r": (\d+) change\(s\) held back: (.*)$", note)
    assert held is not None and "invitations" in held[2], note
    assert plan["held_back"] == {"github": int(held[1])}

    sandbox.sandbox.telemetry.reset()
    sandbox.sandbox.add_fault(
        {"method": "POST", "path": "^/graphql$", "nth": 1, "status": 403, "body": _FORBIDDEN}
    )
    before = state(sandbox)
    applied = cli(["apply", "--dir", str(directory), "--confirm"], env)

    assert applied.exit_code == 3, applied.output
    assert "read github: INCOMPLETE" in applied.output
    assert [w for w in writes(sandbox) if w[1].startswith(f"/orgs/{ORG}/")] == []
    world = state(sandbox)
    # no invitation, no team change, nobody removed
    assert access_state(world)["github"] == access_state(before)["github"]
    assert LEAVER_EMAIL not in group_members(world, "eng@example.co.jp")  # Google was complete


def test_a_failed_google_user_list_creates_no_account_and_applies_only_the_leavers_known_cuts(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    sandbox.sandbox.add_fault(
        {"method": "GET", "path": "^/admin/directory/v1/users$", "every": True, "status": 403,
         "body": {"error": {"code": 403, "message": "Not Authorized to access this resource"}}}
    )  # fmt: skip

    plan = _plan_json(directory, env)

    actions = plan["actions"]
    assert isinstance(actions, list)
    google = [a for a in actions if a["system"] == "google"]
    assert not [a for a in google if a["kind"] in ("create_account", "add_group_member")]
    assert all(a["offboarding"] and a["person_id"] == "e0010" for a in google), google
    assert plan["incomplete_systems"] == ["google"]
    (note,) = _read_notes(plan)
    assert note.startswith("google read incomplete (")
    held = re.search(r": (\d+) change\(s\) held back: (.*)$", note)
    assert held is not None and "account creation" in held[2], note
    assert plan["held_back"] == {"google": int(held[1])}

    sandbox.sandbox.telemetry.reset()
    applied = cli(["apply", "--dir", str(directory), "--confirm"], env)

    assert applied.exit_code == 3, applied.output
    google_writes = [w for w in writes(sandbox) if w[1].startswith("/admin/directory/")]
    # the leaver's group membership was in the partial read: removed; nothing else on Google
    leaver = LEAVER_EMAIL.replace("@", "%40")
    assert google_writes == [
        ("DELETE", f"/admin/directory/v1/groups/eng%40example.co.jp/members/{leaver}")
    ]
    world = state(sandbox)
    assert NEWCOMER_EMAIL not in users(world)  # no account created
    assert LEAVER_EMAIL not in group_members(world, "eng@example.co.jp")
    assert "kleaver" not in org_members(world)  # GitHub was complete: offboarded there
