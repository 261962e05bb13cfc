"""The finding catalogue is the one place for codes, severities and articles: every check's
finding is catalogued and rated by it, every catalogued code is produced by some world, and
docs/findings.md is exactly what the catalogue generates."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import _register_commands, app
from reconciler.model import EmergencyHold, Finding, PersonStatus
from reconciler.policy import check_findings, findings_of
from reconciler.policy.catalogue import CATALOGUE, finding_type
from reconciler.policy.context import Findings
from reconciler.views import StateViews
from tests.plan.builders import NOW, g_user, world
from tests.policy.test_findings import CASES, TARO, taro

ROOT = Path(__file__).parents[2]
POLICY = ROOT / "reconciler" / "policy"


def _findings_of_every_world() -> list[Finding]:
    """Every finding of the table-driven worlds, plus the worlds the table does not hold
    (a standing emergency hold, a leaver before their offboarding moment)."""
    found: list[Finding] = []
    for case in CASES:
        desired, access, snap = world(case.people, statuses=case.statuses, **case.state)
        found += check_findings(desired, access, snap, NOW)
    desired, access, snap = world(
        [taro()],
        statuses={"e0042": PersonStatus.DEPARTED},
        ends_at={"e0042": NOW + timedelta(hours=3)},
        g_users=[g_user(TARO)],
    )
    found += check_findings(desired, access, snap, NOW)
    hold = EmergencyHold("e0042", NOW - timedelta(hours=1), NOW.date(), "run-1", "cto", TARO)
    desired, access, snap = world([taro()], statuses={"e0042": PersonStatus.DEPARTED})
    found += findings_of(StateViews.of(desired, access, snap, NOW, holds=(hold,)))
    return found


def test_every_catalogued_code_is_produced_and_every_finding_is_rated_by_the_catalogue() -> None:
    findings = _findings_of_every_world()
    assert {f.code for f in findings} == set(CATALOGUE)
    for f in findings:
        entry = CATALOGUE[f.code]
        ratings = {entry.rating(), *(entry.rating(v.name) for v in entry.variants)}
        assert (f.severity, f.article) in ratings, f
    # every variant is reached too, so none is dead text in the documentation
    seen = {(f.code, f.severity, f.article) for f in findings}
    for entry in CATALOGUE.values():
        for v in entry.variants:
            assert (entry.code, v.severity, v.article) in seen, (entry.code, v.name)


def _add_calls() -> list[tuple[str, ast.Call]]:
    calls = []
    for path in sorted(POLICY.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add"
            ):
                calls.append((path.name, node))
    return calls


def test_every_add_call_in_the_checks_names_a_catalogued_code_and_no_rating() -> None:
    calls = _add_calls()
    assert len(calls) > 20  # the scan sees the checks
    for name, call in calls:
        first = call.args[0]
        assert isinstance(first, ast.Constant) and isinstance(first.value, str), name
        assert first.value in CATALOGUE, (name, first.value)
        variant = next((k.value for k in call.keywords if k.arg == "variant"), None)
        names = {v.name for v in CATALOGUE[first.value].variants}
        for value in ast.walk(variant) if variant is not None else ():
            if isinstance(value, ast.Constant) and value.value is not None:
                assert value.value in names, (name, first.value, value.value)


def test_no_check_spells_a_severity_or_an_article() -> None:
    """Severity and article come from the catalogue only."""
    for path in sorted(POLICY.glob("*.py")):
        if path.name == "catalogue.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert "Severity" not in names, path.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        assert not re.fullmatch(r"第[\d.]+条\d*", arg.value), path.name


def test_an_uncatalogued_code_or_variant_is_refused() -> None:
    with pytest.raises(KeyError, match="not in the catalogue"):
        Findings().add("made-up-code", None, "x", "y")
    with pytest.raises(KeyError, match="no variant"):
        Findings().add("leaver-has-access", None, "x", "y", variant="made-up")


@pytest.mark.parametrize("code", list(CATALOGUE))
def test_each_entry_is_complete_in_both_languages(code: str) -> None:
    e = finding_type(code)
    articles = [e.article, *(v.article for v in e.variants)]
    assert all(re.fullmatch(r"第\d+\.\d+条\d*", a) for a in articles), articles
    japanese = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
    for text in (e.title_ja, e.explanation_ja, e.remediation_ja, *(v.when_ja for v in e.variants)):
        assert japanese.search(text), (code, text)
    for text in (e.title_en, e.explanation_en, e.remediation_en, *(v.when_en for v in e.variants)):
        assert text and not japanese.search(re.sub(r"第[\d.]+条\d*", "", text)), (code, text)


def _generated() -> str:
    _register_commands()
    result = CliRunner().invoke(app, ["findings", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    return result.output


def test_docs_findings_md_is_what_the_catalogue_generates() -> None:
    """Stale documentation fails here: run `make docs` after editing the catalogue."""
    doc = (ROOT / "docs" / "findings.md").read_text(encoding="utf-8")
    assert doc == _generated(), "docs/findings.md is stale: run `make docs`"


def test_every_catalogued_code_is_documented_with_its_severity_and_article() -> None:
    doc = (ROOT / "docs" / "findings.md").read_text(encoding="utf-8")
    for e in CATALOGUE.values():
        (row,) = [line for line in doc.splitlines() if line.startswith(f"| [`{e.code}`]")]
        cells = [c.strip() for c in row.split(" | ")]
        assert cells[1].startswith(e.severity.value), (e.code, cells)
        assert e.article in cells[2], (e.code, cells)
        for v in e.variants:
            assert v.severity.value in cells[1] and v.article in cells[2], (e.code, v.name)
        assert f"## `{e.code}`" in doc
        for text in (e.remediation_en, e.remediation_ja, e.explanation_ja):
            assert text in doc, e.code


def test_product_docs_and_catalogue_never_point_at_internal_design_or_the_policy_file() -> None:
    generated = _generated()
    for word in ("DESIGN", "../shared", "000_dcb7f46e262f88e9"):
        assert word not in generated
