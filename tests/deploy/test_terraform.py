"""deploy/terraform without a terraform binary: every .tf file parses (python-hcl2), every
reference points at something declared, and every GCP permission the product's code needs
(`reconciler.providers.permissions`) is granted where the code needs it, and no more."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest

from reconciler.providers.permissions import GCP_PERMISSIONS, PLAN_GCP_PERMISSIONS, GcpTarget
from reconciler.settings import Settings

TERRAFORM = Path(__file__).resolve().parents[2] / "deploy" / "terraform"

# What Google's predefined roles used here contain, as far as the product relies on it
# (IAM roles reference). Custom roles are read from the Terraform itself.
PREDEFINED = {
    "roles/iam.serviceAccountTokenCreator": {
        "iam.serviceAccounts.signJwt",
        "iam.serviceAccounts.signBlob",
        "iam.serviceAccounts.getAccessToken",
        "iam.serviceAccounts.getOpenIdToken",
    },
    "roles/secretmanager.secretAccessor": {"secretmanager.versions.access"},
    "roles/storage.objectCreator": {"storage.objects.create"},
    "roles/storage.objectViewer": {"storage.objects.get", "storage.objects.list"},
    "roles/storage.legacyBucketReader": {"storage.buckets.get", "storage.objects.list"},
    "roles/storage.objectUser": {
        "storage.objects.create",
        "storage.objects.delete",
        "storage.objects.get",
        "storage.objects.list",
        "storage.objects.update",
        "storage.objects.restore",
    },
}
# The binding resource type for each place a permission must be held, and the reference
# that must appear in the binding to say *which* resource (None: the type says it all).
BINDING_OF_TARGET: dict[GcpTarget, tuple[str, str | None]] = {
    GcpTarget.PROJECT: ("google_project_iam_member", "var.managed_projects"),
    GcpTarget.FOLDER: ("google_folder_iam_member", "var.managed_folders"),
    GcpTarget.ORGANIZATION: ("google_organization_iam_member", "var.organization_id"),
    GcpTarget.RUNTIME_ACCOUNT: (
        "google_service_account_iam_member",
        "google_service_account.runtime",
    ),
    GcpTarget.SECRET: (
        "google_secret_manager_secret_iam_member",
        "google_secret_manager_secret.secret",
    ),
    GcpTarget.STATE_BUCKET: ("google_storage_bucket_iam_member", "google_storage_bucket.state"),
    GcpTarget.AUDIT_BUCKET: ("google_storage_bucket_iam_member", "google_storage_bucket.audit"),
}
# Set by the daemon (reconciler/daemon); listed until its settings land in Settings.
DAEMON_SETTINGS = {
    "RECONCILER_REPO_URL",
    "RECONCILER_REPO_BRANCH",
    "RECONCILER_WEBHOOK_SECRET_REF",
    "RECONCILER_NOTIFY_URL_REF",
    "RECONCILER_SERVICE_URL",
    "RECONCILER_SCHEDULER_SERVICE_ACCOUNT",
    "RECONCILER_APPLY",
    "RECONCILER_STATE_URL",
    "RECONCILER_AUDIT_URL",
}


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _parse() -> dict[str, dict[str, Any]]:
    return {
        f.name: hcl2.loads(f.read_text(encoding="utf-8")) for f in sorted(TERRAFORM.glob("*.tf"))
    }


FILES = _parse()


def _blocks(kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, body) of every `variable`/`output`/`locals` block; resources give TYPE.NAME."""
    for doc in FILES.values():
        for entry in doc.get(kind, []):
            if kind in {"resource", "data"}:
                for rtype, named in entry.items():
                    for name, body in named.items():
                        yield f"{_unquote(rtype)}.{_unquote(name)}", body
            elif kind == "locals":
                yield "locals", entry
            else:
                for name, body in entry.items():
                    yield _unquote(name), body


RESOURCES = dict(_blocks("resource"))
DATA = dict(_blocks("data"))
VARIABLES = dict(_blocks("variable"))
OUTPUTS = dict(_blocks("output"))
LOCALS = {name for _, body in _blocks("locals") for name in body if name != "__is_block__"}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _text(value: Any) -> str:
    return "\n".join(_strings(value))


