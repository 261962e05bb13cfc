"""Crash safety (DESIGN 6.7): `reconciler apply --confirm` runs in a subprocess and is killed
with SIGKILL at a chosen boundary between two writes - before the write reached the system,
or after it took effect but before the answer arrived (`delay_after_ms`); a re-run converges,
the audit log verifies and shows the killed run's intent without a result, and the leaver's
offboarding is recorded complete.

Every boundary is tested by killing before each write in turn (15 writes in this scenario,
~3 s each); the "after the write took effect, before its answer" variant is tested at
representative points: the first offboarding cut, a GitHub removal, an account creation
whose answer was lost (the re-run must not create it twice), and the leaver's last write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.audit import RecordType, read_records, verify
from reconciler.sandbox.http import FaultRule
from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import (
    LEAVER,
    LEAVER_EMAIL,
    NEWCOMER_EMAIL,
    ORG,
    audit_path,
    cli,
    org_members,
    setup,
    state,
    users,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
LEAVER_PATH = "/admin/directory/v1/users/kenji.leaver%40example.co.jp"

# (method, exact path, took_effect): the write at which the run is killed.
BOUNDARIES = {
    "before-first-cut-suspend": ("PATCH", LEAVER_PATH, False),
    "after-github-removal": ("DELETE", f"/orgs/{ORG}/memberships/kleaver", True),
    "after-account-created-answer-lost": ("POST", "/admin/directory/v1/users", True),
    "after-leavers-last-write-gcp": ("POST", "/v3/projects/example-dev:setIamPolicy", True),
}


def _fault(sandbox: SandboxServer, method: str, path: str, took_effect: bool) -> FaultRule:
    spec: dict[str, object] = {"method": method, "path": f"^{path}$", "nth": 1}
    if took_effect:
        spec["delay_after_ms"] = 60_000  # the handler ran; the answer never gets out
    else:
        spec.update(delay_ms=60_000, status=503)  # released later, it never reaches the handler
    return sandbox.sandbox.add_fault(spec)


def _wait_for(condition: object, what: str, proc: subprocess.Popen[bytes]) -> None:
    # A guard against a hang, not a speed goal: a loaded CI machine may take a while to
    # start the subprocess and read every system before its first write.
    deadline = time.monotonic() + 180
    while not condition():  # type: ignore[operator]
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            pytest.fail(f"the run ended (exit {proc.returncode}) before {what}:\n{out[-3000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.parametrize("boundary", sorted(BOUNDARIES))
def test_a_run_killed_at_a_boundary_converges_on_rerun_with_nothing_lost(
    sandbox: SandboxServer, tmp_path: Path, boundary: str
) -> None:
    directory, _, env = setup(sandbox, tmp_path, crash_sized=True)
    method, path, took_effect = BOUNDARIES[boundary]
    rule = _fault(sandbox, method, path, took_effect)

    def write_took_effect() -> bool:
        with sandbox.sandbox.telemetry.lock:
            return any(
                r.method == method and r.path == path and r.status
                for r in sandbox.sandbox.telemetry.log
            )

    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "--confirm", "--dir", str(directory)],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(lambda: rule.fired > 0, f"{method} {path} arrived", proc)
        if took_effect:
            _wait_for(write_took_effect, f"{method} {path} took effect", proc)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout:
            proc.stdout.close()
        sandbox.sandbox.clear_faults()  # wake the request still asleep in its delay
    time.sleep(0.1)
    if method == "POST" and path.endswith("/users"):
        assert NEWCOMER_EMAIL in users(state(sandbox))  # created, but the client never knew
    killed = read_records(audit_path(tmp_path))
    killed_run = killed[0].run_id
    assert killed[-1].type == RecordType.INTENT  # the intent was on disk before the call

    rerun = cli(["apply", "--confirm", "--dir", str(directory)], env)

    assert rerun.exit_code == 0, rerun.output
    assert cli(["plan", "--dir", str(directory)], env).exit_code == 0  # converged
    world = state(sandbox)
    assert users(world)[LEAVER_EMAIL]["suspended"] is True
    assert "kleaver" not in org_members(world)
    assert [u["primaryEmail"] for u in world["google"]["users"]].count(NEWCOMER_EMAIL) == 1
    verified = cli(["audit", "verify", str(audit_path(tmp_path))], env)
    assert verified.exit_code == 0, verified.output
    report = verify(audit_path(tmp_path))
    assert [(r.run_id, r.action.get("kind") if r.action else None)
            for r in report.unfinished_intents] == [
        (killed_run, killed[-1].data["action"]["kind"])
    ]  # fmt: skip
    records = read_records(audit_path(tmp_path))
    done = [r.person_id for r in records if r.type == RecordType.OFFBOARDING_COMPLETE]
    assert done == [LEAVER]
    # The same-day evidence survives the crash, whichever run recorded it.
    leavers = cli(["audit", "leavers", str(audit_path(tmp_path))], env)
    assert leavers.exit_code == 0, leavers.output


# Every API write the product sends: mutating methods, minus the POSTs that only read.
WRITES = {
    "method": "POST|PUT|PATCH|DELETE",
    "path": r"^/(?!.*(:getIamPolicy|/token$|/batch|/graphql|:signJwt))",
}


# One subprocess run per write boundary (about 16): well under a minute on an idle 2-core
# machine, but far more under load, so it gets more than the suite's default timeout.
@pytest.mark.timeout(400)
def test_a_run_killed_before_any_write_converges_on_rerun_every_boundary(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Kill before write 1, then before write 2, ... until a run completes without reaching
    write k: every boundary between two actions of the plan is covered, whatever the plan's
    length. Each case: a fresh world, a killed run, a re-run that must converge."""
    k = 0
    while True:
        k += 1
        assert k < 40, "a plan this long is not a small crash scenario any more"
        case = tmp_path / f"k{k}"
        directory, _, env = setup(sandbox, case, crash_sized=True)
        rule = sandbox.sandbox.add_fault({**WRITES, "nth": k, "delay_ms": 60_000, "status": 503})
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", "--confirm", "--dir", str(directory)],
            env={**os.environ, **env},
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while rule.fired == 0 and proc.poll() is None:
                time.sleep(0.02)
            reached = rule.fired > 0
            if reached:
                proc.send_signal(signal.SIGKILL)
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
            sandbox.sandbox.clear_faults()
        if not reached:
            assert proc.returncode == 0  # the plan had k - 1 writes: all boundaries done
            break
        rerun = cli(["apply", "--confirm", "--dir", str(directory)], env)
        assert rerun.exit_code == 0, f"boundary {k}: {rerun.output}"
        assert cli(["plan", "--dir", str(directory)], env).exit_code == 0, f"boundary {k}"
        world = state(sandbox)
        assert users(world)[LEAVER_EMAIL]["suspended"] is True
        assert "kleaver" not in org_members(world)
        assert [u["primaryEmail"] for u in world["google"]["users"]].count(NEWCOMER_EMAIL) == 1
        assert cli(["audit", "verify", str(audit_path(case))], env).exit_code == 0
        done = [
            r.person_id
            for r in read_records(audit_path(case))
            if r.type == RecordType.OFFBOARDING_COMPLETE
        ]
        assert done == [LEAVER], f"boundary {k}"
    print(f"crash-tested {k - 1} write boundaries")
    assert k - 1 >= 8, f"only {k - 1} writes: the scenario lost its actions"
