"""The webhook benchmark phase: a signed push that makes one person a leaver, delivered to a
real `reconciler serve` process, until their last access is removed; called by `python -m
reconciler.bench --webhook` (`make bench`).

The organisation is generated at today's date (the daemon reads the clock, as in
production), the sandbox answers with a per-request latency, the repo is a real git repo in
a temp dir, and the daemon is a subprocess with RECONCILER_APPLY=true, so what is timed is
what a deployment does: verify, fetch, check out, validate, read everything, plan, apply.
The times come from the audit log: the `result` of the leaver's last action and their
`offboarding-complete` record, against the instant the webhook was sent.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

from reconciler.audit import RecordType, read_records
from reconciler.bench.generating import generate_repo
from reconciler.daemon.signing import sign
from reconciler.demo.world import build_world
from reconciler.desired.expanding import expand_access
from reconciler.desired.loading import load_desired_state
from reconciler.model import DesiredState, Person, PersonStatus
from reconciler.sandbox.server import Sandbox, SandboxServer

SECRET = b"bench-webhook-secret"
# Seconds before the phase gives up on a step.
WAIT = float(os.environ.get("RECONCILER_BENCH_WAIT", "300"))


def _git(repo: Path, *args: str) -> None:
    subprocess.run(  # noqa: S603 - fixed argv, no shell
        ["git", "-C", str(repo), "-c", "user.name=bench", "-c",  # noqa: S607 - git from PATH
         "user.email=bench@example.com", *args],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def _until(condition: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench: gave up waiting for {what}")
        time.sleep(0.02)
    return value


def _leaver(desired: DesiredState, now: dt.datetime) -> Person:
    """An active engineer with a GitHub login: access in all three systems to remove."""
    access = expand_access(desired, now)
    for person in sorted(desired.people.values(), key=lambda p: p.id):
        mine = access.people.get(person.id)
        if (
            mine is not None
            and mine.status is PersonStatus.ACTIVE
            and not person.employment.end
            and person.github
            and any(r.startswith("squad-") for r in person.roles)
        ):
            return person
    raise RuntimeError("bench: the generated organisation has no active engineer")


@contextmanager
def _daemon(env: dict[str, str], log: Path) -> Iterator[str]:
    with log.open("w", encoding="utf-8") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "serve", "--port", "0"],
            env=env, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
    try:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            if found := re.search(r"listening on (http://[0-9.]+:[0-9]+)", line):
                url = found[1]
                break
        if url is None:
            raise RuntimeError(f"bench: serve did not start; see {log}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=120)


def _idle(url: str) -> bool:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return all(f'reconciler_jobs{{state="{s}"}} 0.0' in text for s in ("running", "waiting"))


def measure_webhook_offboarding(people: int, latency_ms: int) -> dict[str, Any]:
    """Seconds from a signed push webhook to the leaver's last removal, and to the
    `offboarding-complete` record, for one leaver in a `people`-person organisation."""
    tz = ZoneInfo("Asia/Tokyo")
    now = dt.datetime.now(tz)
    # The generated leavers leave "this week" of the date given: a week ahead, nobody has
    # left yet, so the start-up run has nothing to offboard (more than the repo's limit of
    # leavers per run would be refused, and the daemon has no override).
    files = generate_repo(people, (now + dt.timedelta(days=7)).date())
    desired = load_desired_state(files)
    leaver = _leaver(desired, now)
    world, _ = build_world(desired, now, drift=False)
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
        root = Path(tmp)
        repo = root / "repo"
        for name, data in files.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_bytes(data)
        _git(repo, "init", "--quiet", "--initial-branch", "main")
        _git(repo, "add", "--all")
        _git(repo, "commit", "--quiet", "--message", "generated organisation")
        with SandboxServer(Sandbox(world)) as server:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")},
                "RECONCILER_SANDBOX_URL": server.url,
                "RECONCILER_REPO_URL": str(repo),
                "RECONCILER_STATE_DIR": str(root / "state"),
                "RECONCILER_WORK_DIR": str(root / "work"),
                "RECONCILER_WEBHOOK_SECRET": SECRET.decode(),
                "RECONCILER_APPLY": "true",
                "RECONCILER_LOG_FORMAT": "json",
                "NO_PROXY": "127.0.0.1,localhost",
            }
            with _daemon(env, root / "serve.log") as url:
                _until(lambda: requests.get(f"{url}/readyz", timeout=10).ok, "readiness")
                _until(lambda: _idle(url), "the start-up run")
                server.sandbox.latency_ms = latency_ms
                path = repo / "people" / f"{leaver.id}.yaml"
                yesterday = (now - dt.timedelta(days=1)).date()
                text = path.read_text(encoding="utf-8")
                path.write_text(
                    re.sub(r"(employment: \{[^}]*?)\}", rf"\1, end: {yesterday}}}", text, count=1),
                    encoding="utf-8",
                )
                _git(repo, "commit", "--quiet", "--all", "--message", f"{leaver.id} left")
                body = json.dumps({"ref": "refs/heads/main"}).encode()
                sent = dt.datetime.now(dt.UTC)
                answer = requests.post(
                    f"{url}/webhook/github",
                    data=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-GitHub-Event": "push",
                        "X-GitHub-Delivery": str(uuid.uuid4()),
                        "X-Hub-Signature-256": sign(SECRET, body),
                    },
                    timeout=10,
                )
                answered = (dt.datetime.now(dt.UTC) - sent).total_seconds()
                log = root / "state" / "audit.jsonl"

                def complete() -> Any:
                    return next(
                        (
                            r
                            for r in read_records(log)
                            if r.type == RecordType.OFFBOARDING_COMPLETE
                            and r.person_id == leaver.id
                        ),
                        None,
                    )

                try:
                    done = _until(complete, f"{leaver.id}'s offboarding-complete")
                except RuntimeError:
                    tail = (root / "serve.log").read_text(encoding="utf-8").splitlines()[-15:]
                    why = "\n".join(["bench: no offboarding-complete; the daemon's log:", *tail])
                    raise RuntimeError(why) from None
                records = read_records(log)
    results = [r for r in records if r.type == RecordType.RESULT and r.person_id == leaver.id]
    last = max(dt.datetime.fromisoformat(str(r.data["ts"])) for r in results)
    proven = dt.datetime.fromisoformat(str(done.data["ts"]))
    return {
        "people": people,
        "latency_ms": latency_ms,
        "webhook_status": answer.status_code,
        "webhook_answered_s": round(answered, 3),
        "actions": len(results),
        "last_access_removed_s": round((last - sent).total_seconds(), 3),
        "offboarding_complete_s": round((proven - sent).total_seconds(), 3),
        "target_s": 10.0,
    }
