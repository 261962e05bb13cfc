"""Load and validate the desired-state repo into a `model.DesiredState`; called by the CLI,
the demo and the benchmarks.

`load_desired_state(files)` is pure: it takes {relative path: bytes} so tests need no disk.
`load_desired_dir(directory)` reads them with `reading.read_tree` (the package's only I/O).
Both raise exactly one exception type, `ValidationFailed`, carrying EVERY problem found, each
as a `DesiredStateError(file, line, column, field, message)`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import types
import typing
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, RootModel, ValidationError

from reconciler.desired import formats
from reconciler.desired.checking import Checked, Errors, check_rules
from reconciler.desired.formats import (
    OrganizationFile,
    PersonFile,
    ReviewFile,
    RoleFile,
    RolesFile,
)
from reconciler.desired.layout import MAX_FILES, ORGANIZATION, PEOPLE_DIR, ROLES, FileKind, classify
from reconciler.desired.parsing import ParsedFile, ParseFailed, parse_yaml
from reconciler.desired.problems import DesiredStateError, ValidationFailed
from reconciler.desired.reading import read_tree
from reconciler.desired.reviewing import review_problems
from reconciler.model import (
    BindingMode,
    DesiredState,
    Employment,
    EmploymentType,
    ExtraGrant,
    GcpGrant,
    GcpResourceScope,
    GitHubGrant,
    GitHubScope,
    GitHubTeamGrant,
    GoogleGroupGrant,
    GoogleScope,
    GrantKind,
    NonHumanAccount,
    Organization,
    Person,
    ProtectedAccount,
    ReviewDecision,
    ReviewItem,
    Role,
    SafetyLimits,
    SourceRef,
    System,
    Systems,
    normalise_email,
    normalise_login,
    normalise_member,
)

__all__ = [
    "MAX_FILES",
    "ORGANIZATION",
    "PEOPLE_DIR",
    "ROLES",
    "load_desired_dir",
    "load_desired_state",
    "read_desired_files",
]


def load_desired_state(files: Mapping[str, bytes], *, commit: str | None = None) -> DesiredState:
    """Parse, shape-check and rule-check every file; return the state or raise ValidationFailed.

    `files` maps paths relative to the repo root ("organization.yaml", "roles.yaml",
    "people/e0042.yaml") to raw bytes. Every other path is an error naming it, except those
    `layout.classify` ignores (README.md, schema.json, reviews/, dotfiles), because a
    misplaced or misnamed file would otherwise be silently unused.
    """
    return _load(files, [], commit)


def read_desired_files(directory: str | FsPath) -> dict[str, bytes]:
    """Every desired-state file under `directory`; raises ValidationFailed with every file
    that is refused (symbolic link, too large, misplaced or misnamed), each naming its path."""
    files, problems = read_tree(FsPath(directory))
    if problems:
        raise ValidationFailed(problems)
    return files


def load_desired_dir(directory: str | FsPath, *, commit: str | None = None) -> DesiredState:
    """Read and load `directory`: files refused by the reader and errors inside the files
    read are reported together, so one run shows everything to fix."""
    files, problems = read_tree(FsPath(directory))
    return _load(files, problems, commit)


def _load(
    files: Mapping[str, bytes], refused: list[DesiredStateError], commit: str | None
) -> DesiredState:
    checked, errors = _check(files, refused, exact=frozenset())
    if errors.found:
        # Positions come from the fast parser unless a file is parsed exactly: every file an
        # error names is parsed again by the reference parser and everything re-checked, so
        # what the user reads is what the reference parser says, whatever the fast path did.
        named = frozenset(e.file for e in errors.found) & files.keys()
        checked, errors = _check(files, refused, exact=named)
    if errors.found:
        raise ValidationFailed(errors.found)
    assert checked.organization is not None and checked.roles is not None
    state = _build(checked, commit)
    problems = review_problems(state)
    if problems:
        raise ValidationFailed(problems)
    return state


def _check(
    files: Mapping[str, bytes], refused: list[DesiredStateError], *, exact: frozenset[str]
) -> tuple[Checked, Errors]:
    """Every file's shape, then the rules across files; `exact` names the files to parse
    with the reference parser only (`parsing.parse_yaml(fast=False)`)."""
    errors = Errors(list(refused))
    checked = Checked(None, None, {})
    try:
        checked = _check_files(files, errors, {e.file for e in refused}, exact)
        check_rules(checked, errors)
    except RecursionError:  # defence in depth; parse_yaml caps nesting before this can happen
        errors.found.append(DesiredStateError("", 1, 1, "", "input nested too deeply"))
    return checked, errors


# --------------------------------------------------------------------------------------------
# Shape: parse each file and validate it against its pydantic model.
# --------------------------------------------------------------------------------------------


def _check_files(
    files: Mapping[str, bytes], errors: Errors, refused: set[str], exact: frozenset[str]
) -> Checked:
    """Shape-check each file. `refused` names files the reader already reported (a link, too
    large): they are not "missing" as well, and a refused person file means the set of people
    is incomplete, so cross-file "unknown person" errors are not raised on top."""
    if len(files) > MAX_FILES:
        errors.found.append(
            DesiredStateError("", 1, 1, "", f"{len(files)} files; the limit is {MAX_FILES}")
        )
        return Checked(None, None, {})
    organization: tuple[ParsedFile, OrganizationFile] | None = None
    roles: tuple[ParsedFile, dict[str, RoleFile]] | None = None
    people: dict[str, tuple[ParsedFile, PersonFile]] = {}
    reviews: dict[str, tuple[ParsedFile, ReviewFile]] = {}
    people_complete = not any(name.startswith(PEOPLE_DIR) for name in refused)
    for required in (ORGANIZATION, ROLES):
        if required not in files and required not in refused:
            errors.found.append(DesiredStateError(required, 1, 1, "", "file is missing"))
    for name in sorted(files):
        kind = classify(name)
        if kind is FileKind.IGNORED:
            continue
        if isinstance(kind, str):
            errors.found.append(DesiredStateError(name, 1, 1, "", kind))
            people_complete = people_complete and not name.startswith(PEOPLE_DIR)
            continue
        parsed = parse_file(name, files[name], errors, fast=name not in exact)
        if parsed is None:
            people_complete = people_complete and kind is not FileKind.PERSON
            continue
        if kind is FileKind.ORGANIZATION:
            organization = check_organization_shape(parsed, errors)
        elif kind is FileKind.ROLES:
            data = _validate(parsed, RolesFile, errors)
            roles = (parsed, data.root) if isinstance(data, RolesFile) else None
        elif kind is FileKind.REVIEW:
            review = _validate(parsed, ReviewFile, errors)
            if isinstance(review, ReviewFile):
                reviews[name] = (parsed, review)
        else:
            person = check_person_shape(parsed, errors)
            if person is not None:
                people[name] = person
            else:
                people_complete = False
    return Checked(organization, roles, people, people_complete, reviews)


def check_organization_shape(
    parsed: ParsedFile, errors: Errors
) -> tuple[ParsedFile, OrganizationFile] | None:
    """organization.yaml against its format, or None with the errors added."""
    org = _validate(parsed, OrganizationFile, errors)
    return (parsed, org) if isinstance(org, OrganizationFile) else None


def check_person_shape(parsed: ParsedFile, errors: Errors) -> tuple[ParsedFile, PersonFile] | None:
    """A people/<id>.yaml file against its format, or None with the errors added."""
    person = _validate(parsed, PersonFile, errors)
    return (parsed, person) if isinstance(person, PersonFile) else None


def parse_file(name: str, raw: bytes, errors: Errors, *, fast: bool = True) -> ParsedFile | None:
    """`parse_yaml`, with its problems (and an empty file) added to `errors` instead."""
    try:
        parsed = parse_yaml(name, raw, fast=fast)
    except ParseFailed as exc:
        errors.found.extend(exc.errors)
        return None
    if parsed.data is None:
        errors.found.append(DesiredStateError(name, 1, 1, "", "file is empty"))
        return None
    return parsed


def _validate(parsed: ParsedFile, model: type[BaseModel], errors: Errors) -> BaseModel | None:
    if not isinstance(parsed.data, dict):
        kind = _describe(parsed.data)
        errors.at(parsed, (), f"the file must be a mapping of keys to values, not {kind}")
        return None
    try:
        return model.model_validate(parsed.data)
    except ValidationError as exc:
        problems = exc.errors(include_url=False)
        # `teams: x` where `team:` is required: report the typo once, with its suggestion,
        # not a second time as "required field 'team' is missing".
        misspelt = {
            (*loc[:-1], hint)
            for p in problems
            if p["type"] == "extra_forbidden"
            for loc in [tuple(p["loc"])]
            for hint in _close_keys(model, loc)
        }
        for problem in problems:
            loc = tuple(problem["loc"])
            if problem["type"] == "missing" and loc in misspelt:
                continue
            is_key = problem["type"] == "extra_forbidden"
            errors.at(parsed, loc, _plain(problem, model, loc), key=is_key)
        return None


def _close_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    return difflib.get_close_matches(str(loc[-1]), _allowed_keys(model, loc[:-1]), n=1, cutoff=0.6)


def _plain(problem: Any, model: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    """Pydantic's message, rephrased for a person editing YAML."""
    kind: str = problem["type"]
    value = problem.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(model, loc[:-1])
        hint = _close_keys(model, loc)
        more = f" (did you mean '{hint[0]}'?)" if hint else f" (allowed: {', '.join(allowed)})"
        return f"unknown key '{key}'{more}"
    if kind == "missing":
        return "required field is missing"
    if kind == "string_pattern_mismatch":
        what = _PATTERN_NAMES.get(problem.get("ctx", {}).get("pattern", ""), "has the wrong form")
        return f"'{value}' {what}"
    if kind.startswith(("date_", "datetime_")) and isinstance(value, str):
        return f"'{value}' is not a real calendar date (write YYYY-MM-DD)"
    if kind.startswith("date_"):
        return f"must be a date YYYY-MM-DD (got {_describe(value)})"
    if kind == "literal_error":
        return f"{problem['msg'].replace('Input should be', 'must be')} (got {value!r})"
    message = str(problem["msg"]).replace("Input should be", "must be")
    return f"{message} (got {_describe(value)})"


