"""Every permission the reconciler needs, with why: the Admin SDK scopes of the domain-wide
delegation, the GitHub App's permissions and webhook events, and the GCP IAM permissions of
each API call. Read by `providers.google_auth` (the scopes it asks for, the hint on a 403),
by `reconciler doctor`, by the tests that check deploy/terraform grants all of it, and by
the test that keeps docs/permissions.md in step.

One declarative list, so a new API call is added here once and the deployment, the checks
and the documentation follow; least privilege (policy 第5.1条) means nothing is here that no
call needs. Plain data only: importing it costs nothing and pulls in no client library.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class AdminScope:
    """One OAuth scope authorised for the delegation client id in the Admin console."""

    scope: str
    calls: tuple[str, ...]  # Directory API resources or methods ("users", "users.signOut")
    why: str
    article: str


@dataclass(frozen=True)
class AppPermission:
    """One permission of the GitHub App (Settings > Permissions)."""

    name: str  # as GitHub's settings page names it
    level: str  # "read" or "write"
    scope: str  # "organization" or "repository"
    why: str
    article: str
    api_name: str = ""  # the key in the installation's `permissions` map (REST API)

    @property
    def key(self) -> str:
        return self.api_name or self.name.lower()


@dataclass(frozen=True)
class AppEvent:
    """One webhook event the GitHub App subscribes to (it triggers a run of the daemon)."""

    name: str
    why: str
    article: str


class GcpTarget(StrEnum):
    """Where a GCP permission must be granted; deploy/terraform binds each kind there."""

    PROJECT = "managed project"  # every projects/P in organization.yaml's systems.gcp
    FOLDER = "managed folder"  # every folders/F there
    ORGANIZATION = "organization"  # organizations/N there, and the reverse look-ups' scope
    RUNTIME_ACCOUNT = "runtime service account"  # on itself (keyless delegation)
    SECRET = "secret"  # noqa: S105 - each Secret Manager secret the runtime reads
    STATE_BUCKET = "state bucket"  # RECONCILER_STATE_URL's bucket
    AUDIT_BUCKET = "audit bucket"  # RECONCILER_AUDIT_URL's bucket (retention, Bucket Lock)


@dataclass(frozen=True)
class GcpPermission:
    """One IAM permission, the API call that needs it and where it must be held."""

    permission: str
    call: str
    target: GcpTarget
    why: str
    article: str
    plan: bool = False  # a read `reconciler plan` makes: the pull-request identity holds it


ADMIN_SCOPES: tuple[AdminScope, ...] = (
    AdminScope(
        "https://www.googleapis.com/auth/admin.directory.user",
        ("users",),
        "list and read accounts (2SV, last sign-in, suspension); create accounts for joiners; "
        "suspend leavers and unsuspend returners",
        "第5.2条1, 第5.2条3",
    ),
    AdminScope(
        "https://www.googleapis.com/auth/admin.directory.user.security",
        ("users.signOut", "tokens", "asps"),
        "end a leaver's sessions (users.signOut) and revoke their OAuth tokens and app "
        "passwords, which survive a suspension; list them for the drift report",
        "第5.2条3",
    ),
    AdminScope(
        "https://www.googleapis.com/auth/admin.directory.group.readonly",
        ("groups",),
        "list the groups in scope (read only: groups are never created or deleted)",
        "第5.1条",
    ),
    AdminScope(
        "https://www.googleapis.com/auth/admin.directory.group.member",
        ("members",),
        "read, add, change and remove group memberships",
        "第5.2条1, 第5.2条3",
    ),
)

# Read-only credentials (RECONCILER_READ_ONLY: the desired-state repo's pull-request plans):
# the delegation of the plan identity is authorised for these alone. No read-only scope
# covers tokens.list or asps.list (admin.directory.user.security also revokes), so a
# read-only plan reads no OAuth tokens or app passwords and says so in a plan note.
READ_ONLY_ADMIN_SCOPES: tuple[AdminScope, ...] = (
    AdminScope(
        "https://www.googleapis.com/auth/admin.directory.user.readonly",
        ("users",),
        "pull-request plans: list and read accounts (2SV, last sign-in, suspension) to show "
        "what a change to the repo would do, never changing one",
        "第5.1条, 第5.2条1",
    ),
    AdminScope(
        "https://www.googleapis.com/auth/admin.directory.group.readonly",
        ("groups",),
        "pull-request plans: list the groups in scope",
        "第5.1条",
    ),
    AdminScope(
        "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
        ("members",),
        "pull-request plans: read group memberships, never changing one",
        "第5.1条, 第5.2条1",
    ),
)

GITHUB_APP_PERMISSIONS: tuple[AppPermission, ...] = (
    AppPermission(
        "Members",
        "write",
        "organization",
        "read members (role, 2FA), teams, invitations, failed invitations and outside "
        "collaborators; invite joiners, change roles, remove leavers, cancel invitations, "
        "edit team memberships, remove outside collaborators",
        "第5.2条1, 第5.2条3",
    ),
    AppPermission(
        "Administration",
        "read",
        "organization",
        "read whether the organisation requires two-factor authentication and each "
        "member's 2FA state (GraphQL hasTwoFactorEnabled is hidden without it)",
        "第5.3条",
        api_name="organization_administration",
    ),
    AppPermission(
        "Contents",
        "read",
        "repository",
        "the daemon clones the desired-state repo (install the App on that repository only)",
        "第5.2条1",
    ),
    AppPermission(
        "Metadata",
        "read",
        "repository",
        "mandatory for every GitHub App with repository access",
        "第5.1条",
    ),
)

# The second, read-only GitHub App of the pull-request plans (no webhook, no events): what a
# plan reads and nothing it could write with. The plan comment is not its job: the
# workflow's own GITHUB_TOKEN posts it (RECONCILER_PR_COMMENT_TOKEN).
READ_ONLY_GITHUB_APP_PERMISSIONS: tuple[AppPermission, ...] = (
    AppPermission(
        "Members",
        "read",
        "organization",
        "pull-request plans: read members (role, 2FA), teams, invitations, failed "
        "invitations and outside collaborators, never changing one",
        "第5.1条, 第5.2条1",
    ),
    AppPermission(
        "Administration",
        "read",
        "organization",
        "pull-request plans: whether the organisation requires two-factor authentication "
        "and each member's 2FA state",
        "第5.3条",
        api_name="organization_administration",
    ),
    AppPermission(
        "Metadata",
        "read",
        "repository",
        "mandatory for every GitHub App with repository access",
        "第5.1条",
    ),
)

GITHUB_APP_EVENTS: tuple[AppEvent, ...] = (
    AppEvent(
        "push",
        "a merge to the desired-state repo's branch starts a run within minutes",
        "第5.2条1, 第5.2条3",
    ),
    AppEvent(
        "organization",
        "a member added, removed or invited outside the repo starts a drift check",
        "第5.1条",
    ),
    AppEvent(
        "membership",
        "a team membership changed outside the repo starts a drift check",
        "第5.1条",
    ),
)

GCP_PERMISSIONS: tuple[GcpPermission, ...] = (
    GcpPermission(
        "resourcemanager.projects.getIamPolicy",
        "cloudresourcemanager v3 projects.getIamPolicy",
        GcpTarget.PROJECT,
        "read each managed project's bindings",
        "第5.1条",
        plan=True,
    ),
    GcpPermission(
        "resourcemanager.projects.setIamPolicy",
        "cloudresourcemanager v3 projects.setIamPolicy",
        GcpTarget.PROJECT,
        "add and remove bindings (read-modify-write with the etag)",
        "第5.2条1, 第5.2条3",
    ),
    GcpPermission(
        "iam.serviceAccounts.list",
        "iam admin v1 ListServiceAccounts",
        GcpTarget.PROJECT,
        "list service accounts for the user-managed key finding",
        "第4.1条",
        plan=True,
    ),
    GcpPermission(
        "iam.serviceAccountKeys.list",
        "iam admin v1 ListServiceAccountKeys",
        GcpTarget.PROJECT,
        "find user-managed keys (never created or deleted by the product)",
        "第4.1条",
        plan=True,
    ),
    GcpPermission(
        "iam.roles.list",
        "iam admin v1 ListRoles (parent projects/P)",
        GcpTarget.PROJECT,
        "check that the custom roles roles.yaml names exist before planning",
        "第5.1条",
        plan=True,
    ),
    GcpPermission(
        "resourcemanager.folders.getIamPolicy",
        "cloudresourcemanager v3 folders.getIamPolicy",
        GcpTarget.FOLDER,
        "read each managed folder's bindings",
        "第5.1条",
        plan=True,
    ),
    GcpPermission(
        "resourcemanager.folders.setIamPolicy",
        "cloudresourcemanager v3 folders.setIamPolicy",
        GcpTarget.FOLDER,
        "add and remove bindings on managed folders",
        "第5.2条1, 第5.2条3",
    ),
    GcpPermission(
        "resourcemanager.organizations.getIamPolicy",
        "cloudresourcemanager v3 organizations.getIamPolicy",
        GcpTarget.ORGANIZATION,
        "read the organization's bindings when organization.yaml manages it",
        "第5.1条",
        plan=True,
    ),
    GcpPermission(
        "resourcemanager.organizations.setIamPolicy",
        "cloudresourcemanager v3 organizations.setIamPolicy",
        GcpTarget.ORGANIZATION,
        "add and remove organization-level bindings when organization.yaml manages them",
        "第5.2条1, 第5.2条3",
    ),
    GcpPermission(
        "iam.roles.list",
        "iam admin v1 ListRoles (parent organizations/N)",
        GcpTarget.ORGANIZATION,
        "check that organization-level custom roles roles.yaml names exist",
        "第5.1条",
        plan=True,
    ),
    GcpPermission(
        "cloudasset.assets.searchAllIamPolicies",
        "cloudasset v1 searchAllIamPolicies (scope organizations/N)",
        GcpTarget.ORGANIZATION,
        "emergency offboarding: find every binding naming the person, anywhere in the org",
        "第5.2条3",
    ),
    GcpPermission(
        "iam.serviceAccounts.signJwt",
        "iamcredentials v1 projects.serviceAccounts.signJwt (on itself)",
        GcpTarget.RUNTIME_ACCOUNT,
        "keyless domain-wide delegation: sign the Workspace assertion without a key file",
        "第4.1条",
    ),
    GcpPermission(
        "secretmanager.versions.access",
        "secretmanager v1 projects.secrets.versions.access",
        GcpTarget.SECRET,
        "read the GitHub App private key, the webhook secret and the notification URL",
        "第4.1条",
    ),
    GcpPermission(
        "storage.objects.get",
        "storage v1 objects.get",
        GcpTarget.STATE_BUCKET,
        "read the run lease, the audit HEAD, emergency holds and read counts",
        "第14.1条",
    ),
    GcpPermission(
        "storage.objects.list",
        "storage v1 objects.list",
        GcpTarget.STATE_BUCKET,
        "list the state documents",
        "第14.1条",
    ),
    GcpPermission(
        "storage.objects.create",
        "storage v1 objects.insert",
        GcpTarget.STATE_BUCKET,
        "take the run lease, move the audit HEAD, save holds (generation preconditions)",
        "第14.1条",
    ),
    GcpPermission(
        "storage.objects.delete",
        "storage v1 objects.delete",
        GcpTarget.STATE_BUCKET,
        "release the run lease; replace the audit HEAD and documents (versioning keeps the "
        "former generations)",
        "第14.1条",
    ),
    GcpPermission(
        "storage.objects.get",
        "storage v1 objects.get",
        GcpTarget.AUDIT_BUCKET,
        "read the audit segments (audit verify, leavers, the run-start check); read back an "
        "inventory file whose retried write answered 412",
        "第14.1条",
    ),
    GcpPermission(
        "storage.objects.list",
        "storage v1 objects.list",
        GcpTarget.AUDIT_BUCKET,
        "find the audit segments",
        "第14.1条",
    ),
    GcpPermission(
        "storage.objects.create",
        "storage v1 objects.insert",
        GcpTarget.AUDIT_BUCKET,
        "write each audit record and each file of the yearly inventory once "
        "(ifGenerationMatch=0); never replaced or deleted",
        "第14.1条",
    ),
    GcpPermission(
        "storage.buckets.get",
        "storage v1 buckets.get",
        GcpTarget.AUDIT_BUCKET,
        "reconciler doctor: read the audit bucket's retention policy and whether Bucket Lock "
        "locked it",
        "第14.1条",
    ),
)

# What the read-only identity of the desired-state repo's pull-request workflow holds on
# GCP: the reads a plan makes, never a write, a secret or signJwt.
PLAN_GCP_PERMISSIONS: frozenset[str] = frozenset(p.permission for p in GCP_PERMISSIONS if p.plan)


def admin_scopes(read_only: bool = False) -> tuple[AdminScope, ...]:
    """The delegation's scopes: the read-only ones for read-only credentials."""
    return READ_ONLY_ADMIN_SCOPES if read_only else ADMIN_SCOPES


