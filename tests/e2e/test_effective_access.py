"""Effective access end to end: GCP bindings to `group:` members are expanded through the
Google groups the real Directory read lists (nested groups included), so `reconciler plan
--format json` against the sandbox reports who really reaches production and through which
groups, while the plan changes no group membership because of a binding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.desired.loading import load_desired_dir
from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import (
    LEAVER,
    LEAVER_EMAIL,
    MOVER_EMAIL,
    cli,
    cli_env,
    world_before,
    write_repo,
)

PROD = "projects/example-prod"
READERS = "prod-readers@example.co.jp"
DATA = "data-team@example.co.jp"
OWNERS = "prod-owners@example.co.jp"


def _group(world: dict[str, Any], email: str, gid: str, members: dict[str, str]) -> None:
    """A group and its members as the Directory API holds them (`type` GROUP for a nested
    group, USER for a person)."""
    google = world["google"]
    google["groups"].append({"id": gid, "email": email, "name": email.split("@", maxsplit=1)[0]})
    google["members"][email] = [
        {"id": f"{gid}{i}", "email": m, "role": "MEMBER", "type": kind, "status": "ACTIVE"}
        for i, (m, kind) in enumerate(sorted(members.items()))
    ]


def _bind(world: dict[str, Any], resource: str, role: str, member: str) -> None:
    res = next(r for r in world["gcp"]["resources"] if r["name"] == resource)
    res["policy"]["bindings"].append({"role": role, "members": [member]})


def test_plan_reports_a_leaver_reaching_prod_through_nested_groups_and_an_owner_through_a_group(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory = write_repo(tmp_path / "desired_state")
    world = world_before(load_desired_dir(directory))
    # the leaver is in data-team, data-team is in prod-readers, prod-readers views prod
    _group(world, DATA, "0301", {LEAVER_EMAIL: "USER"})
    _group(world, READERS, "0302", {DATA: "GROUP"})
    _bind(world, PROD, "roles/viewer", f"group:{READERS}")
    # a colleague who stays reaches roles/owner on prod through a group
    _group(world, OWNERS, "0303", {MOVER_EMAIL: "USER"})
    _bind(world, PROD, "roles/owner", f"group:{OWNERS}")
    sandbox.sandbox.load_world(world)

    result = cli(["plan", "--format", "json", "--dir", str(directory)], cli_env(sandbox, tmp_path))

    assert result.exit_code == 2, result.output
    plan = json.loads(result.stdout)["plan"]
    (leaver,) = [
        f for f in plan["findings"] if f["code"] == "leaver-has-access" and f["person_id"] == LEAVER
    ]
    assert leaver["severity"] == "critical" and leaver["article"] == "第5.2条3"
    assert f"roles/viewer on {PROD} through group {READERS} > {DATA}" in leaver["message"]
    owners = [
        f
        for f in plan["findings"]
        if f["code"] == "owner-on-prod" and f["subject"].endswith(f"via group:{OWNERS}")
    ]
    assert [f["subject"] for f in owners] == [
        f"{PROD} roles/owner user:{MOVER_EMAIL} via group:{OWNERS}"
    ]
    assert f"remove them from {OWNERS}" in owners[0]["message"]
    # The leaver leaves the group they are in (offboarding); nothing else changes because of
    # the bindings: the nested group stays in prod-readers, the owner stays in prod-owners,
    # and the group bindings stay.
    involved = {DATA, READERS, OWNERS, f"group:{READERS}", f"group:{OWNERS}"}
    touching = [
        (a["kind"], a["target"], a["principal"])
        for a in plan["actions"]
        if a["target"] in involved or a["principal"] in involved
    ]
    assert touching == [("remove_group_member", DATA, LEAVER_EMAIL)]
