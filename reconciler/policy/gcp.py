"""Checks of GCP IAM: deleted principals, roles/owner on production, audit logs, bindings the repo
does not grant, user-managed service-account keys; called by `reconciler.policy.checks`."""

from __future__ import annotations

from reconciler.model import (
    GrantKind,
    PersonStatus,
    System,
    msg,
    normalise_member,
)
from reconciler.policy.context import CheckContext, Findings

# Google's audit log types that must all be enabled for allServices (policy 第14.1条).
REQUIRED_AUDIT_LOG_TYPES = frozenset({"ADMIN_READ", "DATA_READ", "DATA_WRITE"})


def check_gcp(ctx: CheckContext, out: Findings) -> None:
    desired = ctx.entitled.grants(GrantKind.GCP_BINDING)  # only GCP grants are looked up
    scopes = {s.resource: s for s in ctx.desired.organization.systems.gcp}
    for policy in sorted(ctx.snapshot.policies, key=lambda p: p.resource):
        scope = scopes.get(policy.resource)
        for binding in policy.bindings:
            for member in sorted({normalise_member(m) for m in binding.members}):
                if member.startswith("deleted:"):
                    out.add(
                        "deleted-principal",
                        System.GCP,
                        f"{policy.resource} {binding.role} {member}",
                        msg(
                            "%(role)s on %(resource)s still names a deleted principal",
                            role=binding.role,
                            resource=policy.resource,
                        ),
                    )
        if scope is not None and scope.require_audit_logs:
            enabled = {
                t for c in policy.audit_configs if c.service == "allServices" for t in c.log_types
            }
            missing = sorted(REQUIRED_AUDIT_LOG_TYPES - enabled)
            if missing:
                out.add(
                    "audit-logs-disabled",
                    System.GCP,
                    policy.resource,
                    msg(
                        "%(resource)s does not log %(types)s for allServices",
                        resource=policy.resource,
                        types=", ".join(missing),
                    ),
                )
    _check_owners_on_prod(ctx, out)
    for grant in ctx.grants(GrantKind.GCP_BINDING):
        if grant.target not in ctx.scope.resources or not grant.principal.startswith("user:"):
            continue
        if grant in desired or ctx.untouchables.untouchable(grant.principal):
            continue
        owner = ctx.ids.person_of_member(grant.principal)
        status = ctx.status(owner) if owner else None
        if status in (PersonStatus.DEPARTED, PersonStatus.NOT_STARTED):
            continue  # covered by the leaver / before-start findings
        managed = ctx.scope.manages_gcp_role(grant.target, grant.role)
        removed = managed and (
            owner is not None or grant.target in ctx.scope.authoritative_resources
        )
        names = {"member": grant.principal, "role": grant.role, "resource": grant.target}
        if not removed:
            out.add(
                "unmanaged-grant",
                System.GCP,
                grant.describe(),
                msg(
                    "%(member)s holds %(role)s on %(resource)s, which the repo does not grant "
                    "and the product does not manage (role not in roles.yaml)",
                    **names,
                )
                if not managed
                else msg(
                    "%(member)s holds %(role)s on %(resource)s, which the repo does not grant "
                    "(additive resource: reported, not removed)",
                    **names,
                ),
                owner,
            )
    part = ctx.snapshot.part(System.GCP)
    for sa in sorted(part.service_accounts if part else (), key=lambda s: s.email):
        keys = [k for k in sa.keys if k.key_type == "USER_MANAGED" and not k.disabled]
        if keys:
            out.add(
                "user-managed-key",
                System.GCP,
                sa.email,
                msg(
                    "service account %(account)s has %(count)s user-managed key(s); keys belong "
                    "in the secret manager or should be replaced by workload identity",
                    account=sa.email,
                    count=len(keys),
                ),
            )


def _check_owners_on_prod(ctx: CheckContext, out: Findings) -> None:
    """roles/owner on production (第12.2条) for everyone who really holds it: a member the
    binding names, and everyone a bound group reaches, through whichever nested groups."""
    prod = {s.resource for s in ctx.desired.organization.systems.gcp if s.environment == "prod"}
    for e in ctx.index.effective:
        if e.resource not in prod or e.role != "roles/owner":
            continue
        if ctx.untouchables.untouchable(e.member):
            continue  # a sealed break-glass account is the sanctioned owner (第10.2条 exception)
        subject = f"{e.resource} roles/owner {e.member}"
        if e.via:
            subject += f" via group:{e.via[0]}"
            text = msg(
                "%(member)s holds roles/owner on the production resource %(resource)s through "
                "%(path)s; the plan does not change group memberships for GCP bindings: remove "
                "them from %(group)s or bind narrower roles to group:%(bound)s",
                member=e.member,
                resource=e.resource,
                path=e.path(),
                group=e.via[-1],
                bound=e.via[0],
            )
        else:
            text = msg(
                "%(member)s holds roles/owner on the production resource %(resource)s; use "
                "narrower roles and time-boxed elevation",
                member=e.member,
                resource=e.resource,
            )
        out.add("owner-on-prod", System.GCP, subject, text, ctx.ids.person_of_member(e.member))
