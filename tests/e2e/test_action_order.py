"""What the reviewer saw is what runs: `reconciler plan --out` then `reconciler apply --plan
--confirm` through the real CLI, providers and client libraries against the sandbox, and the
sandbox's request log shows the writes in exactly the order of the saved plan's actions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import cli, setup, state, writes

# Nobody in the repo: removed from the managed group and the org outside any offboarding, so
# the plan's removal phase holds Google, GitHub and GCP removals side by side.
STRANGER_EMAIL = "outsider@example.com"
STRANGER_LOGIN = "drive-by-user"


def _add_strangers(sandbox: SandboxServer) -> None:
    world = state(sandbox)
    world["google"]["members"]["eng@example.co.jp"].append(
        {"email": STRANGER_EMAIL, "role": "MEMBER", "type": "USER", "status": "ACTIVE"}
    )
    world["github"]["users"].append(
        {"login": STRANGER_LOGIN, "id": 7001, "name": "Drive By", "two_factor": True,
         "previous_logins": []}
    )  # fmt: skip
    world["github"]["members"].append({"login": STRANGER_LOGIN, "role": "member"})
    sandbox.sandbox.load_world(world)
    sandbox.sandbox.telemetry.reset()


def _names(action: dict[str, Any]) -> list[str]:
    """What the path of this action's write request names (one write per action here)."""
    if action["system"] == "gcp":
        return [f"/{action['target']}:setIamPolicy"]
    # Two writes name their principal in the body only: the path names the collection.
    if action["kind"] == "create_account":
        return ["/admin/directory/v1/users"]
    if action["kind"] == "add_group_member":
        return [f"/groups/{action['target']}/members"]
    if action["kind"] == "invite_org_member":  # POST /orgs/{org}/invitations {invitee_id}
        return [f"/orgs/{action['target']}/invitations"]
    return [action["target"].split("/")[-1], action["principal"]]


def test_apply_of_a_saved_plan_writes_in_the_order_the_plan_was_shown(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    _add_strangers(sandbox)
    saved = tmp_path / "plan.json"
    shown = cli(["plan", "--dir", str(directory), "--format", "json", "--out", str(saved)], env)
    assert shown.exit_code == 2, shown.output
    actions = json.loads(saved.read_text())["plan"]["actions"]
    assert json.loads(shown.stdout)["plan"]["actions"] == actions
    phases = [a["phase"] for a in actions]
    assert phases == sorted(phases)
    kinds = {(a["kind"], a["offboarding"]) for a in actions}
    assert {("remove_group_member", False), ("remove_org_member", False)} <= kinds

    applied = cli(["apply", "--dir", str(directory), "--plan", str(saved), "--confirm"], env)
    assert applied.exit_code == 0, applied.output

    log = [unquote(path) for _, path in writes(sandbox)]
    assert len(log) == len(actions), log
    for path, action in zip(log, actions, strict=True):
        assert all(name in path for name in _names(action)), (path, action)
