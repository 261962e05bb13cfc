"""A member list that shrinks suspiciously is not trusted, through the real CLI and providers
against the sandbox: a confirmed apply stores the counts of its complete read in the state
store (`read-counts.json`); then GitHub answers with only the owner, and `reconciler plan`
marks the GitHub read INCOMPLETE naming both counts and plans nothing there, `reconciler apply
--confirm` writes nothing to GitHub, and the stored counts are not replaced by the suspicious
ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import ORG, access_state, cli, org_members, setup, state, writes

STAFF = 12  # stayers besides the scenario's people: the org is well above the small-system floor


def _counts(tmp_path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (tmp_path / "state" / "read-counts.json").read_text(encoding="utf-8")
    )
    return document


def test_a_github_org_shrunk_to_its_owner_is_an_incomplete_read_and_nobody_is_removed(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path, extra_people=STAFF)
    org_file = directory / "organization.yaml"
    text = org_file.read_text(encoding="utf-8")
    org_file.write_text(text.replace("max_removal_ratio: 1.0", "max_removal_ratio: 0.5"))

    members = len(org_members(state(sandbox)))
    first = cli(["apply", "--dir", str(directory), "--confirm"], env)
    assert first.exit_code == 0, first.output
    stored = _counts(tmp_path)["systems"]["github"]
    assert stored["scope"] == ORG
    assert stored["counts"]["org members"] == members >= 10  # what that run's read saw

    # GitHub now answers with the owner alone (every page succeeds: a "complete" answer).
    world = state(sandbox)
    owners = [m for m in world["github"]["members"] if m["role"] == "admin"]
    world["github"]["members"] = owners[:1]
    sandbox.sandbox.load_world(world)
    sandbox.sandbox.telemetry.reset()

    plan = cli(["plan", "--dir", str(directory), "--format", "json"], env)
    assert plan.exit_code == 3, plan.output  # partial: the shrunk read counts as incomplete
    expected = (
        f"github org members: 1 now, {stored['counts']['org members']} at the last complete "
        f"read on {stored['read_at'][:16]}Z; treated as incomplete"
    )
    assert "read github: INCOMPLETE" in plan.output
    assert expected in " ".join(plan.output.split())  # the terminal may wrap the line
    content = json.loads(plan.stdout)["plan"]
    assert content["incomplete_systems"] == ["github"]
    assert [a for a in content["actions"] if a["system"] == "github"] == []
    assert content["held_back"]["github"] > 0  # the invitations it would have sent

    before = state(sandbox)
    applied = cli(["apply", "--dir", str(directory), "--confirm"], env)
    assert applied.exit_code == 3, applied.output
    assert [w for w in writes(sandbox) if w[1].startswith(f"/orgs/{ORG}/")] == []
    assert access_state(state(sandbox))["github"] == access_state(before)["github"]
    # the suspicious read did not become the new normal
    assert _counts(tmp_path)["systems"]["github"] == stored
