"""End to end: a credential carried in an API's error answer never reaches the CLI's output,
its log lines, a saved plan or the audit log. The sandbox answers reads and writes of every
system with errors whose bodies carry credentials (as a misbehaving proxy or a verbose
upstream might): token-looking strings, and, bare, the very secrets the process holds (a
configured classic GitHub token, the Google access token the sandbox issued), which no
pattern can recognise. The real CLI with the real providers then plans, saves and applies."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import (
    LEAVER_EMAIL,
    ORG,
    audit_path,
    cli,
    setup,
    world_before,
)

# Invented values in the shapes GitHub and Google issue.
GITHUB_PAT = "ghp_" + "Q7wErT" * 6
GOOGLE_ACCESS_TOKEN = "ya29.a0AfB_byInventedLeakedToken-9f8e7d6c5b4a"
SECRETS = (GITHUB_PAT, GOOGLE_ACCESS_TOKEN)


def _leaky_faults(sandbox: SandboxServer) -> None:
    app = sandbox.sandbox
    # Reads: each makes its system's read incomplete, and the reason names the API's message.
    app.add_fault(
        {"method": "GET", "path": f"^/orgs/{ORG}/outside_collaborators", "every": True,
         "status": 403, "body": {"message": f"Bad credentials: {GITHUB_PAT}"}}
    )  # fmt: skip
    app.add_fault(
        {"method": "POST", "path": r"^/v3/projects/example-dev:getIamPolicy$", "every": True,
         "status": 403,
         "body": {"error": {"code": 403, "status": "PERMISSION_DENIED",
                            "message": f"Token {GOOGLE_ACCESS_TOKEN} lacks permission"}}}
    )  # fmt: skip
    app.add_fault(
        {"method": "GET", "path": r"/groups/[^/]+/members$", "every": True, "status": 403,
         "body": {"error": {"code": 403, "message": GOOGLE_ACCESS_TOKEN,
                            "errors": [{"reason": f"authError {GOOGLE_ACCESS_TOKEN}"}]}}}
    )  # fmt: skip
    # Writes: the leaver's removal (the one change an incomplete read still allows, since the
    # read showed the membership) fails with the token in GitHub's message.
    app.add_fault(
        {"method": "DELETE", "path": f"^/orgs/{ORG}/memberships/kleaver$", "every": True,
         "status": 422, "body": {"message": f"Validation failed for {GITHUB_PAT}"}}
    )  # fmt: skip


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_tokens_in_api_error_answers_never_reach_cli_output_saved_plan_or_audit_log(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    _leaky_faults(sandbox)
    saved = tmp_path / "plan.json"

    planned = cli(["plan", "--dir", str(directory), "--out", str(saved)], env)
    applied = cli(["apply", "--dir", str(directory), "--confirm"], env)
    offboard = cli(["offboard", "e0010", "--now", "--dir", str(directory)], env)

    # The faults did fire (the test is not vacuous): all three reads were incomplete and the
    # leaver's removal failed.
    assert planned.output.count("INCOMPLETE") == 3, planned.output
    assert applied.exit_code == 1, applied.output
    assert "failed" in applied.output and "422" in applied.output
    notes = json.loads(saved.read_text())["plan"]["notes"]
    assert any("read incomplete" in n["message"] for n in notes)
    for name, text in {
        "plan output": planned.output,
        "saved plan": saved.read_text(),
        "apply output": applied.output,
        "offboard output": offboard.output,
        "audit log": audit_path(tmp_path).read_text(),
    }.items():
        assert _leaks(text) == [], f"{name} leaks a credential"


# A classic GitHub token (40 hex, no prefix: the shape of a git commit id, so no pattern may
# mask it) and a Google access token the sandbox issues; both invented.
CLASSIC_GITHUB_TOKEN = "3f9c2a7be41d08c65f7e2b9a0c4d1e8f6a5b3c20"
ISSUED_GOOGLE_TOKEN = "sandbox-issued-Kq8vR2mXw7pL4nZt9yBc"
HELD = (CLASSIC_GITHUB_TOKEN, ISSUED_GOOGLE_TOKEN)
BOT = "example-reconciler-bot"
CLIENT_ID = "1234-mailsync.apps.example.com"  # the leaver's OAuth grant (scenario.world_before)


def _holding_real_secrets(sandbox: SandboxServer, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The scenario with RECONCILER_GITHUB_TOKEN set to the classic token (the sandbox knows
    it as the bot's) and the sandbox issuing ISSUED_GOOGLE_TOKEN to the Google provider."""
    directory, desired, env = setup(sandbox, tmp_path)
    world = world_before(desired)
    world["github"]["tokens"] = {CLASSIC_GITHUB_TOKEN: BOT}
    world["google"]["access_token"] = ISSUED_GOOGLE_TOKEN
    sandbox.sandbox.load_world(world)
    env = {**env, "RECONCILER_GITHUB_TOKEN": CLASSIC_GITHUB_TOKEN, "RECONCILER_LOG_LEVEL": "debug"}
    return directory, env


