"""`reconciler serve` end to end: a real uvicorn subprocess, a real git repo made by the test,
the real providers against the sandbox. A leaver committed and pushed loses every grant;
unsigned, wrongly signed, sha1-only, replayed and oversize deliveries change nothing; a burst
of pushes coalesces; an invalid commit changes nothing and is notified; a hand-made org
change is notified as drift."""

from __future__ import annotations

import hashlib
import hmac
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from reconciler.audit import RecordType, read_records, verify
from reconciler.sandbox.server import SandboxServer
from tests.daemon.served import (
    SECRET,
    commit,
    converged_world,
    daemon_env,
    deliver,
    leaver_file,
    make_repo,
    push_payload,
    receiver,
    serve,
    wait_for,
)
from tests.e2e.scenario import (
    LEAVER,
    LEAVER_EMAIL,
    ORG,
    access_state,
    bindings,
    group_members,
    org_members,
    state,
    team_members,
    users,
)


def _leaver_access(world: dict[str, object]) -> list[str]:
    """Every grant of the leaver the sandbox still holds (empty when offboarded)."""
    held: list[str] = []
    held += [g for g in ("eng@example.co.jp",) if LEAVER_EMAIL in group_members(world, g)]
    held += ["org"] if "kleaver" in org_members(world) else []
    held += ["team backend"] if "kleaver" in team_members(world, "backend") else []
    dev = bindings(world, "projects/example-dev")
    held += [role for role, members in dev.items() if f"user:{LEAVER_EMAIL}" in members]
    held += ["active account"] if not users(world)[LEAVER_EMAIL]["suspended"] else []
    return held


