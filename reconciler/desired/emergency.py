"""Load only what an emergency offboarding needs from the desired-state repo; called by
`reconciler offboard PERSON --now`.

The full loader refuses the whole repo when any file is broken, and at 10,000 people it
spends most of half a minute parsing YAML. Neither may delay cutting a compromised or
departed person's access, so this reads organization.yaml (scope, protected and non-human
accounts, limits: the safety guards) and the one person's file, and nothing else. Problems in
the person's file that do not prevent offboarding them become warnings; a broken
organization.yaml is still a hard error, because the guards come from it.

Example, as the CLI should call it::

    try:
        found = load_for_offboarding(directory, person, email=email, github=github)
    except ValidationFailed as failed:  # organization.yaml unreadable or invalid
        ...print each failed.errors[i].render(str(directory)); exit 1
    except ValueError as exc:  # PERSON / --email / --github malformed: one line
        ...print exc; exit 1
    for line in (*found.warnings, *found.problems):
        err_console.print(f"warning: {line}")
    if found.person is None:
        ...exit 1: not found or file broken, and no --email to act on
    offboard_now(found.desired_state(), found.person, providers, ctx)
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from reconciler.desired.checking import Checked, Errors, check_rules
from reconciler.desired.formats import EMAIL, GITHUB_LOGIN, ID, OrganizationFile
from reconciler.desired.layout import ORGANIZATION, person_file
from reconciler.desired.loading import (
    build_organization,
    build_person,
    check_organization_shape,
    check_person_shape,
    parse_file,
)
from reconciler.desired.parsing import ParsedFile
from reconciler.desired.problems import DesiredStateError, ValidationFailed
from reconciler.desired.reading import person_names, read_file
from reconciler.model import (
    DesiredState,
    Employment,
    EmploymentType,
    Organization,
    Person,
    normalise_email,
    normalise_login,
)

# A stand-in person's start date is never used: offboarding sets start and end to today at
# the latest (`leaving_now`). A fixed past date keeps the core free of the clock.
STAND_IN_START = dt.date(2000, 1, 1)


@dataclass(frozen=True)
class EmergencyDesired:
    """The organisation, the person to offboard, and what went wrong finding them.

    `person` is None when their file is missing, broken or ambiguous and the operator gave no
    email to act on; `problems` says why (or why `person` is a stand-in built from the
    operator's `email` / `github`). `warnings` are problems in the files read that do not
    prevent the offboarding. Every line is `file:line:column: field: message`, under the
    directory given. `parsed` names the files parsed (two at most, plus any candidates a
    text search found), so tests and logs can show the repo was not loaded whole.
    """

    organization: Organization
    person: Person | None
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    parsed: tuple[str, ...]

    @property
    def stand_in(self) -> bool:
        """True when `person` was built from the operator's identity, not from their file."""
        return self.person is not None and bool(self.problems)

    def desired_state(self) -> DesiredState:
        """A repo holding only this person and no roles, for `offboard_now`: a person who
        leaves now holds nothing, so roles and everyone else are not needed."""
        people = {self.person.id: self.person} if self.person else {}
        return DesiredState(organization=self.organization, roles={}, people=people)


def load_for_offboarding(
    directory: str | Path,
    who: str,
    *,
    email: str | None = None,
    github: str | None = None,
) -> EmergencyDesired:
    """Read organization.yaml and the file of `who` (a person id, email or GitHub login).

    An id opens people/<id>.yaml directly. An email or login is found by a text search of the
    person files' bytes (no parsing), then only the files containing it are parsed and the
    match confirmed. `email` and `github` are the operator's identity for the person, used
    when their file is missing or broken: a stand-in Person with id `who` is offboarded then.
    Raises ValidationFailed when organization.yaml is missing, unreadable or invalid, and
    ValueError (one line naming the value) when `who`, `email` or `github` is malformed.
    """
    root = Path(directory)
    if email is not None and not re.match(EMAIL, email):
        raise ValueError(f"email '{email}' is not an email address")
    if github is not None and not re.match(GITHUB_LOGIN, github):
        raise ValueError(f"github '{github}' is not a GitHub login")
    as_id = re.match(ID, who) is not None
    if not as_id and "@" not in who and not re.match(GITHUB_LOGIN, who):
        raise ValueError(f"'{who}' is not a person id, an email or a GitHub login")
    org_parsed, org = _organization(root)
    search = _Search(root, org_parsed, org)
    found = search.by_id(who) if as_id else None
    login_like = "@" not in who and re.match(GITHUB_LOGIN, who) is not None
    if found is None and not search.problems and ("@" in who or login_like):
        # no people/<who>.yaml (or `who` is no id): an email, or a login that may look like one
        found = search.by_identity(who)
    if found is None and not search.problems:
        what = "GitHub login" if login_like else "email"
        missing = f"{search.at(person_file(who))}: file is missing" if as_id else ""
        nobody = f"no person file names '{who}' as its {what}" if "@" in who or login_like else ""
        if missing and nobody:
            search.problems.append(f"{missing}, and {nobody}")
        else:
            search.problems.append(missing or f"{search.at('people')}: {nobody}")
    person = search.agree(found, email, github) if found else search.stand_in(who, email, github)
    render = root.as_posix()
    return EmergencyDesired(
        organization=build_organization(org_parsed, org),
        person=person,
        problems=tuple(
            p if isinstance(p, str) else p.render(render) for p in dict.fromkeys(search.problems)
        ),
        warnings=tuple(e.render(render) for e in sorted(set(search.warnings))),
        parsed=(ORGANIZATION, *search.parsed),
    )


def _organization(root: Path) -> tuple[ParsedFile, OrganizationFile]:
    """organization.yaml, fully checked: its guards (protected accounts, the tool's own
    identities, limits) are what make the offboarding safe, so any problem stops it."""
    if root.is_symlink() or not root.is_dir():
        raise ValidationFailed([DesiredStateError(str(root), 1, 1, "", "not a directory")])
    raw = read_file(root, ORGANIZATION)
    if raw is None:
        raise ValidationFailed([DesiredStateError(ORGANIZATION, 1, 1, "", "file is missing")])
    if isinstance(raw, DesiredStateError):
        raise ValidationFailed([raw])
    errors = Errors()
    parsed = parse_file(ORGANIZATION, raw, errors)
    shaped = check_organization_shape(parsed, errors) if parsed else None
    if shaped is not None:
        # Without people: "unknown officer / owner" needs the whole repo and guards nothing.
        check_rules(Checked(shaped, None, {}, people_complete=False), errors)
    if errors.found or shaped is None:
        raise ValidationFailed(errors.found)
    return shaped


class _Search:
    """Finds one person's file, collecting what went wrong as it goes."""

    def __init__(self, root: Path, org_parsed: ParsedFile, org: OrganizationFile) -> None:
        self.root = root
        self.render = root.as_posix()
        self.organization = (org_parsed, org)
        self.problems: list[str | DesiredStateError] = []
        self.warnings: list[DesiredStateError] = []
        self.parsed: list[str] = []

    def at(self, name: str) -> str:
        """`name` under the directory, as errors are shown."""
        return f"{self.render.rstrip('/')}/{name}"

    def by_id(self, person_id: str) -> Person | None:
        name = person_file(person_id)
        raw = read_file(self.root, name)
        if raw is None:
            return None  # no such file, and no problem yet: `who` may be a login
        if isinstance(raw, DesiredStateError):
            self.problems.append(raw)
            return None
        checked = self._check(name, raw)
        if isinstance(checked, list):
            self.problems.extend(checked)
            return None
        return checked

    def by_identity(self, value: str) -> Person | None:
        """The person whose email or GitHub login (current or previous) is `value`."""
        wanted = normalise_email(value) if "@" in value else normalise_login(value)
        needle = wanted.encode()
        matches: list[Person] = []
        broken: list[DesiredStateError] = []
        for name in person_names(self.root):
            raw = read_file(self.root, name)
            if isinstance(raw, DesiredStateError):
                self.warnings.append(raw)
            elif raw is not None and needle in raw.lower():
                checked = self._check(name, raw)
                if isinstance(checked, list):
                    broken.extend(checked)
                elif wanted in _identities(checked):
                    matches.append(checked)
        if len(matches) == 1:
            self.warnings.extend(broken)  # they mention the value but are not the person
            return matches[0]
        if matches:
            files = ", ".join(self.at(p.source.file) for p in matches if p.source)
            self.problems.append(f"'{value}' names {len(matches)} people ({files}): give the id")
        self.problems.extend(broken)  # the person's own file, most likely, broken
        return None

    def agree(self, person: Person, email: str | None, github: str | None) -> Person | None:
        """The person, unless the operator's identity contradicts their file: then neither is
        trusted, since offboarding the wrong account in an emergency is the worse mistake."""
        given = [normalise_email(email) if email else "", normalise_login(github) if github else ""]
        wrong = [v for v in given if v and v not in _identities(person)]
        if not wrong:
            return person
        where = self.at(person.source.file if person.source else person_file(person.id))
        self.problems.append(
            f"{where}: the file does not name {', '.join(wrong)}, given by the operator: "
            "correct the file or leave the option out"
        )
        return None

    def stand_in(self, who: str, email: str | None, github: str | None) -> Person | None:
        """A minimal Person from the operator's identity, when the file cannot be used."""
        if email is None:
            return None
        return Person(
            id=who,
            name=who,
            email=normalise_email(email),
            employment=Employment(EmploymentType.EMPLOYEE, start=STAND_IN_START),
            github=normalise_login(github) if github else None,
        )

    def _check(self, name: str, raw: bytes) -> Person | list[DesiredStateError]:
        """Parse and shape-check one person file; rule problems become warnings."""
        self.parsed.append(name)
        errors = Errors()
        parsed = parse_file(name, raw, errors)
        shaped = check_person_shape(parsed, errors) if parsed else None
        if shaped is None:
            return errors.found
        # Rules of this file alone (an NDA date, the id matching the file name, the email's
        # domain): roles and everyone else are not read, so their rules cannot run here.
        check_rules(Checked(self.organization, None, {name: shaped}, False), errors)
        org_errors = {e for e in errors.found if e.file == ORGANIZATION}
        self.warnings.extend(e for e in errors.found if e not in org_errors)
        return build_person(*shaped)


def _identities(person: Person) -> set[str]:
    return {person.email, *(x for x in (person.github,) if x), *person.previous_github_logins}


__all__ = ["STAND_IN_START", "EmergencyDesired", "load_for_offboarding"]
