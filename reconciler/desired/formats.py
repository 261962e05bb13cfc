"""The file formats of the desired-state repo as pydantic models (extra keys forbidden).

Used by `loading` to check the shape of each file and by `reconciler schema` to generate
`desired_state/schema.json`. These are the *files*; the values the rest of the product uses
are the dataclasses in `reconciler.model`, built from these by `loading`.
Strict mode: YAML already gives typed values (unquoted dates are dates, numbers are numbers),
so a quoted "123" where a number belongs is a mistake worth reporting, not coercing.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

# GitHub: alphanumerics and single hyphens, not at either end, at most 39 characters.
GITHUB_LOGIN = r"^[A-Za-z0-9](?:-?[A-Za-z0-9])*$"
# Person and role ids are file names and appear in logs: keep them plain.
ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
HH_MM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"

PersonId = Annotated[str, Field(pattern=ID, description="a person id, e.g. e0042")]
Email = Annotated[str, Field(pattern=EMAIL)]
Text = Annotated[str, Field(min_length=1)]
Login = Annotated[str, Field(pattern=GITHUB_LOGIN, max_length=39)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class EmploymentFile(_Strict):
    type: Literal["employee", "contractor", "director"] = Field(
        description="employee, contractor (業務委託: needs nda) or director (取締役)"
    )
    start: dt.date = Field(description="first day of work (YYYY-MM-DD, organisation timezone)")
    end: dt.date | None = Field(None, description="LAST day of work; access ends that day")
    nda: dt.date | None = Field(None, description="date the NDA was signed (contractors)")


class GrantFile(_Strict):
    role: Text = Field(description="a role defined in roles.yaml")
    approved_by: PersonId | None = Field(None, description="person id of the security officer")
    approved_on: dt.date | None = None
    expires: dt.date | None = Field(None, description="last day the grant is valid (inclusive)")
    reason: Text = Field(description="why the grant exists (ticket, incident)")


class PersonFile(_Strict):
    """people/<id>.yaml: one person, named after their id."""

    id: PersonId
    name: Text
    email: Email = Field(description="Google Workspace primary email, in the org's domains")
    github: Login | None = None
    github_id: Annotated[int, Field(gt=0)] | None = Field(
        None, description="GitHub's numeric user id: survives login renames"
    )
    previous_github_logins: list[Login] = []
    recovery_email: Email | None = Field(None, description="personal address outside the org")
    department: Text | None = None
    title: Text | None = None
    employment: EmploymentFile
    manager: PersonId | None = Field(
        None, description="person id of the manager, who reviews this person's access yearly"
    )
    training: dt.date | None = Field(
        None, description="date of the last security training (policy 第11.1条: yearly)"
    )
    roles: list[Text] = []
    grants: list[GrantFile] = []


class GoogleGroupFile(_Strict):
    group: Email
    role: Literal["MEMBER", "MANAGER", "OWNER"] = "MEMBER"


class GitHubTeamFile(_Strict):
    team: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")] = Field(
        description="team slug"
    )
    role: Literal["member", "maintainer"] = "member"


class GitHubRoleFile(_Strict):
    org_role: Literal["member", "admin"] = "member"
    teams: list[GitHubTeamFile] = []


class GcpRoleFile(_Strict):
    resource: Text = Field(description="projects/ID, folders/NUM or organizations/NUM")
    role: Text = Field(description="roles/NAME, projects/ID/roles/NAME or organizations/N/roles/N")


class RoleFile(_Strict):
    description: str = ""
    privileged: bool = Field(
        False, description="only the security officer, or an approved time-boxed grant"
    )
    google_admin: bool = Field(False, description="Workspace super admin (privileged by nature)")
    owner: PersonId | None = Field(
        None, description="person id accountable for the role; reviews holders without a manager"
    )
    google_groups: list[GoogleGroupFile] = []
    github: GitHubRoleFile | None = None
    gcp: list[GcpRoleFile] = []


class RolesFile(RootModel[dict[Annotated[str, Field(pattern=ID)], RoleFile]]):
    """roles.yaml: role name -> what the role grants in each system."""


class GoogleSystemFile(_Strict):
    customer: Text = Field(description="Workspace customer id (e.g. C01example)")
    domain: Text = Field(description="primary domain")
    admin_subject: Email | None = Field(None, description="admin impersonated by delegation")


class GitHubSystemFile(_Strict):
    org: Login


class GcpResourceFile(_Strict):
    resource: Text
    mode: Literal["additive", "authoritative"] = "additive"
    environment: Literal["dev", "stg", "prod"] | None = None
    require_audit_logs: bool = True


class GcpSystemFile(_Strict):
    resources: list[GcpResourceFile] = []


class SystemsFile(_Strict):
    google: GoogleSystemFile | None = None
    github: GitHubSystemFile | None = None
    gcp: GcpSystemFile | None = None


class ProtectedAccountFile(_Strict):
    system: Literal["google", "github", "gcp"]
    identity: Text = Field(description="email, GitHub login or IAM member")
    reason: Text


class NonHumanAccountFile(_Strict):
    id: PersonId
    system: Literal["google", "github", "gcp"]
    identity: Text = Field(description="service account email, bot login or account email")
    owner: PersonId | None = Field(None, description="person id accountable for the account")
    purpose: str = ""


class LimitsFile(_Strict):
    max_removals: Annotated[int, Field(ge=0)] = 20
    max_removal_ratio: Annotated[float, Field(ge=0, le=1)] = 0.1
    max_offboardings: Annotated[int, Field(ge=1)] | None = Field(
        None,
        description="leavers one run may offboard without --allow-mass-offboarding; "
        "default: the larger of 3 and 5% of the people",
    )
    dormant_after_days: Annotated[int, Field(gt=0)] = 90
    stale_invitation_days: Annotated[int, Field(gt=0)] = 7


class OrganizationFile(_Strict):
    """organization.yaml: who we are, what is in scope, who approves, the safety limits."""

    name: Text
    domains: Annotated[list[Text], Field(min_length=1)]
    timezone: Text = Field(description="IANA timezone, e.g. Asia/Tokyo")
    offboarding_time: Annotated[str, Field(pattern=HH_MM)] = Field(
        "18:00", description="local time access is cut on a person's last day (HH:MM)"
    )
    security_officer: PersonId = Field(description="person id of the security officer (CTO)")
    chief_officer: PersonId | None = Field(None, description="最高責任者 (CEO)")
    language: Literal["ja", "en"] | None = Field(
        None,
        description="language of reports and plans (ja or en) unless --lang says otherwise; "
        "default en",
    )
    systems: SystemsFile
    protected_accounts: list[ProtectedAccountFile] = []
    non_human_accounts: list[NonHumanAccountFile] = []
    limits: LimitsFile = LimitsFile()


class ReviewGrantFile(_Strict):
    person: PersonId
    kind: Literal[
        "google_account",
        "google_group",
        "github_org",
        "github_team",
        "github_collaborator",
        "gcp_binding",
    ]
    target: Text = Field(description="group email, org, org/team or GCP resource")
    role: Text
    via: str = Field("", description="the role or extra grant that gives it (for the reader)")
    privileged: bool = False
    decision: Literal["keep", "revoke"] | None = Field(
        description="keep or revoke; leave it empty (null) while undecided"
    )
    comment: str | None = None


class ReviewFile(_Strict):
    """reviews/YYYY/<reviewer>.yaml: one reviewer's decisions in the yearly access review,
    written by `reconciler review start`."""

    year: Annotated[int, Field(ge=2000, le=9999)]
    reviewer: PersonId
    grants: list[ReviewGrantFile] = []


def json_schema() -> dict[str, Any]:
    """One JSON Schema for all four file kinds (editors pick the alternative that fits)."""
    organization = OrganizationFile.model_json_schema(ref_template="#/$defs/{model}")
    roles = RolesFile.model_json_schema(ref_template="#/$defs/{model}")
    person = PersonFile.model_json_schema(ref_template="#/$defs/{model}")
    review = ReviewFile.model_json_schema(ref_template="#/$defs/{model}")
    defs: dict[str, Any] = {}
    for schema in (organization, roles, person, review):
        defs.update(schema.pop("$defs", {}))
    defs["OrganizationFile"] = organization
    defs["RolesFile"] = roles
    defs["PersonFile"] = person
    defs["ReviewFile"] = review
    names = ("OrganizationFile", "RolesFile", "PersonFile", "ReviewFile")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "reconciler desired state",
        "description": "organization.yaml, roles.yaml, people/<id>.yaml or reviews/YYYY/<id>.yaml",
        "anyOf": [{"$ref": f"#/$defs/{name}"} for name in names],
        "$defs": dict(sorted(defs.items())),
    }


def json_schema_text() -> str:
    """The committed form of the schema (stable key order, trailing newline)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
