"""The plan of a mid-size generated organisation (the benchmark's generator, 600 people)
against a drifted snapshot, compared with a golden digest of its JSON: the planner's speed
work must not change one byte of any plan. The snapshot is built here, deterministically,
so that the plan exercises every planner and check: missing and surplus grants, role changes,
strangers in groups, the org and on bindings, leavers with sessions, tokens, app passwords,
invitations and outside collaborators, renamed and squatted logins, aliases, suspended and
unknown accounts, conditional and group bindings, service accounts, an emergency hold and an
incomplete read.

Regenerate after an intended change of a plan's content (a message's wording, a new finding),
then review why the digest moved:

    UPDATE_GOLDENS=1 .venv/bin/pytest -q tests/plan/test_plan_golden.py   (or make goldens)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.bench.generating import generate_desired
from reconciler.bench.running import BENCH_NOW
from reconciler.desired.expanding import expand_access
from reconciler.model import (
    Account,
    AppPassword,
    Binding,
    DesiredState,
    EmergencyHold,
    GitHubOrgSettings,
    Grant,
    GrantKind,
    IamPolicy,
    Invitation,
    OAuthToken,
    Plan,
    ReadStatus,
    ServiceAccount,
    ServiceAccountKey,
    Snapshot,
    SnapshotPart,
    System,
    gcp_user,
)
from reconciler.plan import plan_changes

GOLDEN = Path(__file__).resolve().parent / "golden" / "plan_digests.json"
PEOPLE = 600
NOW = BENCH_NOW + timedelta(days=2)  # the generator's leavers of this week have all left


def _digests(plan: Plan) -> dict[str, Any]:
    """One digest per part of the plan's JSON, so a failure says which part moved."""
    content = plan.content()

    def digest(value: Any) -> str:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    return {
        "counts": {k: len(content[k]) for k in ("actions", "findings", "notes")},
        "state_fingerprint": plan.state_fingerprint,
        **{k: digest(content[k]) for k in ("actions", "findings", "notes", "held_back")},
        "checksum": plan.checksum,
    }


def _logins(desired: DesiredState) -> dict[str, int | None]:
    return {p.github: p.github_id for p in desired.people.values() if p.github}


def _google(desired: DesiredState, grants: list[Grant], before: datetime) -> SnapshotPart:
    domain = "example.co.jp"
    users = sorted({g.principal for g in grants if g.kind is GrantKind.GOOGLE_ACCOUNT})
    users += [p.email for p in sorted(desired.people.values(), key=lambda p: p.id)][::29]
    users = sorted(set(users))
    users = [u for n, u in enumerate(users) if n % 41 != 40]  # the rest: to be created
    accounts = []
    for n, email in enumerate(users):
        local = email.split("@")[0]
        accounts.append(
            Account(
                System.GOOGLE,
                str(100_000 + n),
                email,
                display_name=local,
                suspended=n % 10 == 3,
                is_admin=n % 97 == 1,
                two_factor_enrolled=n % 6 != 0,
                last_login=before - timedelta(days=n % 200) if n % 8 else None,
                created=before - timedelta(days=400 + n),
                aliases=(f"alias.{local}@{domain}",) if n % 15 == 2 else (),
            )
        )
    accounts += [  # accounts nobody in the repo is: an old user, a protected admin
        Account(System.GOOGLE, "900001", f"old-user-{k}@{domain}", last_login=before)
        for k in range(3)
    ]
    accounts.append(Account(System.GOOGLE, "900010", f"breakglass@{domain}", is_admin=True))
    kept: list[Grant] = []
    for n, g in enumerate(x for x in grants if x.system is System.GOOGLE):
        if g.kind is GrantKind.GOOGLE_GROUP and n % 9 == 4:
            continue  # missing: an addition
        role_change = g.kind is GrantKind.GOOGLE_GROUP and n % 13 == 6
        kept.append(replace(g, role="MANAGER") if role_change else g)
    groups = sorted({g.target for g in kept if g.kind is GrantKind.GOOGLE_GROUP})
    for k, group in enumerate(groups[::5]):
        kept += [
            Grant(GrantKind.GOOGLE_GROUP, group, f"guest-{k}@example.com", "MEMBER"),
            Grant(GrantKind.GOOGLE_GROUP, group, f"nested-{k}@{domain}", "MEMBER"),
            Grant(GrantKind.GOOGLE_GROUP, group, f"old-user-{k % 3}@{domain}", "OWNER"),
        ]
    kept.append(Grant(GrantKind.GOOGLE_GROUP, f"unmanaged@{domain}", users[0], "MEMBER"))
    kept.append(Grant(GrantKind.GOOGLE_GROUP, f"nested-0@{domain}", users[1], "MEMBER"))
    tokens = [
        OAuthToken(a.name, f"client-{n % 7}.apps.googleusercontent.com", f"App {n % 7}")
        for n, a in enumerate(accounts)
        if n % 4 == 1
    ]
    asps = [AppPassword(a.name, n, f"mail {n}") for n, a in enumerate(accounts) if n % 5 == 2]
    return SnapshotPart(
        System.GOOGLE,
        ReadStatus(System.GOOGLE, True),
        accounts=tuple(accounts),
        grants=tuple(sorted(kept)),
        oauth_tokens=tuple(tokens),
        app_passwords=tuple(asps),
    )


