"""`reconciler doctor` through the real CLI, the real client libraries and the sandbox: the
demo world (delegation, App, IAM all as the product needs) passes; a delegation missing a
scope, an App missing a permission, a resource missing a permission and an unwritable state
directory each fail, naming the item and its fix."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from reconciler.demo.world import build_world
from reconciler.desired.loading import load_desired_dir
from reconciler.providers.google_auth import throwaway_private_key_pem
from reconciler.providers.permissions import ADMIN_SCOPES
from reconciler.sandbox.server import SandboxServer
from reconciler.state.gcs import storage_client
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


# -- the state store on Cloud Storage ---------------------------------------------------------

STATE_URL = "gs://example-reconciler-state/prod"
AUDIT_URL = "gs://example-reconciler-audit/prod"
GCS = {"RECONCILER_STATE_URL": STATE_URL, "RECONCILER_AUDIT_URL": AUDIT_URL}


def _bucket(world: dict[str, Any], name: str) -> dict[str, Any]:
    bucket: dict[str, Any] = next(b for b in world["storage"]["buckets"] if b["name"] == name)
    return bucket


def test_a_gcs_state_store_as_terraform_makes_it_passes(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    result = doctor(sandbox, tmp_path, demo_world(), **GCS)

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"ok state bucket {STATE_URL}: a probe object written, read back and deleted" in out
    assert (
        f"ok state bucket {STATE_URL} generation precondition: ifGenerationMatch=0 on an "
        "existing object refused (412)"
    ) in out
    assert "ok state bucket gs://example-reconciler-state permissions: all 4 needed held" in out
    assert (
        "ok audit bucket gs://example-reconciler-audit retention policy: 2555 days since"
    ) in out
    assert "not locked" in out
    assert "ok audit bucket gs://example-reconciler-audit storage.objects.delete: not held" in out
    client = storage_client(sandbox.url)  # the probe leaves nothing behind
    assert [b.name for b in client.list_blobs("example-reconciler-state")] == []
    assert [b.name for b in client.list_blobs("example-reconciler-audit")] == []
    probes = [
        r
        for r in sandbox.sandbox.telemetry.log
        if r.endpoint == "storage.objects.insert" and r.query.get("ifGenerationMatch") == ["0"]
    ]
    assert [r.status for r in probes] == [200, 412]


def test_an_audit_bucket_without_retention_fails_naming_the_fix(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = demo_world()
    del _bucket(world, "example-reconciler-audit")["retention_period"]

    result = doctor(sandbox, tmp_path, world, **GCS)

    assert result.exit_code == 1, result.output
    assert (
        "MISSING audit bucket gs://example-reconciler-audit retention policy: none: an audit "
        "segment could be deleted or replaced"
    ) in result.stdout
    assert (
        "fix: gcloud storage buckets update gs://example-reconciler-audit --retention-period=2557d"
    ) in result.stdout
    assert "1 missing: state: audit bucket gs://example-reconciler-audit retention policy" in (
        result.stderr
    )


def test_a_locked_retention_policy_is_reported_as_locked(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = demo_world()
    _bucket(world, "example-reconciler-audit")["retention_locked"] = True

    result = doctor(sandbox, tmp_path, world, **GCS)

    assert result.exit_code == 0, result.output
    assert "locked by Bucket Lock" in result.stdout


def test_a_runtime_that_could_delete_audit_segments_fails(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = demo_world()
    _bucket(world, "example-reconciler-audit")["caller_permissions"].append(
        "storage.objects.delete"
    )

    result = doctor(sandbox, tmp_path, world, **GCS)

    assert result.exit_code == 1, result.output
    assert (
        "MISSING audit bucket gs://example-reconciler-audit storage.objects.delete: held: the "
        "runtime identity could delete audit segments"
    ) in result.stdout
    assert "remove every role with storage.objects.delete" in result.stdout


def test_audit_segments_in_the_state_bucket_fail_for_want_of_retention(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    result = doctor(sandbox, tmp_path, demo_world(), RECONCILER_STATE_URL=STATE_URL)

    assert result.exit_code == 1, result.output
    assert "share the state bucket, which cannot carry a retention policy" in result.stdout
    assert "fix: set RECONCILER_AUDIT_URL to a bucket of their own" in result.stdout


def test_a_state_bucket_with_a_retention_policy_fails_naming_it(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = demo_world()
    _bucket(world, "example-reconciler-state")["retention_period"] = 3600

    result = doctor(sandbox, tmp_path, world, **GCS)

    assert result.exit_code == 1, result.output
    assert f"MISSING state bucket {STATE_URL}: wrote gs://example-reconciler-state/prod/" in (
        result.stdout
    )
    assert "retention policy" in result.stdout
    assert "fix: remove the retention policy of gs://example-reconciler-state" in result.stdout


# -- the GitHub App ---------------------------------------------------------------------------


def _app_world(*, key: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The demo world with its App's public key: the one doctor signs with against the
    sandbox (this process's throwaway key) unless `key` says another."""
    world = demo_world()
    installation = world["github"]["installation"]
    private = serialization.load_pem_private_key(
        (key or throwaway_private_key_pem()).encode(), password=None
    )
    installation["public_key"] = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    env = {
        "RECONCILER_GITHUB_APP_ID": str(installation["app_id"]),
        "RECONCILER_GITHUB_INSTALLATION_ID": str(installation["id"]),
    }
    return world, env


