"""`reconciler validate | schema | explain` through typer's CliRunner, on real directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import reconciler.cli.commands_desired  # noqa: F401 - registers the commands on `app`
from reconciler.cli import app
from reconciler.desired.formats import json_schema_text
from reconciler.desired.problems import DesiredStateError
from tests.desired.repos import repo

EXAMPLE = str(Path(__file__).resolve().parents[2] / "desired_state")
runner = CliRunner()


def write_repo(root: Path, files: dict[str, bytes]) -> Path:
    for name, raw in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(raw)
    return root


def test_validate_prints_a_summary_and_exits_0_for_the_example() -> None:
    result = runner.invoke(app, ["validate", EXAMPLE])
    assert result.exit_code == 0, result.output
    assert result.output == "valid: 31 people, 12 roles\n"


def test_validate_prints_each_error_as_file_line_column_and_exits_1(tmp_path: Path) -> None:
    bad = repo({"people/e0003.yaml": Path(EXAMPLE, "people/e0010.yaml").read_bytes()})
    bad["people/e0003.yaml"] = (
        bad["people/e0003.yaml"]
        .replace(b"id: e0010", b"id: e0003")
        .replace(b"[engineer-backend]", b"[engineer, enginer]")
    )
    root = write_repo(tmp_path / "ds", bad)
    result = runner.invoke(app, ["validate", str(root)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    expected = "roles[1]: unknown role 'enginer' (did you mean 'engineer'?)"
    assert f"{root}/people/e0003.yaml:15:19: {expected}" in lines
    assert lines[-1] == "invalid: 1 error(s)"


def test_validate_json_lists_errors_with_positions(tmp_path: Path) -> None:
    root = write_repo(tmp_path, repo({"roles.yaml": None}))
    result = runner.invoke(app, ["validate", str(tmp_path), "--format", "json"])
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["valid"] is False
    assert body["errors"] == [
        {
            "file": f"{root}/roles.yaml",
            "line": 1,
            "column": 1,
            "field": "",
            "message": "file is missing",
        }
    ]
    ok = runner.invoke(app, ["validate", EXAMPLE, "--format", "json", "--commit", "abc"])
    assert json.loads(ok.stdout) == {
        "valid": True,
        "people": 31,
        "roles": 12,
        "commit": "abc",
        "errors": [],
    }


def test_validate_github_prints_one_annotation_per_error_relative_to_the_repo_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = repo({"people/e0003.yaml": Path(EXAMPLE, "people/e0010.yaml").read_bytes()})
    bad["people/e0003.yaml"] = (
        bad["people/e0003.yaml"]
        .replace(b"id: e0010", b"id: e0003")
        .replace(b"[engineer-backend]", b"[engineer, enginer]")
    )
    write_repo(tmp_path / "ds", bad)
    monkeypatch.chdir(tmp_path)  # a workflow runs from the checked-out repo's root
    result = runner.invoke(app, ["validate", str(tmp_path / "ds"), "--format", "github"])
    assert result.exit_code == 1
    # `:` and `,` in a property and newlines in the message are escaped (%3A, %2C, %0A), so
    # an error text cannot close the annotation early or start another workflow command.
    assert result.stdout.splitlines() == [
        "::error file=ds/people/e0003.yaml,line=15,col=19,title=roles[1]::"
        "unknown role 'enginer' (did you mean 'engineer'?)"
    ]
    assert result.stderr.splitlines() == ["invalid: 1 error(s)"]


def test_a_github_annotation_escapes_what_would_end_or_inject_a_workflow_command() -> None:
    error = DesiredStateError("people/a,b.yaml", 2, 3, "x: y", "bad\n::error::100%")
    assert error.github_annotation("ds/people/a,b.yaml") == (
        "::error file=ds/people/a%2Cb.yaml,line=2,col=3,title=x%3A y::bad%0A::error::100%25"
    )


def test_validate_names_every_person_file_it_would_have_skipped(tmp_path: Path) -> None:
    # Before: these three files were not read, `validate` said "valid: 3 people" and the plan
    # removed the three people's access.
    other = repo()["people/e0003.yaml"].replace(b"e0003", b"e0004")
    root = write_repo(
        tmp_path / "ds",
        repo(
            {
                "people/sales/e0004.yaml": other,
                "people/e0005.YAML": other,
                "people/e0006.yml": other,
                "README.md": "ignored, as documented",
            }
        ),
    )
    result = runner.invoke(app, ["validate", str(root)])
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        f"{root}/people/e0005.YAML:1:1: person files end in lower-case '.yaml' (rename it "
        "people/e0005.yaml)",
        f"{root}/people/e0006.yml:1:1: person files end in lower-case '.yaml' (rename it "
        "people/e0006.yaml)",
        f"{root}/people/sales/e0004.yaml:1:1: person files go directly in people/ "
        "(people/e0004.yaml); subfolders are not read",
    ]
    assert "invalid: 3 error(s)" in result.stderr
    assert "Traceback" not in result.output


def test_schema_prints_and_writes_the_generated_schema(tmp_path: Path) -> None:
    printed = runner.invoke(app, ["schema"])
    assert printed.exit_code == 0 and printed.stdout == json_schema_text()
    out = tmp_path / "schema.json"
    written = runner.invoke(app, ["schema", "--out", str(out)])
    assert written.exit_code == 0 and out.read_text(encoding="utf-8") == json_schema_text()


def test_explain_by_login_shows_the_approved_time_boxed_grant() -> None:
    result = runner.invoke(
        app,
        ["explain", "dnakamura", "--date", "2026-12-15", "--dir", EXAMPLE],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "中村 大輔 (e0013, daisuke.nakamura@example.co.jp) on 2026-12-15" in result.output
    assert "status: active" in result.output
    assert "grant prod-debug, approved by e0002, until 2026-12-15" in result.output
    assert "[privileged]" in result.output
    assert "roles/container.developer" in result.output
    next_day = runner.invoke(
        app,
        ["explain", "dnakamura", "--date", "2026-12-16", "--dir", EXAMPLE],
        env={"COLUMNS": "200"},
    )
    assert "prod-debug" not in next_day.output and "role engineer-backend" in next_day.output


def test_explain_by_email_shows_a_leaver_holds_nothing_after_the_last_day() -> None:
    args = ["explain", "mizuki.matsumoto@example.co.jp", "--dir", EXAMPLE, "--date"]
    last_day = runner.invoke(app, [*args, "2026-11-25"], env={"COLUMNS": "200"})
    assert "status: active" in last_day.output
    assert "access ends 2026-11-25 18:00 JST" in last_day.output
    after = runner.invoke(app, [*args, "2026-11-26"], env={"COLUMNS": "200"})
    assert after.exit_code == 0
    assert "status: departed" in after.output and "holds no access in any system" in after.output


def test_explain_unknown_person_or_bad_date_exits_2() -> None:
    assert runner.invoke(app, ["explain", "nobody", "--dir", EXAMPLE]).exit_code == 2
    assert (
        runner.invoke(app, ["explain", "e0010", "--dir", EXAMPLE, "--date", "2026-02-30"]).exit_code
        == 2
    )
