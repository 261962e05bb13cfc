"""The planner's public surface: `plan_changes` (pure diff of desired access x Snapshot ->
Plan) and `check_safety` (refuse unsafe plans); called by the executor, the CLI and reports.
The implementation lives in `reconciler.planning`."""

from __future__ import annotations

from reconciler.planning.changes import plan_changes, systems_in_scope
from reconciler.planning.names import split_person_name
from reconciler.planning.safety import (
    MIN_GRANTS_FOR_RATIO,
    ChangeOnIncompleteRead,
    RemovalOnIncompleteRead,
    RemovesLastAdmin,
    TooManyRemovals,
    TouchesProtectedAccount,
    UnsafePlan,
    check_safety,
    raise_if_unsafe,
)
from reconciler.policy import check_findings

__all__ = [
    "MIN_GRANTS_FOR_RATIO",
    "ChangeOnIncompleteRead",
    "RemovalOnIncompleteRead",
    "RemovesLastAdmin",
    "TooManyRemovals",
    "TouchesProtectedAccount",
    "UnsafePlan",
    "check_findings",
    "check_safety",
    "plan_changes",
    "raise_if_unsafe",
    "split_person_name",
    "systems_in_scope",
]
