"""Validation errors of the desired-state repo; raised by `loading`, rendered by the CLI."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.errors import ReconcilerError


@dataclass(frozen=True, order=True)
class DesiredStateError:
    """One problem in one file, at the line and column a person should look at.

    `file` is relative to the root of the desired-state repo (e.g. "people/e0042.yaml"), so the
    same repo checked out anywhere yields the same errors. `field` is the path of the value in
    that file ("roles[1]", "employment.end", "engineer.gcp[0].role"), or "" for the whole file.
    """

    file: str
    line: int  # 1-based
    column: int  # 1-based
    field: str
    message: str

    def render(self, root: str = "") -> str:
        """`people/e0042.yaml:7:3: roles[1]: unknown role ...`, optionally under `root`."""
        path = f"{root.rstrip('/')}/{self.file}" if root else self.file
        where = f"{self.field}: " if self.field else ""
        return f"{path}:{self.line}:{self.column}: {where}{self.message}"

    def github_annotation(self, path: str) -> str:
        """`::error file=PATH,line=N,col=C,title=FIELD::MESSAGE`: a GitHub Actions workflow
        command, so the error shows on the pull request's changed line. `path` is the file
        relative to the repository root (what GitHub matches against the diff). Values are
        escaped as the runner expects (workflow commands docs), so a message holding a
        newline, `::` or a comma cannot end the annotation early or inject another one."""
        title = self.field or self.file
        props = f"file={_escape_property(path)},line={self.line},col={self.column}"
        return f"::error {props},title={_escape_property(title)}::{_escape_data(self.message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


class ValidationFailed(ReconcilerError):
    """The desired-state repo is invalid. The ONLY exception the loader raises: it carries
    every problem found in one run (sorted by file, line, column), never just the first."""

    def __init__(self, errors: Iterable[DesiredStateError]) -> None:
        self.errors: tuple[DesiredStateError, ...] = tuple(sorted(set(errors)))
        first = self.errors[0].render() if self.errors else "no details"
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        super().__init__(f"desired state is invalid: {first}{more}")
