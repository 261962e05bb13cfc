"""Golden files of the drift report: the example repo against the embedded demo world at a
fixed instant, through the real CLI, in Markdown (both languages) and JSON. A change to the
report's content or layout shows up here as a diff to review.

Regenerate after an intended change, then review `git diff tests/reports/golden/`:

    UPDATE_GOLDENS=1 .venv/bin/pytest -q tests/reports/test_drift_golden.py   (or make goldens)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import _register_commands, app

_register_commands()
EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
GOLDEN = Path(__file__).resolve().parent / "golden"
AT = "2026-11-25T21:00:00+09:00"  # after the example's leaver's 18:00 offboarding time


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """drift.json and drift.md (the example's language, ja) from --out, and the English
    Markdown from stdout."""
    out = tmp_path_factory.mktemp("drift")
    env = {"RECONCILER_STATE_DIR": str(out / "state"), "NO_PROXY": "127.0.0.1,localhost"}
    runner = CliRunner()
    base = ["drift", "--dir", str(EXAMPLE), "--sandbox", "--at", AT]
    ja = runner.invoke(app, [*base, "--out", str(out)], env=env, catch_exceptions=False)
    assert ja.exit_code == 0, ja.output
    en = runner.invoke(app, [*base, "--format", "markdown", "--lang", "en"], env=env)
    assert en.exit_code == 0, en.output
    return {
        "drift.json": (out / "drift.json").read_text(encoding="utf-8"),
        "drift.ja.md": (out / "drift.md").read_text(encoding="utf-8"),
        "drift.en.md": en.stdout,
    }


@pytest.mark.parametrize("name", ["drift.json", "drift.ja.md", "drift.en.md"])
def test_the_report_matches_its_golden_file(written: dict[str, str], name: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDENS") == "1":
        golden.write_text(written[name], encoding="utf-8")
    assert written[name] == golden.read_text(encoding="utf-8"), (
        f"{name} differs from tests/reports/golden/{name}; if the change is intended, "
        "regenerate with UPDATE_GOLDENS=1 (see the module docstring) and review the diff"
    )
