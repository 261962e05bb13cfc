"""Reading a desired-state directory: the package's only I/O, and its refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.desired.loading import load_desired_dir, read_desired_files
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
