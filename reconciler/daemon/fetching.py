"""The desired-state repo as the daemon sees it: a bare clone in the work dir, fetched on
every trigger, and a clean worktree of one commit per run (git via subprocess); used by the
runner and the poller."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from reconciler.errors import ReconcilerError
from reconciler.log import redact_text, register_secret

GIT_TIMEOUT = 300  # seconds; a fetch of a large repo over a slow link


class GitError(ReconcilerError):
    """A git command failed; the message is one redacted line."""


class DesiredRepo:
    """`url` (a git URL or a local path) at `branch`, cloned bare into `work_dir/repo.git`.
    Every git call holds one lock: the poller and the runner fetch from different threads."""

    def __init__(self, url: str, branch: str, work_dir: Path) -> None:
        self.url = url
        self.branch = branch
        self.git_dir = work_dir / "repo.git"
        self.checkouts = work_dir / "checkouts"
        self._lock = threading.Lock()
        # A token in an https URL (https://x-access-token:TOKEN@github.com/...) is a secret.
        password = urlsplit(url).password
        register_secret(password)

    def _git(self, *args: str) -> str:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for a password prompt
        try:
            done = subprocess.run(  # noqa: S603 - fixed argv, no shell
                ["git", "--git-dir", str(self.git_dir), *args],  # noqa: S607 - git from PATH
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT,
                check=False,
                env=env,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GitError(redact_text(f"git {args[0]} failed: {exc}")) from None
        if done.returncode != 0:
            lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
            fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
            why = (fatal or lines or [f"exit code {done.returncode}"])[0]
            raise GitError(redact_text(f"git {args[0]} failed: {why}"))
        return done.stdout.strip()

    def prepare(self) -> str:
        """Clone (an empty bare repo, then a fetch) unless already there; the branch head."""
        with self._lock:
            if not self.git_dir.exists():
                self.git_dir.parent.mkdir(parents=True, exist_ok=True)
                self._git("init", "--bare", "--quiet")
        shutil.rmtree(self.checkouts, ignore_errors=True)  # left by a killed run
        with self._lock:
            self._git("worktree", "prune")
        return self.fetch()

    def fetch(self) -> str:
        """Fetch the branch; its head commit after the fetch."""
        ref = f"refs/heads/{self.branch}"
        with self._lock:
            self._git("fetch", "--quiet", "--force", "--no-tags", self.url, f"+{ref}:{ref}")
            return self._git("rev-parse", "--verify", f"{ref}^{{commit}}")

    @contextmanager
    def checkout(self, commit: str) -> Iterator[Path]:
        """A clean worktree of `commit` for the block, removed after it."""
        path = self.checkouts / f"{commit[:12]}-{uuid.uuid4().hex[:8]}"
        self.checkouts.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._git("worktree", "add", "--quiet", "--detach", "--force", str(path), commit)
        try:
            yield path
        finally:
            with self._lock:
                try:
                    self._git("worktree", "remove", "--force", str(path))
                except GitError:
                    shutil.rmtree(path, ignore_errors=True)
                    self._git("worktree", "prune")
