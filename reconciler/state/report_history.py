"""The drift report history in the state store (document `report-history.json`); read and
written by `reconciler.runs.drift_now` for `reconciler drift` and the daemon's nightly run.
The document's shape and its bound are in `reconciler.reports.history`."""

from __future__ import annotations

from typing import Any

from reconciler.reports.drift import DriftReport
from reconciler.reports.history import parse_history, with_report
from reconciler.state.local import StateStore, StateStoreError

DOCUMENT = "report-history.json"


def load_report_history(store: StateStore) -> list[dict[str, Any]]:
    """The stored entries, oldest first. A document that cannot be understood raises: read as
    empty, every open finding would be reported as new and its age would start again."""
    return _parse(store, store.read_json(DOCUMENT))


def record_report(store: StateStore, report: DriftReport) -> None:
    """Add `report` to the history. Read-modify-write through `update_json`, so two reports
    finishing together (the CLI and the daemon) both land."""

    def change(document: Any) -> dict[str, Any]:
        return with_report(_parse(store, document), report)

    store.update_json(DOCUMENT, change)


def _parse(store: StateStore, document: Any) -> list[dict[str, Any]]:
    try:
        return parse_history(document)
    except ValueError as exc:
        raise StateStoreError(
            f"{DOCUMENT} in {store.describe()} is not understood ({exc}); fix or delete it "
            "(deleting it forgets the report history: every open finding is new again)"
        ) from None
