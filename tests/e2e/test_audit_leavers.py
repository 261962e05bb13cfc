"""`reconciler audit leavers` on the audit log a real apply wrote against the sandbox: exit 0
when the chain verifies and the leaver was offboarded on their last day, exit 1 naming the
first bad record once one record is edited (the verdicts of an edited log prove nothing)."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import LEAVER, audit_path, cli, setup, today


def test_leavers_passes_on_a_real_applys_log_and_fails_once_a_record_is_edited(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    applied = cli(["apply", "--dir", str(directory), "--confirm"], env)
    assert applied.exit_code == 0, applied.output
    log = audit_path(tmp_path)

    intact = cli(["audit", "leavers", str(log)], env)

    assert intact.exit_code == 0, intact.output
    row = next(line for line in intact.output.splitlines() if f"│ {LEAVER}" in line)
    assert today().isoformat() in row and "yes" in row
    assert "1 leaver(s), 0 not offboarded the same day" in intact.output

    # Edit one record (an intent of the leaver's offboarding, not the verdict itself):
    # whatever was edited, nothing in the log can be trusted any more.
    lines = log.read_text().splitlines(keepends=True)
    index = next(
        i for i, line in enumerate(lines)
        if json.loads(line)["type"] == "intent" and json.loads(line)["person_id"] == LEAVER
    )  # fmt: skip
    record = json.loads(lines[index])
    record["actor"] = "someone-else@admin-host.example.com"
    lines[index] = json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"
    log.write_text("".join(lines))

    tampered = cli(["audit", "leavers", str(log)], env)

    assert tampered.exit_code == 1, tampered.output
    assert f"TAMPERED at line {index + 1} (seq {record['seq']}): hash mismatch" in tampered.output
    assert "leavers not evaluated: the audit log does not verify" in tampered.output
    assert "yes" not in tampered.output
