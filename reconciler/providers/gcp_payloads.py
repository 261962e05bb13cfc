"""GCP IAM payloads -> model values, and the pure edits of a policy; called by the GCP provider.

The transport (`providers/gcp_iam.py`) makes the calls and hands over what the APIs answered
in their JSON form: Resource Manager and Cloud Asset answer JSON already, and the IAM Admin
gRPC messages are converted at that edge (`gcp_iam.message_dict`, protobuf's JSON mapping:
camelCase names, enums by name, Timestamps as RFC 3339 strings, fields left at their default
omitted). Everything here is a function of those values alone: no I/O, no client library, no
clock, so each rule is tested table-driven with canned payloads
(tests/providers/test_gcp_payloads.py) and stays the same however the payload was fetched.

Members keep the API's spelling inside `Binding` (a policy is shown as it is); every grant
and every comparison goes through `normalise_member`, the one IAM member normaliser.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from reconciler.errors import PermanentProviderError
from reconciler.model import (
    Account,
    AccountKind,
    AuditConfig,
    Binding,
    Grant,
    GrantKind,
    IamPolicy,
    ServiceAccount,
    ServiceAccountKey,
    System,
    normalise_email,
    normalise_member,
)

CRM_PREFIX = "//cloudresourcemanager.googleapis.com/"
OWNER_ROLE = "roles/owner"
# ServiceAccountKey.keyType when the API leaves it out (proto3 omits the default, 0).
_UNSPECIFIED_KEY_TYPE = "KEY_TYPE_UNSPECIFIED"


# -- Resource Manager / Cloud Asset (JSON) -------------------------------------------------
def policy_from_json(resource: str, payload: Mapping[str, Any]) -> IamPolicy:
    """A getIamPolicy answer (the discovery `Policy`) as an IamPolicy: bindings with their
    conditions and members as written, audit configs, the etag a write must send back. An
    absent `bindings` or `auditConfigs` is an empty policy (the API omits empty lists); an
    absent `version` is 1, the API's default."""
    bindings = []
    for binding in payload.get("bindings", []):
        condition = binding.get("condition")
        bindings.append(
            Binding(
                role=binding["role"],
                members=tuple(binding.get("members", [])),
                condition={str(k): str(v) for k, v in condition.items()} if condition else None,
            )
        )
    audit = tuple(
        AuditConfig(
            service=config["service"],
            log_types=tuple(c["logType"] for c in config.get("auditLogConfigs", [])),
        )
        for config in payload.get("auditConfigs", [])
    )
    return IamPolicy(
        resource=resource,
        etag=str(payload.get("etag", "")),
        version=int(payload.get("version", 1)),
        bindings=tuple(bindings),
        audit_configs=audit,
    )


def grants_from_policy(policy: IamPolicy) -> list[Grant]:
    """One GCP_BINDING grant per member of each unconditional binding; conditional bindings
    stay in `policy.bindings` only (the product does not manage them)."""
    return [
        Grant(GrantKind.GCP_BINDING, policy.resource, normalise_member(member), binding.role)
        for binding in policy.bindings
        if not binding.condition
        for member in binding.members
    ]


def resource_from_asset_name(name: str) -> str:
    """ "//cloudresourcemanager.googleapis.com/projects/p" -> "projects/p"; other asset types
    (buckets, datasets...) keep their full resource name: they are outside the managed scope
    but still access a leaver holds."""
    return name.removeprefix(CRM_PREFIX) if name.startswith(CRM_PREFIX) else name


def grants_naming(member: str, results: Iterable[Mapping[str, Any]]) -> list[Grant]:
    """The unconditional bindings naming `member` in searchAllIamPolicies results (the
    discovery `IamPolicySearchResult`s of one or more pages): the search matches more than
    the member asked for (a group, a domain), so each member is compared again, normalised."""
    wanted = normalise_member(member)
    return [
        Grant(GrantKind.GCP_BINDING, resource_from_asset_name(result["resource"]), wanted,
              binding["role"])
        for result in results
        for binding in result.get("policy", {}).get("bindings", [])
        if not binding.get("condition")  # conditional bindings are not managed as grants
        if any(normalise_member(m) == wanted for m in binding.get("members", []))
    ]  # fmt: skip


