"""Worlds, fault helpers and run helpers for the reliability tests (tests/reliability/): the
e2e scenario's small company (tests/e2e/scenario.py) with a little drift, the same company
grown until every list of every API has several pages, and one way to run a confirmed apply
or a plan through `reconciler.runs` with the real providers on FAST_RETRY."""

from __future__ import annotations

import copy
import functools
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typer.testing import Result

from reconciler.cli.common import now
from reconciler.desired.loading import load_desired_dir
from reconciler.model import DesiredState, Plan, System
from reconciler.providers.base import Provider
from reconciler.providers.connecting import sandbox_info
from reconciler.providers.gcp_iam import GcpIamProvider
from reconciler.providers.github import GitHubProvider
from reconciler.providers.google_workspace import GoogleWorkspaceProvider
from reconciler.providers.retrying import RetryPolicy
from reconciler.runs import RunContext, RunOutcome, apply_changes, plan_now
from reconciler.sandbox.http import FaultRule
from reconciler.sandbox.server import SandboxServer
from reconciler.settings import Settings
from reconciler.state import LocalStateStore
from tests.e2e.scenario import (
    FAST_RETRY,
    LEAVER_EMAIL,
    MOVER_EMAIL,
    NEWCOMER_EMAIL,
    ORG,
    bindings,
    cli,
    cli_env,
    group_members,
    org_members,
    state,
    team_members,
    users,
    world_before,
    write_repo,
    writes,
)

# Drift every world carries, so an incomplete read has a removal to hold back in each system
# (the mover's old team and old dev binding are the GitHub and GCP ones).
STRANGER = "outside.partner@example.com"  # in eng@, not in the repo, outside the domains
ENG = "eng@example.co.jp"
DEV, PROD = "projects/example-dev", "projects/example-prod"

# Grown worlds: each makes one family of lists long enough to have several pages, and no more
# (a read of 500 Workspace users costs about two seconds, so only the case paging users pays it).
GROWN_STAFF = 105  # GitHub: org members and team backend > 100 (2 GraphQL pages each)
FILLER_USERS = 500  # unmanaged, suspended accounts: users.list > 500 (2 pages)
FILLER_GROUPS = 200  # unmanaged groups: groups.list > 200 (2 pages)
FILLER_NESTED = 200  # in-domain non-user members of eng@ (nested groups, never removed): 2 pages
FILLER_TEAMS = 100  # unmanaged teams: the teams connection > 100 (2 pages)
FILLER_INVITATIONS = 101  # strangers' invitations: REST invitations > 100 (2 pages)
FILLER_COLLABORATORS = 101  # strangers: REST outside collaborators > 100 (2 pages)
GROWN = ("users", "groups", "members", "github")


class RecordedWaits:
    """A retry policy's `sleep` that records each wait instead of sleeping: a case asserts
    the run waited as long as the server asked (Retry-After, x-ratelimit-reset, GitHub's
    one-minute floor) without spending that time."""

    def __init__(self, *, sleep: bool = False) -> None:
        self.waits: list[float] = []
        self.sleep = sleep  # sleep them too: for a limit that only time lifts

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.sleep:
            time.sleep(seconds)

    def policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05, sleep=self)


def persistent(spec: Mapping[str, Any], nth: int = 1) -> list[dict[str, Any]]:
    """Fault rules failing the nth matching call and every retry of it under FAST_RETRY.
    The sandbox asks its rules in order and the first that fires answers, so a request a rule
    fired on is not counted by the rules after it: k copies of a rule with the same `nth`
    fail calls nth .. nth+k-1, and the calls after them (the next page, the next list) pass."""
    return [{**spec, "nth": nth} for _ in range(FAST_RETRY.attempts)]


def _drift(world: dict[str, Any]) -> dict[str, Any]:
    world["google"]["members"][ENG].append(
        {"id": "900000000000000000001", "email": STRANGER, "role": "MEMBER", "type": "USER",
         "status": "ACTIVE"}
    )  # fmt: skip
    return world


