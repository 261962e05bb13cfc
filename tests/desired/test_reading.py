"""Reading a desired-state directory: the package's only I/O, and its refusals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from reconciler.bench.generating import generate_repo
from reconciler.desired.loading import (
    MAX_FILES,
    load_desired_dir,
    load_desired_state,
    read_desired_files,
)
from reconciler.desired.problems import ValidationFailed
from tests.desired.repos import repo


def write_repo(root: Path) -> Path:
    for name, raw in repo().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(raw)
    (root / "README.md").write_text("not YAML, ignored\n", encoding="utf-8")
    (root / "people" / ".gitkeep").write_text("", encoding="utf-8")
    return root


def test_directory_reads_only_the_desired_state_files(tmp_path: Path) -> None:
    files = read_desired_files(write_repo(tmp_path))
    assert sorted(files) == sorted(repo())
    assert len(load_desired_dir(tmp_path).people) == 3


def test_symlinked_person_file_is_refused(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "ds")
    outside = tmp_path / "outside.yaml"
    outside.write_bytes((root / "people" / "e0003.yaml").read_bytes())
    (root / "people" / "e0003.yaml").unlink()
    (root / "people" / "e0003.yaml").symlink_to(outside)
    with pytest.raises(ValidationFailed) as raised:
        read_desired_files(root)
    assert [e.render() for e in raised.value.errors] == [
        "people/e0003.yaml:1:1: symbolic links are refused"
    ]


def test_huge_file_is_refused_by_its_size_without_parsing(tmp_path: Path) -> None:
    root = write_repo(tmp_path)
    (root / "people" / "e0009.yaml").write_bytes(b"[" * (2 * 1024 * 1024))
    with pytest.raises(ValidationFailed) as raised:
        read_desired_files(root)
    assert [e.render() for e in raised.value.errors] == [
        "people/e0009.yaml:1:1: file is 2097152 bytes; the limit is 1 MiB"
    ]


def test_missing_directory_is_a_validation_failure(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="not a directory"):
        load_desired_dir(tmp_path / "absent")


# Every file under the directory is read, ignored by name, or an error naming its path: a
# skipped person file would validate "fine" and the plan would then remove their access.
FOURTH = "id: e0004\nname: 高橋 花子\nemail: hanako.takahashi@example.co.jp\n" + (
    "employment: {type: employee, start: 2025-04-01}\n"
)
SKIPPED_BEFORE = [
    (
        "people/sales/e0004.yaml",
        "person files go directly in people/ (people/e0004.yaml); subfolders are not read",
    ),
    ("people/e0004.YAML", "person files end in lower-case '.yaml' (rename it people/e0004.yaml)"),
    ("people/e0004.Yaml", "person files end in lower-case '.yaml' (rename it people/e0004.yaml)"),
    ("people/e0004.yml", "person files end in lower-case '.yaml' (rename it people/e0004.yaml)"),
    ("people/e0004", "unexpected file in people/ (it holds only people/<id>.yaml files)"),
    ("people/e0004.txt", "unexpected file in people/ (it holds only people/<id>.yaml files)"),
    ("Roles.YAML", "unexpected file (did you mean 'roles.yaml'?)"),
    ("e0004.yaml", "unexpected file (person files go in people/, as people/e0004.yaml)"),
    ("organisation.yml", "unexpected file (did you mean 'organization.yaml'?)"),
    (
        "staff/e0004.yaml",
        "unexpected file (the directory holds organization.yaml, roles.yaml, "
        "people/<id>.yaml and reviews/YYYY/<id>.yaml; README.md, schema.json and dotfiles "
        "are ignored)",
    ),
    (
        "notes.txt",
        "unexpected file (the directory holds organization.yaml, roles.yaml, "
        "people/<id>.yaml and reviews/YYYY/<id>.yaml; README.md, schema.json and dotfiles "
        "are ignored)",
    ),
]


@pytest.mark.parametrize(("name", "message"), SKIPPED_BEFORE, ids=[n for n, _ in SKIPPED_BEFORE])
def test_a_file_the_loader_used_to_skip_is_an_error_naming_its_path(
    tmp_path: Path, name: str, message: str
) -> None:
    root = write_repo(tmp_path)
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(FOURTH, encoding="utf-8")
    with pytest.raises(ValidationFailed) as raised:
        load_desired_dir(root)
    assert [e.render() for e in raised.value.errors] == [f"{name}:1:1: {message}"]


def test_documented_ignored_files_are_not_read(tmp_path: Path) -> None:
    root = write_repo(tmp_path)
    garbage = b"\xff not YAML [[["
    for name in (
        "schema.json",
        "people/README.md",
        ".git/config",
        ".github/CODEOWNERS",
        "people/.e0004.yaml.swp",
        "people/.drafts/e0004.yaml",
        "reviews/README.md",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(garbage)
    assert sorted(read_desired_files(root)) == sorted(repo())
    assert sorted(load_desired_dir(root).people) == ["e0001", "e0002", "e0003"]


def test_review_files_are_read_and_misplaced_ones_are_errors(tmp_path: Path) -> None:
    """reviews/YYYY/<id>.yaml is a review file, read and validated like the others; anything
    else under reviews/ is an error naming its path, never silently skipped."""
    root = write_repo(tmp_path)
    (root / "reviews" / "2026").mkdir(parents=True)
    (root / "reviews" / "2026" / "e0003.yaml").write_bytes(b"\xff not YAML [[[")
    (root / "reviews" / "2026-04.yaml").write_text("year: 2026\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as raised:
        load_desired_dir(root)
    files = sorted({e.file for e in raised.value.errors})
    assert files == ["reviews/2026-04.yaml", "reviews/2026/e0003.yaml"]
    (misplaced,) = [e for e in raised.value.errors if e.file == "reviews/2026-04.yaml"]
    assert "reviews/YYYY/<reviewer-id>.yaml" in misplaced.message


def test_misplaced_files_and_errors_inside_files_are_reported_in_one_run(tmp_path: Path) -> None:
    root = write_repo(tmp_path)
    (root / "people" / "sales").mkdir()
    (root / "people" / "sales" / "e0004.yaml").write_text(FOURTH, encoding="utf-8")
    (root / "people" / "e0005.yml").write_text(FOURTH, encoding="utf-8")
    engineer = (root / "people" / "e0003.yaml").read_text(encoding="utf-8")
    (root / "people" / "e0003.yaml").write_text(
        engineer.replace("[engineer]", "[enginer]"), encoding="utf-8"
    )
    with pytest.raises(ValidationFailed) as raised:
        load_desired_dir(root)
    assert [(e.file, e.field) for e in raised.value.errors] == [
        ("people/e0003.yaml", "roles[0]"),
        ("people/e0005.yml", ""),
        ("people/sales/e0004.yaml", ""),
    ]


def test_a_symlinked_folder_is_refused_not_followed(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "ds")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "e0004.yaml").write_text(FOURTH, encoding="utf-8")
    (root / "people" / "more").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValidationFailed) as raised:
        read_desired_files(root)
    assert [e.render() for e in raised.value.errors] == [
        "people/more:1:1: symbolic links are refused"
    ]


def write_generated(root: Path, people: int) -> dict[str, bytes]:
    files = generate_repo(people, dt.date(2026, 6, 1))
    (root / "people").mkdir(parents=True)
    for name, raw in files.items():
        (root / name).write_bytes(raw)
    return files


def test_ten_thousand_people_files_are_all_read(tmp_path: Path) -> None:
    files = write_generated(tmp_path, 10_000)
    assert len(files) == 10_002
    assert read_desired_files(tmp_path) == files


def test_ten_thousand_people_files_pass_the_file_count_limit_of_the_loader() -> None:
    # Empty person files are cheap to check, so the count limit is tested without parsing
    # 10,000 real files (the full load is the slow test below).
    files = {**repo(), **{f"people/e{i:05d}.yaml": b"" for i in range(10, 10_010)}}
    with pytest.raises(ValidationFailed) as raised:
        load_desired_state(files)
    assert {e.message for e in raised.value.errors} == {"file is empty"}
    assert len(raised.value.errors) == 10_000


def test_more_files_than_the_limit_are_refused_before_any_is_parsed() -> None:
    files = {**repo(), **{f"people/e{i:05d}.yaml": b"[" for i in range(MAX_FILES)}}
    with pytest.raises(ValidationFailed) as raised:
        load_desired_state(files)
    assert [e.render() for e in raised.value.errors] == [
        f":1:1: {MAX_FILES + 5} files; the limit is {MAX_FILES}"
    ]


@pytest.mark.slow
def test_a_generated_repo_of_ten_thousand_people_loads(tmp_path: Path) -> None:
    write_generated(tmp_path, 10_000)
    assert len(load_desired_dir(tmp_path).people) == 10_000
