"""The fault matrix: one case per fault, each with the safe outcome it must end in. Run by
tests/reliability/test_fault_matrix.py (one parametrised test per case) and rendered as the
table in docs/reliability.md (`python -m tests.reliability.cases` prints it; a test checks
the page shows exactly this table). The cases themselves are in tests/reliability/cases.py.

A case is a function of a `World` (tests/reliability/world.py): it loads a world, injects a
fault into the sandbox (docs/sandbox.md, fault rules), runs the real `reconciler.runs`
functions or the real CLI with the real client libraries, and asserts the outcome on the
sandbox's state, its request log and the exit code (0 clean, 1 failed, 2 refused, 3 partial:
docs/operations.md).

Not here: webhook tampering and replay belong to the daemon (`reconciler serve`), whose
tests will add them; two runs at once on the GCS state store belongs to that store's work
(the `two-runs-at-once` case is written for the local store only)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Check = Callable[..., None]


@dataclass(frozen=True)
class Case:
    id: str
    fault: str  # what goes wrong, in a table cell
    outcome: str  # the safe outcome the case asserts
    run: Check


CASES: list[Case] = []


def case(id: str, fault: str, outcome: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        assert id not in {c.id for c in CASES}, id
        CASES.append(Case(id, fault, outcome, fn))
        return fn

    return register


def table() -> str:
    """The matrix as the Markdown table docs/reliability.md shows."""
    lines = ["| case | fault | safe outcome |", "|---|---|---|"]
    lines += [f"| `{c.id}` | {c.fault} | {c.outcome} |" for c in CASES]
    return "\n".join(lines) + "\n"