def test_a_signed_push_of_a_leaver_removes_every_grant_and_records_offboarding_complete(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    repo, desired = make_repo(tmp_path)
    converged_world(sandbox, desired)
    assert _leaver_access(state(sandbox))  # they hold everything before
    with receiver() as notified:
        env = daemon_env(
            sandbox, tmp_path, repo, RECONCILER_APPLY="true", RECONCILER_NOTIFY_URL=notified.url
        )
        with serve(env, tmp_path) as daemon:
            daemon.wait_ready()
            leaver_file(repo, leaving=True)
            sha = commit(repo, f"{LEAVER} leaves today")

            answer = deliver(daemon.url, "push", push_payload(sha))

            assert answer.status_code == 202, answer.text
            done = wait_for(
                lambda: notified.events("offboarding-complete"), "the offboarding notification"
            )
            assert done[0]["details"]["person_id"] == LEAVER
            assert done[0]["details"]["evidence"]["removed_at"]
    assert _leaver_access(state(sandbox)) == []
    log = tmp_path / "state" / "audit.jsonl"
    assert verify(log).ok
    complete = [r for r in read_records(log) if r.type == RecordType.OFFBOARDING_COMPLETE]
    assert [r.person_id for r in complete] == [LEAVER]
    assert complete[0].data["desired_commit"] == sha


def test_unsigned_wrongly_signed_sha1_only_replayed_and_oversize_deliveries_change_nothing(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    repo, desired = make_repo(tmp_path)
    converged_world(sandbox, desired)
    env = daemon_env(sandbox, tmp_path, repo, RECONCILER_APPLY="true")
    with serve(env, tmp_path) as daemon:
        daemon.wait_ready()
        before = access_state(state(sandbox))
        leaver_file(repo, leaving=True)
        sha = commit(repo, f"{LEAVER} leaves today")
        body = json.dumps(push_payload(sha)).encode()
        sha1 = "sha1=" + hmac.new(SECRET, body, hashlib.sha1).hexdigest()

        missing = deliver(daemon.url, "push", body, secret=None)
        wrong = deliver(daemon.url, "push", body, secret=b"not-the-secret-at-all")
        sha1_only = deliver(daemon.url, "push", body, secret=None,
                            headers={"X-Hub-Signature": sha1})  # fmt: skip
        big = b'{"ref": "refs/heads/main", "pad": "' + b"x" * (1024 * 1024) + b'"}'
        oversize = deliver(daemon.url, "push", big)
        chunked = requests.post(
            f"{daemon.url}/webhook/github",
            data=iter([big[i : i + 65536] for i in range(0, len(big), 65536)]),
            headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": "chunked-1"},
            timeout=10,
        )

        assert [missing.status_code, wrong.status_code, sha1_only.status_code] == [401] * 3
        assert [oversize.status_code, chunked.status_code] == [413, 413]
        metrics = daemon.metrics()
        assert metrics['reconciler_webhook_deliveries_total{result="unauthorized"}'] == 3
        assert metrics['reconciler_webhook_deliveries_total{result="too-large"}'] == 2
        assert daemon.runs("push") == 0
        assert access_state(state(sandbox)) == before

        # A good delivery runs once; the same delivery id again is answered 200 and runs
        # nothing (nothing is queued: the handler queues before it answers).
        first = deliver(daemon.url, "push", body, delivery="d-1")
        again = deliver(daemon.url, "push", body, delivery="d-1")
        assert (first.status_code, again.status_code) == (202, 200)
        assert "already received" in again.json()["message"]
        wait_for(daemon.idle, "the push run to finish")
        assert daemon.runs("push") == 1
        assert daemon.metric('reconciler_webhook_deliveries_total{result="duplicate"}') == 1
    # The delivery id is remembered in the state store, across a restart too.
    with serve(env, tmp_path) as daemon:
        daemon.wait_ready()
        assert deliver(daemon.url, "push", body, delivery="d-1").status_code == 200
        assert daemon.runs("push") == 0


def test_a_burst_of_fifty_pushes_gives_at_most_two_runs(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    repo, desired = make_repo(tmp_path)
    converged_world(sandbox, desired)
    env = daemon_env(sandbox, tmp_path, repo)  # a dry run: the burst is about runs, not changes
    with serve(env, tmp_path) as daemon:
        daemon.wait_ready()
        (repo / "README.md").write_text("who may hold what\n", encoding="utf-8")
        payload = push_payload(commit(repo, "a readme"))
        sandbox.sandbox.latency_ms = 100  # the first run is still reading while the rest arrive

        with ThreadPoolExecutor(max_workers=50) as pool:
            sent = pool.map(lambda _: deliver(daemon.url, "push", payload), range(50))
            answers = [a.status_code for a in sent]

        assert answers == [202] * 50
        wait_for(daemon.idle, "the runs to finish")
        assert 1 <= daemon.runs("push") <= 2


def test_an_invalid_commit_changes_nothing_and_is_notified(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    repo, desired = make_repo(tmp_path)
    converged_world(sandbox, desired)
    with receiver() as notified:
        env = daemon_env(
            sandbox, tmp_path, repo, RECONCILER_APPLY="true", RECONCILER_NOTIFY_URL=notified.url
        )
        with serve(env, tmp_path) as daemon:
            daemon.wait_ready()
            before = access_state(state(sandbox))
            leaver_file(repo, leaving=True)  # a change that would remove access...
            broken = repo / "people" / "e0013.yaml"
            broken.write_text(broken.read_text().replace("roles: [engineer]", "roles: [enginer]"))
            sha = commit(repo, "a typo in a role name")  # ...in a commit that is invalid

            assert deliver(daemon.url, "push", push_payload(sha)).status_code == 202

            invalid = wait_for(lambda: notified.events("invalid-commit"), "the notification")
            assert invalid[0]["details"]["commit"] == sha
            assert any("people/e0013.yaml:" in e and "enginer" in e
                       for e in invalid[0]["details"]["errors"])  # fmt: skip
            wait_for(daemon.idle, "the run to finish")
            assert daemon.metric('reconciler_runs_total{result="invalid",trigger="push"}') == 1
    assert access_state(state(sandbox)) == before
    records = read_records(tmp_path / "state" / "audit.jsonl")
    assert [r for r in records if r.data.get("desired_commit") == sha] == []


def test_a_hand_made_github_team_membership_is_notified_as_drift(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    repo, desired = make_repo(tmp_path)
    converged_world(sandbox, desired)
    with receiver() as notified:
        env = daemon_env(sandbox, tmp_path, repo, RECONCILER_NOTIFY_URL=notified.url)
        with serve(env, tmp_path) as daemon:
            daemon.wait_ready()
            with sandbox.sandbox.lock:  # someone adds a stayer to the sre team by hand
                team = next(t for t in sandbox.sandbox.world["github"]["teams"]
                            if t["slug"] == "sre")  # fmt: skip
                team["members"].append({"login": "sstayer", "role": "member"})
            event = {
                "action": "added",
                "scope": "team",
                "member": {"login": "sstayer"},
                "team": {"slug": "sre"},
                "organization": {"login": ORG},
            }

            assert deliver(daemon.url, "membership", event).status_code == 202

            drift = wait_for(lambda: notified.events("drift"), "the drift notification")
            assert drift[0]["details"]["person_id"] == "e0013"
            assert any("sre" in a for a in drift[0]["details"]["actions"])
            assert "sstayer" in team_members(state(sandbox), "sre")  # reported, not changed

            # Without RECONCILER_APPLY=true a push is a dry run: the change stays.
            assert deliver(daemon.url, "push", push_payload("0" * 40)).status_code == 202
            wait_for(lambda: daemon.runs("push") == 1 and daemon.idle(), "the push run")
            assert daemon.metric('reconciler_runs_total{result="dry-run",trigger="push"}') == 1
            assert "sstayer" in team_members(state(sandbox), "sre")


def test_the_yearly_inventory_job_writes_the_inventory_and_its_manifest(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    repo, desired = make_repo(tmp_path)
    converged_world(sandbox, desired)
    audience = "https://reconciler.example.com"
    scheduler = "scheduler@example-prod.iam.gserviceaccount.com"
    out = tmp_path / "inventories"
    with receiver() as notified:
        env = daemon_env(
            sandbox, tmp_path, repo,
            RECONCILER_NOTIFY_URL=notified.url, RECONCILER_SERVICE_URL=audience,
            RECONCILER_SCHEDULER_SERVICE_ACCOUNT=scheduler, RECONCILER_INVENTORY_DIR=str(out),
        )  # fmt: skip
        with serve(env, tmp_path) as daemon:
            daemon.wait_ready()
            token = requests.post(
                f"{sandbox.url}/_sandbox/oidc/token",
                json={"audience": audience, "email": scheduler},
                timeout=10,
            ).json()["id_token"]
            refused = requests.post(f"{daemon.url}/run/inventory", timeout=10)
            assert refused.status_code == 401
            queued = requests.post(
                f"{daemon.url}/run/inventory",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert queued.status_code == 202
            [event] = wait_for(lambda: notified.events("inventory"), "the inventory")
    folder = Path(event["details"]["location"])
    assert folder.parent.parent == out  # <dir>/<year>/<run id>/
    assert folder.name == event["details"]["run_id"]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"], manifest
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    assert (folder / "google.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # BOM for Excel
    digest = hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    assert event["details"]["manifest_sha256"] == digest