def _references(text: str) -> Iterator[tuple[str, str]]:
    """(kind, name) of every reference: var, local, data, or a resource TYPE.NAME."""
    for match in re.finditer(r"(?<![\w.])var\.(\w+)", text):
        yield "var", match[1]
    for match in re.finditer(r"(?<![\w.])local\.(\w+)", text):
        yield "local", match[1]
    for match in re.finditer(r"(?<![\w.])data\.(\w+)\.(\w+)", text):
        yield "data", f"{match[1]}.{match[2]}"
    for match in re.finditer(r"(?<![\w./:-])(google_\w+)\.(\w+)", text):
        yield "resource", f"{match[1]}.{match[2]}"


def test_every_file_parses_and_declares_something() -> None:
    assert set(FILES) >= {"versions.tf", "variables.tf", "iam.tf", "run.tf", "outputs.tf"}
    assert RESOURCES and VARIABLES and OUTPUTS


def test_every_reference_is_declared_and_every_variable_used() -> None:
    known = {
        "var": set(VARIABLES),
        "local": LOCALS,
        "data": set(DATA),
        "resource": set(RESOURCES),
    }
    missing = []
    used: set[str] = set()
    for name, doc in FILES.items():
        for kind, ref in _references(_text(doc)):
            if kind == "var":
                used.add(ref)
            if ref not in known[kind]:
                missing.append(f"{name}: {kind} {ref}")
    assert missing == []
    assert sorted(set(VARIABLES) - used) == [], "declared but never used"


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_every_output_references_something_real(name: str) -> None:
    refs = list(_references(_text(OUTPUTS[name]["value"])))
    assert refs, f"output {name} references nothing"
    for kind, ref in refs:
        assert ref in {"var": VARIABLES, "local": LOCALS, "data": DATA, "resource": RESOURCES}[kind]


def _bindings(rtype: str, member_ref: str) -> list[dict[str, Any]]:
    return [
        body
        for name, body in RESOURCES.items()
        if name.split(".")[0] == rtype and member_ref in _text(body.get("member", ""))
    ]


def _role_permissions(role: str) -> set[str]:
    custom = re.search(r"google_organization_iam_custom_role\.(\w+)", role)
    if custom:
        body = RESOURCES[f"google_organization_iam_custom_role.{custom[1]}"]
        return {_unquote(p) for p in body["permissions"]}
    return PREDEFINED.get(_unquote(role), set())


def _granted(target: GcpTarget, member_ref: str) -> set[str]:
    rtype, scope_ref = BINDING_OF_TARGET[target]
    granted: set[str] = set()
    for body in _bindings(rtype, member_ref):
        if scope_ref is None or scope_ref in _text(body):
            granted |= _role_permissions(body["role"])
    return granted


@pytest.mark.parametrize("needed", GCP_PERMISSIONS, ids=lambda p: f"{p.permission}@{p.target.name}")
def test_every_permission_the_code_needs_is_granted_to_the_runtime_where_needed(
    needed: Any,
) -> None:
    assert needed.permission in _granted(needed.target, "local.runtime_member"), (
        f"{needed.permission} ({needed.call}) is not granted on the {needed.target.value}"
    )


def test_the_runtime_custom_role_holds_nothing_the_code_does_not_call() -> None:
    role = RESOURCES["google_organization_iam_custom_role.runtime"]
    resource_targets = {GcpTarget.PROJECT, GcpTarget.FOLDER, GcpTarget.ORGANIZATION}
    needed = {p.permission for p in GCP_PERMISSIONS if p.target in resource_targets}
    assert {_unquote(p) for p in role["permissions"]} == needed


def test_the_pull_request_identity_can_read_and_never_write() -> None:
    role = RESOURCES["google_organization_iam_custom_role.plan"]
    assert {_unquote(p) for p in role["permissions"]} == PLAN_GCP_PERMISSIONS
    for target in (GcpTarget.PROJECT, GcpTarget.FOLDER):
        assert _granted(target, "local.plan_member") == PLAN_GCP_PERMISSIONS
    # Besides the reads: signJwt on itself (its read-only delegation) and the read-only
    # App's key; no other secret, no bucket, no other account.
    plan_bindings = [
        name
        for name, body in RESOURCES.items()
        if "local.plan_member" in _text(body.get("member", ""))
    ]
    extra = {
        n
        for n in plan_bindings
        if n.split(".")[0]
        not in {
            "google_project_iam_member",
            "google_folder_iam_member",
            "google_organization_iam_member",
        }
    }
    assert extra == {
        "google_service_account_iam_member.plan_signs_itself",
        "google_secret_manager_secret_iam_member.plan_reads",
    }, plan_bindings
    signs = RESOURCES["google_service_account_iam_member.plan_signs_itself"]
    assert "google_service_account.plan.name" in _text(signs["service_account_id"])
    assert _unquote(signs["role"]) == "roles/iam.serviceAccountTokenCreator"
    reads = RESOURCES["google_secret_manager_secret_iam_member.plan_reads"]
    assert "google_secret_manager_secret.plan_github_app_key.id" in _text(reads["secret_id"])
    assert _unquote(reads["role"]) == "roles/secretmanager.secretAccessor"


