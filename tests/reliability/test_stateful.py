"""A stateful property test of the whole loop: hypothesis drives random HR edits of the
desired-state repo on disk (hires, leavers, transfers), hand-made drift in the sandbox,
injected faults (a write failing on every attempt, a read failing after every retry) and
emergency offboardings (`offboard --now --confirm` through the real CLI), with confirmed runs
of `reconciler.runs.apply_changes` on the real providers in between. After every run the
invariants below are checked on the sandbox's state, the run's report and the audit log.

Bounded for CI (`settings` below: a few examples of a few steps, about a minute on two
cores) and derandomized, so every run of the suite explores the same sequences; a failure
prints the sequence of steps that produced it. Kills of a running process are the fault
matrix's crash cases (tests/reliability/cases.py), too slow to repeat here."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from reconciler.audit import verify
from reconciler.model import System
from reconciler.runs import RunOutcome
from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import TZ, bindings, group_members, org_members, team_members, users
from tests.reliability.world import ENG, World, persistent

PROTECTED_EMAIL = "breakglass@example.co.jp"
PROTECTED_LOGIN = "example-reconciler-bot"
FAULTY_READS = {
    System.GOOGLE: {"method": "GET", "path": "^/admin/directory/v1/groups$", "status": 503},
    System.GITHUB: {"method": "POST", "path": "^/graphql$", "status": 502},
    System.GCP: {"method": "POST", "path": ":getIamPolicy$", "status": 503},
}
FAULTY_WRITES = [
    {"method": "POST", "path": "^/admin/directory/v1/users$"},
    {"method": "PATCH|PUT", "path": "^/admin/directory/v1/users/"},
    {"method": "DELETE", "path": "^/orgs/example-co/memberships/"},
    {"method": "POST", "path": ":setIamPolicy$"},
]


def _person(pid: str, login: str, roles: str) -> str:
    return (
        f"id: {pid}\nname: 社員 {pid}\nemail: {login}@example.co.jp\ngithub: {login}\n"
        f"employment: {{type: employee, start: 2022-04-01}}\nroles: [{roles}]\n"
    )


class Lifecycle(RuleBasedStateMachine):
    sandbox: SandboxServer  # set by the test before the machine runs

    def __init__(self) -> None:
        super().__init__()
        self.w = World.load(self.sandbox, Path(tempfile.mkdtemp(prefix="stateful-")))
        self.today = datetime.now(TZ).date()
        self.hires = 0
        self.held: set[str] = set()  # person ids offboarded in an emergency
        self.read_fault: System | None = None

    # -- the repo -------------------------------------------------------------------------
    def people(self) -> dict[str, Any]:
        return dict(self.w.desired.people)

    def active(self) -> list[str]:
        officer = self.w.desired.organization.security_officer
        return sorted(
            pid
            for pid, p in self.people().items()
            if pid != officer and (p.employment.end is None or p.employment.end > self.today)
        )

    def departed(self) -> list[str]:
        return sorted(
            pid
            for pid, p in self.people().items()
            if p.employment.end is not None and p.employment.end <= self.today
        )

    def _edit_person(self, pid: str, old: str, new: str) -> None:
        path = self.w.directory / "people" / f"{pid}.yaml"
        path.write_text(path.read_text("utf-8").replace(old, new, 1), "utf-8")
        self.w.reload()

    @rule(roles=st.sampled_from(["engineer", "sre"]))
    def hire(self, roles: str) -> None:
        self.hires += 1
        pid, login = f"e2{self.hires:03d}", f"hire{self.hires}"
        (self.w.directory / "people" / f"{pid}.yaml").write_text(
            _person(pid, login, roles), "utf-8"
        )
        self.w.reload()
        self.w.edit(lambda world: world["github"]["users"].append(
            {"login": login, "id": 90000 + self.hires, "name": pid, "email": None,
             "two_factor": True, "previous_logins": []}))  # fmt: skip

    @precondition(lambda self: len(self.active()) > 1)
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        pid = data.draw(st.sampled_from(self.active()))
        self._edit_person(pid, "start: ", f"end: {self.today}, start: ")

    @precondition(lambda self: bool(self.active()))
    @rule(data=st.data())
    def transfer(self, data: st.DataObject) -> None:
        pid = data.draw(st.sampled_from(self.active()))
        roles = self.w.desired.people[pid].roles
        self._edit_person(
            pid,
            f"roles: [{', '.join(roles)}]",
            "roles: [sre]" if "engineer" in roles else "roles: [engineer]",
        )

    # -- the systems ------------------------------------------------------------------------
    @rule()
    def drift(self) -> None:
        """Someone adds a stranger to eng@ and a departed person back to the org by hand."""

        def change(world: dict[str, Any]) -> None:
            if "drifter@example.com" not in group_members(world, ENG):  # a group has no twins
                world["google"]["members"][ENG].append(
                    {"id": "900000000000000000009", "email": "drifter@example.com",
                     "role": "MEMBER", "type": "USER", "status": "ACTIVE"})  # fmt: skip
            for pid in self.departed():
                login = self.w.desired.people[pid].github
                if login and login not in org_members(world):
                    world["github"]["members"].append({"login": login, "role": "member"})
                    break

        self.w.edit(change)

    @rule(system=st.sampled_from(list(FAULTY_READS)))
    def fail_a_read(self, system: System) -> None:
        self.w.clear()
        self.read_fault = system
        self.w.fault(*persistent(FAULTY_READS[system]))

    @rule(write=st.sampled_from(FAULTY_WRITES))
    def fail_a_write(self, write: dict[str, Any]) -> None:
        self.w.fault({**write, "every": True, "status": 503})

    @precondition(lambda self: bool(self.active()))
    @rule(data=st.data())
    def emergency_offboarding(self, data: st.DataObject) -> None:
        pid = data.draw(st.sampled_from(self.active()))
        self.w.clear()
        self.read_fault = None
        result = self.w.cli("offboard", pid, "--now", "--confirm", "--dir", str(self.w.directory))
        assert result.exit_code in (0, 3), result.output
        self.held.add(pid)
        self.cut(pid)
        self.check_always()

    # -- runs -----------------------------------------------------------------------------
    @rule()
    def run(self) -> None:
        outcome = self.w.apply()
        self.w.clear()
        fault, self.read_fault = self.read_fault, None
        self.check_run(outcome, fault)
        self.check_always()

    @rule()
    def run_twice(self) -> None:
        """Without faults, a clean run is followed by a run with nothing to do."""
        self.w.clear()
        self.read_fault = None
        first = self.w.apply()
        self.check_run(first, None)
        if first.report.exit_code == 0:
            second = self.w.apply().report
            assert second.outcomes == (), [o.action.id for o in second.outcomes]
        self.check_always()

    # -- invariants -------------------------------------------------------------------------
    def check_run(self, outcome: RunOutcome, read_fault: System | None) -> None:
        report, snapshot = outcome.report, outcome.snapshot
        incomplete = {s for s in snapshot.parts if not snapshot.is_complete(s)}
        if read_fault is not None:
            assert read_fault in incomplete
        for o in report.outcomes:
            # nothing is removed from a system after an incomplete read, but a leaver's
            # grants that the partial read did show
            if o.action.system in incomplete and o.action.is_removal:
                assert o.action.offboarding, o.action.id
        if not incomplete and not report.failures and not report.refused:
            for pid in self.departed():
                self.cut(pid)  # a leaver holds nothing after the first complete run
        for pid in self.held:
            self.cut(pid, strict=False)  # a run never undoes an emergency hold

    def cut(self, pid: str, *, strict: bool = True) -> None:
        """`pid` holds nothing: suspended, in no managed group, not in the org or a team,
        in no binding (`strict=False`: what a run could hand back: the account, the org)."""
        person = self.w.desired.people[pid]
        world = self.w.state()
        account = users(world).get(person.email)
        assert account is None or account["suspended"] is True, pid
        login = person.github
        assert login not in org_members(world), pid
        if not strict:
            return
        for group in world["google"]["members"]:
            assert person.email not in group_members(world, group), (pid, group)
        for team in world["github"]["teams"]:
            assert login not in team_members(world, team["slug"]), (pid, team["slug"])
        for resource in world["gcp"]["resources"]:
            for members in bindings(world, resource["name"]).values():
                assert f"user:{person.email}" not in members, (pid, resource["name"])

    def check_always(self) -> None:
        world = self.w.state()
        breakglass = users(world)[PROTECTED_EMAIL]
        assert breakglass["suspended"] is False and breakglass["isAdmin"] is True
        assert PROTECTED_LOGIN in org_members(world)
        assert [m for m, role in org_members(world).items() if role == "admin"]
        for resource in ("projects/example-dev", "projects/example-prod"):
            assert f"user:{PROTECTED_EMAIL}" in bindings(world, resource)["roles/owner"]
        audit = self.w.tmp_path / "state" / "audit.jsonl"
        if audit.exists():
            assert verify(audit).ok


def test_the_lifecycle_keeps_every_invariant_under_random_edits_drift_and_faults(
    sandbox: SandboxServer,
) -> None:
    Lifecycle.sandbox = sandbox
    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=6,
            stateful_step_count=8,
            deadline=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
