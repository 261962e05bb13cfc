"""A small invented company for the end-to-end tests, as a desired-state repo on disk and a
sandbox world "two days before": a leaver (last day today), a newcomer (starts today), a
transfer (engineer -> sre) and a stayer. Helpers run the real CLI in-process and read back the
sandbox's state; used by every test in tests/e2e/."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from typer.testing import CliRunner, Result

from reconciler.cli import _register_commands, app
from reconciler.demo.world import build_world
from reconciler.desired.loading import load_desired_dir
from reconciler.model import DesiredState, System
from reconciler.providers.base import Provider
from reconciler.providers.connecting import sandbox_info
from reconciler.providers.gcp_iam import GcpIamProvider
from reconciler.providers.github import GitHubProvider
from reconciler.providers.google_workspace import GoogleWorkspaceProvider
from reconciler.providers.retrying import RetryPolicy
from reconciler.sandbox.server import SandboxServer

_register_commands()
runner = CliRunner()

TZ = ZoneInfo("Asia/Tokyo")
DOMAIN = "example.co.jp"
ORG = "example-co"
LEAVER, NEWCOMER, MOVER, STAYER = "e0010", "e0011", "e0012", "e0013"
LEAVER_EMAIL = "kenji.leaver@example.co.jp"
NEWCOMER_EMAIL = "hana.newcomer@example.co.jp"
MOVER_EMAIL = "jiro.mover@example.co.jp"
STAYER_EMAIL = "saburo.stayer@example.co.jp"

# Few attempts and short waits: a fault that outlasts them fails fast instead of backing off
# for a minute (the production policy waits up to 32 s between attempts).
FAST_RETRY = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05, deadline=10)

_ORGANIZATION = """\
name: Example
domains: [example.co.jp]
timezone: Asia/Tokyo
# Midnight, so a last day of "today" has already ended whenever the test runs: the leaver is
# offboarded today, the same day, and offboarding-complete can be checked against that day.
offboarding_time: "00:00"
security_officer: e0002
systems:
  google: {customer: C01example, domain: example.co.jp}
  github: {org: example-co}
  gcp:
    resources:
      - {resource: organizations/123456789012}
      - {resource: projects/example-dev, environment: dev}
      - {resource: projects/example-prod, environment: prod}
protected_accounts:
  - {system: google, identity: breakglass@example.co.jp, reason: break-glass super admin}
  - {system: github, identity: example-reconciler-bot, reason: the org owner the tool acts as}
limits: {max_removals: 50, max_removal_ratio: 1.0}
"""

_ROLES = """\
engineer:
  google_groups: [{group: eng@example.co.jp, role: MEMBER}]
  github: {org_role: member, teams: [{team: backend, role: member}]}
  gcp:
    - {resource: projects/example-dev, role: roles/editor}
sre:
  google_groups: [{group: eng@example.co.jp, role: MEMBER}, {group: sre@example.co.jp}]
  github: {org_role: member, teams: [{team: sre, role: maintainer}]}
  gcp:
    - {resource: projects/example-prod, role: roles/viewer}
"""


def _person(pid: str, name: str, email: str, login: str, start: date, end: date | None,
            roles: str) -> str:  # fmt: skip
    end_text = f", end: {end}" if end else ""
    return (
        f"id: {pid}\nname: {name}\nemail: {email}\ngithub: {login}\n"
        f"employment: {{type: employee, start: {start}{end_text}}}\nroles: [{roles}]\n"
    )


def today() -> date:
    return datetime.now(TZ).date()


def write_repo(directory: Path, *, extra_people: int = 0, crash_sized: bool = False) -> Path:
    """The desired-state repo. `extra_people` adds that many stayers (for size comparisons);
    `crash_sized` keeps only the officer, the leaver and the newcomer (a short plan)."""
    day = today()
    people = {
        "e0002": _person("e0002", "鈴木 健", "ken.suzuki@example.co.jp", "ksuzuki",
                         date(2018, 4, 1), None, "engineer"),
        LEAVER: _person(LEAVER, "林 健二", LEAVER_EMAIL, "kleaver", date(2020, 4, 1), day,
                        "engineer"),
        NEWCOMER: _person(NEWCOMER, "森 花", NEWCOMER_EMAIL, "hnewcomer", day, None,
                          "engineer"),
    }  # fmt: skip
    if not crash_sized:
        people[MOVER] = _person(MOVER, "木村 次郎", MOVER_EMAIL, "jmover", date(2021, 4, 1),
                                None, "sre")  # fmt: skip
        people[STAYER] = _person(STAYER, "田中 三郎", STAYER_EMAIL, "sstayer",
                                 date(2019, 4, 1), None, "engineer")  # fmt: skip
    for i in range(extra_people):
        pid = f"e1{i:03d}"
        people[pid] = _person(pid, f"社員 {i}", f"staff{i}@example.co.jp", f"staff{i}",
                              date(2022, 4, 1), None, "engineer")  # fmt: skip
    (directory / "people").mkdir(parents=True, exist_ok=True)
    (directory / "organization.yaml").write_text(_ORGANIZATION, encoding="utf-8")
    (directory / "roles.yaml").write_text(_ROLES, encoding="utf-8")
    for pid, text in people.items():
        (directory / "people" / f"{pid}.yaml").write_text(text, encoding="utf-8")
    return directory


def world_before(desired: DesiredState) -> dict[str, Any]:
    """The systems two days ago, before today's HR changes were applied: the leaver holds
    everything (plus an OAuth grant and an app password), the newcomer holds nothing but owns
    a GitHub account, the mover still holds the engineer role's access."""
    people = dict(desired.people)
    if MOVER in people:
        people[MOVER] = replace(people[MOVER], roles=("engineer",))
    before = replace(desired, people=people)
    world, _ = build_world(before, datetime.now(UTC) - timedelta(days=2), drift=False)
    google = world["google"]
    google["tokens"] = {
        LEAVER_EMAIL: [{"clientId": "1234-mailsync.apps.example.com", "displayText": "Mail Sync",
                        "scopes": ["https://mail.google.com/"]}]
    }  # fmt: skip
    google["asps"] = {LEAVER_EMAIL: [{"codeId": 11, "name": "old phone"}]}
    world["github"]["users"].append(
        {"login": "hnewcomer", "id": 5011, "name": "森 花", "email": NEWCOMER_EMAIL,
         "two_factor": True, "previous_logins": []}
    )  # fmt: skip
    return world


