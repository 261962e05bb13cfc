"""Loads the counts of the last complete read, has every full read judged against them and
stores the new ones; called by every full read of a run (`reconciler.runs.read_snapshot`)
and, later, the daemon. The rule itself is pure, in `reconciler.planning.read_counts`.

Only full reads pass here: emergency offboarding's reverse look-ups see one person, so their
counts would be compared with a whole organisation's and stored as if the org had shrunk.
"""

from __future__ import annotations

from reconciler.model import Organization, Snapshot
from reconciler.planning.read_counts import (
    check_read_counts,
    parse_read_counts,
    read_counts_document,
)
from reconciler.state.local import StateStore, StateStoreError

DOCUMENT = "read-counts.json"


def judge_and_remember_read_counts(
    store: StateStore, snapshot: Snapshot, organization: Organization
) -> Snapshot:
    """`snapshot`, with any system whose counts shrank suspiciously since the last complete
    read marked incomplete; the counts of the complete, plausible reads are stored. Raises
    `StateStoreError` when the stored counts cannot be read or understood: running without
    them would silently switch the check off."""
    document = store.read_json(DOCUMENT)
    try:
        last = parse_read_counts(document) if document is not None else {}
    except ValueError as exc:
        raise StateStoreError(
            f"{DOCUMENT} in {store.describe()} is not understood ({exc}); fix or delete it "
            "(deleting it forgets the last counts, so the next complete read is trusted)"
        ) from None
    judged, remember = check_read_counts(snapshot, last, organization)
    if remember != last:
        store.write_json(DOCUMENT, read_counts_document(remember))
    return judged
