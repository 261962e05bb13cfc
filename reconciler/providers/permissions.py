"""The one declarative list of what the product needs in each system: Admin SDK scopes of the
domain-wide delegation, GitHub App permissions, GCP IAM permissions, each with why and the
policy article it serves. Read by `providers.google_auth` (the scopes it asks for), by
`providers.doctor` (what `reconciler doctor` checks) and by the deployment docs.

Least privilege (policy 第5.1条): every entry names the calls that need it; nothing is listed
"just in case". A GCP entry also says on which kinds of resource it is needed, because IAM
permissions are held per resource and `testIamPermissions` checks them there.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.model import System


@dataclass(frozen=True)
class Requirement:
    """One thing the deployment must grant. `name` is spelt as the system spells it: a scope
    URL, `permission:level` for a GitHub App (`members:write`), an IAM permission. For GCP,
    `resources` lists the resource kinds it is needed on (`projects`, `folders`,
    `organizations`)."""

    system: System
    name: str
    why: str
    article: str = "第5.1条"
    resources: tuple[str, ...] = ()


_ADMIN = "https://www.googleapis.com/auth/admin.directory."

GOOGLE_SCOPES: tuple[Requirement, ...] = (
    Requirement(
        System.GOOGLE,
        _ADMIN + "user",
        "users.list/get to read accounts; users.insert/patch to create and suspend them",
    ),
    Requirement(
        System.GOOGLE,
        _ADMIN + "user.security",
        "tokens.list/delete, asps.list/delete, users.signOut: a leaver's sessions, OAuth "
        "tokens and app passwords are cut first",
        "第5.2条3",
    ),
    Requirement(System.GOOGLE, _ADMIN + "group.readonly", "groups.list to read the groups"),
    Requirement(
        System.GOOGLE,
        _ADMIN + "group.member",
        "members.list/insert/patch/delete to read and change group memberships",
    ),
)

GITHUB_APP_PERMISSIONS: tuple[Requirement, ...] = (
    Requirement(
        System.GITHUB,
        "members:write",
        "organisation members, invitations, teams and outside collaborators: read and change",
    ),
    Requirement(
        System.GITHUB,
        "organization_administration:read",
        "the organisation's settings, such as whether two-factor authentication is required",
    ),
)

_PROJECTS, _FOLDERS, _ORGS = ("projects",), ("folders",), ("organizations",)

GCP_PERMISSIONS: tuple[Requirement, ...] = (
    Requirement(System.GCP, "resourcemanager.projects.getIamPolicy",
                "read the IAM policy of each project in scope", resources=_PROJECTS),
    Requirement(System.GCP, "resourcemanager.projects.setIamPolicy",
                "add and remove bindings on each project in scope", resources=_PROJECTS),
    Requirement(System.GCP, "resourcemanager.folders.getIamPolicy",
                "read the IAM policy of each folder in scope", resources=_FOLDERS),
    Requirement(System.GCP, "resourcemanager.folders.setIamPolicy",
                "add and remove bindings on each folder in scope", resources=_FOLDERS),
    Requirement(System.GCP, "resourcemanager.organizations.getIamPolicy",
                "read the organization's IAM policy", resources=_ORGS),
    Requirement(System.GCP, "resourcemanager.organizations.setIamPolicy",
                "add and remove bindings on the organization", resources=_ORGS),
    Requirement(System.GCP, "iam.serviceAccounts.list",
                "list each project's service accounts (non-human accounts, 第5.1条)",
                resources=_PROJECTS),
    Requirement(System.GCP, "iam.serviceAccountKeys.list",
                "list service-account keys: user-managed keys are a finding (第4.1条)",
                "第4.1条", resources=_PROJECTS),
    Requirement(System.GCP, "iam.roles.list",
                "check that every custom role roles.yaml names exists",
                resources=(*_PROJECTS, *_ORGS)),
    Requirement(System.GCP, "cloudasset.assets.searchAllIamPolicies",
                "emergency offboarding finds every binding of one person under the "
                "organization", "第5.2条3", resources=_ORGS),
)  # fmt: skip

REQUIREMENTS: tuple[Requirement, ...] = GOOGLE_SCOPES + GITHUB_APP_PERMISSIONS + GCP_PERMISSIONS


def gcp_permissions_for(resource: str) -> tuple[Requirement, ...]:
    """The IAM permissions needed on `resource` ("projects/example-prod"), by its kind."""
    kind = resource.split("/", 1)[0]
    return tuple(r for r in GCP_PERMISSIONS if kind in r.resources)
