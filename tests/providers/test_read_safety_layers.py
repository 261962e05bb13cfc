"""A Workspace group whose member list fails part-way (page 2 of 2) is left out of the
snapshot entirely, never presented as a shorter whole list (DESIGN 6.2). Real
google-api-python-client against the sandbox; found by mutation testing (no other test has a
group large enough to page)."""

from __future__ import annotations

from reconciler.sandbox.server import SandboxServer
from tests.providers.test_google_workspace import google_error, provider
from tests.sandbox.test_google_directory import DOMAIN, google_world

BIG = f"team0@{DOMAIN}"


def test_a_member_list_failing_on_its_second_page_drops_the_whole_group_from_the_read(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(google_world(users=260, groups=2, members_per_group=250))
    sandbox.sandbox.add_fault(
        {
            "path": "/groups/team0%40example.co.jp/members$",
            "nth": 2,  # the second page (members.list pages at 200)
            "status": 503,
            "body": google_error(503, "backendError", "UNAVAILABLE"),
        }
    )
    gw, _ = provider(sandbox, attempts=1)
    part = gw.read(None)  # type: ignore[arg-type]
    assert not part.status.complete
    assert any(BIG in p and "503" in p for p in part.status.problems)
    assert [g for g in part.grants if g.target == BIG] == []  # not the 200 of page 1
    assert [g for g in part.grants if g.target == f"team1@{DOMAIN}"]