def _echoing_faults(sandbox: SandboxServer) -> None:
    """Error bodies that are nothing but the held secret, or carry it after no keyword."""
    app = sandbox.sandbox
    app.add_fault(
        {"method": "GET", "path": f"^/orgs/{ORG}/outside_collaborators", "every": True,
         "status": 403, "body": {"message": CLASSIC_GITHUB_TOKEN}}
    )  # fmt: skip
    # Writes: the leaver's cuts, the only changes an incomplete read still allows (the read
    # showed what they remove), fail with the secrets in the answer.
    app.add_fault(
        {"method": "DELETE", "path": f"^/orgs/{ORG}/memberships/kleaver$", "every": True,
         "status": 422, "body": {"message": f"Validation failed for {CLASSIC_GITHUB_TOKEN}"}}
    )  # fmt: skip
    app.add_fault(
        {"method": "GET", "path": r"/groups/[^/]+/members$", "every": True, "status": 403,
         "body": {"error": {"code": 403, "message": ISSUED_GOOGLE_TOKEN,
                            "errors": [{"reason": ISSUED_GOOGLE_TOKEN}]}}}
    )  # fmt: skip
    app.add_fault(
        {"method": "PATCH", "path": r"^/admin/directory/v1/users/kenji\.leaver", "every": True,
         "status": 400, "body": {"error": {"code": 400, "message": f"echo {ISSUED_GOOGLE_TOKEN}"}}}
    )  # fmt: skip
    app.add_fault(
        {"method": "POST", "path": r"^/v3/projects/example-dev:getIamPolicy$", "every": True,
         "status": 403, "body": {"error": {"code": 403, "status": "PERMISSION_DENIED",
                                           "message": ISSUED_GOOGLE_TOKEN}}}
    )  # fmt: skip


def test_secrets_the_process_holds_are_masked_by_value_when_an_api_echoes_them_bare(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, env = _holding_real_secrets(sandbox, tmp_path)
    _echoing_faults(sandbox)
    saved = tmp_path / "plan.json"

    planned = cli(["plan", "--dir", str(directory), "--out", str(saved)], env)
    applied = cli(["apply", "--dir", str(directory), "--confirm"], env)

    # Not vacuous: the secrets were really in use (the sandbox issued the Google token and
    # saw the classic one), every fault fired and was reported, and logging was on.
    with sandbox.sandbox.lock:
        assert sandbox.sandbox.world["google"]["oauth_grants"]
    assert planned.output.count("INCOMPLETE") == 3, planned.output
    assert applied.exit_code == 1, applied.output
    assert "422" in applied.output and "400" in applied.output
    assert '"event": "action failed"' in applied.stderr, applied.stderr
    notes = json.loads(saved.read_text())["plan"]["notes"]
    assert any("read incomplete" in n["message"] for n in notes)
    audit = audit_path(tmp_path).read_text()
    assert "suspend_account" in audit and "Validation failed for" in audit
    for name, text in {
        "plan stdout": planned.stdout,
        "plan stderr and log": planned.stderr,
        "saved plan": saved.read_text(),
        "apply stdout": applied.stdout,
        "apply stderr and log": applied.stderr,
        "audit log": audit,
    }.items():
        assert [s for s in HELD if s in text] == [], f"{name} leaks a held secret"


def test_an_oauth_client_id_in_a_revoke_token_audit_record_is_not_masked(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Ids are evidence, not secrets: the auditor must read which app's grant was revoked,
    from whom, even while the redactor holds the run's secrets."""
    directory, env = _holding_real_secrets(sandbox, tmp_path)

    applied = cli(["apply", "--dir", str(directory), "--confirm"], env)

    assert applied.exit_code == 0, applied.output
    records = [json.loads(line) for line in audit_path(tmp_path).read_text().splitlines()]
    revoked = [
        r for r in records
        if r["type"] == "result" and r["action"]["kind"] == "revoke_token"
    ]  # fmt: skip
    assert len(revoked) == 1, records
    assert revoked[0]["result"]["message"] == f"token {CLIENT_ID} of {LEAVER_EMAIL} revoked"


def test_a_token_echoed_by_one_system_before_another_system_obtained_it_is_still_masked(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The systems are read in parallel: GCP's error may echo the Google access token
    before the Google reader has obtained (and so registered) it. The sandbox answers the
    token request late so that GCP's failing read always finishes first."""
    directory, env = _holding_real_secrets(sandbox, tmp_path)
    sandbox.sandbox.add_fault(
        {"method": "POST", "path": "^/token$", "every": True, "delay_ms": 1500}
    )
    sandbox.sandbox.add_fault(
        {"method": "POST", "path": r"^/v3/projects/example-dev:getIamPolicy$", "every": True,
         "status": 403, "body": {"error": {"code": 403, "status": "PERMISSION_DENIED",
                                           "message": ISSUED_GOOGLE_TOKEN}}}
    )  # fmt: skip
    saved = tmp_path / "plan.json"

    planned = cli(["plan", "--dir", str(directory), "--out", str(saved)], env)

    assert "PERMISSION_DENIED" in planned.output or "403" in planned.output, planned.output
    with sandbox.sandbox.lock:  # not vacuous: the Google reader did obtain the token
        assert sandbox.sandbox.world["google"]["oauth_grants"]
    for name, text in {"plan stdout": planned.stdout, "saved plan": saved.read_text()}.items():
        assert ISSUED_GOOGLE_TOKEN not in text, f"{name} leaks the token"
