"""State documents on GCS through the real google-cloud-storage client against the sandbox:
round trip, generation preconditions, read-modify-write that loses no concurrent change."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from reconciler.model import EmergencyHold
from reconciler.sandbox.server import SandboxServer
from reconciler.state import StateStoreError
from reconciler.state.holds import change_holds, load_holds, save_holds
from tests.state.gcs_world import STATE_BUCKET, gcs_store, storage_world


def test_a_document_round_trips_and_its_generation_guards_the_next_write(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(storage_world())
    store = gcs_store(sandbox)
    assert store.read_json_with_generation("counts.json") == (None, 0)
    first = store.write_json("counts.json", {"users": 120}, if_generation=0)
    assert store.read_json_with_generation("counts.json") == ({"users": 120}, first)
    second = store.write_json("counts.json", {"users": 121}, if_generation=first)
    assert second != first
    with pytest.raises(StateStoreError, match="changed by another writer"):
        store.write_json("counts.json", {"users": 99}, if_generation=first)  # stale
    with pytest.raises(StateStoreError, match="changed by another writer"):
        store.write_json("counts.json", {"users": 99}, if_generation=0)  # exists already
    assert store.read_json("counts.json") == {"users": 121}
    objects = sandbox.sandbox.telemetry.log
    assert any(r.query.get("ifGenerationMatch") == [str(first)] for r in objects)


def test_update_json_reapplies_its_change_after_a_concurrent_write(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(storage_world())
    store, other = gcs_store(sandbox), gcs_store(sandbox)
    store.write_json("holds.json", {"holds": ["e0001"]})
    calls: list[Any] = []

    def add_e0002(current: Any) -> Any:
        calls.append(current)
        if len(calls) == 1:  # another process writes between our read and our write
            other.write_json("holds.json", {"holds": [*current["holds"], "e0003"]})
        return {"holds": [*current["holds"], "e0002"]}

    store.update_json("holds.json", add_e0002)
    assert store.read_json("holds.json") == {"holds": ["e0001", "e0003", "e0002"]}
    assert len(calls) == 2


def test_unreadable_and_missing_bucket_documents_are_one_line_errors(
    sandbox: SandboxServer,
) -> None:
    broken = {"name": "prod/holds.json", "content": "{not json", "content_type": "application/json"}
    sandbox.sandbox.load_world(storage_world(broken))
    with pytest.raises(StateStoreError, match=r"holds\.json is not valid JSON"):
        load_holds(gcs_store(sandbox))
    sandbox.sandbox.load_world({})
    with pytest.raises(StateStoreError, match=f"cannot read gs://{STATE_BUCKET}/prod/holds.json"):
        gcs_store(sandbox).read_json("holds.json")


def _hold(person_id: str) -> EmergencyHold:
    return EmergencyHold(
        person_id=person_id,
        placed_at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
        day=date(2026, 11, 30),
        run_id="r1",
        actor="ops@example.co.jp",
        email=f"{person_id}@example.co.jp",
        github=None,
    )


def test_holds_survive_on_gcs(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(storage_world())
    save_holds(gcs_store(sandbox), [_hold("e0042")])
    assert load_holds(gcs_store(sandbox)) == (_hold("e0042"),)


def test_change_holds_keeps_a_hold_placed_concurrently(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(storage_world())
    store, other = gcs_store(sandbox), gcs_store(sandbox)
    save_holds(store, [_hold("e0001"), _hold("e0002")])
    raced: list[bool] = []

    def end_e0001(current: tuple[EmergencyHold, ...]) -> list[EmergencyHold]:
        if not raced:  # `offboard --now` on another host places a hold meanwhile
            raced.append(True)
            save_holds(other, [*current, _hold("e0003")])
        return [h for h in current if h.person_id != "e0001"]

    result = change_holds(store, end_e0001)
    assert [h.person_id for h in result] == ["e0002", "e0003"]
    assert load_holds(gcs_store(sandbox)) == result