def _grow(world: dict[str, Any], grown: str) -> dict[str, Any]:
    google, github = world["google"], world["github"]
    if grown == "users":
        for i in range(FILLER_USERS):
            google["users"].append(
                {"id": f"5{i:020d}", "primaryEmail": f"dormant{i:03d}@example.co.jp",
                 "name": {"givenName": "Dormant", "familyName": f"{i}",
                          "fullName": f"Dormant {i}"},
                 "suspended": True, "isAdmin": False, "isEnrolledIn2Sv": True,
                 "isEnforcedIn2Sv": True, "creationTime": "2020-04-01T00:00:00.000Z",
                 "orgUnitPath": "/"}
            )  # fmt: skip
    elif grown == "groups":
        for i in range(FILLER_GROUPS):
            google["groups"].append(
                {"id": f"6{i:016d}", "email": f"list{i:03d}@example.co.jp",
                 "name": f"list {i}", "description": ""}
            )  # fmt: skip
    elif grown == "members":
        for i in range(FILLER_NESTED):
            google["members"][ENG].append(
                {"id": f"7{i:020d}", "email": f"nested{i:03d}@example.co.jp", "role": "MEMBER",
                 "type": "GROUP", "status": "ACTIVE"}
            )  # fmt: skip
    elif grown == "github":
        for i in range(FILLER_TEAMS):
            github["teams"].append({"id": 800000 + i, "slug": f"guild-{i:03d}", "members": []})
        for i in range(FILLER_INVITATIONS):
            github["invitations"].append(
                {"id": 70000 + i, "login": None, "email": f"invitee{i:03d}@example.com",
                 "role": "direct_member", "created_at": "2026-01-05T09:00:00Z",
                 "inviter": "example-reconciler-bot", "team_ids": []}
            )  # fmt: skip
        github["outside_collaborators"] = [f"partner-{i:03d}" for i in range(FILLER_COLLABORATORS)]
    return world


@functools.cache
def _template(grown: str) -> tuple[Path, dict[str, Any]]:
    """The repo and the world, built once per session; `grown` is one of GROWN or ""."""
    assert grown in (*GROWN, ""), grown
    directory = write_repo(
        Path(tempfile.mkdtemp(prefix="reliability-")) / "desired_state",
        extra_people=GROWN_STAFF if grown == "github" else 0,
    )
    world = _drift(world_before(load_desired_dir(directory)))
    return directory, _grow(world, grown)


