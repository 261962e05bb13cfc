"""Cross-file rules of the desired-state repo, each serving a policy article.

Called by `loading` once every file has the right shape; pure, no clock: rules about dates
compare dates written in the files, never "today". Every rule adds a positioned error and
carries on, so one run reports everything.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reconciler.desired.formats import OrganizationFile, PersonFile, ReviewFile, RoleFile
from reconciler.desired.parsing import ParsedFile, Path, dotted
from reconciler.desired.problems import DesiredStateError
from reconciler.model import normalise_email, normalise_login

# GCP resource and role names as the Resource Manager and IAM APIs spell them
# (cloudresourcemanager v3: "projects/{project_id}", "folders/{folder_id}",
# "organizations/{organization_id}"; IAM roles: predefined "roles/x", custom
# "projects/P/roles/x" and "organizations/N/roles/x", a custom role id being 3 to 64
# letters, digits, underscores and periods, CreateRoleRequest.role_id). Only the form: whether
# IAM has the role is checked by plan and apply (`gcp_roles`), which can ask it.
GCP_RESOURCE = re.compile(
    r"^(projects/[a-z][a-z0-9-]{4,28}[a-z0-9]|folders/[0-9]+|organizations/[0-9]+)$"
)
GCP_ROLE = re.compile(
    r"^(roles/[A-Za-z0-9_.]+|projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/roles/[A-Za-z0-9_.]{3,64}"
    r"|organizations/[0-9]+/roles/[A-Za-z0-9_.]{3,64})$"
)
# GCP roles that let their holder grant access to others or own everything: a role holding one
# of them must be marked privileged (policy 第10.2条: privileged IDs only for the security officer).
PRIVILEGED_GCP_ROLES = frozenset(
    {
        "roles/owner",
        "roles/resourcemanager.organizationAdmin",
        "roles/resourcemanager.folderAdmin",
        "roles/resourcemanager.projectIamAdmin",
        "roles/iam.securityAdmin",
        "roles/iam.organizationRoleAdmin",
        "roles/iam.serviceAccountTokenCreator",
    }
)
# Policy 第5.1条: personal accounts only. Local parts (or GitHub logins) that name a function
# rather than a person are how shared accounts usually look.
SHARED_NAMES = frozenset(
    {
        "admin", "administrator", "all", "contact", "dev", "devs", "developers", "dev-team",
        "everyone", "guest", "help", "helpdesk", "hr", "info", "it", "office", "ops", "root",
        "sales", "security", "service", "shared", "staff", "support", "sysadmin", "team",
        "test", "user",
    }
)  # fmt: skip
_SHARED_WORDS = frozenset({"shared", "team", "common", "generic"})


def looks_shared(name: str) -> bool:
    """True for `dev-team`, `info`, `shared.ops`, `support`; false for `taro.yamada`."""
    local = name.split("@", 1)[0].lower()
    if local in SHARED_NAMES:
        return True
    return any(word in _SHARED_WORDS for word in re.split(r"[-._+]", local))


def suggest(word: str, choices: object) -> str:
    """` (did you mean 'x'?)` when a close match exists, else ``."""
    options = (
        [str(c) for c in choices]
        if isinstance(choices, list | tuple | set | frozenset | dict)
        else []
    )
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass
class Errors:
    """Collects positioned errors; `at` looks the line and column up in the parsed file."""

    found: list[DesiredStateError] = field(default_factory=list)

    def at(self, parsed: ParsedFile, path: Path, message: str, *, key: bool = False) -> None:
        line, column = parsed.position(path, key=key)
        self.found.append(DesiredStateError(parsed.name, line, column, dotted(path), message))


@dataclass(frozen=True)
class Checked:
    """The files that passed their shape check, with their parse positions."""

    organization: tuple[ParsedFile, OrganizationFile] | None
    roles: tuple[ParsedFile, dict[str, RoleFile]] | None
    people: Mapping[str, tuple[ParsedFile, PersonFile]]  # file name -> person
    # False when a person file failed to parse: "unknown person" is then not reported, since
    # the person may simply be in that broken file (already reported on its own).
    people_complete: bool = True
    reviews: Mapping[str, tuple[ParsedFile, ReviewFile]] = field(default_factory=dict)


def check_rules(files: Checked, errors: Errors) -> None:
    """Every cross-file rule. Rules needing a file that failed its shape check are skipped
    (that file already has errors), so one typo does not cascade into dozens of errors."""
    people = {p.id: p for _, p in files.people.values()}
    org = files.organization[1] if files.organization else None
    # An unknown officer is reported once, on organization.yaml; checking holders and
    # approvers against them would only repeat it on every person file.
    officer = org.security_officer if org and org.security_officer in people else None
    roles = files.roles[1] if files.roles else None
    if files.organization:
        _check_organization(*files.organization, people if files.people_complete else None, errors)
    if files.roles:
        _check_roles(*files.roles, org, errors)
        if files.people_complete:
            _check_role_owners(*files.roles, people, errors)
    _check_people(files, org, roles, officer, errors)
    _check_review_files(files, people, errors)


def _check_role_owners(
    parsed: ParsedFile, roles: dict[str, RoleFile], people: Mapping[str, PersonFile], errors: Errors
) -> None:
    for name, role in roles.items():
        if role.owner is not None and role.owner not in people:
            errors.at(
                parsed,
                (name, "owner"),
                f"unknown person '{role.owner}'{suggest(role.owner, list(people))}",
            )


def _check_review_files(files: Checked, people: Mapping[str, PersonFile], errors: Errors) -> None:
    """The file-level rules of reviews/YYYY/<reviewer>.yaml: the year and reviewer the file
    says are the ones its path says, the reviewer and every person are in the repo. Whether
    each listed grant exists is checked on the loaded model (`reviewing.review_problems`)."""
    for file_name, (parsed, review) in sorted(files.reviews.items()):
        _, year, stem = file_name.removesuffix(".yaml").split("/")
        if str(review.year) != year:
            errors.at(parsed, ("year",), f"year {review.year} does not match the folder {year}/")
        if review.reviewer != stem:
            errors.at(
                parsed,
                ("reviewer",),
                f"reviewer '{review.reviewer}' does not match the file name '{file_name}'",
            )
        if not files.people_complete:
            continue
        if review.reviewer not in people:
            errors.at(
                parsed,
                ("reviewer",),
                f"unknown person '{review.reviewer}'{suggest(review.reviewer, list(people))}",
            )
        for i, item in enumerate(review.grants):
            if item.person not in people:
                errors.at(
                    parsed,
                    ("grants", i, "person"),
                    f"unknown person '{item.person}'{suggest(item.person, list(people))}",
                )
            elif item.person == review.reviewer and item.decision is not None:
                errors.at(
                    parsed,
                    ("grants", i, "decision"),
                    f"{review.reviewer} decides on their own grant: a reviewer never reviews "
                    "their own access (policy 第5.2条2); move it to another reviewer's file",
                )


def _check_organization(
    parsed: ParsedFile,
    org: OrganizationFile,
    people: Mapping[str, PersonFile] | None,
    errors: Errors,
) -> None:
    domains = {d.lower() for d in org.domains}
    try:
        ZoneInfo(org.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.at(
            parsed,
            ("timezone",),
            f"unknown timezone '{org.timezone}' (use an IANA name like Asia/Tokyo)",
        )
    if people is not None:
        for name in ("security_officer", "chief_officer"):
            pid = getattr(org, name)
            if pid is not None and pid not in people:
                errors.at(parsed, (name,), f"unknown person '{pid}'{suggest(pid, list(people))}")
    google = org.systems.google
    if google is not None:
        if google.domain.lower() not in domains:
            errors.at(
                parsed,
                ("systems", "google", "domain"),
                f"'{google.domain}' is not one of the organisation's domains",
            )
        if google.admin_subject and _domain(google.admin_subject) not in domains:
            errors.at(
                parsed,
                ("systems", "google", "admin_subject"),
                "the admin subject must be an account in the organisation's domains",
            )
    seen: dict[str, int] = {}
    resources = org.systems.gcp.resources if org.systems.gcp else []
    for i, res in enumerate(resources):
        path: Path = ("systems", "gcp", "resources", i, "resource")
        if not GCP_RESOURCE.match(res.resource):
            errors.at(
                parsed,
                path,
                f"malformed GCP resource '{res.resource}' (expected projects/ID, folders/NUMBER "
                "or organizations/NUMBER)",
            )
        if res.resource in seen:
            errors.at(
                parsed,
                path,
                f"resource '{res.resource}' is listed twice (first as "
                f"resources[{seen[res.resource]}])",
            )
        seen.setdefault(res.resource, i)
    for i, acct in enumerate(org.protected_accounts):
        _check_identity(
            parsed, ("protected_accounts", i, "identity"), acct.system, acct.identity, errors
        )
    ids: dict[str, int] = {}
    for i, nh in enumerate(org.non_human_accounts):
        base: Path = ("non_human_accounts", i)
        _check_identity(parsed, (*base, "identity"), nh.system, nh.identity, errors)
        if nh.id in ids:
            errors.at(parsed, (*base, "id"), f"duplicate non-human account id '{nh.id}'")
        ids.setdefault(nh.id, i)
        if nh.owner is None:
            errors.at(
                parsed,
                base,
                f"non-human account '{nh.id}' has no owner: every service account or bot is owned "
                "by a person (policy 第5.1条)",
            )
        elif people is not None and nh.owner not in people:
            errors.at(
                parsed,
                (*base, "owner"),
                f"unknown owner '{nh.owner}'{suggest(nh.owner, list(people))}",
            )


def _check_identity(
    parsed: ParsedFile, path: Path, system: str, identity: str, errors: Errors
) -> None:
    if system == "github":
        if "@" in identity or not re.match(r"^[A-Za-z0-9](?:-?[A-Za-z0-9])*$", identity):
            errors.at(parsed, path, f"'{identity}' is not a GitHub login")
    elif "@" not in identity:
        errors.at(parsed, path, f"'{identity}' is not an email address or IAM member")


def _check_roles(
    parsed: ParsedFile, roles: dict[str, RoleFile], org: OrganizationFile | None, errors: Errors
) -> None:
    domains = {d.lower() for d in org.domains} if org else None
    in_scope = {r.resource for r in org.systems.gcp.resources} if org and org.systems.gcp else set()
    for name, role in roles.items():
        if role.google_admin and not role.privileged:
            errors.at(
                parsed,
                (name, "google_admin"),
                "a Workspace super admin role must be marked 'privileged: true' (policy 第10.2条)",
            )
        if role.github and role.github.org_role == "admin" and not role.privileged:
            errors.at(
                parsed,
                (name, "github", "org_role"),
                "GitHub organisation owners are privileged: mark the role 'privileged: true' "
                "(policy 第10.2条)",
            )
        if org is not None:
            if role.github and org.systems.github is None:
                errors.at(
                    parsed,
                    (name, "github"),
                    "the role grants GitHub access but organization.yaml has no systems.github",
                )
            if (role.google_groups or role.google_admin) and org.systems.google is None:
                errors.at(
                    parsed,
                    (name,),
                    "the role grants Google Workspace access but organization.yaml has no "
                    "systems.google",
                )
        for i, group in enumerate(role.google_groups):
            if domains is not None and _domain(group.group) not in domains:
                errors.at(
                    parsed,
                    (name, "google_groups", i, "group"),
                    f"group '{group.group}' is not in the organisation's domains",
                )
        for i, gcp in enumerate(role.gcp):
            base: Path = (name, "gcp", i)
            if not GCP_ROLE.match(gcp.role):
                errors.at(
                    parsed,
                    (*base, "role"),
                    f"malformed GCP role '{gcp.role}' (expected roles/NAME, "
                    "projects/ID/roles/NAME or organizations/NUMBER/roles/NAME)",
                )
            elif gcp.role in PRIVILEGED_GCP_ROLES and not role.privileged:
                errors.at(
                    parsed,
                    (*base, "role"),
                    f"'{gcp.role}' can grant access to others: mark the role 'privileged: true' "
                    "(policy 第10.2条)",
                )
            if not GCP_RESOURCE.match(gcp.resource):
                errors.at(
                    parsed,
                    (*base, "resource"),
                    f"malformed GCP resource '{gcp.resource}' (expected projects/ID, "
                    "folders/NUMBER or organizations/NUMBER)",
                )
            elif org is not None and gcp.resource not in in_scope:
                errors.at(
                    parsed,
                    (*base, "resource"),
                    f"resource '{gcp.resource}' is not in organization.yaml "
                    f"systems.gcp.resources{suggest(gcp.resource, sorted(in_scope))}",
                )


def _check_people(
    files: Checked,
    org: OrganizationFile | None,
    roles: dict[str, RoleFile] | None,
    officer: str | None,
    errors: Errors,
) -> None:
    domains = {d.lower() for d in org.domains} if org else None
    owners: dict[tuple[str, str], str] = {}  # (what, normalised value) -> file that has it
    people_ids = sorted(p.id for _, p in files.people.values())
    for file_name, (parsed, person) in sorted(files.people.items()):
        stem = file_name.removeprefix("people/").removesuffix(".yaml")
        if stem != person.id:
            errors.at(
                parsed,
                ("id",),
                f"id '{person.id}' does not match the file name '{file_name}' (name the file "
                f"people/{person.id}.yaml)",
            )
        unique: list[tuple[str, str, Path]] = [
            ("id", person.id, ("id",)),
            ("email", normalise_email(person.email), ("email",)),
        ]
        if person.github:
            unique.append(("GitHub login", normalise_login(person.github), ("github",)))
        if person.github_id is not None:
            unique.append(("GitHub id", str(person.github_id), ("github_id",)))
        unique += [
            ("GitHub login", normalise_login(login), ("previous_github_logins", i))
            for i, login in enumerate(person.previous_github_logins)
        ]
        for what, value, path in unique:
            other = owners.get((what, value))
            if other is not None and other != file_name:
                errors.at(parsed, path, f"duplicate {what} '{value}': already used in {other}")
            owners.setdefault((what, value), file_name)
        if domains is not None and _domain(person.email) not in domains:
            errors.at(
                parsed,
                ("email",),
                f"'{person.email}' is not in the organisation's domains "
                f"({', '.join(sorted(domains))}): the primary email is the Workspace account",
            )
        if (
            person.recovery_email
            and domains is not None
            and _domain(person.recovery_email) in domains
        ):
            errors.at(
                parsed,
                ("recovery_email",),
                "the recovery email must be a personal address outside the organisation",
            )
        for path, name in [(("email",), person.email), (("github",), person.github or "")]:
            if name and looks_shared(name):
                errors.at(
                    parsed,
                    path,
                    f"'{name}' looks like a shared account: accounts are personal (policy 第5.1条)",
                )
        _check_employment(parsed, person, errors)
        if person.manager is not None:
            if person.manager == person.id:
                errors.at(parsed, ("manager",), "a person cannot be their own manager")
            elif files.people_complete and person.manager not in people_ids:
                errors.at(
                    parsed,
                    ("manager",),
                    f"unknown person '{person.manager}'{suggest(person.manager, people_ids)}",
                )
        if roles is not None:
            _check_person_roles(parsed, person, roles, officer, errors)


def _check_employment(parsed: ParsedFile, person: PersonFile, errors: Errors) -> None:
    job = person.employment
    if job.end is not None and job.end < job.start:
        errors.at(parsed, ("employment", "end"), f"end {job.end} is before start {job.start}")
    if job.type == "contractor":
        if job.nda is None:
            errors.at(
                parsed,
                ("employment",),
                "a contractor needs an NDA date ('nda: YYYY-MM-DD', policy 第6.1条)",
            )
        elif job.nda > job.start:
            errors.at(
                parsed,
                ("employment", "nda"),
                f"the NDA ({job.nda}) must be signed before work starts ({job.start}) (policy "
                "第6.1条)",
            )


def _check_person_roles(
    parsed: ParsedFile,
    person: PersonFile,
    roles: dict[str, RoleFile],
    officer: str | None,
    errors: Errors,
) -> None:
    seen: set[str] = set()
    for i, name in enumerate(person.roles):
        if name in seen:
            errors.at(parsed, ("roles", i), f"role '{name}' is listed twice")
        seen.add(name)
        role = roles.get(name)
        if role is None:
            errors.at(parsed, ("roles", i), f"unknown role '{name}'{suggest(name, list(roles))}")
        elif _is_privileged(role) and officer is not None and person.id != officer:
            errors.at(
                parsed,
                ("roles", i),
                f"role '{name}' is privileged: only the security officer may hold it; anyone else "
                "needs an approved, time-boxed grant (policy 第10.2条)",
            )
    for i, grant in enumerate(person.grants):
        base: Path = ("grants", i)
        role = roles.get(grant.role)
        if role is None:
            errors.at(
                parsed,
                (*base, "role"),
                f"unknown role '{grant.role}'{suggest(grant.role, list(roles))}",
            )
        if grant.approved_by is None:
            errors.at(
                parsed,
                base,
                "the grant has no approver: extra access needs the security officer's approval "
                "('approved_by', policy 第5.2条1)",
            )
        elif officer is not None and grant.approved_by != officer:
            errors.at(
                parsed,
                (*base, "approved_by"),
                f"'{grant.approved_by}' is not the security officer ({officer}): only the "
                "security officer approves access (policy 第5.2条1)",
            )
        if (
            role is not None
            and _is_privileged(role)
            and grant.expires is None
            and person.id != officer
        ):
            errors.at(
                parsed,
                base,
                f"role '{grant.role}' is privileged: the grant must be time-boxed ('expires: "
                "YYYY-MM-DD', policy 第10.2条)",
            )
        if grant.expires and grant.approved_on and grant.expires < grant.approved_on:
            errors.at(
                parsed,
                (*base, "expires"),
                f"expires {grant.expires} is before approved_on {grant.approved_on}",
            )


def _is_privileged(role: RoleFile) -> bool:
    return role.privileged or role.google_admin


def _domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower()
