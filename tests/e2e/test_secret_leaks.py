"""DESIGN 6.8 end to end: a credential carried in an API's error answer never reaches the CLI's
output, a saved plan or the audit log. The sandbox answers reads and writes of every system
with errors whose bodies carry token-looking strings (as a misbehaving proxy or a verbose
upstream might); the real CLI with the real providers then plans, saves and applies."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import ORG, audit_path, cli, setup

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
    # Writes: the newcomer's invitation fails with the token in GitHub's message.
    app.add_fault(
        {"method": "POST", "path": f"^/orgs/{ORG}/invitations$", "every": True, "status": 422,
         "body": {"message": f"Validation failed for {GITHUB_PAT}"}}
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
    # invitation failed.
    assert planned.output.count("INCOMPLETE") == 3, planned.output
    assert applied.exit_code == 1, applied.output
    assert "failed" in applied.output and "422" in applied.output
    notes = json.loads(saved.read_text())["plan"]["notes"]
    assert any("read incomplete" in n for n in notes)
    for name, text in {
        "plan output": planned.output,
        "saved plan": saved.read_text(),
        "apply output": applied.output,
        "offboard output": offboard.output,
        "audit log": audit_path(tmp_path).read_text(),
    }.items():
        assert _leaks(text) == [], f"{name} leaks a credential"
