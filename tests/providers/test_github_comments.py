"""GitHubProvider.upsert_issue_comment through PyGithub against the sandbox: a 500-change plan
cut down by the size guard is accepted, the uncut one is what GitHub refuses (422)."""

from __future__ import annotations

import pytest

from reconciler.errors import PermanentProviderError
from reconciler.providers.github import GitHubProvider
from reconciler.reports.plans import PLAN_COMMENT_MARKER, render_markdown, render_pr_comment
from reconciler.sandbox.server import SandboxServer
from tests.conftest import load
from tests.reports.test_pr_comment import ARTIFACT, plan_of
from tests.sandbox.test_github_rest import ORG, github_world

REPO = {"name": "desired-state",
        "pull_requests": [{"number": 1, "title": "HR edits", "user": "user1"}]}  # fmt: skip


def provider(sandbox: SandboxServer) -> GitHubProvider:
    return GitHubProvider.from_sandbox(sandbox.url, ORG)


def test_the_size_guarded_500_change_plan_is_accepted_and_the_whole_one_is_refused(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world(repositories=[REPO]))
    plan = plan_of(500)
    whole = f"{PLAN_COMMENT_MARKER}\n{render_markdown(plan)}"

    with pytest.raises(PermanentProviderError, match="422"):
        provider(sandbox).upsert_issue_comment(
            f"{ORG}/desired-state", 1, whole, PLAN_COMMENT_MARKER
        )
    posted = provider(sandbox).upsert_issue_comment(
        f"{ORG}/desired-state", 1, render_pr_comment(plan, artifact_url=ARTIFACT),
        PLAN_COMMENT_MARKER,
    )  # fmt: skip

    assert posted.created
    [comment] = sandbox.sandbox.world["github"]["repositories"][0]["issue_comments"]
    assert ARTIFACT in comment["body"]
    assert posted.url.endswith(f"/{ORG}/desired-state/pull/1#issuecomment-{comment['id']}")


def test_a_body_without_its_marker_is_refused_before_any_call(sandbox: SandboxServer) -> None:
    load(sandbox, github_world(repositories=[REPO]))
    sandbox.sandbox.telemetry.reset()

    with pytest.raises(ValueError, match="marker"):
        provider(sandbox).upsert_issue_comment(f"{ORG}/desired-state", 1, "hi", "<!-- m -->")
    assert sandbox.sandbox.telemetry.log == []
