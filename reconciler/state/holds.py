"""Emergency holds in the state store (document `holds.json`); read by every command that
plans, written by `offboard --now --confirm`, `hold release` and confirmed runs that see a
hold end."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from reconciler.model import EmergencyHold
from reconciler.state.local import StateStore, StateStoreError

HOLDS = "holds.json"


def load_holds(store: StateStore) -> tuple[EmergencyHold, ...]:
    """Every recorded hold. A document that cannot be understood raises: reading it as
    "no holds" would let the next run give an emergency-offboarded person their access back."""
    return _parse_holds(store, store.read_json(HOLDS))


def _parse_holds(store: StateStore, data: Any) -> tuple[EmergencyHold, ...]:
    if data is None:
        return ()
    try:
        return tuple(_from_json(item) for item in data["holds"])
    except (KeyError, TypeError, ValueError) as exc:
        raise StateStoreError(
            f"{HOLDS} in {store.describe()} is not understood ({type(exc).__name__}: {exc}); "
            "refusing to plan without the emergency holds"
        ) from None


def save_holds(store: StateStore, holds: Iterable[EmergencyHold]) -> None:
    """Replace every hold: safe only under the run lock, which every writer of holds.json
    takes today (offboard --now --confirm, hold release, confirmed apply)."""
    store.write_json(HOLDS, _to_json(holds))


def change_holds(
    store: StateStore,
    change: Callable[[tuple[EmergencyHold, ...]], Iterable[EmergencyHold]],
) -> tuple[EmergencyHold, ...]:
    """Read-modify-write of the holds that cannot lose a concurrent writer's hold, even if the
    run lock failed (a GCS lease lost by a stalled run): `change` gets the current holds and
    returns the new set; it is re-run if another process wrote in between."""

    def apply(data: object) -> dict[str, object]:
        current = _parse_holds(store, data)
        return _to_json(change(current))

    return _parse_holds(store, store.update_json(HOLDS, apply))


def _to_json(holds: Iterable[EmergencyHold]) -> dict[str, object]:
    ordered = sorted(holds, key=lambda h: h.person_id)
    return {"version": 1, "holds": [hold_to_json(h) for h in ordered]}


def hold_to_json(hold: EmergencyHold) -> dict[str, Any]:
    return {
        "person_id": hold.person_id,
        "placed_at": hold.placed_at.isoformat(),
        "day": hold.day.isoformat(),
        "run_id": hold.run_id,
        "actor": hold.actor,
        "email": hold.email,
        "github": hold.github,
    }


def _from_json(item: Any) -> EmergencyHold:
    placed_at = datetime.fromisoformat(item["placed_at"])
    if placed_at.tzinfo is None:
        raise ValueError("placed_at has no timezone")
    return EmergencyHold(
        person_id=str(item["person_id"]),
        placed_at=placed_at,
        day=date.fromisoformat(item["day"]),
        run_id=str(item["run_id"]),
        actor=str(item["actor"]),
        email=item.get("email"),
        github=item.get("github"),
    )
