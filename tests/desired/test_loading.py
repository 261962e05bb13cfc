"""Each bad input yields its own error at the right file, line and field, and nothing else."""

from __future__ import annotations

import datetime as dt

import pytest

from reconciler.desired.loading import load_desired_state
from reconciler.desired.problems import DesiredStateError, ValidationFailed
from reconciler.model import BindingMode, EmploymentType, GrantKind, System
from tests.desired.repos import BASE, ENGINEER, ORGANIZATION, ROLES, repo

MARK = "# <- error"
E3 = "people/e0003.yaml"


def person(*lines: str, pid: str = "e0003") -> str:
    """A person file whose first lines are given; the rest as in ENGINEER."""
    given = {line.split(":", 1)[0] for line in lines}
    rest = [line for line in ENGINEER.splitlines() if line.split(":", 1)[0] not in given]
    if pid != "e0003":
        rest = [line.replace("e0003", pid) for line in rest]
    return "\n".join([*lines, *rest]) + "\n"


def marked_line(text: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if MARK in line)


BOMB = "a: &a [x, x]\n" + "".join(f"b{i}: &b{i} [*a, *a]\n" for i in range(60)) + "id: e0003\n"

# (name, changed files, [(file, line or None = the line marked "# <- error", field, fragment)])
CASES: list[tuple[str, dict[str, str | bytes | None], list[tuple[str, int | None, str, str]]]] = [
    (
        "unknown key suggests the closest valid key",
        {
            "roles.yaml": ROLES.replace(
                "[{team: backend, role: member}]}", "[{teams: backend}]}  " + MARK
            )
        },
        [
            (
                "roles.yaml",
                None,
                "engineer.github.teams[0].teams",
                "unknown key 'teams' (did you mean 'team'?)",
            )
        ],
    ),
    (
        "a manager who is not in the repo",
        {E3: person(f"manager: e0099  {MARK}")},
        [(E3, None, "manager", "unknown person 'e0099'")],
    ),
    (
        "a person who is their own manager",
        {E3: person(f"manager: e0003  {MARK}")},
        [(E3, None, "manager", "a person cannot be their own manager")],
    ),
    (
        "a training date that is not a date",
        {E3: person(f"training: last spring  {MARK}")},
        [(E3, None, "training", "is not a real calendar date (write YYYY-MM-DD)")],
    ),
    (
        "a role owner who is not in the repo",
        {"roles.yaml": ROLES.replace("engineer:\n", f"engineer:\n  owner: e0099  {MARK}\n", 1)},
        [("roles.yaml", None, "engineer.owner", "unknown person 'e0099'")],
    ),
    (
        "unknown top-level key in a person file",
        {E3: person(f"departmant: 開発  {MARK}")},
        [(E3, None, "departmant", "unknown key 'departmant' (did you mean 'department'?)")],
    ),
    (
        "a list given as text is a wrong type",
        {E3: person(f"roles: engineer  {MARK}")},
        [(E3, None, "roles", "must be a valid list (got text 'engineer')")],
    ),
    (
        "an empty value is reported at its key, not on the next line",
        {E3: ENGINEER.replace("roles: [engineer]", f"roles:  {MARK}")},
        [(E3, None, "roles", "must be a valid list (got nothing (null))")],
    ),
    (
        "yes is not a boolean (YAML 1.2)",
        {"roles.yaml": ROLES.replace("privileged: true", f"privileged: yes  {MARK}", 1)},
        [("roles.yaml", None, "admin.privileged", "must be a valid boolean (got text 'yes')")],
    ),
    (
        "a number given as text is a wrong type",
        {E3: person(f'github_id: "123"  {MARK}')},
        [(E3, None, "github_id", "must be a valid integer")],
    ),
    (
        "duplicate YAML key",
        {E3: ENGINEER + f"email: other@example.co.jp  {MARK}\n"},
        [(E3, None, "email", "duplicate key 'email' (first defined on line 3)")],
    ),
    (
        "YAML bomb: too many aliases, refused before expansion",
        {E3: BOMB},
        [(E3, 52, "", "more than 100 YAML aliases")],  # alias 101 is on line 52,
    ),
    (
        "huge file refused before parsing",
        {E3: ENGINEER + "#" * (1024 * 1024)},
        [(E3, 1, "", "the limit is 1048576 bytes")],
    ),
    (
        "non-UTF-8 bytes (Shift_JIS) named at their line",
        {E3: b"id: e0003\nname: \x8eR\x93c\n"},
        [(E3, 2, "", "not valid UTF-8")],
    ),
    (
        "two YAML documents in one file",
        {E3: ENGINEER + f"---  {MARK}\nid: e0009\n"},
        [(E3, None, "", "one YAML document")],
    ),
    (
        "duplicate email across files, case-insensitive",
        {
            "people/e0004.yaml": person(
                f"email: Taro.Yamada@EXAMPLE.co.jp  {MARK}", "github: other", pid="e0004"
            )
        },
        [
            (
                "people/e0004.yaml",
                None,
                "email",
                "duplicate email 'taro.yamada@example.co.jp': already used in people/e0003.yaml",
            )
        ],
    ),
    (
        "duplicate GitHub login across files, case-insensitive",
        {
            "people/e0004.yaml": person(
                f"github: TYamada  {MARK}", "email: jiro@example.co.jp", pid="e0004"
            )
        },
        [("people/e0004.yaml", None, "github", "duplicate GitHub login 'tyamada'")],
    ),
    (
        "a previous login of one person is another person's login",
        {
            "people/e0004.yaml": person(
                f"previous_github_logins: [ksuzuki]  {MARK}",
                "email: jiro@example.co.jp",
                "github: jiro",
                pid="e0004",
            )
        },
        [
            (
                "people/e0004.yaml",
                None,
                "previous_github_logins[0]",
                "duplicate GitHub login 'ksuzuki'",
            )
        ],
    ),
    (
        "unknown role with a suggestion",
        {E3: person(f"roles: [enginer]  {MARK}")},
        [(E3, None, "roles[0]", "unknown role 'enginer' (did you mean 'engineer'?)")],
    ),
    (
        "primary email outside the organisation's domains",
        {E3: person(f"email: taro@example.com  {MARK}")},
        [(E3, None, "email", "'taro@example.com' is not in the organisation's domains")],
    ),
    (
        "recovery email inside the organisation",
        {E3: person(f"recovery_email: taro2@example.co.jp  {MARK}")},
        [(E3, None, "recovery_email", "personal address outside the organisation")],
    ),
    (
        "end before start",
        {E3: person(f"employment: {{type: employee, start: 2025-04-01, end: 2025-03-31}}  {MARK}")},
        [(E3, None, "employment.end", "end 2025-03-31 is before start 2025-04-01")],
    ),
    (
        "impossible date",
        {E3: person(f"employment: {{type: employee, start: 2026-02-30}}  {MARK}")},
        [(E3, None, "employment.start", "'2026-02-30' is not a real calendar date")],
    ),
    (
        "contractor without NDA",
        {
            E3: person(
                f"employment: {{type: contractor, start: 2026-04-01, end: 2027-03-31}}  {MARK}"
            )
        },
        [(E3, None, "employment", "a contractor needs an NDA date")],
    ),
    (
        "contractor NDA signed after work started",
        {
            E3: person(
                f"employment: {{type: contractor, start: 2026-04-01, nda: 2026-04-02}}  {MARK}"
            )
        },
        [(E3, None, "employment.nda", "must be signed before work starts")],
    ),
    (
        "privileged standing role held by someone other than the security officer",
        {E3: person(f"roles: [engineer, admin]  {MARK}")},
        [
            (
                E3,
                None,
                "roles[1]",
                "role 'admin' is privileged: only the security officer may hold it",
            )
        ],
    ),
    (
        "privileged grant without expiry",
        {
            E3: ENGINEER
            + f"grants:\n  - {{role: prod-debug, approved_by: e0002, reason: INC-1}}  {MARK}\n"
        },
        [(E3, None, "grants[0]", "the grant must be time-boxed")],
    ),
    (
        "grant without approver",
        {
            E3: ENGINEER
            + f"grants:\n  - {{role: prod-debug, expires: 2026-12-15, reason: INC-1}}  {MARK}\n"
        },
        [(E3, None, "grants[0]", "the grant has no approver")],
    ),
    (
        "grant approved by someone who is not the security officer",
        {
            E3: ENGINEER
            + "grants:\n  - role: prod-debug\n"
            + f"    approved_by: e0001  {MARK}\n    expires: 2026-12-15\n    reason: INC-1\n"
        },
        [(E3, None, "grants[0].approved_by", "'e0001' is not the security officer (e0002)")],
    ),
    (
        "malformed GCP role name",
        {"roles.yaml": ROLES.replace("role: roles/editor}", f"role: editor}}  {MARK}")},
        [("roles.yaml", None, "engineer.gcp[0].role", "malformed GCP role 'editor'")],
    ),
    (
        "malformed GCP resource name",
        {
            "roles.yaml": ROLES.replace(
                "resource: projects/example-dev,", "resource: project/example-dev,"
            ).replace("role: roles/editor}", f"role: roles/editor}}  {MARK}")
        },
        [
            (
                "roles.yaml",
                None,
                "engineer.gcp[0].resource",
                "malformed GCP resource 'project/example-dev'",
            )
        ],
    ),
    (
        "GCP resource outside the organisation's scope",
        {
            "roles.yaml": ROLES.replace(
                "resource: projects/example-dev, role: roles/editor}",
                f"resource: projects/example-stg, role: roles/editor}}  {MARK}",
            )
        },
        [
            (
                "roles.yaml",
                None,
                "engineer.gcp[0].resource",
                "'projects/example-stg' is not in organization.yaml",
            )
        ],
    ),
    (
        "role with org-admin powers not marked privileged",
        {
            "roles.yaml": ROLES.replace(
                "  github: {org_role: member,", "  github: {org_role: admin,  ", 1
            ).replace(
                "teams: [{team: backend, role: member}]}",
                f"teams: [{{team: backend, role: member}}]}}  {MARK}",
            )
        },
        [
            (
                "roles.yaml",
                None,
                "engineer.github.org_role",
                "GitHub organisation owners are privileged",
            )
        ],
    ),
    (
        "non-human account without owner",
        {"organization.yaml": ORGANIZATION.replace(", owner: e0002}", f"}}  {MARK}")},
        [("organization.yaml", None, "non_human_accounts[0]", "has no owner")],
    ),
    (
        "non-human account with an unknown owner",
        {"organization.yaml": ORGANIZATION.replace("owner: e0002}", f"owner: e0999}}  {MARK}")},
        [("organization.yaml", None, "non_human_accounts[0].owner", "unknown owner 'e0999'")],
    ),
    (
        "shared-looking account name (第5.1条)",
        {E3: person(f"email: dev-team@example.co.jp  {MARK}")},
        [(E3, None, "email", "looks like a shared account")],
    ),
    (
        "file name does not match the person id",
        {E3: person(f"id: e0033  {MARK}")},
        [(E3, None, "id", "does not match the file name")],
    ),
    (
        "unknown security officer",
        {
            "organization.yaml": ORGANIZATION.replace(
                "security_officer: e0002", f"security_officer: e0020  {MARK}"
            )
        },
        [("organization.yaml", None, "security_officer", "unknown person 'e0020'")],
    ),
    (
        "offboarding time that is not a time of day",
        {"organization.yaml": ORGANIZATION + f'offboarding_time: "25:00"  {MARK}\n'},
        [("organization.yaml", None, "offboarding_time", "must be a time of day like 18:00")],
    ),
    (
        "unknown timezone",
        {"organization.yaml": ORGANIZATION.replace("Asia/Tokyo", f"Asia/Tokio  {MARK}")},
        [("organization.yaml", None, "timezone", "unknown timezone 'Asia/Tokio'")],
    ),
    (
        "missing roles.yaml",
        {"roles.yaml": None, "role.yaml": ROLES},
        [
            ("role.yaml", 1, "", "unexpected file (did you mean 'roles.yaml'?)"),
            ("roles.yaml", 1, "", "file is missing"),
        ],
    ),
    (
        "YAML syntax error",
        {E3: person("name: [山田")},
        # noticed on line 2; the message points back at where the sequence began
        [(E3, 2, "", "(while parsing a flow sequence that began on line 1, column 7)")],
    ),
    (
        "a file that is a list, not a mapping",
        {E3: "- id: e0003\n"},
        [(E3, 1, "", "must be a mapping")],
    ),
    (
        "YAML tags are refused",
        {E3: person(f"name: !!python/object:os.system echo  {MARK}")},
        [(E3, None, "name", "YAML tags are not allowed")],
    ),
]


