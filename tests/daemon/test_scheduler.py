"""The Cloud Scheduler endpoints (`POST /run/...`) over the real app (starlette's TestClient)
with google-auth's real verification against certificates the sandbox serves: a missing,
wrongly signed, wrong-audience, wrong-email or unverified token is refused and queues nothing;
a right one queues the job. Also the daemon's configuration refusals through the real CLI."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import requests
from starlette.testclient import TestClient

from reconciler.daemon.configuring import configure
from reconciler.daemon.jobs import JobKind
from reconciler.daemon.serving import Daemon, build_app
from reconciler.sandbox.server import SandboxServer
from reconciler.settings import Settings
from tests.e2e.scenario import cli

AUDIENCE = "https://reconciler.example.com"
SCHEDULER = "scheduler@example-prod.iam.gserviceaccount.com"


def _token(sandbox: SandboxServer, **claims: object) -> str:
    body = {"audience": AUDIENCE, "email": SCHEDULER, **claims}
    resp = requests.post(f"{sandbox.url}/_sandbox/oidc/token", json=body, timeout=10)
    resp.raise_for_status()
    return str(resp.json()["id_token"])


def _forged(sandbox: SandboxServer) -> str:
    """The right claims under the signature of a token minted for someone else."""
    header, _, signature = _token(sandbox, email="intruder@example.com").split(".")
    claims = json.loads(base64.urlsafe_b64decode(_token(sandbox).split(".")[1] + "=="))
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{payload}.{signature}"


@pytest.fixture
def daemon(sandbox: SandboxServer, tmp_path: Path) -> Daemon:
    settings = Settings(
        sandbox_url=sandbox.url,
        repo_url=str(tmp_path / "repo"),
        state_dir=tmp_path / "state",
        work_dir=tmp_path / "work",
        service_url=AUDIENCE,
        scheduler_service_account=SCHEDULER,
    )
    return Daemon(configure(settings, sandbox=False, poll=None, read_secret=_no_secrets))


def _no_secrets(reference: str) -> str:
    raise AssertionError(f"no Secret Manager in this test: {reference}")


def test_the_scheduler_endpoint_refuses_bad_oidc_tokens_and_accepts_a_right_one(
    sandbox: SandboxServer, daemon: Daemon
) -> None:
    client = TestClient(build_app(daemon))  # no lifespan: jobs are queued, not run
    bad = {
        "missing": None,
        "not a bearer token": f"Basic {_token(sandbox)}",
        "wrongly signed": f"Bearer {_forged(sandbox)}",
        "wrong audience": f"Bearer {_token(sandbox, audience='https://other.example.com')}",
        "wrong email": f"Bearer {_token(sandbox, email='someone@example.com')}",
        "email not verified": f"Bearer {_token(sandbox, email_verified=False)}",
        "expired": f"Bearer {_token(sandbox, expires_in=-3600)}",
    }
    for why, header in bad.items():
        headers = {"Authorization": header} if header else {}
        assert client.post("/run/drift", headers=headers).status_code == 401, why
        assert client.post("/run/inventory", headers=headers).status_code == 401, why
    assert daemon.flight.waiting() == []

    good = {"Authorization": f"Bearer {_token(sandbox)}"}
    assert client.post("/run/drift", headers=good).status_code == 202
    assert client.post("/run/sweep", headers=good).status_code == 202
    assert client.post("/run/inventory", headers=good).status_code == 202
    assert {(j.kind, j.trigger) for j in daemon.flight.waiting()} == {
        (JobKind.DRIFT, "scheduler-drift"),
        (JobKind.RECONCILE, "scheduler-sweep"),
        (JobKind.INVENTORY, "scheduler-inventory"),
    }


def test_health_and_readiness_before_the_first_complete_read(daemon: Daemon) -> None:
    client = TestClient(build_app(daemon))
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    assert 'reconciler_jobs{state="running"} 0.0' in client.get("/metrics").text


def test_serve_refuses_a_literal_webhook_secret_outside_the_sandbox(tmp_path: Path) -> None:
    env = {
        "RECONCILER_REPO_URL": str(tmp_path),
        "RECONCILER_WEBHOOK_SECRET": "literal-secret-value-1234",
        "RECONCILER_STATE_DIR": str(tmp_path / "state"),
    }
    result = cli(["serve", "--port", "0"], env)
    assert result.exit_code == 1
    assert "RECONCILER_WEBHOOK_SECRET (a literal secret) is accepted only with a sandbox" in (
        result.output
    )
    assert "literal-secret-value-1234" not in result.output
    assert "Traceback" not in result.output


def test_serve_refuses_to_start_without_a_repo(tmp_path: Path) -> None:
    result = cli(["serve", "--port", "0"], {"RECONCILER_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert "RECONCILER_REPO_URL is not set" in result.output


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"RECONCILER_APPLY": "maybe"}, [], "error: RECONCILER_APPLY: Input should be a valid"),
        ({}, ["--poll", "5x"], "--poll '5x': write a number and a unit"),
        (
            {"RECONCILER_SCHEDULES": "true", "RECONCILER_SCHEDULE_DRIFT": "0 25 * * *"},
            [],
            "RECONCILER_SCHEDULE_DRIFT='0 25 * * *': '0 25 * * *' is not a cron expression",
        ),
        ({"RECONCILER_REPO_URL": "/nonexistent/repo"}, [], "git fetch failed: fatal: "),
        (
            {
                "RECONCILER_STATE_URL": "gs://example-reconciler-state/prod",
                "RECONCILER_INVENTORY_DIR": "/var/inventory",
            },
            [],
            "RECONCILER_INVENTORY_DIR=/var/inventory is a local directory but the state store "
            "is gs://example-reconciler-state/prod",
        ),
        (
            {
                "RECONCILER_STATE_URL": "gs://example-reconciler-state/prod",
                "RECONCILER_AUDIT_URL": "gs://example-reconciler-audit",
            },
            [],
            "the inventory location gs://example-reconciler-audit/inventory is inside the "
            "audit segments gs://example-reconciler-audit",
        ),
    ],
    ids=[
        "a setting that does not parse",
        "a bad poll interval",
        "a bad cron",
        "no such repo",
        "a local inventory with a gs:// state store",
        "the inventory in the audit segments",
    ],
)
def test_serve_refuses_bad_configuration_with_one_line(
    tmp_path: Path, env: dict[str, str], args: list[str], message: str
) -> None:
    base = {
        "RECONCILER_REPO_URL": str(tmp_path / "repo"),
        "RECONCILER_STATE_DIR": str(tmp_path / "state"),
        "RECONCILER_WORK_DIR": str(tmp_path / "work"),
    }
    result = cli(["serve", "--port", "0", *args], {**base, **env})
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
