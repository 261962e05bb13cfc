"""`load_for_offboarding`: an emergency offboarding reads organization.yaml and one person's
file, so a broken unrelated file cannot block it and 10,000 files cost no 10,000 parses."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.desired.emergency import STAND_IN_START, load_for_offboarding
from reconciler.desired.loading import load_desired_dir
from reconciler.desired.problems import ValidationFailed
from reconciler.model import EmploymentType
from tests.desired.repos import ORGANIZATION, repo

# A contractor without an NDA date: the full load refuses the whole repo for it (第6.1条).
NO_NDA = """\
id: c0101
name: 外注 次郎
email: jiro.gaichu@example.co.jp
github: jgaichu
employment: {type: contractor, start: 2025-04-01}
"""
GARBAGE = b"id: [unclosed\n\t: : :\n"


def write(root: Path, files: dict[str, bytes]) -> Path:
    for name, raw in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(raw)
    return root


def test_a_broken_unrelated_file_does_not_block_offboarding_someone_else(tmp_path: Path) -> None:
    root = write(tmp_path, repo({"people/c0101.yaml": NO_NDA, "people/e0009.yaml": GARBAGE}))
    with pytest.raises(ValidationFailed):
        load_desired_dir(root)  # what `offboard` used before: exit 1 on c0101's NDA
    found = load_for_offboarding(root, "e0003")
    assert found.person is not None and found.person.email == "taro.yamada@example.co.jp"
    assert (found.problems, found.warnings) == ((), ())
    assert found.parsed == ("organization.yaml", "people/e0003.yaml")
    assert found.organization.systems.github is not None
    assert [a.id for a in found.organization.non_human_accounts] == ["deploy"]
    assert list(found.desired_state().people) == ["e0003"]


@pytest.mark.parametrize(
    "who", ["taro.yamada@example.co.jp", "Taro.Yamada@example.co.jp", "TYamada"]
)
def test_an_email_or_login_is_found_by_text_search_parsing_only_the_candidates(
    tmp_path: Path, who: str
) -> None:
    # e0004's grant reason mentions the login: a candidate, parsed and rejected.
    mentions = (
        NO_NDA.replace("c0101", "e0004")
        .replace("jgaichu", "hgaichu")
        .replace("contractor", "employee")
        + "grants:\n  - {role: engineer, approved_by: e0002, reason: pairing with tyamada}\n"
    )
    root = write(tmp_path, repo({"people/e0004.yaml": mentions, "people/e0009.yaml": GARBAGE}))
    found = load_for_offboarding(root, who)
    assert found.person is not None and found.person.id == "e0003"
    assert found.parsed == (
        ("organization.yaml", "people/e0003.yaml")
        if "@" in who
        else ("organization.yaml", "people/e0003.yaml", "people/e0004.yaml")
    )
    assert found.problems == ()


def test_the_persons_own_rule_problem_is_a_warning_with_file_and_line(tmp_path: Path) -> None:
    root = write(tmp_path, repo({"people/c0101.yaml": NO_NDA}))
    found = load_for_offboarding(root, "jgaichu")
    assert found.person is not None and found.person.id == "c0101"
    assert found.person.employment.type is EmploymentType.CONTRACTOR
    assert found.warnings == (
        f"{root.as_posix()}/people/c0101.yaml:5:13: employment: a contractor needs an NDA date "
        "('nda: YYYY-MM-DD', policy 第6.1条)",
    )
    assert found.problems == () and not found.stand_in


def test_a_broken_own_file_with_the_operators_email_gives_a_stand_in(tmp_path: Path) -> None:
    root = write(tmp_path, repo({"people/e0003.yaml": GARBAGE}))
    without = load_for_offboarding(root, "e0003")
    assert without.person is None
    assert len(without.problems) == 1
    assert without.problems[0].startswith(f"{root.as_posix()}/people/e0003.yaml:2:2: invalid YAML")

    found = load_for_offboarding(root, "e0003", email="Taro.Yamada@example.co.jp", github="tyamada")
    assert found.stand_in and found.person is not None
    assert (found.person.id, found.person.email, found.person.github) == (
        "e0003",
        "taro.yamada@example.co.jp",
        "tyamada",
    )
    assert found.person.employment.start == STAND_IN_START
    assert found.problems == without.problems
    assert list(found.desired_state().people) == ["e0003"]


def test_a_missing_file_is_a_problem_and_the_operators_email_a_stand_in(tmp_path: Path) -> None:
    root = write(tmp_path, repo())
    missing = load_for_offboarding(root, "e0042")
    assert missing.person is None
    assert missing.problems == (
        f"{root.as_posix()}/people/e0042.yaml: file is missing, and no person file names "
        "'e0042' as its GitHub login",
    )
    by_email = load_for_offboarding(root, "jiro.gone@example.co.jp")
    assert by_email.person is None
    assert by_email.problems == (
        f"{root.as_posix()}/people: no person file names 'jiro.gone@example.co.jp' as its email",
    )
    stand_in = load_for_offboarding(root, "e0042", email="jiro.gone@example.co.jp")
    assert stand_in.stand_in and stand_in.person is not None
    assert stand_in.person.id == "e0042"


def test_an_operator_identity_contradicting_the_file_offboards_nobody(tmp_path: Path) -> None:
    root = write(tmp_path, repo())
    found = load_for_offboarding(root, "e0003", github="someone-else")
    assert found.person is None
    assert found.problems == (
        f"{root.as_posix()}/people/e0003.yaml: the file does not name someone-else, given by "
        "the operator: correct the file or leave the option out",
    )


def test_two_files_naming_the_same_login_is_a_problem_not_a_guess(tmp_path: Path) -> None:
    twin = repo()["people/e0003.yaml"].replace(b"e0003", b"e0004")
    root = write(tmp_path, repo({"people/e0004.yaml": twin}))
    found = load_for_offboarding(root, "tyamada")
    assert found.person is None
    assert found.problems == (
        f"'tyamada' names 2 people ({root.as_posix()}/people/e0003.yaml, "
        f"{root.as_posix()}/people/e0004.yaml): give the id",
    )


@pytest.mark.parametrize(
    ("organization", "message"),
    [
        (None, "organization.yaml:1:1: file is missing"),
        (b"name: [x\n", "organization.yaml:2:1: invalid YAML"),
        (ORGANIZATION.replace("Asia/Tokyo", "Asia/Tokio"), "unknown timezone 'Asia/Tokio'"),
    ],
)
def test_a_missing_or_invalid_organization_file_is_still_a_hard_error(
    tmp_path: Path, organization: str | bytes | None, message: str
) -> None:
    root = write(tmp_path, repo({"organization.yaml": organization}))
    with pytest.raises(ValidationFailed) as raised:
        load_for_offboarding(root, "e0003")
    assert message in raised.value.errors[0].render()


@pytest.mark.parametrize(
    ("who", "options", "message"),
    [
        (
            "../../etc/passwd",
            {},
            "'../../etc/passwd' is not a person id, an email or a GitHub login",
        ),
        ("e0003", {"email": "not-an-email"}, "email 'not-an-email' is not an email address"),
        ("e0003", {"github": "bad_login"}, "github 'bad_login' is not a GitHub login"),
    ],
)
def test_a_malformed_argument_is_a_one_line_error(
    tmp_path: Path, who: str, options: dict[str, str], message: str
) -> None:
    root = write(tmp_path, repo())
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.").replace("(", r"\(")):
        load_for_offboarding(root, who, **options)


def test_with_ten_thousand_person_files_only_two_files_are_parsed(tmp_path: Path) -> None:
    # Every other person file is unparsable garbage: loading or parsing any of them would
    # show up as an error, a warning or an entry in `parsed`.
    root = write(tmp_path, repo())
    people = root / "people"
    for i in range(10, 10_010):
        (people / f"e{i:05d}.yaml").write_bytes(GARBAGE + f"# {i}\n".encode())
    for who in ("e0003", "taro.yamada@example.co.jp", "tyamada"):
        found = load_for_offboarding(root, who)
        assert found.person is not None and found.person.id == "e0003", who
        assert found.parsed == ("organization.yaml", "people/e0003.yaml"), who
        assert (found.problems, found.warnings) == ((), ()), who