def directory_scopes(read_only: bool = False) -> tuple[str, ...]:
    """The scopes the delegation asks for, in the order listed above."""
    return tuple(s.scope for s in admin_scopes(read_only))


def app_permissions(read_only: bool = False) -> tuple[AppPermission, ...]:
    """What the GitHub App must be granted: the read-only App's for read-only credentials."""
    return READ_ONLY_GITHUB_APP_PERMISSIONS if read_only else GITHUB_APP_PERMISSIONS


def scope_of_call(call: str) -> str | None:
    """The scope a Directory API call ("users.list", "members.insert ...") needs: a method
    entry ("users.signOut") wins over its resource's ("users")."""
    method = call.split(" ", 1)[0]
    for key in (method, method.split(".", 1)[0]):
        for scope in ADMIN_SCOPES:
            if key in scope.calls:
                return scope.scope
    return None


# The resource kinds of organization.yaml's systems.gcp and where their permissions live.
_TARGET_OF_KIND = {
    "projects": GcpTarget.PROJECT,
    "folders": GcpTarget.FOLDER,
    "organizations": GcpTarget.ORGANIZATION,
}


def gcp_permissions_for(resource: str) -> tuple[GcpPermission, ...]:
    """What the runtime must hold on one managed resource (`projects/P`, `folders/F`,
    `organizations/N`), each permission once: what `reconciler doctor` asks
    testIamPermissions about."""
    target = _TARGET_OF_KIND.get(resource.split("/", 1)[0])
    return gcp_permissions_on(target) if target is not None else ()


def gcp_permissions_on(target: GcpTarget) -> tuple[GcpPermission, ...]:
    """What the runtime must hold on one kind of place (a managed project, the audit
    bucket, ...), each permission once."""
    unique: dict[str, GcpPermission] = {}
    for permission in GCP_PERMISSIONS:
        if permission.target is target:
            unique.setdefault(permission.permission, permission)
    return tuple(unique.values())