def test_an_app_whose_key_signs_its_jwts_mints_an_installation_token(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    world, env = _app_world()

    result = doctor(sandbox, tmp_path, world, **env)

    assert result.exit_code == 0, result.output
    installation = world["github"]["installation"]
    assert f"ok installation token for installation {installation['id']}: minted, expires" in (
        result.stdout
    )
    assert "members=write" in result.stdout
    log = sandbox.sandbox.telemetry.log
    minted = [r for r in log if r.endpoint == "github.apps.create_installation_access_token"]
    assert [r.status for r in minted] == [201]
    token = next(iter(sandbox.sandbox.world["github"]["token_permissions"]))
    assert token not in result.output  # the token itself is never shown


def test_an_installation_id_that_does_not_exist_is_named_with_its_fix(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    world, env = _app_world()
    actual = world["github"]["installation"]["id"]
    env["RECONCILER_GITHUB_INSTALLATION_ID"] = "4049999"

    result = doctor(sandbox, tmp_path, world, **env)

    assert result.exit_code == 1, result.output
    assert (
        "MISSING installation token for installation 4049999: cannot be minted: GitHub answered 404"
    ) in result.stdout
    assert f"fix: set RECONCILER_GITHUB_INSTALLATION_ID={actual}" in result.stdout
    assert "Traceback" not in result.output


def test_a_key_that_is_not_the_apps_is_named(sandbox: SandboxServer, tmp_path: Path) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    world, env = _app_world(
        key=other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )

    result = doctor(sandbox, tmp_path, world, **env)

    assert result.exit_code == 1, result.output
    app_id = env["RECONCILER_GITHUB_APP_ID"]
    assert (
        f"MISSING App {app_id} installation on example-co: GitHub answered 401: A JSON web "
        "token could not be decoded"
    ) in result.stdout
    assert (
        f"fix: the private key in RECONCILER_GITHUB_PRIVATE_KEY_SECRET is not a key of App {app_id}"
    ) in result.stdout
    assert "BEGIN PRIVATE KEY" not in result.output


def test_a_wrong_app_id_is_named(sandbox: SandboxServer, tmp_path: Path) -> None:
    world, env = _app_world()
    env["RECONCILER_GITHUB_APP_ID"] = "999001"

    result = doctor(sandbox, tmp_path, world, **env)

    assert result.exit_code == 1, result.output
    assert "MISSING App 999001 installation on example-co: GitHub answered 401" in result.stdout
    assert "check RECONCILER_GITHUB_APP_ID" in result.stdout
