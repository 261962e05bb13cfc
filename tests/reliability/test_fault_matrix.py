"""The fault matrix (tests/reliability/cases.py): one test per case, each driving the real
reconciler.runs functions or the real CLI, the real client libraries and the sandbox, and
asserting the case's safe outcome. The table of cases is docs/reliability.md."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.sandbox.server import SandboxServer
from tests.reliability import cases  # noqa: F401  - registers the cases
from tests.reliability.matrix import CASES, Case
from tests.reliability.world import World


@pytest.mark.parametrize("matrix_case", CASES, ids=[c.id for c in CASES])
def test_fault_matrix(matrix_case: Case, sandbox: SandboxServer, tmp_path: Path) -> None:
    def world(*, grown: str = "") -> World:
        return World.load(sandbox, tmp_path, grown=grown)

    factory: Callable[..., World] = world
    matrix_case.run(factory)
