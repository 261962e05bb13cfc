"""`reconciler plan` and `reconciler demo` through the CLI, against the embedded sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import _register_commands, app
from reconciler.execute import load_plan

_register_commands()
runner = CliRunner()
EXAMPLE = str(Path(__file__).resolve().parents[2] / "desired_state")
AT = "2026-11-25T21:00:00+09:00"  # after today's leaver's 18:00 offboarding time


@pytest.fixture(autouse=True)
def _no_sandbox_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RECONCILER_SANDBOX_URL", raising=False)
    monkeypatch.setenv("RECONCILER_STATE_DIR", str(tmp_path / "var"))


def test_plan_exits_2_when_changes_are_pending_and_saves_a_loadable_plan(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = runner.invoke(
        app,
        ["plan", "--dir", EXAMPLE, "--sandbox", "--at", AT, "--format", "json", "--out", str(out)],
    )
    assert result.exit_code == 2, result.output
    printed = json.loads(result.stdout)
    saved = load_plan(out)  # raises if the checksum does not match the content
    assert printed["checksum"] == saved.checksum
    assert any(a["offboarding"] for a in printed["plan"]["actions"])
    assert {f["article"] for f in printed["plan"]["findings"]} >= {"第5.2条3", "第5.1条"}


def test_plan_markdown_is_a_pull_request_comment() -> None:
    result = runner.invoke(
        app,
        ["plan", "--dir", EXAMPLE, "--sandbox", "--at", AT, "--format", "markdown", "--lang", "en"],
    )
    assert result.exit_code == 2, result.output
    assert result.stdout.startswith("## Access plan")
    assert "### Changes" in result.stdout
    assert "| critical | 第5.2条3 | `leaver-has-access`" in result.stdout


def test_plan_speaks_the_language_organization_yaml_names() -> None:
    """The example company says `language: ja`: headings, columns and the summary line are
    Japanese without --lang; the codes, articles and JSON stay as they are."""
    for args in ([], ["--format", "markdown"]):
        result = runner.invoke(app, ["plan", "--dir", EXAMPLE, "--sandbox", "--at", AT, *args])
        assert result.exit_code == 2, result.output
        assert "指摘事項" in result.stdout and "重大度" in result.stdout
        assert "Findings" not in result.stdout and "severity" not in result.stdout
    markdown = runner.invoke(
        app, ["plan", "--dir", EXAMPLE, "--sandbox", "--at", AT, "--format", "markdown"]
    ).stdout
    assert markdown.startswith("## アクセス権限の変更プラン")
    assert "| critical | 第5.2条3 | `leaver-has-access`" in markdown


def test_apply_dry_run_speaks_the_chosen_language() -> None:
    result = runner.invoke(
        app, ["apply", "--dir", EXAMPLE, "--sandbox", "--at", AT, "--lang", "ja"]
    )
    assert "変更内容" in result.stdout and "理由" in result.stdout, result.output
    assert "ドライラン:" in result.stdout and "何も変更していません" in result.stdout  # the summary
    english = runner.invoke(
        app, ["apply", "--dir", EXAMPLE, "--sandbox", "--at", AT, "--lang", "en"]
    )
    assert "change" in english.stdout and "変更内容" not in english.stdout
    assert "would be applied; nothing was changed" in english.stdout


def test_plan_reports_a_validation_error_with_file_and_line_and_reads_nothing(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    (repo / "people").mkdir(parents=True)
    for name in ("organization.yaml", "roles.yaml"):
        (repo / name).write_text((Path(EXAMPLE) / name).read_text())
    (repo / "people" / "e9999.yaml").write_text(
        "id: e9999\nname: 試験 太郎\nemail: test.taro@example.co.jp\n"
        "employment: {type: employee, start: 2026-01-01}\nroles: [enginer]\n"
    )
    result = runner.invoke(app, ["plan", "--dir", str(repo), "--sandbox"])
    assert result.exit_code == 1
    assert "people/e9999.yaml:5" in result.output
    assert "enginer" in result.output


def test_demo_shows_the_drift_the_plan_and_exits_0() -> None:
    result = runner.invoke(app, ["demo", "--dir", EXAMPLE])
    assert result.exit_code == 0, result.output
    for expected in (
        "reconciler demo",
        "read google: complete",
        "leaver-has-access",
        "変更",  # the example company's language (organization.yaml `language: ja`)
        "指摘事項",
    ):
        assert expected in result.stdout