_PATTERN_NAMES = {
    formats.ID: "must be lower-case letters, digits, '-' or '_'",
    formats.EMAIL: "is not an email address",
    formats.GITHUB_LOGIN: "is not a GitHub login (letters, digits and single hyphens)",
    formats.HH_MM: "must be a time of day like 18:00",
}


def _describe(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {value}".lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dt.datetime):
        return f"date and time {value}"
    if isinstance(value, dt.date):
        return f"date {value}"
    if isinstance(value, str):
        return f"text {value[:40]!r}"
    return f"{type(value).__name__} {value!r}"[:60]


def _allowed_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys valid at `loc`, by walking the model's field annotations."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = options[0]
        else:
            return annotation


def _step(annotation: Any, part: str | int) -> Any:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, RootModel):
        annotation = _unwrap(annotation.model_fields["root"].annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list and isinstance(part, int):
        return args[0]
    if origin is dict:
        return args[1]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        info = annotation.model_fields.get(str(part))
        return info.annotation if info else None
    return None


# --------------------------------------------------------------------------------------------
# Build the model values once everything is valid.
# --------------------------------------------------------------------------------------------


def _build(checked: Checked, commit: str | None) -> DesiredState:
    assert checked.organization is not None and checked.roles is not None
    roles_parsed, roles = checked.roles
    role_values = {
        name: Role(
            name=name,
            description=r.description,
            privileged=r.privileged or r.google_admin,
            google_admin=r.google_admin,
            google_groups=tuple(
                GoogleGroupGrant(normalise_email(g.group), g.role) for g in r.google_groups
            ),
            github=GitHubGrant(
                org_role=r.github.org_role,
                teams=tuple(GitHubTeamGrant(t.team.lower(), t.role) for t in r.github.teams),
            )
            if r.github
            else None,
            gcp=tuple(
                GcpGrant(g.resource, g.role, _ref(roles_parsed, name, "gcp", i, "role"))
                for i, g in enumerate(r.gcp)
            ),
            source=_ref(roles_parsed, name),
            owner=r.owner,
        )
        for name, r in roles.items()
    }
    people = {p.id: build_person(parsed, p) for parsed, p in checked.people.values()}
    reviews = tuple(
        ReviewItem(
            year=review.year,
            reviewer=review.reviewer,
            person_id=item.person,
            kind=GrantKind(item.kind),
            target=item.target,
            role=item.role,
            via=item.via,
            decision=ReviewDecision(item.decision) if item.decision else None,
            comment=item.comment or "",
            source=_ref(parsed, "grants", i),
        )
        for _, (parsed, review) in sorted(checked.reviews.items())
        for i, item in enumerate(review.grants)
    )
    return DesiredState(
        organization=build_organization(*checked.organization),
        roles=role_values,
        people=dict(sorted(people.items())),
        commit=commit,
        reviews=reviews,
    )


def _ref(parsed: ParsedFile, *path: str | int) -> SourceRef:
    line, column = parsed.position(path)
    return SourceRef(parsed.name, line, column)


def build_organization(org_parsed: ParsedFile, org: OrganizationFile) -> Organization:
    """The model value of a valid organization.yaml (also used by emergency offboarding)."""
    systems = org.systems
    return Organization(
        name=org.name,
        domains=tuple(d.lower() for d in org.domains),
        timezone=org.timezone,
        language=org.language,
        security_officer=org.security_officer,
        chief_officer=org.chief_officer,
        offboarding_time=dt.time.fromisoformat(org.offboarding_time),
        systems=Systems(
            google=GoogleScope(
                customer=systems.google.customer,
                domain=systems.google.domain.lower(),
                admin_subject=normalise_email(systems.google.admin_subject)
                if systems.google.admin_subject
                else None,
            )
            if systems.google
            else None,
            github=GitHubScope(org=normalise_login(systems.github.org)) if systems.github else None,
            gcp=tuple(
                GcpResourceScope(
                    resource=r.resource,
                    mode=BindingMode(r.mode),
                    environment=r.environment,
                    require_audit_logs=r.require_audit_logs,
                )
                for r in (systems.gcp.resources if systems.gcp else [])
            ),
        ),
        protected_accounts=tuple(
            ProtectedAccount(System(a.system), _identity(a.system, a.identity), a.reason)
            for a in org.protected_accounts
        ),
        non_human_accounts=tuple(
            NonHumanAccount(
                id=a.id,
                system=System(a.system),
                identity=_identity(a.system, a.identity),
                owner=a.owner or "",
                purpose=a.purpose,
                source=_ref(org_parsed, "non_human_accounts", i),
            )
            for i, a in enumerate(org.non_human_accounts)
        ),
        limits=SafetyLimits(
            max_removals=org.limits.max_removals,
            max_removal_ratio=org.limits.max_removal_ratio,
            max_offboardings=org.limits.max_offboardings,
            dormant_after_days=org.limits.dormant_after_days,
            stale_invitation_days=org.limits.stale_invitation_days,
        ),
        source=_ref(org_parsed),
    )


def build_person(parsed: ParsedFile, p: PersonFile) -> Person:
    """The model value of a people/<id>.yaml file that passed its shape check."""
    return Person(
        id=p.id,
        name=p.name,
        email=normalise_email(p.email),
        employment=Employment(
            type=EmploymentType(p.employment.type),
            start=p.employment.start,
            end=p.employment.end,
            nda=p.employment.nda,
        ),
        roles=tuple(p.roles),
        grants=tuple(
            ExtraGrant(
                role=g.role,
                approved_by=g.approved_by or "",
                reason=g.reason,
                expires=g.expires,
                approved_on=g.approved_on,
                source=_ref(parsed, "grants", i),
            )
            for i, g in enumerate(p.grants)
        ),
        github=normalise_login(p.github) if p.github else None,
        github_id=p.github_id,
        previous_github_logins=tuple(normalise_login(x) for x in p.previous_github_logins),
        recovery_email=normalise_email(p.recovery_email) if p.recovery_email else None,
        department=p.department,
        title=p.title,
        source=_ref(parsed),
        manager=p.manager,
        training=p.training,
        role_sources=tuple(_ref(parsed, "roles", i) for i in range(len(p.roles))),
    )


def _identity(system: str, identity: str) -> str:
    """A protected or non-human identity as grants spell it: a GCP one may be an IAM member
    (`serviceAccount:…`, `user:…`), whose type keeps the API's spelling."""
    if system == "github":
        return normalise_login(identity)
    return normalise_member(identity) if system == "gcp" else normalise_email(identity)
