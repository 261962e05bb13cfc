"""Bad input reaches the user as one `error:` line naming the input and what to do, with exit
code 1, never a traceback: through the real CLI (typer's CliRunner, exceptions caught the way
a terminal would show them) and, where the sandbox is involved, the real clients."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from reconciler.cli import _register_commands, app
from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import setup

_register_commands()
runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
PERSON = "e0010"  # any person of the example repo


@pytest.fixture(autouse=True)
def _state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECONCILER_STATE_DIR", str(tmp_path / "var"))


def run(args: list[str], env: dict[str, str] | None = None) -> Result:
    """The CLI as a user runs it: an uncaught exception would print a traceback, so the
    runner catches it and the assertions below see it as `result.exception`."""
    return runner.invoke(app, args, env=env)


def assert_one_line_error(result: Result, *expected: str) -> str:
    """Exit 1, no traceback, and an `error:` line holding every expected fragment."""
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.output
    for fragment in expected:
        assert fragment in lines[0], result.output
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else is listening on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


# -- --at ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [["plan"], ["apply"], ["offboard", PERSON, "--now"]],
    ids=["plan", "apply", "offboard"],
)
@pytest.mark.parametrize(
    ("value", "says"),
    [("garbage", "is not a date and time"), ("2026-12-01T09:00", "has no timezone")],
    ids=["garbage", "no-zone"],
)
def test_a_bad_at_instant_is_one_line_naming_the_value_and_the_form_to_write(
    command: list[str], value: str, says: str
) -> None:
    result = run([*command, "--dir", str(EXAMPLE), "--at", value])

    assert_one_line_error(result, f"--at '{value}'", says, "e.g. 2026-12-01T09:00+09:00")


# -- apply --plan ----------------------------------------------------------------------------
def test_a_missing_plan_file_is_refused_before_anything_is_read(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    missing = tmp_path / "missing.json"

    result = run(["apply", "--dir", str(directory), "--plan", str(missing)], env)

    assert_one_line_error(result, f"--plan {missing}: no such file", "reconciler plan --out")
    assert sandbox.sandbox.telemetry.log == []


def test_a_plan_file_that_is_not_json_is_refused_before_anything_is_read(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    broken = tmp_path / "plan.json"
    broken.write_text("actions:\n  - nope\n", encoding="utf-8")

    result = run(["apply", "--dir", str(directory), "--plan", str(broken), "--confirm"], env)

    assert_one_line_error(result, f"--plan {broken}", "not JSON (line 1 column 1)")
    assert sandbox.sandbox.telemetry.log == []


# -- sandbox ---------------------------------------------------------------------------------
def test_the_sandbox_on_a_busy_http_port_says_so_and_how_to_pick_another(
    busy_port: int,
) -> None:
    result = run(["sandbox", "--dir", str(EXAMPLE), "--port", str(busy_port)])

    assert_one_line_error(result, f"127.0.0.1:{busy_port} (HTTP)", "in use", "--port")


def test_the_sandbox_on_a_busy_grpc_port_says_so_and_how_to_pick_another(
    busy_port: int,
) -> None:
    result = run(["sandbox", "--dir", str(EXAMPLE), "--port", "0", "--grpc-port", str(busy_port)])

    assert_one_line_error(result, f"127.0.0.1:{busy_port} (IAM gRPC)", "in use", "--grpc-port")


def test_a_missing_world_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "world.json"

    result = run(["sandbox", "--world", str(missing), "--port", "0"])

    assert_one_line_error(result, f"--world {missing}: no such world file")


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("world.json", '{"gcp": {"resources": [}', "not valid JSON at line 1 column 24"),
        ("world.yaml", "gcp:\n  resources: [\n", "not valid YAML at line 3"),
    ],
    ids=["json", "yaml"],
)
def test_a_world_file_that_does_not_parse_is_named_with_its_position(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")

    result = run(["sandbox", "--world", str(path), "--port", "0"])

    assert_one_line_error(result, f"--world {path}: {says}")


def test_a_world_breaking_the_schemas_is_refused_naming_the_json_path_of_each_problem(
    tmp_path: Path,
) -> None:
    path = tmp_path / "world.json"
    world = {
        "gcp": {"resources": [{"name": "projects/example-prod"}, {"name": "project/typo"}]},
        "github": {
            "org": {"login": "example-co", "id": 9000001},
            "members": [{"role": "member"}],
        },
        "gogle": {},
    }
    path.write_text(json.dumps(world), encoding="utf-8")

    result = run(["sandbox", "--world", str(path), "--port", "0"])

    line = assert_one_line_error(result, f"--world {path} breaks the world schema")
    assert "$.gcp.resources[1].name: 'project/typo' does not match" in line
    assert "$.github.members[0]: 'login' is a required property" in line
    assert "$.gogle: unknown section" in line


def test_the_control_api_refuses_a_world_breaking_the_schemas(sandbox: SandboxServer) -> None:
    import requests

    bad = {"gcp": {"service_accounts": [{"project": "example-prod"}]}}

    answer = requests.post(f"{sandbox.url}/_sandbox/reset", json={"world": bad}, timeout=10)

    assert answer.status_code == 400
    assert answer.json()["problems"][0] == (
        "$.gcp.service_accounts[0]: 'email' is a required property"
    )


# -- Google 403 ------------------------------------------------------------------------------
def test_a_google_403_names_the_delegation_scope_the_call_needs(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    forbidden = {
        "error": {
            "code": 403,
            "message": "Not Authorized to access this resource/api",
            "status": "PERMISSION_DENIED",
            "errors": [{"message": "Not Authorized", "domain": "global", "reason": "forbidden"}],
        }
    }
    sandbox.sandbox.add_fault(
        {
            "method": "GET",
            "path": "^/admin/directory/v1/users$",
            "every": True,
            "status": 403,
            "body": forbidden,
        }
    )

    result = run(["plan", "--dir", str(directory)], env)

    assert "Traceback" not in result.output
    assert result.exit_code == 3, result.output  # partial: the Google read was incomplete
    read_line = next(line for line in result.output.splitlines() if "read google" in line)
    assert "INCOMPLETE" in read_line
    assert "users.list: HTTP 403 forbidden: forbidden; the domain-wide delegation" in read_line
    assert "must grant https://www.googleapis.com/auth/admin.directory.user " in read_line
    assert "Admin console > Security > API controls > Domain-wide delegation" in read_line
