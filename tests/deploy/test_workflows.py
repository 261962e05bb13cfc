"""deploy/github: the desired-state repo's workflows pass actionlint (the dev dependency's
binary; no registry package ships GitHub's workflow JSON schema, so actionlint's own
workflow model is the syntax check), ask for the least permissions, and CODEOWNERS makes
the security officer approve every change to people, roles and the organisation."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from reconciler.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / "deploy" / "github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
ACTIONLINT = Path(sys.executable).parent / "actionlint"
SECURITY_OFFICER = "@example-co/security-officer"


def _actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT.exists(), "actionlint missing: `make setup` installs the dev dependencies"
    return subprocess.run(
        [str(ACTIONLINT), "-no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return data


def test_there_is_a_workflow() -> None:
    assert WORKFLOWS


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_finds_nothing(path: Path) -> None:
    result = _actionlint(path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_actionlint_does_fail_a_broken_workflow(tmp_path: Path) -> None:
    """The check above can fail: an unknown key and a bad expression are reported."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n    permisions: {}\n"
        "    steps:\n      - run: echo ${{ github.nope( }}\n",
        encoding="utf-8",
    )
    assert _actionlint(broken).returncode != 0


def test_pull_request_workflow_permissions_are_minimal_and_runs_are_per_pr() -> None:
    flow = _load(GITHUB / "workflows" / "access-rights.yml")
    assert flow["permissions"] == {}  # nothing unless a job asks
    assert "github.event.pull_request.number" in flow["concurrency"]["group"]
    assert flow["concurrency"]["cancel-in-progress"] is True
    jobs = flow["jobs"]
    assert jobs["validate"]["permissions"] == {"contents": "read"}
    assert jobs["plan"]["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "pull-requests": "write",
    }
    assert jobs["plan"]["needs"] == "validate"


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_the_jobs_validate_with_annotations_and_plan_read_only_with_the_pr_comment() -> None:
    flow = _load(GITHUB / "workflows" / "access-rights.yml")
    validate, plan = flow["jobs"]["validate"], flow["jobs"]["plan"]
    assert "reconciler validate --format github" in _runs(validate)
    assert "reconciler plan" in _runs(plan) and '--pr-comment "$PR"' in _runs(plan)
    assert "apply" not in _runs(plan) and "offboard" not in _runs(plan)
    pr = next(s for s in plan["steps"] if "--pr-comment" in s.get("run", ""))["env"]["PR"]
    assert pr == "${{ github.repository }}#${{ github.event.pull_request.number }}"
    auth = next(
        s for s in plan["steps"] if s.get("uses", "").startswith("google-github-actions/auth")
    )
    assert set(auth["with"]) == {"workload_identity_provider", "service_account"}  # no key
    # Read-only credentials, and the comment posted by the job's own token: the credential
    # that reads the organisation never writes (docs/deployment.md, step 7).
    env = next(s for s in plan["steps"] if "--pr-comment" in s.get("run", ""))["env"]
    assert env["RECONCILER_READ_ONLY"] == "true"
    assert env["RECONCILER_PR_COMMENT_TOKEN"] == "${{ github.token }}"
    assert env["RECONCILER_GOOGLE_IMPERSONATE_SERVICE_ACCOUNT"] == (
        "${{ vars.RECONCILER_PLAN_SERVICE_ACCOUNT }}"
    )
    known = {f"RECONCILER_{name.upper()}" for name in Settings.model_fields}
    assert {n for n in env if n.startswith("RECONCILER_")} <= known
    upload = next(
        s for s in plan["steps"] if s.get("uses", "").startswith("actions/upload-artifact")
    )
    assert upload["with"]["path"] == "plan.json" and upload["if"] == "always()"
    # The installed reconciler is pinned to a release, never the moving default branch.
    package = flow["env"]["RECONCILER_PACKAGE"]
    assert "@v" in package or "==" in package, package
    for job in (validate, plan):
        assert '"$RECONCILER_PACKAGE"' in _runs(job)


# `uses: owner/repo[/path]@<40 hex> # vX.Y.Z`: a tag or branch can be moved to other code, a
# commit cannot; the comment says which release the commit is, for the next update.
_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+){0,2}$")
_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(.+?)\s*$")


def _unpinned(text: str) -> list[str]:
    """Every `uses:` line of a workflow not pinned to a commit SHA with its version comment."""
    found = []
    for line in text.splitlines():
        match = _USES.match(line)
        if match and not _PINNED.match(match.group(1)):
            found.append(line.strip())
    return found


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_sha_with_its_version(path: Path) -> None:
    text = Path(path).read_text(encoding="utf-8")
    assert [x for x in text.splitlines() if _USES.match(x)], "no uses: line found"
    assert _unpinned(text) == []


def test_the_pin_check_refuses_a_tag_a_short_sha_and_a_missing_comment() -> None:
    sha = "11d5960a326750d5838078e36cf38b85af677262"
    bad = [
        "      - uses: actions/checkout@v4",
        "      - uses: actions/checkout@11d5960 # v4.4.0",
        f"      - uses: actions/checkout@{sha}",
        f"        uses: actions/checkout@{sha} # latest",
    ]
    good = f"      - uses: actions/checkout@{sha} # v4.4.0"
    assert _unpinned("\n".join([*bad, good])) == [b.strip() for b in bad]


def _owners(codeowners: str, path: str) -> list[str]:
    """The owners GitHub picks for `path`: the last matching line wins (CODEOWNERS syntax,
    the subset used here: `*`, `/file`, `/dir/`)."""
    owners: list[str] = []
    for line in codeowners.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pattern, *names = line.split()
        if pattern == "*":
            hit = True
        elif pattern.endswith("/"):
            hit = ("/" + path).startswith(pattern)
        else:
            hit = fnmatch.fnmatchcase("/" + path, pattern)
        if hit:
            owners = names
    return owners


@pytest.mark.parametrize(
    "path",
    ["people/e0042.yaml", "people/contractors/c0001.yaml", "roles.yaml", "organization.yaml",
     ".github/workflows/access-rights.yml", ".github/CODEOWNERS"],
)  # fmt: skip
def test_codeowners_makes_the_security_officer_approve(path: str) -> None:
    text = (GITHUB / "CODEOWNERS").read_text(encoding="utf-8")
    assert SECURITY_OFFICER in _owners(text, path), path


def test_codeowners_does_not_hand_everything_else_to_the_security_officer() -> None:
    text = (GITHUB / "CODEOWNERS").read_text(encoding="utf-8")
    assert _owners(text, "README.md") == ["@example-co/access-admins"]
