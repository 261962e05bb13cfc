"""The state store's part of `reconciler doctor`: whether the configured store works the way
the run lease and the audit log rely on; called by `cli.commands_doctor`.

A local directory: a probe file written and removed (`local.probe_local_store`). On Cloud
Storage (RECONCILER_STATE_URL=gs://...), through the store's own client and locations:

- the state bucket: a probe object created with ifGenerationMatch=0, created again with
  ifGenerationMatch=0 (which must be refused with 412: the run lease is that very write, so a
  bucket or gateway that ignores it would let two runs hold the lease at once), read back
  and deleted by generation; then testIamPermissions for what the store needs there;
- the audit bucket: its retention policy (the period, and whether Bucket Lock locked it; a
  missing one fails, policy 第14.1条) and testIamPermissions: what the log needs, and
  storage.objects.delete, which the runtime must NOT hold there (deploy/terraform grants
  create and read only, so nobody running as it can remove a record). Nothing is written to
  the audit bucket: a probe could not be deleted under the retention policy and would read
  as a stray object in `audit verify`.

Every check is a `Check` value, never an exception, so one failure does not hide the next.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from google.api_core import exceptions as gexc

from reconciler.checks import Check
from reconciler.settings import Settings
from reconciler.state import open_state_store
from reconciler.state.gcs import GcsLocation, GcsStateStore, explain_error
from reconciler.state.local import LocalStateStore, StateStoreError, probe_local_store

TERRAFORM = "deploy/terraform/storage.tf"
PROBE = "doctor-probe-{}.json"
_DELETE = "storage.objects.delete"


def check_state_store(
    settings: Settings, state_permissions: Sequence[str], audit_permissions: Sequence[str]
) -> list[Check]:
    """The configured store: `state_permissions` / `audit_permissions` are what the runtime
    must hold on the state and audit buckets (`providers.permissions`, passed in by the CLI:
    the state package does not import the providers)."""
    if not settings.state_location().startswith("gs://"):
        return [_check_local(settings)]
    try:
        store = open_state_store(settings)
    except StateStoreError as exc:
        return [Check("state", "state store", False, str(exc), fix="correct the URL")]
    assert isinstance(store, GcsStateStore)
    checks = _check_state_bucket(store, state_permissions)
    return checks + _check_audit_bucket(store, audit_permissions)


def _check_local(settings: Settings) -> Check:
    store = LocalStateStore(settings.state_dir)
    try:
        return Check("state", "state directory", True, probe_local_store(store))
    except StateStoreError as exc:
        return Check(
            "state",
            "state directory",
            False,
            str(exc),
            fix=f"make {settings.state_dir} writable by the runtime identity, or set "
            "RECONCILER_STATE_DIR",
        )


def _check_state_bucket(store: GcsStateStore, needed: Sequence[str]) -> list[Check]:
    location = store.location
    bucket = store.client.bucket(location.bucket)
    name = location.name(PROBE.format(secrets.token_hex(6)))
    url = f"gs://{location.bucket}/{name}"
    item = f"state bucket {location.url()}"
    data = b'{"probe": "reconciler doctor"}\n'
    blob = bucket.blob(name)
    try:
        blob.upload_from_string(data, content_type="application/json", if_generation_match=0)
    except gexc.GoogleAPICallError as exc:
        return [Check("state", item, False, f"cannot create {url}: {explain_error(exc)}",
                      fix=_state_fix(location, exc))]  # fmt: skip
    checks: list[Check] = []
    generation = int(blob.generation or 0)
    precondition = f"{item} generation precondition"
    try:
        bucket.blob(name).upload_from_string(
            b"{}\n", content_type="application/json", if_generation_match=0
        )
    except gexc.PreconditionFailed:
        checks.append(
            Check("state", precondition, True,
                  "ifGenerationMatch=0 on an existing object refused (412), as the run "
                  "lease needs")
        )  # fmt: skip
    except gexc.GoogleAPICallError as exc:
        checks.append(Check("state", precondition, False, explain_error(exc)))
    else:
        generation = int(bucket.blob(name).generation or 0) or generation
        checks.append(
            Check("state", precondition, False,
                  "a write with ifGenerationMatch=0 replaced an existing object: two runs "
                  "could hold the run lease at once",
                  fix=f"keep the state in Cloud Storage itself: gs://{location.bucket} is "
                      "served by something that ignores generation preconditions")
        )  # fmt: skip
    try:
        reader = bucket.blob(name)
        read = reader.download_as_bytes()
        generation = int(reader.generation or 0) or generation
        bucket.blob(name).delete(if_generation_match=generation)
    except gexc.GoogleAPICallError as exc:
        checks.insert(
            0,
            Check("state", item, False,
                  f"wrote {url}, then could not read or delete it: {explain_error(exc)}",
                  fix=_state_fix(location, exc)),
        )  # fmt: skip
        return checks
    if read not in (data, b"{}\n"):
        checks.insert(0, Check("state", item, False, f"{url} read back other content"))
        return checks
    checks.insert(0, Check("state", item, True, "a probe object written, read back and deleted"))
    return checks + _held(store, location, needed, forbidden=())


def _state_fix(location: GcsLocation, exc: gexc.GoogleAPICallError) -> str:
    if isinstance(exc, gexc.NotFound):
        return (
            f"create gs://{location.bucket} (google_storage_bucket.state in {TERRAFORM}) or "
            "correct RECONCILER_STATE_URL"
        )
    if "retention" in explain_error(exc).lower():
        return (
            f"remove the retention policy of gs://{location.bucket}: the lease and documents "
            "are replaced routinely; put the audit segments in their own bucket with "
            "RECONCILER_AUDIT_URL and give that one the retention policy"
        )
    return (
        f"grant the runtime identity roles/storage.objectUser on gs://{location.bucket} "
        f"(google_storage_bucket_iam_member.runtime_state in {TERRAFORM})"
    )


def _check_audit_bucket(store: GcsStateStore, needed: Sequence[str]) -> list[Check]:
    audit = store.audit_location
    item = f"audit bucket gs://{audit.bucket}"
    if audit.bucket == store.location.bucket:
        return [
            Check("state", f"{item} retention policy", False,
                  f"the audit segments ({audit.url()}) share the state bucket, which cannot "
                  "carry a retention policy (it would refuse to replace the lease)",
                  fix="set RECONCILER_AUDIT_URL to a bucket of their own with a retention "
                      f"policy (google_storage_bucket.audit in {TERRAFORM}; terraform "
                      "output audit_url)")
        ]  # fmt: skip
    bucket = store.client.bucket(audit.bucket)
    try:
        bucket.reload()
    except gexc.GoogleAPICallError as exc:
        fix = (
            f"create gs://{audit.bucket} (google_storage_bucket.audit in {TERRAFORM}) or "
            "correct RECONCILER_AUDIT_URL"
            if isinstance(exc, gexc.NotFound)
            else f"grant the runtime identity roles/storage.legacyBucketReader on "
            f"gs://{audit.bucket} (google_storage_bucket_iam_member.runtime_audit_bucket_read "
            f"in {TERRAFORM})"
        )
        checks = [Check("state", f"{item} retention policy", False, explain_error(exc), fix=fix)]
    else:
        checks = [_retention(item, audit.bucket, bucket.retention_period,
                             bucket.retention_policy_locked,
                             bucket.retention_policy_effective_time)]  # fmt: skip
    return checks + _held(store, audit, [*needed, _DELETE], forbidden=(_DELETE,))


def _retention(
    item: str, name: str, period: int | None, locked: bool | None, since: datetime | None
) -> Check:
    item = f"{item} retention policy"
    if not period:
        return Check(
            "state",
            item,
            False,
            "none: an audit segment could be deleted or replaced (policy 第14.1条)",
            fix=f"gcloud storage buckets update gs://{name} --retention-period=2557d (or "
            f"retention_policy on google_storage_bucket.audit in {TERRAFORM}, "
            "audit_retention_days)",
        )
    days = f"{period // 86400} days" if period % 86400 == 0 else f"{period} seconds"
    start = f" since {since.date().isoformat()}" if since else ""
    if locked:
        return Check("state", item, True, f"{days}{start}, locked by Bucket Lock")
    return Check(
        "state",
        item,
        True,
        f"{days}{start}, not locked: once the period is agreed with the auditors, "
        f"lock it (gcloud storage buckets update gs://{name} --lock-retention-period, or "
        "lock_audit_retention = true) to make the log WORM",
    )


def _held(
    store: GcsStateStore, location: GcsLocation, asked: Sequence[str], forbidden: Sequence[str]
) -> list[Check]:
    """testIamPermissions on the bucket: each of `asked` must be held, except those in
    `forbidden`, which must not be."""
    url = f"gs://{location.bucket}"
    kind = "audit" if forbidden else "state"
    binding = "runtime_audit_create" if forbidden else "runtime_state"
    try:
        held = set(store.client.bucket(location.bucket).test_iam_permissions(list(asked)))
    except gexc.GoogleAPICallError as exc:
        return [Check("state", f"{kind} bucket {url} permissions", False, explain_error(exc))]
    needed = [p for p in dict.fromkeys(asked) if p not in forbidden]
    missing = [p for p in needed if p not in held]
    checks = [
        Check("state", f"{kind} bucket {url} {p}", False, "not held",
              fix=f"grant the runtime identity a role with {p} on {url} "
                  f"(google_storage_bucket_iam_member.{binding} in {TERRAFORM})")
        for p in missing
    ]  # fmt: skip
    if not missing:
        checks.append(Check("state", f"{kind} bucket {url} permissions", True,
                            f"all {len(needed)} needed held"))  # fmt: skip
    for permission in forbidden:
        item = f"{kind} bucket {url} {permission}"
        if permission not in held:
            checks.append(Check("state", item, True, "not held, as it must not be"))
            continue
        checks.append(
            Check("state", item, False,
                  "held: the runtime identity could delete audit segments",
                  fix=f"on {url} grant the runtime identity only roles/storage.objectCreator, "
                      "roles/storage.objectViewer and roles/storage.legacyBucketReader "
                      f"({TERRAFORM}), and remove every role with {permission} (e.g. "
                      "roles/storage.objectUser, roles/storage.objectAdmin)")
        )  # fmt: skip
    return checks