def _github(
    desired: DesiredState, grants: list[Grant], before: datetime, *, complete: bool
) -> SnapshotPart:
    org = desired.organization.systems.github.org if desired.organization.systems.github else ""
    ids = _logins(desired)
    accounts = []
    kept: list[Grant] = []
    teams = sorted({g.target for g in grants if g.kind is GrantKind.GITHUB_TEAM})
    for n, g in enumerate(x for x in grants if x.system is System.GITHUB):
        if g.kind is GrantKind.GITHUB_ORG:
            if n % 31 == 7:
                continue  # not a member yet: invited or to be invited
            known = ids.get(g.principal)
            login = f"{g.principal}-renamed" if known and n % 23 == 3 else g.principal
            accounts.append(
                Account(
                    System.GITHUB,
                    str(known if known else 5_000_000 + n),
                    login,
                    is_admin=n % 50 == 1,
                    two_factor_enrolled=n % 9 != 0,
                )
            )
            role = "admin" if n % 50 == 1 else g.role
            kept.append(replace(g, principal=login, role=role))
        elif g.kind is GrantKind.GITHUB_TEAM:
            if n % 17 == 5:
                continue
            if n % 19 == 8:  # also in the next squad's team: a removal
                kept.append(replace(g, target=teams[(teams.index(g.target) + 1) % len(teams)]))
            kept.append(replace(g, role="maintainer") if n % 11 == 2 else g)
        else:
            kept.append(g)
    renamed = {a.name.removesuffix("-renamed") for a in accounts if a.name.endswith("-renamed")}
    kept = [replace(g, principal=f"{g.principal}-renamed") if (
        g.kind is GrantKind.GITHUB_TEAM and g.principal in renamed
    ) else g for g in kept]  # fmt: skip
    for k in range(4):  # strangers, one of them a protected bot, one squatting a login
        login = f"outsider-{k}" if k else "example-reconciler-bot"
        accounts.append(Account(System.GITHUB, str(7_000_000 + k), login, is_admin=not k))
        kept.append(Grant(GrantKind.GITHUB_ORG, org, login, "admin" if not k else "member"))
    missing = sorted(p for p in ids if p not in {a.name for a in accounts})
    squatted = missing[0] if missing else "nobody"
    accounts.append(Account(System.GITHUB, "7100000", squatted))
    kept.append(Grant(GrantKind.GITHUB_ORG, org, squatted, "member"))
    leavers = sorted(g.principal for g in kept if g.kind is GrantKind.GITHUB_ORG)[::40]
    kept += [Grant(GrantKind.GITHUB_COLLABORATOR, org, login, "outside") for login in leavers]
    invitations = [
        Invitation(10 + k, org, login, None, "direct_member", before - timedelta(days=k))
        for k, login in enumerate(missing[1:6])
    ]
    leaving = sorted(
        p.github
        for p in desired.people.values()
        if p.github and p.employment.end is not None and p.employment.end < NOW.date()
    )
    invitations += [  # a leaver's pending invitation: cancelled
        Invitation(80 + k, org, login, None, "direct_member", before)
        for k, login in enumerate(leaving[:2])
    ]
    invitations.append(
        Invitation(90, org, None, "someone@example.com", "direct_member", before - timedelta(9))
    )
    invitations.append(
        Invitation(
            91, org, "failed-login", None, "admin", before, failed_at=before, failed_reason="x"
        )
    )
    problems = () if complete else ("teams of example-co: page 3 failed",)
    return SnapshotPart(
        System.GITHUB,
        ReadStatus(System.GITHUB, complete, problems),
        accounts=tuple(accounts),
        grants=tuple(sorted(kept)),
        invitations=tuple(invitations),
        github_org=GitHubOrgSettings(org, 424242, two_factor_required=False),
        invitees=(Account(System.GITHUB, "7200000", missing[-1] if missing else "nobody"),),
    )