# -- IAM Admin (gRPC messages in their JSON form) ------------------------------------------
def service_account_from_dict(payload: Mapping[str, Any], project: str) -> ServiceAccount:
    """A ServiceAccount message as the model's: the email normalised (it is the member
    `serviceAccount:<email>` of bindings), the project it was listed under when the message
    leaves `projectId` out, no keys yet (`with_keys`)."""
    return ServiceAccount(
        email=normalise_email(str(payload["email"])),
        unique_id=str(payload.get("uniqueId", "")),
        project=str(payload.get("projectId") or project),
        display_name=str(payload.get("displayName", "")),
        disabled=bool(payload.get("disabled", False)),
    )


def key_from_dict(payload: Mapping[str, Any]) -> ServiceAccountKey:
    """A ServiceAccountKey message as the model's: its type by name (USER_MANAGED /
    SYSTEM_MANAGED), its validity window (an unset or epoch Timestamp is no date: a key
    without `validBeforeTime` never expires), whether it is disabled."""
    return ServiceAccountKey(
        name=str(payload["name"]),
        key_type=str(payload.get("keyType", _UNSPECIFIED_KEY_TYPE)),
        valid_after=timestamp(payload.get("validAfterTime")),
        valid_before=timestamp(payload.get("validBeforeTime")),
        disabled=bool(payload.get("disabled", False)),
    )


def with_keys(sa: ServiceAccount, keys: Iterable[ServiceAccountKey]) -> ServiceAccount:
    """The service account with the keys listed for it."""
    return ServiceAccount(
        email=sa.email,
        unique_id=sa.unique_id,
        project=sa.project,
        display_name=sa.display_name,
        disabled=sa.disabled,
        keys=tuple(keys),
    )


def account_of(sa: ServiceAccount) -> Account:
    """A service account as one of the snapshot's accounts (keyed by its unique id, so a
    re-created account of the same email is a different account)."""
    return Account(
        system=System.GCP,
        id=sa.unique_id,
        name=sa.email,
        kind=AccountKind.SERVICE_ACCOUNT,
        display_name=sa.display_name,
        suspended=sa.disabled,
    )


def timestamp(value: object) -> datetime | None:
    """An RFC 3339 Timestamp as protobuf's JSON mapping writes it ("2026-01-01T00:00:00Z",
    with 0, 3, 6 or 9 fractional digits; datetime keeps microseconds), in UTC; None when
    absent or the epoch (what an unset Timestamp reads as on the wire)."""
    if not isinstance(value, str) or not value:
        return None
    moment = datetime.fromisoformat(value)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return None if moment.timestamp() == 0 else moment


# -- edits (read-modify-write) ---------------------------------------------------------------
def edit_bindings(
    bindings: Sequence[Mapping[str, Any]],
    adds: Sequence[tuple[str, str]],
    removes: Sequence[tuple[str, str]],
) -> tuple[list[dict[str, Any]], bool]:
    """The bindings with members added to / removed from the unconditional binding of each
    role; every other binding (conditions included) is copied unchanged. Members compare
    through `normalise_member`; a member already present / absent is no change (idempotence)."""
    edited = [
        {**b, "members": list(b.get("members", []))} for b in bindings
    ]  # shallow copies: the conditions are carried over untouched
    changed = False
    for role, member in adds:
        target = next((b for b in edited if b["role"] == role and not b.get("condition")), None)
        if target is None:
            edited.append({"role": role, "members": [member]})
            changed = True
        elif normalise_member(member) not in {normalise_member(m) for m in target["members"]}:
            target["members"].append(member)
            changed = True
    for role, member in removes:
        for binding in edited:
            if binding["role"] != role or binding.get("condition"):
                continue
            kept = [
                m for m in binding["members"] if normalise_member(m) != normalise_member(member)
            ]
            if len(kept) != len(binding["members"]):
                binding["members"] = kept
                changed = True
    # The API drops bindings without members; sending them empty would only confuse diffs.
    return [b for b in edited if b["members"]], changed


def refuse_last_owner(
    resource: str, before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]
) -> None:
    """Never remove the last owner. `deleted:` members and conditional owner
    bindings do not count: neither can administer the resource tomorrow."""

    def live_owners(bindings: Sequence[Mapping[str, Any]]) -> set[str]:
        return {
            normalise_member(m)
            for b in bindings
            if b["role"] == OWNER_ROLE and not b.get("condition")
            for m in b.get("members", [])
            if not normalise_member(m).startswith("deleted:")
        }

    if live_owners(before) and not live_owners(after):
        raise PermanentProviderError(
            f"refusing to remove the last {OWNER_ROLE} member of {resource}: "
            "a resource without an owner cannot be administered; add another "
            "owner first"
        )
