"""Which files the desired-state directory may hold, and what each one is; used by `reading`
(walking the disk), `loading` (files given as a mapping) and `emergency` (one person's file).

One rule in one place: every file is read, ignored because the documentation says so, or an
error naming its path. A file that is silently skipped is worse than a broken one: a person
file in the wrong folder or with `.YAML` would validate "fine", and the plan would then
remove that person's access.
"""

from __future__ import annotations

import difflib
from enum import Enum

ORGANIZATION = "organization.yaml"
ROLES = "roles.yaml"
PEOPLE_DIR = "people/"
# Written by `reconciler schema`; README.md anywhere is documentation for the humans.
IGNORED_FILES = frozenset({"schema.json"})
IGNORED_NAMES = frozenset({"README.md"})
# The yearly access reviews (棚卸 records): reviews/YYYY/<reviewer-id>.yaml, written by
# `reconciler review start`; loaded apart from the people (a review file is never a person).
REVIEWS_DIR = "reviews"
# 10,000 people (the largest organisation the tool is sized and benchmarked for) plus the
# fixed files fit five times over; still bounds the work a hostile pull request can cause.
MAX_FILES = 50_000

_HOLDS = (
    "the directory holds organization.yaml, roles.yaml, people/<id>.yaml and "
    "reviews/YYYY/<id>.yaml; README.md, schema.json and dotfiles are ignored"
)


class FileKind(Enum):
    ORGANIZATION = "organization"
    ROLES = "roles"
    PERSON = "person"
    REVIEW = "review"
    IGNORED = "ignored"


def ignored_dir(name: str) -> bool:
    """True for a directory the loader never enters: dot-directories (.git, .github)."""
    parts = name.strip("/").split("/")
    return any(p.startswith(".") for p in parts)


def classify(name: str) -> FileKind | str:
    """What file `name` (relative to the repo root, '/'-separated) is, or why it is refused.

    Person files live directly in people/ and end in lower-case `.yaml`: subfolders are an
    error rather than read, so `people/<id>.yaml` is the one place a person's file can be
    (emergency offboarding opens it by id without searching) and a CODEOWNERS rule on it
    covers everyone.
    """
    parts = name.split("/")
    if ignored_dir("/".join(parts[:-1])) or parts[-1].startswith("."):
        return FileKind.IGNORED
    if name in IGNORED_FILES or parts[-1] in IGNORED_NAMES:
        return FileKind.IGNORED
    if name == ORGANIZATION:
        return FileKind.ORGANIZATION
    if name == ROLES:
        return FileKind.ROLES
    stem, dot, suffix = parts[-1].rpartition(".")
    yaml_like = bool(dot) and suffix.lower() in {"yaml", "yml"}
    if parts[0] == REVIEWS_DIR and len(parts) > 1:
        year = parts[1] if len(parts) == 3 else ""
        if len(year) == 4 and year.isdigit() and suffix == "yaml" and stem:
            return FileKind.REVIEW
        return (
            "review files are reviews/YYYY/<reviewer-id>.yaml (written by "
            "`reconciler review start`)"
        )
    if parts[0] == PEOPLE_DIR.rstrip("/") and len(parts) > 1:
        if len(parts) > 2:
            return (
                f"person files go directly in people/ (people/{stem or parts[-1]}.yaml); "
                "subfolders are not read"
            )
        if yaml_like and suffix == "yaml" and stem:
            return FileKind.PERSON
        if yaml_like:
            return f"person files end in lower-case '.yaml' (rename it people/{stem}.yaml)"
        return "unexpected file in people/ (it holds only people/<id>.yaml files)"
    if yaml_like and len(parts) == 1:
        # High cutoff: "role.yaml" is a typo of roles.yaml, "e0042.yaml" is a misplaced person.
        hint = difflib.get_close_matches(name.lower(), [ORGANIZATION, ROLES], n=1, cutoff=0.8)
        if hint:
            return f"unexpected file (did you mean '{hint[0]}'?)"
        return f"unexpected file (person files go in people/, as people/{stem}.yaml)"
    return f"unexpected file ({_HOLDS})"


def review_file(year: int, reviewer: str) -> str:
    """The one path a reviewer's file for `year` can have."""
    return f"{REVIEWS_DIR}/{year:04d}/{reviewer}.yaml"


def person_file(person_id: str) -> str:
    """The one path a person's file can have."""
    return f"{PEOPLE_DIR}{person_id}.yaml"
