"""The fault matrix (tests/reliability/cases.py): one test per case, each driving the real
reconciler.runs functions or the real CLI, the real client libraries and the sandbox, and
asserting the case's safe outcome. The table of cases is docs/reliability.md."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from reconciler.sandbox.server import SandboxServer
from tests.reliability import cases  # noqa: F401  - registers the cases
from tests.reliability.matrix import CASES, Case, table
from tests.reliability.world import World

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
START, END = "<!-- matrix:start -->\n", "<!-- matrix:end -->"


@pytest.mark.parametrize("matrix_case", CASES, ids=[c.id for c in CASES])
def test_fault_matrix(
    matrix_case: Case, sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def world(*, grown: str = "") -> World:
        return World.load(sandbox, tmp_path, grown=grown)

    if "monkeypatch" in inspect.signature(matrix_case.run).parameters:
        matrix_case.run(world, monkeypatch)  # the clock cases set the host's zone
    else:
        matrix_case.run(world)


def test_the_documented_matrix_is_the_one_that_runs() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = text[text.index(START) + len(START) : text.index(END)]
    assert documented == table(), "docs/reliability.md: run `python -m tests.reliability.cases`"
    assert len(CASES) >= 40, len(CASES)
