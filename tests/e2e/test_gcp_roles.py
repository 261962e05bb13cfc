"""GCP role names in roles.yaml: `validate` checks their form, `plan` and `apply` check that IAM
has them (ListRoles through google-cloud-iam against the sandbox) before anything is read or
changed, and refuse a typo at its roles.yaml line with the closest real role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import access_state, audit_path, cli, setup, state, writes

SRE_PROD = "    - {resource: projects/example-prod, role: roles/viewer}"
PROD_ROLE = "projects/example-prod/roles/deployReader"
ORG_ROLE = "organizations/123456789012/roles/auditViewer"


def _set_sre_prod_role(directory: Path, role: str) -> int:
    """Make the sre role grant `role` on prod; returns the line of roles.yaml naming it."""
    path = directory / "roles.yaml"
    text = path.read_text(encoding="utf-8")
    assert SRE_PROD in text
    path.write_text(text.replace(SRE_PROD, SRE_PROD.replace("roles/viewer", role)), "utf-8")
    return text.splitlines().index(SRE_PROD) + 1


def _iam_calls(sandbox: SandboxServer) -> list[str]:
    return [r.endpoint for r in sandbox.sandbox.telemetry.log if r.endpoint.startswith("iam.")]


def _add_custom_roles(sandbox: SandboxServer, roles: dict[str, dict[str, Any]]) -> None:
    world = state(sandbox)
    world["gcp"]["roles"] = roles
    sandbox.sandbox.load_world(world)
    sandbox.sandbox.telemetry.reset()


def test_a_well_formed_typo_passes_validate_but_plan_and_apply_refuse_it_at_its_line(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    line = _set_sre_prod_role(directory, "roles/loging.viewer")
    before = access_state(state(sandbox))
    where = f"{directory.as_posix()}/roles.yaml:{line}:"
    says = (
        "sre.gcp[0].role: unknown GCP role 'roles/loging.viewer': IAM has no such role among "
        "the predefined roles (did you mean 'roles/logging.viewer'?)"
    )

    validated = cli(["validate", str(directory)], env)
    planned = cli(["plan", "--dir", str(directory)], env)
    applied = cli(["apply", "--dir", str(directory), "--confirm"], env)

    assert validated.exit_code == 0, validated.output
    for result in (planned, applied):
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        errors = [e for e in result.output.splitlines() if e.startswith("error: ")]
        assert len(errors) == 1, result.output
        assert errors[0].startswith(f"error: {where}"), result.output
        assert errors[0].endswith(says), result.output
        assert "read gcp" not in result.output  # refused before anything was read
    assert writes(sandbox) == []
    assert access_state(state(sandbox)) == before
    assert not audit_path(tmp_path).exists()
    # One ListRoles page of the predefined roles per run, nothing else of IAM.
    assert _iam_calls(sandbox) == ["iam.ListRoles", "iam.ListRoles"]


def test_a_malformed_role_name_fails_validate_at_its_line(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    line = _set_sre_prod_role(directory, "logging.viewer")

    result = cli(["validate", str(directory)], env)

    assert result.exit_code == 1, result.output
    assert f"{directory.as_posix()}/roles.yaml:{line}:" in result.output
    assert "sre.gcp[0].role: malformed GCP role 'logging.viewer' (expected roles/NAME" in (
        result.output
    )


def test_custom_roles_of_the_project_and_the_organization_are_accepted(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    roles = directory / "roles.yaml"
    roles.write_text(
        roles.read_text(encoding="utf-8").replace(
            SRE_PROD,
            f"    - {{resource: projects/example-prod, role: {PROD_ROLE}}}\n"
            f"    - {{resource: organizations/123456789012, role: {ORG_ROLE}}}",
        ),
        encoding="utf-8",
    )
    _add_custom_roles(
        sandbox,
        {
            PROD_ROLE: {"title": "Deploy reader", "included_permissions": ["run.services.get"]},
            ORG_ROLE: {"title": "Audit viewer", "stage": "BETA"},
        },
    )

    result = cli(["plan", "--dir", str(directory)], env)

    assert result.exit_code == 2, result.output  # changes pending: the role check passed
    assert "error:" not in result.output
    assert "read gcp: complete" in result.output
    # The predefined roles and each custom-role parent: one ListRoles page each.
    assert _iam_calls(sandbox)[:3] == ["iam.ListRoles"] * 3
    assert "iam.ListRoles" not in _iam_calls(sandbox)[3:]


def test_a_deleted_custom_role_is_refused_like_an_unknown_one(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    line = _set_sre_prod_role(directory, PROD_ROLE)
    _add_custom_roles(
        sandbox,
        {
            PROD_ROLE: {"title": "Deploy reader", "deleted": True},
            "projects/example-prod/roles/deployReaders": {"title": "Deploy readers"},
        },
    )

    result = cli(["plan", "--dir", str(directory)], env)

    assert result.exit_code == 1, result.output
    assert f"roles.yaml:{line}:" in result.output
    assert (
        f"unknown GCP role '{PROD_ROLE}': IAM has no such role in projects/example-prod "
        "(did you mean 'projects/example-prod/roles/deployReaders'?)"
    ) in result.output
