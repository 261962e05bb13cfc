"""The container image's install, reproduced without a container engine: the locked
production dependencies only (`uv sync --frozen --no-dev --no-editable`, as
deploy/Dockerfile runs it) into a fresh copy of the project, then the installed command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
INSTALL = ["sync", "--frozen", "--no-dev", "--no-editable"]


def _uv() -> str:
    """uv as `make` finds it: on PATH, else the private copy `make` installs in .tools/."""
    found = shutil.which("uv") or (ROOT / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        pytest.fail("uv not found: run `make setup`, which installs it")
    return str(found)


def test_the_dockerfile_installs_the_locked_production_set_and_serves_on_port() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    runs = re.findall(r"^RUN uv (.+)$", text, flags=re.MULTILINE)
    assert runs, "the Dockerfile installs nothing with uv"
    for run in runs:
        words = run.split()
        assert words[0] == "sync", f"not the locked production install: uv {run}"
        assert set(INSTALL) <= set(words), f"not the locked production install: uv {run}"
    assert re.search(r"^USER 10001", text, flags=re.MULTILINE), "the image must not run as root"
    cmd = re.findall(r"^CMD (.+)$", text, flags=re.MULTILINE)
    serve = 'exec reconciler serve --host 0.0.0.0 --port \\"${PORT:-8080}\\"'
    assert cmd == [f'["sh", "-c", "{serve}"]']
    assert "FROM python:3.11-slim" in text


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean production install: the files the Dockerfile copies, nothing else."""
    project = tmp_path_factory.mktemp("image") / "app"
    project.mkdir()
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy2(ROOT / name, project / name)
    shutil.copytree(
        ROOT / "reconciler", project / "reconciler", ignore=shutil.ignore_patterns("__pycache__")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    done = subprocess.run(
        [_uv(), *INSTALL, "--quiet", "--python", shutil.which("python3") or "python3"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return project / ".venv" / "bin"


def _run(bin_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    return subprocess.run(
        [str(bin_dir / "reconciler"), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


# The install itself (module fixture) runs inside the first test: uv copies ~100 packages,
# which on a loaded 2-core machine can take longer than the suite's default timeout.
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_clean_production_install_runs_version_and_help(installed: Path) -> None:
    version = _run(installed, "--version")
    assert version.returncode == 0, version.stderr
    assert re.fullmatch(r"reconciler \d+\.\d+\.\d+\S*\n", version.stdout), version.stdout
    shown = _run(installed, "--help")
    assert shown.returncode == 0, shown.stderr
    commands = set(re.findall(r"^│ (\w+) ", shown.stdout, flags=re.MULTILINE))
    assert {"validate", "plan", "apply", "offboard", "audit"} <= commands, shown.stdout
    # Every command the image offers starts (imports resolve without the dev tools):
    # `serve` too, once the daemon's command exists.
    for command in sorted(commands):
        helped = _run(installed, command, "--help")
        assert helped.returncode == 0, f"{command} --help: {helped.stderr}"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_production_install_has_no_dev_tools_and_no_sandbox_dependency(
    installed: Path,
) -> None:
    for tool in ("pytest", "ruff", "mypy", "lint-imports", "actionlint"):
        assert not (installed / tool).exists(), f"{tool} is in the production install"
    probe = subprocess.run(
        [
            str(installed / "python"),
            "-c",
            "import importlib.util as u; print(u.find_spec('graphql'))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.stdout.strip() == "None", "graphql-core (the sandbox's) is installed"
    # Asking for the sandbox there is one clear line, not a failure at the first request.
    refused = _run(installed, "sandbox", "--port", "0")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "error: the sandbox is not installed here (production install without the 'sandbox' "
        "extra): install reconciler[sandbox] to run it"
    ]
