"""Read desired-state files from disk: the package's only I/O, called by `loading`
(`read_desired_files`, the whole repo) and `emergency` (organization.yaml and one person).

The directory comes from a pull request, so nothing is trusted: symbolic links are refused
(a link could make the daemon read files outside the repo), sizes are checked before reading,
and every file found is either read, ignored by name (`layout.classify`) or reported.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from reconciler.desired.layout import MAX_FILES, FileKind, classify, ignored_dir
from reconciler.desired.parsing import MAX_FILE_BYTES
from reconciler.desired.problems import DesiredStateError, ValidationFailed

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def read_file(root: Path, name: str) -> bytes | DesiredStateError | None:
    """The bytes of `root/name`, None when it does not exist, or why it cannot be read."""

    def refused(message: str) -> DesiredStateError:
        return DesiredStateError(name, 1, 1, "", message)

    path = root / name
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return refused(f"cannot read: {exc.strerror}")
    if stat.S_ISLNK(info.st_mode):
        return refused("symbolic links are refused")
    if not stat.S_ISREG(info.st_mode):
        return refused("not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        return refused(f"file is {info.st_size} bytes; the limit is 1 MiB")
    try:
        # O_NOFOLLOW: a file swapped for a link after the check above is still refused.
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return refused(f"cannot read: {exc.strerror}")
    if len(raw) > MAX_FILE_BYTES:  # it grew after the size check
        return refused(f"file is over {MAX_FILE_BYTES} bytes; the limit is 1 MiB")
    return raw


def read_tree(root: Path) -> tuple[dict[str, bytes], list[DesiredStateError]]:
    """Every file under `root` that is not ignored: read, or a problem naming its path.

    Raises ValidationFailed only when `root` is not a directory or holds more than MAX_FILES
    files (then nothing is read: the walk itself is the cost being bounded).
    """
    if root.is_symlink() or not root.is_dir():
        raise ValidationFailed([DesiredStateError(str(root), 1, 1, "", "not a directory")])
    found: dict[str, bytes] = {}
    problems: list[DesiredStateError] = []
    counted = 0
    pending = [""]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(root / folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            where = folder.rstrip("/") or "."
            problems.append(DesiredStateError(where, 1, 1, "", f"cannot read: {exc.strerror}"))
            continue
        for entry in entries:
            name = f"{folder}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                if not ignored_dir(name):
                    pending.append(f"{name}/")
                continue
            kind = classify(name)
            if kind is FileKind.IGNORED:
                continue
            counted += 1
            if counted > MAX_FILES:
                message = f"more than {MAX_FILES} files; the limit is {MAX_FILES}"
                raise ValidationFailed([DesiredStateError("", 1, 1, "", message)])
            if isinstance(kind, str):
                # A link is reported as a link whatever its name, the sharper message.
                message = "symbolic links are refused" if entry.is_symlink() else kind
                problems.append(DesiredStateError(name, 1, 1, "", message))
                continue
            raw = read_file(root, name)
            if isinstance(raw, bytes):
                found[name] = raw
            elif raw is not None:
                problems.append(raw)
    return found, problems


def person_names(root: Path) -> list[str]:
    """The people/<id>.yaml names present, without reading them (emergency look-ups)."""
    if (root / "people").is_symlink():
        return []  # refused by the full load; never followed out of the repo
    try:
        with os.scandir(root / "people") as listing:
            names = [f"people/{e.name}" for e in listing]
    except OSError:
        return []
    return sorted(n for n in names if classify(n) is FileKind.PERSON)