def setup(
    sandbox: SandboxServer, tmp_path: Path, **repo: Any
) -> tuple[Path, DesiredState, dict[str, str]]:
    """Write the repo, load the world into the sandbox; returns (repo dir, desired, env)."""
    directory = write_repo(tmp_path / "desired_state", **repo)
    desired = load_desired_dir(directory)
    sandbox.sandbox.load_world(world_before(desired))
    sandbox.sandbox.telemetry.reset()
    return directory, desired, cli_env(sandbox, tmp_path)


def cli_env(sandbox: SandboxServer, tmp_path: Path) -> dict[str, str]:
    return {
        "RECONCILER_SANDBOX_URL": sandbox.url,
        "RECONCILER_STATE_DIR": str(tmp_path / "state"),
        "RECONCILER_ACTOR": "ops@admin-host.example.com",
        "RECONCILER_LOG_FORMAT": "json",
        "NO_PROXY": "127.0.0.1,localhost",
        # The production backoff (0.5 s doubling, up to six tries) spends ~20 s on every call
        # a test makes fail on purpose; the same policy with a short first wait proves the
        # same outcomes. Retry-After hints are still honoured as a floor.
        "RECONCILER_RETRY_INITIAL_WAIT": "0.02",
    }


def cli(args: list[str], env: Mapping[str, str]) -> Result:
    """The real CLI in-process (typer's CliRunner sets the environment for the call)."""
    return runner.invoke(app, args, env=dict(env), catch_exceptions=False)


def audit_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "audit.jsonl"


def fast_providers(sandbox: SandboxServer, desired: DesiredState) -> dict[System, Provider]:
    """The real providers against the sandbox, with FAST_RETRY instead of the production
    policy (connecting.connect_sandbox builds the same providers with the default policy)."""
    systems = desired.organization.systems
    assert systems.google and systems.github
    return {
        System.GOOGLE: GoogleWorkspaceProvider.from_sandbox(
            sandbox.url, systems.google, retry_policy=FAST_RETRY
        ),
        System.GITHUB: GitHubProvider.from_sandbox(
            sandbox.url, systems.github.org, retry_policy=FAST_RETRY
        ),
        System.GCP: GcpIamProvider.from_sandbox(sandbox_info(sandbox.url), retry=FAST_RETRY),
    }


def state(sandbox: SandboxServer) -> dict[str, Any]:
    with sandbox.sandbox.lock:
        return copy.deepcopy(sandbox.sandbox.world)


def users(world: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {u["primaryEmail"]: u for u in world["google"]["users"]}


def group_members(world: Mapping[str, Any], group: str) -> dict[str, str]:
    return {m["email"]: m["role"] for m in world["google"]["members"].get(group, [])}


def org_members(world: Mapping[str, Any]) -> dict[str, str]:
    return {m["login"]: m["role"] for m in world["github"]["members"]}


def team_members(world: Mapping[str, Any], slug: str) -> dict[str, str]:
    team = next(t for t in world["github"]["teams"] if t["slug"] == slug)
    return {m["login"]: m["role"] for m in team["members"]}


def bindings(world: Mapping[str, Any], resource: str) -> dict[str, set[str]]:
    res = next(r for r in world["gcp"]["resources"] if r["name"] == resource)
    return {b["role"]: set(b["members"]) for b in res["policy"]["bindings"]}


def writes(sandbox: SandboxServer) -> list[tuple[str, str]]:
    """Every write the sandbox received (batch parts included), in arrival order."""
    with sandbox.sandbox.telemetry.lock:
        log = list(sandbox.sandbox.telemetry.log)
    return [
        (r.method, r.path)
        for r in log
        if r.api != "control"
        and (r.method in {"PUT", "PATCH", "DELETE"} or (r.method == "POST" and _is_write(r.path)))
    ]


def _is_write(path: str) -> bool:
    # POSTs that only read: IAM getIamPolicy, Asset search, GraphQL, the token endpoint, batch.
    return not any(
        part in path for part in (":getIamPolicy", ":searchAllIamPolicies", "/graphql", "/token",
                                  "batch", ":get")
    )  # fmt: skip


os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


_NOT_ACCESS = frozenset({"oauth_grants", "rate_limit"})


def access_state(world: Mapping[str, Any]) -> Any:
    """The world without what reads leave behind: the sandbox fills in empty lists on first
    read (a user's tokens, a group's members), records each issued OAuth token in
    `oauth_grants` and counts GitHub's `rate_limit`; none of it is access anybody holds."""

    def prune(value: Any) -> Any:
        if isinstance(value, Mapping):
            pruned = {k: prune(v) for k, v in value.items() if k not in _NOT_ACCESS}
            return {k: v for k, v in pruned.items() if v not in ([], {}, None)}
        if isinstance(value, list):
            return [prune(v) for v in value]
        return value

    return prune(world)
