"""The GitHub provider's persisted cache through real PyGithub against the sandbox: a second
provider (a new process, as a one-shot CLI run or a restarted daemon) with the state store's
`github-cache.json` revalidates with 304s and spends a tenth of a cold read's points at most;
every change to members, roles, 2FA or teams is still seen on the next read; a failed read
never leaves stale data behind fresh validators; a corrupt document is ignored and reported."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from reconciler.model import Grant, GrantKind, SnapshotPart
from reconciler.providers.github import GitHubProvider
from reconciler.providers.retrying import RetryPolicy
from reconciler.sandbox.github_rest import world_of
from reconciler.sandbox.server import SandboxServer
from reconciler.state import LocalStateStore
from reconciler.state.documents import GITHUB_CACHE_DOCUMENT, StoredDocument
from tests.conftest import load
from tests.providers.test_github_provider import DESIRED, RecordingSleep, endpoint_calls
from tests.sandbox.test_github_rest import ORG, github_world


def fresh_provider(sandbox: SandboxServer, state: Path) -> GitHubProvider:
    """A new provider object over the state directory: nothing in memory from earlier reads."""
    policy = RetryPolicy(attempts=3, initial_wait=0.01, deadline=600, sleep=RecordingSleep())
    cache = StoredDocument(LocalStateStore(state), GITHUB_CACHE_DOCUMENT)
    return GitHubProvider.from_sandbox(sandbox.url, ORG, retry_policy=policy, cache=cache)


@contextmanager
def points(sandbox: SandboxServer) -> Iterator[dict[str, int]]:
    """GitHub rate-limit points (core + GraphQL) and 304s spent inside the block."""
    telemetry = sandbox.sandbox.telemetry
    before, seen = dict(telemetry.rate_limit_points), len(telemetry.log)
    spent: dict[str, int] = {}
    yield spent
    after = telemetry.rate_limit_points
    spent["points"] = sum(after[k] - before.get(k, 0) for k in ("core", "graphql"))
    spent["not_modified"] = sum(r.status == 304 for r in telemetry.log[seen:])


def change_world(sandbox: SandboxServer, change: Any) -> None:
    """Edit the sandbox's GitHub world in place, as someone clicking in GitHub's UI would."""
    gw = world_of(sandbox.sandbox)
    with sandbox.sandbox.lock:
        change(gw.data)
        gw.reindex()


def big_world() -> dict[str, Any]:
    return github_world(members=250, team_members=130, outside=2)


def test_a_second_provider_with_the_persisted_cache_spends_at_most_a_tenth(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    load(sandbox, big_world())
    with points(sandbox) as cold:
        first = fresh_provider(sandbox, tmp_path).read(DESIRED)
    assert (tmp_path / GITHUB_CACHE_DOCUMENT).exists()
    graphql_calls = len(endpoint_calls(sandbox, "github.graphql"))
    with points(sandbox) as warm:
        second = fresh_provider(sandbox, tmp_path).read(DESIRED)
    assert first.status.complete and second.status.complete, second.status.problems
    assert second.grants == first.grants and second.accounts == first.accounts
    assert warm["points"] <= cold["points"] / 10, (warm, cold)
    assert warm["not_modified"] >= 10
    assert len(endpoint_calls(sandbox, "github.graphql")) == graphql_calls  # none at all


def test_the_cache_document_holds_no_credential(sandbox: SandboxServer, tmp_path: Path) -> None:
    load(sandbox, big_world())
    fresh_provider(sandbox, tmp_path).read(DESIRED)
    text = (tmp_path / GITHUB_CACHE_DOCUMENT).read_text(encoding="utf-8")
    assert "sandbox-token" not in text
    assert "authorization" not in text.lower()


def add_member(data: dict[str, Any]) -> None:
    data["users"].append({"login": "tanaka-new", "id": 5001, "two_factor": True})
    data["members"].append({"login": "tanaka-new", "role": "member"})


def org_grants(part: SnapshotPart) -> set[Grant]:
    return {g for g in part.grants if g.kind is GrantKind.GITHUB_ORG}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            add_member,
            Grant(GrantKind.GITHUB_ORG, ORG, "tanaka-new", "member"),
            id="member-added",
        ),
        pytest.param(
            lambda d: d["members"][5].update(role="admin"),
            Grant(GrantKind.GITHUB_ORG, ORG, "user5", "admin"),
            id="promoted-to-owner",
        ),
        pytest.param(
            lambda d: d["teams"][0]["members"][7].update(role="maintainer"),
            Grant(GrantKind.GITHUB_TEAM, f"{ORG}/backend", "user7", "maintainer"),
            id="team-maintainer",
        ),
        pytest.param(
            lambda d: d["teams"][1]["members"].append({"login": "user9", "role": "member"}),
            Grant(GrantKind.GITHUB_TEAM, f"{ORG}/infra", "user9", "member"),
            id="team-member-added",
        ),
    ],
)  # fmt: skip
def test_a_change_is_seen_on_the_next_read(
    sandbox: SandboxServer, tmp_path: Path, change: Any, expected: Grant
) -> None:
    load(sandbox, big_world())
    before = fresh_provider(sandbox, tmp_path).read(DESIRED)
    assert expected not in before.grants
    change_world(sandbox, change)
    after = fresh_provider(sandbox, tmp_path).read(DESIRED)
    assert after.status.complete, after.status.problems
    assert expected in after.grants


def test_a_2fa_change_without_a_membership_change_is_seen_on_the_next_read(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    load(sandbox, big_world())
    before = fresh_provider(sandbox, tmp_path).read(DESIRED)
    assert next(a for a in before.accounts if a.name == "user2").two_factor_enrolled is True

    def disable_2fa(data: dict[str, Any]) -> None:
        next(u for u in data["users"] if u["login"] == "user2")["two_factor"] = False

    change_world(sandbox, disable_2fa)
    after = fresh_provider(sandbox, tmp_path).read(DESIRED)
    assert next(a for a in after.accounts if a.name == "user2").two_factor_enrolled is False


def test_a_failed_read_never_leaves_stale_data_behind_fresh_validators(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Read 2 sees the member list change (new ETags) but its GraphQL read fails: read 3's
    validators answer 304, and it must still not take read 1's members for current."""
    load(sandbox, big_world())
    fresh_provider(sandbox, tmp_path).read(DESIRED)
    change_world(sandbox, add_member)
    sandbox.sandbox.add_fault({"path": "^/graphql$", "every": True, "status": 502})
    failed = fresh_provider(sandbox, tmp_path).read(DESIRED)
    assert not failed.status.complete
    sandbox.sandbox.clear_faults()
    after = fresh_provider(sandbox, tmp_path).read(DESIRED)
    assert after.status.complete, after.status.problems
    assert Grant(GrantKind.GITHUB_ORG, ORG, "tanaka-new", "member") in org_grants(after)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param('{"version": 1, "scope": 7}', id="wrong-shape"),
        pytest.param('{"version": 99}', id="unknown-version"),
    ],
)
def test_a_corrupt_cache_document_is_ignored_and_reported(
    sandbox: SandboxServer, tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    load(sandbox, big_world())
    expected = fresh_provider(sandbox, tmp_path / "clean").read(DESIRED)
    (tmp_path / GITHUB_CACHE_DOCUMENT).write_text(content, encoding="utf-8")
    calls = len(endpoint_calls(sandbox, "github.graphql"))
    part = fresh_provider(sandbox, tmp_path).read(DESIRED)
    assert part.status.complete, part.status.problems
    assert part.grants == expected.grants and part.accounts == expected.accounts
    assert len(endpoint_calls(sandbox, "github.graphql")) > calls  # a full read
    logged = capsys.readouterr()
    assert "github_cache_ignored" in logged.out + logged.err
    # The next read writes a good document over it and uses it.
    with points(sandbox) as warm:
        fresh_provider(sandbox, tmp_path).read(DESIRED)
    assert warm["points"] == 0


def test_above_the_validator_limit_only_large_teams_are_validated_and_changes_still_seen(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many teams: the teams connection is read every time (1 point per 100 teams), and the
    130-member team's further pages are replaced by its REST validators and the cache."""
    monkeypatch.setattr("reconciler.providers.github.TEAM_VALIDATOR_LIMIT", 2)
    load(sandbox, big_world())
    fresh_provider(sandbox, tmp_path).read(DESIRED)
    graphql = sandbox.sandbox.telemetry.rate_limit_points["graphql"]
    again = fresh_provider(sandbox, tmp_path).read(DESIRED)
    assert again.status.complete, again.status.problems
    assert sandbox.sandbox.telemetry.rate_limit_points["graphql"] - graphql == 1
    assert sum(g.target == f"{ORG}/backend" for g in again.grants) == 130
    change_world(sandbox, lambda d: d["teams"][0]["members"][120].update(role="maintainer"))
    after = fresh_provider(sandbox, tmp_path).read(DESIRED)
    assert Grant(GrantKind.GITHUB_TEAM, f"{ORG}/backend", "user120", "maintainer") in after.grants
