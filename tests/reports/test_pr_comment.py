"""The pull-request comment body (`render_pr_comment`): a person's changes folded in
`<details>`, the hidden marker first, and the size guard that keeps a plan of hundreds of
changes under GitHub's comment limit with its summary and the link to the full plan."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.model import Action, ActionKind, Finding, Plan, Severity, System
from reconciler.reports.plans import (
    COMMENT_BODY_LIMIT,
    PLAN_COMMENT_MARKER,
    render_markdown,
    render_pr_comment,
)

GITHUB_BODY_MAX = 65_536  # what GitHub accepts in a comment body
ARTIFACT = "https://github.example.com/example-co/desired-state/actions/runs/4242"


def plan_of(changes: int) -> Plan:
    """`changes` group additions for invented people, 5 per person, and a few findings."""
    actions = tuple(
        Action(
            phase=ActionKind.ADD_GROUP_MEMBER.phase(False),
            system=System.GOOGLE,
            kind=ActionKind.ADD_GROUP_MEMBER,
            target=f"team-{i % 5}@example.co.jp",
            principal=f"person{i // 5:04d}@example.co.jp",
            role="MEMBER",
            person_id=f"e{i // 5:04d}",
            reason="role engineer grants this group",
        )
        for i in range(changes)
    )
    findings = (
        Finding("leaver-has-access", Severity.CRITICAL, "第5.2条3", System.GOOGLE,
                "leaver@example.co.jp", "left yesterday, still active"),
        Finding("two-step-off", Severity.HIGH, "第5.1条", System.GOOGLE,
                "person0001@example.co.jp", "2-step verification is off"),
    )  # fmt: skip
    return Plan(
        made_at=datetime(2026, 12, 1, tzinfo=UTC),
        actions=actions,
        findings=findings,
        state_fingerprint="f" * 64,
    )


def test_each_persons_changes_are_folded_in_a_details_block() -> None:
    text = render_markdown(plan_of(10))

    assert text.count("<details>") == 2  # two people, five changes each
    assert "<summary><b>e0000</b>: 5 change(s)</summary>" in text
    assert text.count("</details>") == 2


def test_a_small_plan_is_posted_whole_with_its_marker_and_the_artifact_link() -> None:
    body = render_pr_comment(plan_of(10), artifact_url=ARTIFACT)

    assert body.startswith(PLAN_COMMENT_MARKER + "\n## Access plan")
    assert "| critical | 第5.2条3 | `leaver-has-access`" in body
    assert f"Full plan: [{ARTIFACT}]({ARTIFACT})" in body


def test_a_plan_of_500_changes_keeps_its_summary_and_link_under_githubs_limit() -> None:
    plan = plan_of(500)
    assert len(render_markdown(plan)) > GITHUB_BODY_MAX  # the guard has something to do

    body = render_pr_comment(plan, artifact_url=ARTIFACT)

    assert len(body) < GITHUB_BODY_MAX
    assert len(body) <= COMMENT_BODY_LIMIT
    assert body.startswith(PLAN_COMMENT_MARKER)
    assert "**500 changes** (+500 / -0, 0 offboarding), **2 findings** (1 critical, 1 high)" in body
    assert f"[{ARTIFACT}]({ARTIFACT})" in body
    assert "too long for a pull-request comment" in body


def test_without_an_artifact_the_cut_comment_says_where_the_plan_is() -> None:
    body = render_pr_comment(plan_of(500))

    assert len(body) < GITHUB_BODY_MAX
    assert "`--out` file" in body