@dataclass
class World:
    """One test's company: its repo on disk, the sandbox loaded with its world, a state
    directory; `apply` and `plan` run the real `reconciler.runs` functions on the real
    providers (FAST_RETRY), `cli` the real CLI (the production retry policy)."""

    sandbox: SandboxServer
    tmp_path: Path
    directory: Path
    desired: DesiredState
    env: dict[str, str]
    rules: list[FaultRule] = field(default_factory=list)

    @classmethod
    def load(cls, sandbox: SandboxServer, tmp_path: Path, *, grown: str = "") -> World:
        template, world = _template(grown)
        directory = tmp_path / "desired_state"
        shutil.copytree(template, directory)
        sandbox.sandbox.load_world(copy.deepcopy(world))
        sandbox.sandbox.telemetry.reset()
        return cls(sandbox, tmp_path, directory, load_desired_dir(directory),
                   cli_env(sandbox, tmp_path))  # fmt: skip

    # -- the world -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return state(self.sandbox)

    def edit(self, change: Any) -> None:
        """Change the sandbox's world by hand (drift), reloaded so its indices know it."""
        world = self.state()
        change(world)
        self.sandbox.sandbox.load_world(world)
        self.sandbox.sandbox.telemetry.reset()

    def reload(self) -> None:
        """Re-read the repo after editing its files."""
        self.desired = load_desired_dir(self.directory)

    def fault(self, *specs: Mapping[str, Any]) -> list[FaultRule]:
        added = [self.sandbox.sandbox.add_fault(dict(spec)) for spec in specs]
        self.rules.extend(added)
        return added

    def clear(self) -> None:
        self.sandbox.sandbox.clear_faults()
        self.sandbox.sandbox.telemetry.reset()

    def writes(self, system: System | None = None) -> list[tuple[str, str]]:
        prefixes = {
            System.GOOGLE: ("/admin/directory/",),
            System.GITHUB: ("/orgs/", "/teams/", "/repos/", "/user"),
            System.GCP: ("/v3/", "/v1/", "/google.iam"),
        }
        found = writes(self.sandbox)
        if system is None:
            return found
        return [w for w in found if w[1].startswith(prefixes[system])]

    # -- runs ------------------------------------------------------------------------------
    def context(self, *, confirm: bool = True, **extra: Any) -> RunContext:
        return RunContext(
            settings=Settings(state_dir=self.tmp_path / "state", _env_file=None),
            moment=extra.pop("moment", None) or now(),
            confirm=confirm,
            actor="ops@admin-host.example.com",
            desired_dir=self.directory,
            **extra,
        )

    def providers(self, policy: RetryPolicy = FAST_RETRY) -> dict[System, Provider]:
        """The real providers against the sandbox (what scenario.fast_providers builds), with
        `policy`: a RecordedWaits policy records the waits instead of sleeping them."""
        systems = self.desired.organization.systems
        assert systems.google and systems.github
        return {
            System.GOOGLE: GoogleWorkspaceProvider.from_sandbox(
                self.sandbox.url, systems.google, retry_policy=policy
            ),
            System.GITHUB: GitHubProvider.from_sandbox(
                self.sandbox.url, systems.github.org, retry_policy=policy
            ),
            System.GCP: GcpIamProvider.from_sandbox(sandbox_info(self.sandbox.url), retry=policy),
        }

    def apply(self, policy: RetryPolicy = FAST_RETRY, **extra: Any) -> RunOutcome:
        """A confirmed `apply` (or a dry run with confirm=False) through reconciler.runs."""
        return apply_changes(self.desired, self.providers(policy), self.context(**extra))

    def plan(self) -> Plan:
        return plan_now(
            self.desired,
            self.providers(),
            store=LocalStateStore(self.tmp_path / "state"),
            moment=now(),
            directory=self.directory,
        ).plan

    def cli(self, *args: str) -> Result:
        return cli([*args], self.env)

    def converges(self, *, noop: bool = False) -> None:
        """With the faults gone, a confirmed run is clean and the next plan has nothing to
        do: whatever the fault left half done is finished, nothing is done twice. `noop`:
        the faulty run already did everything, so this one has nothing to do."""
        self.clear()
        rerun = self.apply().report
        assert rerun.exit_code == 0, [o.message for o in rerun.failures] or rerun.partial
        if noop:
            assert rerun.outcomes == (), [o.action.id for o in rerun.outcomes]
        again = self.plan()
        assert again.actions == (), [a.id for a in again.actions]
        assert not again.incomplete_systems
        world = self.state()
        assert users(world)[LEAVER_EMAIL]["suspended"] is True
        assert [u["primaryEmail"] for u in world["google"]["users"]].count(NEWCOMER_EMAIL) == 1
        assert STRANGER not in group_members(world, ENG)
        assert "kleaver" not in org_members(world)
        logins = [i.get("login") for i in world["github"]["invitations"]]
        assert logins.count("hnewcomer") == 1
        assert f"user:{MOVER_EMAIL}" not in bindings(world, DEV)["roles/editor"]
        assert f"user:{MOVER_EMAIL}" in bindings(world, PROD)["roles/viewer"]
        assert self.cli("audit", "verify", str(self.tmp_path / "state" / "audit.jsonl")
                        ).exit_code == 0  # fmt: skip


# -- what an incomplete system must still look like -------------------------------------------


def held_back(world: Mapping[str, Any], system: System) -> None:
    """No removal and no addition in `system` beyond the leaver's cuts: the stranger, the
    mover's old grant and the missing newcomer are all as they were."""
    if system is System.GOOGLE:
        assert STRANGER in group_members(world, ENG)
        assert NEWCOMER_EMAIL not in users(world)
    elif system is System.GITHUB:
        assert "jmover" in team_members(world, "backend")
        assert "sre" not in [t for t, m in _teams_of(world, "jmover")]
        assert "hnewcomer" not in [i.get("login") for i in world["github"]["invitations"]]
    else:
        assert f"user:{MOVER_EMAIL}" in bindings(world, DEV)["roles/editor"]
        assert "roles/viewer" not in bindings(world, PROD)


def applied(world: Mapping[str, Any], system: System) -> None:
    """`system` was read completely and the run did its work there."""
    if system is System.GOOGLE:
        assert users(world)[LEAVER_EMAIL]["suspended"] is True
        assert STRANGER not in group_members(world, ENG)
        assert NEWCOMER_EMAIL in users(world)
    elif system is System.GITHUB:
        assert "kleaver" not in org_members(world)
        assert "jmover" not in team_members(world, "backend")
    else:
        assert f"user:{LEAVER_EMAIL}" not in bindings(world, DEV)["roles/editor"]
        assert f"user:{MOVER_EMAIL}" in bindings(world, PROD)["roles/viewer"]


def _teams_of(world: Mapping[str, Any], login: str) -> list[tuple[str, str]]:
    return [
        (t["slug"], m["role"])
        for t in world["github"]["teams"]
        for m in t["members"]
        if m["login"] == login
    ]


__all__ = ["ORG", "World", "applied", "held_back", "persistent"]
