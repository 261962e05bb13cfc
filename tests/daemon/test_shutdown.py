"""SIGTERM in the middle of a daemon's confirmed run (a subprocess, the sandbox slowed so the
run is long): the action under way finishes, the run ends `interrupted` in a verifiable audit
log, the run lock is released, the process exits 0, and the next run converges."""

from __future__ import annotations

import signal
from datetime import UTC, date, datetime
from pathlib import Path

from reconciler.audit import RecordType, read_records, verify
from reconciler.demo.world import build_world
from reconciler.locking import LOCK_FILE, read_holder, run_lock
from reconciler.sandbox.server import SandboxServer
from tests.daemon.served import commit, daemon_env, make_repo, serve, wait_for
from tests.e2e.scenario import cli, cli_env, today

NEWCOMERS = 12


def _hire(repo: Path, count: int, start: date) -> None:
    for i in range(count):
        pid = f"e2{i:03d}"
        (repo / "people" / f"{pid}.yaml").write_text(
            f"id: {pid}\nname: 新人 {i}\nemail: hire{i}@example.co.jp\ngithub: hire{i}\n"
            f"employment: {{type: employee, start: {start}}}\nroles: [engineer]\n",
            encoding="utf-8",
        )


def test_sigterm_mid_run_leaves_a_verifiable_log_a_released_lock_and_the_next_run_converges(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    repo, desired = make_repo(tmp_path)
    world, _ = build_world(desired, datetime.now(UTC), drift=False)
    world["github"]["users"] += [  # the hires have GitHub accounts to be invited by
            {"login": f"hire{i}", "id": 7000 + i, "name": f"新人 {i}", "two_factor": True,
             "email": f"hire{i}@example.co.jp", "previous_logins": []}
        for i in range(NEWCOMERS)
    ]  # fmt: skip
    sandbox.sandbox.load_world(world)
    _hire(repo, NEWCOMERS, today())  # about 4 actions each for the start-up run
    commit(repo, f"{NEWCOMERS} people start today")
    log = tmp_path / "state" / "audit.jsonl"
    sandbox.sandbox.latency_ms = 100  # every call a tenth of a second: the run takes a while

    env = daemon_env(sandbox, tmp_path, repo, RECONCILER_APPLY="true")
    with serve(env, tmp_path) as daemon:
        wait_for(
            lambda: log.exists() and any(r.type == RecordType.RESULT for r in read_records(log)),
            "the first action's result",
        )
        daemon.process.send_signal(signal.SIGTERM)
        code = daemon.process.wait(timeout=60)
        assert code == 0, daemon.stderr()

    report = verify(log)
    assert report.ok, report
    records = read_records(log)
    ends = [r for r in records if r.type == RecordType.RUN_END]
    assert ends[-1].data["details"]["status"] == "interrupted"
    assert ends[-1].data["details"]["not_started"] > 0
    intents = [r for r in records if r.type == RecordType.INTENT]
    results = [r for r in records if r.type == RecordType.RESULT]
    assert len(intents) == len(results)  # never stopped between an intent and its result
    assert read_holder(tmp_path / "state" / LOCK_FILE) is None
    with run_lock(tmp_path / "state", run_id="after", command="test"):
        pass  # free: the daemon released it

    sandbox.sandbox.latency_ms = 0
    env = cli_env(sandbox, tmp_path)
    applied = cli(["apply", "--dir", str(repo), "--confirm"], env)
    assert applied.exit_code == 0, applied.output
    again = cli(["plan", "--dir", str(repo)], env)
    assert again.exit_code == 0, again.output