def test_each_secret_is_readable_by_the_runtime_only_and_the_read_only_key_by_plans_only() -> None:
    readers = {
        name: body
        for name, body in RESOURCES.items()
        if name.startswith("google_secret_manager_secret_iam_")
    }
    members = {name: _unquote(b["member"]) for name, b in readers.items()}
    assert members == {
        "google_secret_manager_secret_iam_member.runtime_reads": "${local.runtime_member}",
        "google_secret_manager_secret_iam_member.plan_reads": "${local.plan_member}",
    }
    runtime = readers["google_secret_manager_secret_iam_member.runtime_reads"]
    assert "google_secret_manager_secret.secret" in _text(runtime["for_each"])


def _service() -> dict[str, Any]:
    return RESOURCES["google_cloud_run_v2_service.reconciler"]


def test_the_service_runs_one_instance_as_the_runtime_with_secret_references_only() -> None:
    template = _service()["template"][0]
    assert template["scaling"][0]["max_instance_count"] == 1
    assert "google_service_account.runtime.email" in template["service_account"]
    env = {_unquote(e["name"]): _unquote(str(e["value"])) for e in template["containers"][0]["env"]}
    known = {f"RECONCILER_{name.upper()}" for name in Settings.model_fields} | DAEMON_SETTINGS
    assert sorted(set(env) - known) == [], "env names the product does not read"
    for name in ("RECONCILER_GITHUB_PRIVATE_KEY_SECRET", "RECONCILER_WEBHOOK_SECRET_REF",
                 "RECONCILER_NOTIFY_URL_REF"):  # fmt: skip
        assert env[name].startswith("${local.secret_ref["), f"{name} must be a reference"
    assert env["RECONCILER_APPLY"] == "${tostring(var.apply_enabled)}"
    assert VARIABLES["apply_enabled"]["default"] is False  # the first deployment is a dry run


def test_scheduler_jobs_use_oidc_for_the_service_in_tokyo_time() -> None:
    jobs = RESOURCES["google_cloud_scheduler_job.run"]
    assert _unquote(jobs["time_zone"]) == "Asia/Tokyo"
    oidc = jobs["http_target"][0]["oidc_token"][0]
    assert "google_service_account.scheduler.email" in oidc["service_account_email"]
    assert oidc["audience"] == "${local.service_url}"
    schedules = next(body for _, body in _blocks("locals") if "schedules" in body)["schedules"]
    crons = {name: _unquote(job["cron"]) for name, job in schedules.items()}
    paths = {name: _unquote(job["path"]) for name, job in schedules.items()}
    assert crons == {
        "drift": "0 2 * * *",
        "sweep": "0 18 * * *",
        "sweep-late": "30 23 * * *",
        "inventory": "${var.inventory_schedule}",
    }
    assert set(paths.values()) == {"/run/drift", "/run/sweep", "/run/inventory"}


def test_both_buckets_are_uniform_versioned_and_private_and_only_the_audit_one_retained() -> None:
    for name in ("state", "audit"):
        bucket = RESOURCES[f"google_storage_bucket.{name}"]
        assert bucket["uniform_bucket_level_access"] is True
        assert _unquote(bucket["public_access_prevention"]) == "enforced"
        assert bucket["versioning"][0]["enabled"] is True
    # The lease, the audit HEAD and the documents are replaced routinely: a retention policy
    # on their bucket would refuse every run.
    assert "retention_policy" not in RESOURCES["google_storage_bucket.state"]
    retention = RESOURCES["google_storage_bucket.audit"]["retention_policy"][0]
    assert "var.audit_retention_days" in retention["retention_period"]
    assert retention["is_locked"] == "${var.lock_audit_retention}"
    assert VARIABLES["lock_audit_retention"]["default"] is False  # irreversible: opt in


def test_the_runtime_can_never_delete_an_audit_segment() -> None:
    assert "storage.objects.delete" not in _granted(GcpTarget.AUDIT_BUCKET, "local.runtime_member")
