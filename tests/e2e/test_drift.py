"""`reconciler drift` end to end: the real CLI, the real providers and client libraries against
the sandbox, the report history in the state store between runs, the formats, the languages
and the exit codes."""

from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import LEAVER, LEAVER_EMAIL, TZ, cli, setup, today

NEWCOMER_EMAIL = "hana.newcomer@example.co.jp"


def _at(hour: int, day_offset: int = 0) -> str:
    """An instant today (Tokyo) at `hour`: the scenario's leaver's access ended at 00:00."""
    return datetime.combine(today() + timedelta(days=day_offset), time(hour), TZ).isoformat()


def _drift_json(directory: Path, env: dict[str, str], at: str, *extra: str) -> dict[str, Any]:
    result = cli(["drift", "--dir", str(directory), "--at", at, "--format", "json", *extra], env)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_the_report_counts_the_drift_and_the_overdue_leaver_by_the_hour(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)

    report = _drift_json(directory, env, _at(9))

    (late,) = report["overdue_leavers"]
    assert (late["person_id"], late["email"], late["hours_overdue"]) == (LEAVER, LEAVER_EMAIL, 9.0)
    assert "an active Google account" in late["held"]
    codes = [f["code"] for f in report["findings"]]
    assert "leaver-has-access" in codes
    assert report["new"] and report["resolved"] == [] and report["previous_at"] is None
    assert {d["what"] for d in report["missing"]} >= {"create_account"}  # the newcomer


