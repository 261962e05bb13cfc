"""`reconciler doctor` through the real CLI, the real client libraries and the sandbox: the
demo world (delegation, App, IAM all as the product needs) passes; a delegation missing a
scope, an App missing a permission, a resource missing a permission and an unwritable state
directory each fail, naming the item and its fix."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.demo.world import build_world
from reconciler.desired.loading import load_desired_dir
from reconciler.providers.permissions import ADMIN_SCOPES
from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import TZ, cli, cli_env

REPO_ROOT = Path(__file__).resolve().parents[2]
DESIRED = REPO_ROOT / "desired_state"
SECURITY = "https://www.googleapis.com/auth/admin.directory.user.security"
GROUP_MEMBER = "https://www.googleapis.com/auth/admin.directory.group.member"


def demo_world() -> dict[str, Any]:
    return build_world(load_desired_dir(DESIRED), datetime.now(TZ))[0]


def doctor(sandbox: SandboxServer, tmp_path: Path, world: dict[str, Any], **env: str) -> Any:
    sandbox.sandbox.load_world(world)
    return cli(["doctor", "--dir", str(DESIRED)], cli_env(sandbox, tmp_path) | env)


def test_the_demo_world_has_everything_the_reconciler_needs(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    result = doctor(sandbox, tmp_path, demo_world())

    assert result.exit_code == 0, result.output
    for scope in ADMIN_SCOPES:
        assert f"ok scope {scope.scope}: authorised" in result.stdout
    assert "ok admin subject automation-admin@example.co.jp: a super administrator" in (
        result.stdout
    )
    assert "ok token account example-reconciler-bot in example-co: an organisation owner" in (
        result.stdout
    )
    assert "ok projects/example-prod: all 5 permissions held" in result.stdout
    assert "ok state directory" in result.stdout
    assert not list((tmp_path / "state").glob("*.json"))  # the probe leaves nothing behind


def test_a_delegation_missing_a_scope_fails_naming_it_and_the_client_id(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = demo_world()
    world["google"]["delegation"]["scopes"].remove(SECURITY)

    result = doctor(sandbox, tmp_path, world)

    assert result.exit_code == 1, result.output
    assert f"MISSING scope {SECURITY}: token refused: unauthorized_client" in result.stdout
    assert (
        f"fix: authorise {SECURITY} for client id 100000000000000000001 in Admin console > "
        "Security > API controls > Domain-wide delegation"
    ) in result.stdout
    assert f"ok scope {GROUP_MEMBER}" in result.stdout  # the others still checked
    assert f"1 missing: google: scope {SECURITY}" in result.stderr
    assert "Traceback" not in result.output


def test_an_admin_subject_that_is_not_an_administrator_fails(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = demo_world()
    for user in world["google"]["users"]:
        if user["primaryEmail"] == "automation-admin@example.co.jp":
            user["isAdmin"] = False

    result = doctor(sandbox, tmp_path, world)

    assert result.exit_code == 1, result.output
    assert "MISSING admin subject automation-admin@example.co.jp: not an administrator" in (
        result.stdout
    )


def test_an_app_missing_a_permission_fails_naming_it(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = demo_world()
    installation = world["github"]["installation"]
    installation["permissions"]["members"] = "read"
    app_env = {
        "RECONCILER_GITHUB_APP_ID": str(installation["app_id"]),
        "RECONCILER_GITHUB_INSTALLATION_ID": str(installation["id"]),
    }

    result = doctor(sandbox, tmp_path, world, **app_env)

    assert result.exit_code == 1, result.output
    assert f"ok App reconciler installation on example-co: installation {installation['id']}" in (
        result.stdout
    )
    assert "MISSING App permission members: write: granted: read" in result.stdout
    assert "fix: give the App reconciler the permission members = write" in result.stdout
    assert "ok App permission organization_administration: read" in result.stdout


def test_a_resource_missing_a_permission_fails_naming_the_resource_and_permission(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = demo_world()
    prod = next(r for r in world["gcp"]["resources"] if r["name"] == "projects/example-prod")
    prod["caller_permissions"] = [
        "resourcemanager.projects.getIamPolicy",
        "iam.serviceAccounts.list",
        "iam.serviceAccountKeys.list",
        "iam.roles.list",
    ]

    result = doctor(sandbox, tmp_path, world)

    assert result.exit_code == 1, result.output
    assert "MISSING projects/example-prod resourcemanager.projects.setIamPolicy" in result.stdout
    assert "ok projects/example-stg: all 5 permissions held" in result.stdout
    assert "1 missing: gcp: projects/example-prod resourcemanager.projects.setIamPolicy" in (
        result.stderr
    )


def test_a_state_directory_that_cannot_be_written_fails(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    (tmp_path / "state").write_text("a file where the state directory should be\n")

    result = doctor(sandbox, tmp_path, demo_world())

    assert result.exit_code == 1, result.output
    assert "MISSING state directory: cannot write" in result.stdout
    assert "fix: make" in result.stdout
