"""The plan's JSON form matches its published JSON Schema (docs/schemas/plan.schema.json)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from reconciler.cli import _register_commands, app
from reconciler.model import ActionKind

_register_commands()
ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "plan.schema.json").read_text())


@pytest.fixture(autouse=True)
def _no_sandbox_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECONCILER_SANDBOX_URL", raising=False)


def test_the_demo_plan_validates_against_the_published_schema() -> None:
    result = CliRunner().invoke(
        app,
        ["plan", "--dir", str(ROOT / "desired_state"), "--sandbox", "--format", "json",
         "--at", "2026-11-25T21:00:00+09:00"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    document = json.loads(result.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    assert document["plan"]["actions"] and document["plan"]["findings"]


def test_the_schema_lists_every_action_kind() -> None:
    assert set(SCHEMA["$defs"]["action"]["properties"]["kind"]["enum"]) == {
        k.value for k in ActionKind
    }


def test_a_renamed_field_fails_the_schema() -> None:
    result = CliRunner().invoke(
        app, ["plan", "--dir", str(ROOT / "desired_state"), "--sandbox", "--format", "json"]
    )
    document = json.loads(result.stdout)
    document["plan"]["findings"][0]["articel"] = document["plan"]["findings"][0].pop("article")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(document)