@pytest.mark.parametrize(("files", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_bad_input_reports_its_error_at_its_line_and_nothing_else(
    files: dict[str, str | bytes | None], expected: list[tuple[str, int | None, str, str]]
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        load_desired_state(repo(files))
    got = raised.value.errors
    assert len(got) == len(expected), "\n".join(e.render() for e in got)
    for error, (file, line, field, fragment) in zip(got, expected, strict=True):
        source = files.get(file)
        want_line = line if line is not None else marked_line(str(source))
        assert (error.file, error.line, error.field) == (file, want_line, field), error.render()
        assert fragment in error.message, error.render()


def test_every_error_is_reported_in_one_run() -> None:
    files = repo(
        {
            E3: person("roles: [enginer]", "email: taro@example.com"),
            "people/e0004.yaml": person(
                "id: e0005", "email: jiro@example.co.jp", "github: j", pid="e0004"
            ),
            "roles.yaml": ROLES.replace("role: roles/editor", "role: editor"),
        }
    )
    with pytest.raises(ValidationFailed) as raised:
        load_desired_state(files)
    messages = [e.render() for e in raised.value.errors]
    assert len(messages) == 4, messages
    assert messages == sorted(messages)  # stable order: file, line, column
    assert messages[1].startswith("people/e0003.yaml:2:8: email: ")


def test_valid_repo_maps_onto_the_model_with_normalised_identities_and_sources() -> None:
    files = repo(
        {E3: person("github: TYamada", "github_id: 42", "recovery_email: Taro@Example.com")}
    )
    state = load_desired_state(files, commit="0123abcd")
    assert state.commit == "0123abcd"
    assert sorted(state.people) == ["e0001", "e0002", "e0003"]
    taro = state.people["e0003"]
    assert (taro.github, taro.github_id, taro.recovery_email) == ("tyamada", 42, "taro@example.com")
    assert taro.employment.type is EmploymentType.EMPLOYEE
    assert taro.employment.start == dt.date(2025, 4, 1)
    assert str(taro.source) == "people/e0003.yaml:1:1"
    org = state.organization
    assert org.offboarding_time == dt.time(18, 0)
    assert [(s.resource, s.mode) for s in org.systems.gcp][-1] == (
        "projects/example-prod",
        BindingMode.AUTHORITATIVE,
    )
    assert org.non_human_accounts[0].owner == "e0002"
    assert org.non_human_accounts[0].system is System.GCP
    assert state.roles["admin"].privileged and state.roles["admin"].google_admin
    assert state.roles["engineer"].google_groups[0].role == "MEMBER"  # the default
    assert GrantKind.GOOGLE_ACCOUNT.system is System.GOOGLE


def test_error_renders_as_file_line_column_field_message() -> None:
    error = DesiredStateError("people/e0042.yaml", 7, 3, "roles[1]", "unknown role 'enginer'")
    assert (
        error.render("desired_state")
        == "desired_state/people/e0042.yaml:7:3: roles[1]: unknown role 'enginer'"
    )


def test_base_repo_is_valid() -> None:
    assert len(load_desired_state(repo()).people) == len(
        [f for f in BASE if f.startswith("people/")]
    )
