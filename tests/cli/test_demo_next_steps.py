"""`--version`, `-h`, and the `Next:` hint `make run` prints: every line of it works as printed.

The hint's commands run through typer's CliRunner against the session sandbox loaded with
the demo world (what `reconciler sandbox &` would serve), with the printed environment."""

from __future__ import annotations

import shlex
import shutil
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import _register_commands, app
from reconciler.cli.common import load, now
from reconciler.demo.world import build_world
from reconciler.sandbox.server import SandboxServer

_register_commands()
runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def test_version_names_the_installed_package() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"reconciler {version('reconciler')}\n"


@pytest.mark.parametrize("argv", [["-h"], ["plan", "-h"], ["audit", "verify", "-h"]])
def test_dash_h_is_help_for_the_app_and_every_command(argv: list[str]) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "Usage: reconciler" in result.stdout
    assert result.stdout == runner.invoke(app, [*argv[:-1], "--help"]).stdout


def _printed_next_steps() -> list[str]:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Next:"))
    steps = [line.strip() for line in lines[start + 1 :] if line.strip()]
    assert steps, "the demo printed no next steps"
    return steps


def test_every_command_the_demo_suggests_works_as_printed(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # From a copy of the repository root, as after `make run`, so `var` lands in tmp_path.
    shutil.copytree(ROOT / "desired_state", tmp_path / "desired_state")
    monkeypatch.chdir(tmp_path)
    steps = _printed_next_steps()
    exits: dict[str, int] = {}
    for line in steps:
        argv = shlex.split(line)
        if argv[0] == "export":
            for assignment in argv[1:]:
                name, value = assignment.split("=", 1)
                if name == "RECONCILER_SANDBOX_URL":
                    assert value == "http://127.0.0.1:8900"  # `reconciler sandbox`'s default
                    value = sandbox.url
                monkeypatch.setenv(name, value)
            continue
        assert argv[0] == ".venv/bin/reconciler", line
        assert (ROOT / argv[0]).exists(), f"{argv[0]} is not where make installs it"
        if argv[-1] == "&":  # the emulator in the background: parse it, serve its world here
            parsed = runner.invoke(app, [*argv[1:-1], "--help"])
            assert parsed.exit_code == 0, parsed.output
            world, _ = build_world(load(Path("desired_state")), now())
            sandbox.sandbox.load_world(world)
            continue
        result = runner.invoke(app, argv[1:])
        exits[" ".join(argv[1:])] = result.exit_code
    # plan: changes pending (2); apply --confirm: applied (0 clean, 3 if something was kept
    # back by a rule at this hour; never 1 = could not run, 2 = refused); the chain verifies.
    assert exits.keys() == {"plan", "apply --confirm", "audit verify"}, exits
    assert exits["plan"] == 2, exits
    assert exits["apply --confirm"] in {0, 3}, exits
    assert exits["audit verify"] == 0, exits
    assert (tmp_path / "var" / "audit.jsonl").exists()


def test_the_demo_shows_the_plan_in_the_organisations_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example company writes `language: ja`: `make run` shows the plan as `plan` does,
    with its findings' details in Japanese, not the English kept for logs."""
    shutil.copytree(ROOT / "desired_state", tmp_path / "desired_state")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "退職者" in result.stdout, result.stdout[-3000:]
    assert "has left but still holds" not in result.stdout
    assert "本人のロールで付与" in result.stdout  # a fixed action reason, from the catalogue
    assert "granted by the person's roles" not in result.stdout
