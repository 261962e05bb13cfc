"""The local state store's side of the one interface: `lock` is the flock run lock,
`audit_log` the one-file log, and `update_json` serialises read-modify-writes."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from reconciler.audit import AuditLog
from reconciler.locking import RunLockBusy
from reconciler.settings import Settings
from reconciler.state import LocalStateStore, StateStoreError, open_state_store


def test_update_json_waits_for_a_concurrent_update_instead_of_losing_it(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    store.write_json("holds.json", {"holds": []})
    other: list[threading.Thread] = []

    def add(person: str) -> Any:
        def change(current: Any) -> Any:
            if not other:  # while we hold the document, another writer starts
                thread = threading.Thread(target=store.update_json, args=("holds.json", add("b")))
                other.append(thread)
                thread.start()
                thread.join(timeout=0.5)  # it cannot finish: it waits for our lock
            return {"holds": [*current["holds"], person]}

        return change

    store.update_json("holds.json", add("a"))
    other[0].join()
    assert store.read_json("holds.json") == {"holds": ["a", "b"]}


def test_the_local_store_locks_with_flock_and_logs_to_one_file(tmp_path: Path) -> None:
    store = open_state_store(Settings(state_dir=tmp_path))
    assert isinstance(store, LocalStateStore)
    audit = store.audit_log()
    assert isinstance(audit, AuditLog) and audit.path == tmp_path / "audit.jsonl"
    with store.lock(run_id="r1", command="apply"):  # noqa: SIM117
        with pytest.raises(RunLockBusy, match="run r1 \\(apply\\)"):
            with LocalStateStore(tmp_path).lock(run_id="r2", command="apply"):
                pass
    assert open_state_store(Settings(state_url=str(tmp_path / "x"))).describe().endswith("x")


def test_a_bad_gcs_url_names_the_setting() -> None:
    with pytest.raises(StateStoreError, match="RECONCILER_STATE_URL: 'gs://UPPER/x'"):
        open_state_store(Settings(state_url="gs://UPPER/x"))
    with pytest.raises(StateStoreError, match="RECONCILER_AUDIT_URL"):
        open_state_store(Settings(state_url="gs://example-reconciler-state/p", audit_url="s3://x"))