def _gcp(desired: DesiredState, grants: list[Grant], google: SnapshotPart) -> SnapshotPart:
    kept: list[Grant] = []
    for n, g in enumerate(x for x in grants if x.system is System.GCP):
        if n % 7 == 3:
            continue
        kept.append(g)
    resources = sorted(s.resource for s in desired.organization.systems.gcp)
    users = [a.name for a in google.accounts]
    for k, resource in enumerate(resources):
        extra = (
            (gcp_user(users[k * 7]), "roles/viewer"),
            (f"user:guest-{k}@example.com", "roles/editor"),
            (gcp_user(users[k * 3 + 1]), "roles/owner"),
        )
        kept += [Grant(GrantKind.GCP_BINDING, resource, m, role) for m, role in extra]
    groups = sorted({g.target for g in google.grants if g.kind is GrantKind.GOOGLE_GROUP})
    by_binding: dict[tuple[str, str], list[str]] = {}
    for g in kept:
        by_binding.setdefault((g.target, g.role), []).append(g.principal)
    policies = []
    accounts = []
    for k, resource in enumerate(resources):
        bindings = [
            Binding(role, tuple(sorted(members)))
            for (r, role), members in sorted(by_binding.items())
            if r == resource
        ]
        bindings.append(Binding("roles/browser", (f"group:{groups[k % len(groups)]}",)))
        bindings.append(
            Binding(
                "roles/storage.admin",
                (gcp_user(users[k + 2]), "serviceAccount:svc-001@x.iam.gserviceaccount.com"),
                {"title": f"until-{k}", "expression": "request.time < timestamp('2027-01-01')"},
            )
        )
        policies.append(IamPolicy(resource, f"etag-{k}", 3, tuple(bindings)))
        if resource.startswith("projects/"):
            project = resource.removeprefix("projects/")
            email = f"svc-{k:03d}@{project}.iam.gserviceaccount.com"
            key = ServiceAccountKey(f"{resource}/serviceAccounts/{email}/keys/k{k}", "USER_MANAGED")
            accounts.append(ServiceAccount(email, str(8_000_000 + k), resource, keys=(key,)))
    return SnapshotPart(
        System.GCP,
        ReadStatus(System.GCP, True),
        grants=tuple(sorted(kept)),
        service_accounts=tuple(accounts),
        policies=tuple(policies),
    )


def _world(*, github_complete: bool) -> tuple[DesiredState, Snapshot, list[EmergencyHold]]:
    desired = generate_desired(PEOPLE, BENCH_NOW.date())
    before = BENCH_NOW - timedelta(days=10)  # what everyone held ten days ago
    grants = sorted(expand_access(desired, before).grants())
    google = _google(desired, grants, before)
    parts = [
        google,
        _github(desired, grants, before, complete=github_complete),
        _gcp(desired, grants, google),
    ]
    held = sorted(desired.people)[len(desired.people) // 2]
    hold = EmergencyHold(held, NOW - timedelta(hours=5), NOW.date(), "run-1", "e00002")
    return desired, Snapshot.of(NOW, parts), [hold]


@pytest.mark.parametrize("github_complete", [True, False], ids=["complete", "github-incomplete"])
def test_the_plan_of_a_generated_world_matches_its_golden_digest(github_complete: bool) -> None:
    desired, snapshot, holds = _world(github_complete=github_complete)
    plan = plan_changes(desired, expand_access(desired, NOW), snapshot, NOW, holds=holds)
    found = _digests(plan)
    name = "complete" if github_complete else "github-incomplete"
    golden = json.loads(GOLDEN.read_text("utf-8")) if GOLDEN.exists() else {}
    if os.environ.get("UPDATE_GOLDENS") == "1":
        golden[name] = found
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(golden, indent=2, sort_keys=True) + "\n", "utf-8")
    # The world must make the planner work: every kind of change and finding is in it.
    kinds = {a.kind for a in plan.actions}
    assert len(kinds) >= 12, sorted(kinds)
    assert len({f.code for f in plan.findings}) >= 15
    assert found == golden[name], (
        f"the plan of the generated world ({name}) differs from {GOLDEN.name}; if the change "
        "is intended, regenerate with UPDATE_GOLDENS=1 (see the module docstring)"
    )
