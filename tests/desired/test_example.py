"""The example company in desired_state/ is valid, its schema is current, and its people are
where the lifecycle says they should be on 2026-11-25 (the example's "today")."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.desired.expanding import expand_access
from reconciler.desired.formats import json_schema_text
from reconciler.desired.loading import load_desired_dir, read_desired_files
from reconciler.desired.parsing import parse_yaml
from reconciler.model import PersonStatus

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
NOON_TODAY = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))


def test_example_desired_state_validates() -> None:
    state = load_desired_dir(EXAMPLE, commit="abc123")
    assert (len(state.people), len(state.roles), state.commit) == (31, 12, "abc123")


def test_committed_schema_is_up_to_date() -> None:
    committed = (EXAMPLE / "schema.json").read_text(encoding="utf-8")
    assert committed == json_schema_text(), "run: reconciler schema --out desired_state/schema.json"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value.isoformat() if isinstance(value, dt.date) else value


@pytest.mark.parametrize("name", sorted(read_desired_files(EXAMPLE)))
def test_every_example_file_matches_the_json_schema_and_names_it(name: str) -> None:
    raw = read_desired_files(EXAMPLE)[name]
    depth = "../" if "/" in name else "./"
    assert raw.decode().startswith(f"# yaml-language-server: $schema={depth}schema.json\n")
    schema = json.loads((EXAMPLE / "schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(_jsonable(parse_yaml(name, raw).data), schema)


def test_example_lifecycle_today() -> None:
    state = load_desired_dir(EXAMPLE)
    access = expand_access(state, NOON_TODAY)
    status = {pid: p.status for pid, p in access.people.items()}
    assert status["e0014"] is PersonStatus.DEPARTED  # left last week
    assert status["e0015"] is PersonStatus.NOT_STARTED  # starts 2026-12-01
    assert status["e0022"] is PersonStatus.ACTIVE  # last day today, until 18:00
    assert access.people["e0022"].access_ends_at == dt.datetime(
        2026, 11, 25, 18, 0, tzinfo=NOON_TODAY.tzinfo
    )
    evening = expand_access(state, NOON_TODAY + dt.timedelta(hours=6))
    assert evening.people["e0022"].status is PersonStatus.DEPARTED
    assert sum(s is PersonStatus.ACTIVE for s in status.values()) == 29


def test_example_privileged_access_is_only_the_officers_or_approved_and_time_boxed() -> None:
    state = load_desired_dir(EXAMPLE)
    officer = state.organization.security_officer
    access = expand_access(state, NOON_TODAY)
    privileged = [e for p in access.people.values() for e in p.entitlements if e.privileged]
    assert {e.person_id for e in privileged} == {officer, "e0013"}
    for ent in privileged:
        if ent.person_id != officer:
            assert (ent.approved_by, ent.expires) == (officer, dt.date(2026, 12, 15))
    after = expand_access(state, dt.datetime(2026, 12, 16, tzinfo=NOON_TODAY.tzinfo))
    assert {e.person_id for p in after.people.values() for e in p.entitlements if e.privileged} == {
        officer
    }