def test_a_second_report_says_what_is_new_resolved_and_still_open_through_the_history(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    first = _drift_json(directory, env, _at(9))
    assert "leaver-has-access" in {f["code"] for f in first["findings"]}

    applied = cli(["apply", "--dir", str(directory), "--confirm", "--at", _at(10)], env)
    assert applied.exit_code == 0, applied.output
    second = _drift_json(directory, env, _at(12))

    assert second["previous_at"] == datetime.fromisoformat(_at(9)).isoformat()
    resolved = {(r["code"], r["subject"]) for r in second["resolved"]}
    assert ("leaver-has-access", LEAVER_EMAIL) in resolved
    new = {tuple(k[:2]) for k in second["new"]}
    assert ("2sv-not-enrolled", NEWCOMER_EMAIL) in new  # the account apply created for her
    old = {(f["code"], f["subject"]): f for f in first["findings"]}
    for key in second["still_open"]:
        again = next(f for f in second["findings"] if [f["code"], f["subject"]] == key[:2])
        assert again["first_seen"] == old[(key[0], key[1])]["first_seen"]
        assert again["age_hours"] == 3.0  # 09:00 -> 12:00
    history = json.loads((tmp_path / "state" / "report-history.json").read_text())
    assert [e["generated_at"] for e in history["reports"]] == [
        datetime.fromisoformat(_at(9)).isoformat(),
        datetime.fromisoformat(_at(12)).isoformat(),
    ]


def test_the_embedded_demo_world_leaves_no_report_history(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    demo = {k: v for k, v in env.items() if k != "RECONCILER_SANDBOX_URL"}
    result = cli(["drift", "--dir", str(directory), "--sandbox", "--at", _at(9)], demo)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "state" / "report-history.json").exists()


def test_out_writes_json_markdown_and_one_self_contained_html_page(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    out = tmp_path / "reports"

    result = cli(["drift", "--dir", str(directory), "--at", _at(9), "--out", str(out)], env)

    assert result.exit_code == 0, result.output
    assert json.loads((out / "drift.json").read_text())["format"] == 1
    assert (out / "drift.md").read_text().startswith("## Drift report")
    page = (out / "drift.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page)
    assert links and all(link.startswith("#") for link in links), links
    assert not re.search(r"https?://", page.replace("http://www.w3.org/2000/svg", "")), (
        "no network: the page must not name any URL"
    )
    assert "<link" not in page and "@import" not in page
    for piece in ('id="f-severity"', 'id="f-system"', 'id="f-text"', "function sortBy"):
        assert piece in page
    assert "Hiragino Sans" in page and "Noto Sans CJK JP" in page
    # the leaver's row in the SLA table, with the hours, and a per-person section
    assert re.search(r"林 健二 \(e0010, kenji.leaver@example.co.jp\)</th><td[^>]*>[^<]+</td>"
                     r'<td class="num">9.0</td>', page)  # fmt: skip
    assert 'id="person-e0010"' in page


def test_html_escapes_what_it_shows(sandbox: SandboxServer, tmp_path: Path) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    organization = directory / "organization.yaml"
    text = organization.read_text().replace("name: Example", 'name: "<script>x()</script> Example"')
    organization.write_text(text)

    result = cli(["drift", "--dir", str(directory), "--at", _at(9), "--format", "html"], env)

    assert result.exit_code == 0, result.output
    assert "&lt;script&gt;x()&lt;/script&gt; Example" in result.stdout
    assert result.stdout.count("<script>") == 1  # the page's own script, nothing else


def test_lang_ja_shows_japanese_titles_headings_and_dates(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    at = datetime.combine(today(), time(9), TZ)

    result = cli(
        ["drift", "--dir", str(directory), "--at", at.isoformat(), "--format", "markdown",
         "--lang", "ja"], env,
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("## 差分レポート")
    assert "退職者にアクセス権限が残っている" in result.stdout  # the catalogue's Japanese title
    assert f"作成日時 {at.year}年{at.month}月{at.day}日 09:00" in result.stdout
    english = cli(
        ["drift", "--dir", str(directory), "--at", at.isoformat(), "--format", "markdown"], env
    )
    assert "A leaver still holds access" in english.stdout  # no language in the repo: English


def test_fail_on_exits_4_when_a_finding_at_or_above_the_severity_is_open(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    base = ["drift", "--dir", str(directory), "--at", _at(9)]

    critical = cli([*base, "--fail-on", "critical"], env)  # the leaver: critical
    assert critical.exit_code == 4, critical.output
    applied = cli(["apply", "--dir", str(directory), "--confirm", "--at", _at(10)], env)
    assert applied.exit_code == 0, applied.output
    later = ["drift", "--dir", str(directory), "--at", _at(11)]
    assert cli([*later, "--fail-on", "critical"], env).exit_code == 0
    assert cli(later, env).exit_code == 0  # without --fail-on findings never fail the run


def test_an_incomplete_read_exits_3(sandbox: SandboxServer, tmp_path: Path) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    sandbox.sandbox.add_fault(
        {"method": "POST", "path": "^/graphql$", "nth": 1, "status": 403,
         "body": {"message": "Resource not accessible by integration"}}
    )  # fmt: skip

    result = cli(["drift", "--dir", str(directory), "--at", _at(9), "--fail-on", "info"], env)

    assert result.exit_code == 3, result.output
    assert "read github: INCOMPLETE" in result.output


def test_bad_options_are_one_line_errors_that_read_nothing(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    for option, value, expected in (
        ("--fail-on", "severe", "--fail-on 'severe' is not a severity: use one of critical"),
        ("--lang", "fr", "--lang 'fr' is not a language: use one of ja, en"),
    ):
        sandbox.sandbox.telemetry.reset()
        result = cli(["drift", "--dir", str(directory), option, value], env)
        assert result.exit_code == 1, result.output
        assert result.output.startswith(f"error: {expected}")
        assert len(result.output.strip().splitlines()) == 1
        assert "Traceback" not in result.output
        assert not sandbox.sandbox.telemetry.api_calls  # refused before any read


def test_an_unreadable_history_stops_the_report_with_one_line(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    (tmp_path / "state").mkdir(parents=True, exist_ok=True)
    (tmp_path / "state" / "report-history.json").write_text('{"version": 99}')

    result = cli(["drift", "--dir", str(directory), "--at", _at(9)], env)

    assert result.exit_code == 1
    assert "report-history.json" in result.output and "fix or delete it" in result.output
