"""The GitHub provider through real PyGithub against the sandbox over HTTP: what it reads,
how it pages, how it waits on rate limits and failures, and that every apply is idempotent."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
import requests

from reconciler.errors import PermanentProviderError, TemporaryProviderError
from reconciler.model import (
    Action,
    ActionKind,
    DesiredState,
    Employment,
    EmploymentType,
    GitHubGrant,
    GitHubScope,
    Grant,
    GrantKind,
    Organization,
    Person,
    Phase,
    Role,
    System,
    Systems,
)
from reconciler.providers.github import GitHubProvider
from reconciler.providers.retrying import RetryPolicy
from reconciler.sandbox.github_rest import SECONDARY_LIMIT_MESSAGE
from reconciler.sandbox.server import SandboxServer
from tests.conftest import load
from tests.sandbox.test_github_rest import ORG, github_world, state

DESIRED = DesiredState(
    organization=Organization(
        name="Example",
        domains=("example.co.jp",),
        timezone="Asia/Tokyo",
        security_officer="e0001",
        systems=Systems(github=GitHubScope(org=ORG)),
    ),
    roles={},
    people={},
)


class RecordingSleep:
    """A RetryPolicy sleep that records waits instead of sleeping; `then` runs after each
    wait to let "time pass" in the sandbox (e.g. a rate-limit reset)."""

    def __init__(self, then: Any = None) -> None:
        self.waits: list[float] = []
        self.then = then

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.then is not None:
            self.then()


def provider(sandbox: SandboxServer, sleep: RecordingSleep | None = None) -> GitHubProvider:
    policy = RetryPolicy(
        attempts=3, initial_wait=0.01, deadline=600, sleep=sleep or RecordingSleep()
    )
    return GitHubProvider.from_sandbox(sandbox.url, ORG, retry_policy=policy)


def fault(sandbox: SandboxServer, **spec: Any) -> None:
    assert requests.post(f"{sandbox.url}/_sandbox/faults", json=spec, timeout=5).status_code == 201


def endpoint_calls(sandbox: SandboxServer, endpoint: str) -> list[Any]:
    return [r for r in sandbox.sandbox.telemetry.log if r.endpoint == endpoint]


def action(kind: ActionKind, target: str, principal: str, role: str = "", **params: str) -> Action:
    return Action(
        phase=Phase.ADD,
        system=System.GITHUB,
        kind=kind,
        target=target,
        principal=principal,
        role=role,
        params=tuple(params.items()),
    )


def test_read_pages_members_and_team_members_through_graphql(sandbox: SandboxServer) -> None:
    load(sandbox, github_world(members=250, team_members=130, outside=2))
    part = provider(sandbox).read(DESIRED)
    assert part.status.complete, part.status.problems
    assert len(part.accounts) == 252  # 250 members + 2 outside collaborators
    org_grants = {g for g in part.grants if g.kind is GrantKind.GITHUB_ORG}
    assert len(org_grants) == 250
    assert Grant(GrantKind.GITHUB_ORG, ORG, "user0", "admin") in org_grants
    assert Grant(GrantKind.GITHUB_ORG, ORG, "user249", "member") in org_grants
    team_grants = {g for g in part.grants if g.kind is GrantKind.GITHUB_TEAM}
    assert len(team_grants) == 130
    assert Grant(GrantKind.GITHUB_TEAM, f"{ORG}/backend", "user0", "maintainer") in team_grants
    assert Grant(GrantKind.GITHUB_TEAM, f"{ORG}/backend", "user129", "member") in team_grants
    assert {g for g in part.grants if g.kind is GrantKind.GITHUB_COLLABORATOR} == {
        Grant(GrantKind.GITHUB_COLLABORATOR, ORG, "ext0", "outside"),
        Grant(GrantKind.GITHUB_COLLABORATOR, ORG, "ext1", "outside"),
    }
    user1 = next(a for a in part.accounts if a.name == "user1")
    assert (user1.id, user1.is_admin, user1.two_factor_enrolled) == ("2001", False, False)
    assert part.github_org is not None
    assert (part.github_org.id, part.github_org.two_factor_required) == (9000001, True)
    pending, failed = part.invitations
    assert (pending.email, pending.inviter, pending.failed_at) == (
        "hanako.suzuki@example.com", "user0", None,
    )  # fmt: skip
    assert (failed.login, failed.failed_reason) == ("late-joiner", "Invitation expired")
    assert failed.created_at == datetime(2025, 12, 1, 9, tzinfo=UTC)
    # 3 member pages + 1 teams page + 1 extra page for the 130-member team.
    assert len(endpoint_calls(sandbox, "github.graphql")) == 5
    assert sandbox.sandbox.telemetry.rate_limit_points["graphql"] == 5
    # GraphQL, org settings, three REST lists, and the conditional REST lists that let the
    # next read prove the members and teams unchanged: members all/admin/2fa_disabled (3 + 1
    # + 2 pages), the team list, and each team's all/maintainer lists (5 pages).
    assert part.status.api_calls == 5 + 1 + 3 + 6 + 1 + 5


def test_unchanged_org_settings_are_revalidated_with_etag_for_free(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world())
    gh = provider(sandbox)
    first = gh.read(DESIRED)
    sandbox.sandbox.telemetry.reset()
    second = gh.read(DESIRED)
    assert second.github_org == first.github_org
    (org_get,) = endpoint_calls(sandbox, "github.orgs.get")
    assert org_get.status == 304
    # The three REST lists are conditional too: every GET was a 304 and cost nothing.
    assert sandbox.sandbox.telemetry.rate_limit_points["core"] == 0
    assert second.grants == first.grants and second.invitations == first.invitations


def test_conditional_list_pages_still_see_a_change(sandbox: SandboxServer) -> None:
    load(sandbox, github_world(outside=150))
    gh = provider(sandbox)
    first = gh.read(DESIRED)
    world = state(sandbox)
    world["outside_collaborators"] = [*world["outside_collaborators"], "user2"]
    load(sandbox, {"github": world})
    sandbox.sandbox.telemetry.reset()
    second = gh.read(DESIRED)
    added = Grant(GrantKind.GITHUB_COLLABORATOR, ORG, "user2", "outside")
    assert added not in first.grants and added in second.grants
    pages = endpoint_calls(sandbox, "github.orgs.outside_collaborators.list")
    # page 1 unchanged (304, from the cache, its Link still followed), page 2 changed (200)
    assert [p.status for p in pages] == [304, 200]
    assert sandbox.sandbox.telemetry.rate_limit_points["core"] == 1


def test_secondary_rate_limit_waits_for_retry_after(sandbox: SandboxServer) -> None:
    load(sandbox, github_world())
    fault(
        sandbox,
        path="^/graphql$",
        nth=1,
        status=403,
        headers={"retry-after": "7"},
        body={"message": SECONDARY_LIMIT_MESSAGE, "documentation_url": "https://docs.github.com"},
    )
    sleep = RecordingSleep()
    part = provider(sandbox, sleep).read(DESIRED)
    assert part.status.complete
    assert sleep.waits == [7.0]
    assert len(endpoint_calls(sandbox, "github.graphql")) == 3  # failed + retried + teams


def test_exhausted_primary_limit_waits_until_reset(sandbox: SandboxServer) -> None:
    reset = int(time.time()) + 30
    load(sandbox, github_world(rate_limit={"limit": 5000, "remaining": 0, "reset": reset}))

    def reset_passes() -> None:
        """The recorded wait stands for real time passing: the hour's budgets refill."""
        with sandbox.sandbox.lock:
            for rate in sandbox.sandbox.github.rates.values():
                rate.remaining = rate.limit

    sleep = RecordingSleep(then=reset_passes)
    part = provider(sandbox, sleep).read(DESIRED)
    assert part.status.complete
    # The independent sub-reads run concurrently, so each of those already on the wire when
    # the budget was found empty waits once, every one until the reset.
    assert 1 <= len(sleep.waits) <= 5
    assert all(25 <= wait <= 32 for wait in sleep.waits)  # x-ratelimit-reset - now + 1 s
    first = next(r for r in sandbox.sandbox.telemetry.log if r.api == "github")
    assert first.status == 403


def test_server_error_and_dropped_connection_are_retried(sandbox: SandboxServer) -> None:
    load(sandbox, github_world())
    fault(sandbox, path=f"^/orgs/{ORG}/invitations$", nth=1, status=502)
    fault(sandbox, path=f"^/orgs/{ORG}/outside_collaborators$", nth=1, drop_connection=True)
    sleep = RecordingSleep()
    part = provider(sandbox, sleep).read(DESIRED)
    assert part.status.complete, part.status.problems
    assert len(sleep.waits) == 2
    assert [r.status for r in endpoint_calls(sandbox, "github.orgs.invitations.list")] == [
        502,
        200,
    ]
    assert len(part.invitations) == 2


def test_a_page_failing_after_all_retries_makes_the_read_incomplete(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world(members=150))
    # The second members page fails on all 3 attempts (GraphQL calls 2, 3 and 4); the first
    # page succeeded. Rules are listed latest first because a rule that fires hides the call
    # from the rules after it, so each must still count calls 1..n-1.
    for nth in (4, 3, 2):
        sandbox.sandbox.add_fault({"path": "^/graphql$", "nth": nth, "status": 503})
    part = provider(sandbox).read(DESIRED)
    assert not part.status.complete
    assert any(p.startswith("members:") for p in part.status.problems)
    assert "503" in " ".join(part.status.problems)
    assert sum(g.kind is GrantKind.GITHUB_ORG for g in part.grants) == 100


def test_a_graphql_outage_never_reads_as_an_empty_org(sandbox: SandboxServer) -> None:
    load(sandbox, github_world())
    fault(sandbox, path="^/graphql$", every=True, status=500)
    part = provider(sandbox).read(DESIRED)
    assert not part.status.complete
    assert {p.split(":")[0] for p in part.status.problems} == {"members", "teams"}
    assert len(endpoint_calls(sandbox, "github.graphql")) == 6  # 3 attempts each


def test_an_empty_member_list_is_treated_as_incomplete(sandbox: SandboxServer) -> None:
    load(sandbox, github_world(members=0))
    part = provider(sandbox).read(DESIRED)
    assert not part.status.complete
    assert "empty" in part.status.problems[0]


def test_permission_errors_are_permanent_and_not_retried(sandbox: SandboxServer) -> None:
    load(sandbox, github_world())
    fault(sandbox, path=f"^/orgs/{ORG}/teams/backend/memberships/", every=True, status=403,
          body={"message": "Must have admin rights to Repository."})  # fmt: skip
    sleep = RecordingSleep()
    gh = provider(sandbox, sleep)
    with pytest.raises(PermanentProviderError) as info:
        gh.apply(action(ActionKind.ADD_TEAM_MEMBER, f"{ORG}/backend", "user2", "member"))
    assert info.value.status == 403
    assert sleep.waits == []
    assert "sandbox-token" not in str(info.value)


@pytest.mark.parametrize(
    ("act", "check"),
    [
        (
            action(ActionKind.INVITE_ORG_MEMBER, ORG, "newcomer", "member"),
            lambda gh: any(i["login"] == "newcomer" for i in gh["invitations"]),
        ),
        (
            action(ActionKind.INVITE_ORG_MEMBER, ORG, "newcomer", "admin", github_id="4000"),
            lambda gh: any(
                i["login"] == "newcomer" and i["role"] == "admin" for i in gh["invitations"]
            ),
        ),
        (
            action(ActionKind.CHANGE_ORG_ROLE, ORG, "user1", "admin"),
            lambda gh: {"login": "user1", "role": "admin"} in gh["members"],
        ),
        (
            action(ActionKind.REMOVE_ORG_MEMBER, ORG, "user2"),
            lambda gh: all(m["login"] != "user2" for m in gh["members"]),
        ),
        (
            action(
                ActionKind.CANCEL_INVITATION, ORG, "hanako.suzuki@example.com", invitation_id="7001"
            ),
            lambda gh: gh["invitations"] == [],
        ),
        (
            action(ActionKind.ADD_TEAM_MEMBER, f"{ORG}/infra", "user2", "member"),
            lambda gh: gh["teams"][1]["members"] == [{"login": "user2", "role": "member"}],
        ),
        (
            action(ActionKind.CHANGE_TEAM_ROLE, f"{ORG}/backend", "user1", "maintainer"),
            lambda gh: {"login": "user1", "role": "maintainer"} in gh["teams"][0]["members"],
        ),
        (
            action(ActionKind.REMOVE_TEAM_MEMBER, f"{ORG}/backend", "user1", "member"),
            lambda gh: [m["login"] for m in gh["teams"][0]["members"]] == ["user0"],
        ),
        (
            action(ActionKind.REMOVE_OUTSIDE_COLLABORATOR, ORG, "ext0", "outside"),
            lambda gh: gh["outside_collaborators"] == [],
        ),
    ],
    ids=lambda v: v.kind.value if isinstance(v, Action) else "",
)
def test_apply_changes_the_sandbox_once_and_is_idempotent(
    sandbox: SandboxServer, act: Action, check: Any
) -> None:
    load(sandbox, github_world())
    gh = provider(sandbox)
    first = gh.apply(act)
    assert (first.ok, first.changed) == (True, True)
    assert check(state(sandbox))
    writes_before = [r for r in sandbox.sandbox.telemetry.log if r.method in WRITE_METHODS]
    second = gh.apply(act)
    assert (second.ok, second.changed) == (True, False)
    assert check(state(sandbox))
    writes_after = [r for r in sandbox.sandbox.telemetry.log if r.method in WRITE_METHODS]
    # An effect that already holds is detected by a read: no second write at all, except
    # for DELETEs that answer 404 (the write itself is the check).
    assert len(writes_after) - len(writes_before) <= (1 if act.kind.is_removal else 0)


WRITE_METHODS = ("PUT", "DELETE", "POST", "PATCH")


def person(
    pid: str, login: str, *, roles: tuple[str, ...] = ("engineer",), end: date | None = None
) -> Person:
    return Person(
        id=pid,
        name="山田 太郎",
        email=f"{pid}@example.co.jp",
        employment=Employment(EmploymentType.EMPLOYEE, date(2020, 4, 1), end),
        roles=roles,
        github=login,
    )


def desired_for(*people: Person) -> DesiredState:
    """DESIRED with an "engineer" role granting GitHub membership, and `people`."""
    return replace(
        DESIRED,
        roles={"engineer": Role(name="engineer", github=GitHubGrant())},
        people={p.id: p for p in people},
    )


def _invitation_bodies(sandbox: SandboxServer) -> list[Any]:
    return [
        r.body
        for r in sandbox.sandbox.telemetry.log
        if r.method == "POST" and r.path == f"/orgs/{ORG}/invitations"
    ]


def test_an_invitation_goes_to_the_recorded_id_whoever_holds_the_login_now(
    sandbox: SandboxServer,
) -> None:
    """The action names login "newcomer" (id 4000 now) but carries github_id 3000 (the
    person's own account, called ext0 today): account 3000 is invited, 4000 never."""
    load(sandbox, github_world(outside=1))
    result = provider(sandbox).apply(
        action(ActionKind.INVITE_ORG_MEMBER, ORG, "newcomer", "member", github_id="3000")
    )
    assert (result.ok, result.changed) == (True, True)
    assert _invitation_bodies(sandbox) == [{"invitee_id": 3000, "role": "direct_member"}]
    assert [i["login"] for i in state(sandbox)["invitations"] if i["login"]] == ["ext0"]
    assert "account id 3000" in result.message


def test_a_login_only_invitation_resolves_the_login_first_and_names_the_id_in_the_result(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world())
    result = provider(sandbox).apply(
        action(ActionKind.INVITE_ORG_MEMBER, ORG, "newcomer", "member")
    )
    looked_up = [r for r in sandbox.sandbox.telemetry.log if r.path == "/users/newcomer"]
    assert [r.method for r in looked_up] == ["GET"]
    assert _invitation_bodies(sandbox) == [{"invitee_id": 4000, "role": "direct_member"}]
    assert "account id 4000" in result.message
    assert "add github_id: 4000 to the person file" in result.message


def test_a_login_that_resolves_to_no_account_is_not_invited(sandbox: SandboxServer) -> None:
    load(sandbox, github_world())
    with pytest.raises(PermanentProviderError, match="no GitHub account has the login nobody"):
        provider(sandbox).apply(action(ActionKind.INVITE_ORG_MEMBER, ORG, "nobody", "member"))
    assert _invitation_bodies(sandbox) == []


def test_read_looks_up_only_people_who_may_be_invited_with_conditional_gets(
    sandbox: SandboxServer,
) -> None:
    """Members, leavers, people without a GitHub role and the already invited are not looked
    up; a second read of an unchanged world answers every look-up with a free 304."""
    load(sandbox, github_world(members=3))
    desired = desired_for(
        person("p-new", "newcomer"),  # not in the org: looked up
        person("p-member", "user1"),  # a member: not looked up
        person("p-left", "ghost", end=date(2020, 3, 31)),  # left long ago: not looked up
        person("p-sales", "salesperson", roles=()),  # no GitHub role: not looked up
    )
    gh = provider(sandbox)
    first = gh.read(desired)
    log = list(sandbox.sandbox.telemetry.log)
    assert sorted(r.path for r in log if r.path.startswith("/user")) == ["/users/newcomer"]
    assert [a.name for a in first.invitees] == ["newcomer"]
    assert first.status.complete
    seq = log[-1].seq
    gh.read(desired)
    again = [
        r for r in sandbox.sandbox.telemetry.log if r.seq > seq and r.path == "/users/newcomer"
    ]
    assert [r.status for r in again] == [304]


def test_read_person_finds_a_renamed_login_by_its_stable_id(sandbox: SandboxServer) -> None:
    world = github_world()
    world["github"]["users"].append(
        {"login": "taro-yamada", "id": 2500, "previous_logins": ["tyamada"], "two_factor": True}
    )
    world["github"]["members"].append({"login": "taro-yamada", "role": "member"})
    world["github"]["teams"][1]["members"].append({"login": "taro-yamada", "role": "maintainer"})
    world["github"]["invitations"].append(
        {"id": 7003, "login": None, "email": "taro.yamada@example.co.jp", "role": "admin",
         "created_at": "2026-02-01T00:00:00Z", "inviter": "user0", "team_ids": []}
    )  # fmt: skip
    load(sandbox, world)
    person = Person(
        id="e0042",
        name="山田 太郎",
        email="taro.yamada@example.co.jp",
        employment=Employment(type=EmploymentType.EMPLOYEE, start=date(2025, 4, 1)),
        github="tyamada",  # the repo still has the old login
        github_id=2500,
    )
    part = provider(sandbox).read_person(person)
    assert part.status.complete, part.status.problems
    (account,) = part.accounts
    assert (account.id, account.name, account.aliases) == ("2500", "taro-yamada", ("tyamada",))
    assert set(part.grants) == {
        Grant(GrantKind.GITHUB_ORG, ORG, "taro-yamada", "member"),
        Grant(GrantKind.GITHUB_TEAM, f"{ORG}/infra", "taro-yamada", "maintainer"),
    }
    assert [i.id for i in part.invitations] == [7003]
    assert endpoint_calls(sandbox, "github.users.get_by_id")
    assert not endpoint_calls(sandbox, "github.orgs.members.list")  # no full-org scan


def test_read_person_without_a_github_account_reads_nothing(sandbox: SandboxServer) -> None:
    load(sandbox, github_world())
    person = Person(
        id="e0050",
        name="鈴木 花子",
        email="hanako.suzuki@example.com",
        employment=Employment(type=EmploymentType.CONTRACTOR, start=date(2026, 1, 5)),
        github="gone-user",
    )
    part = provider(sandbox).read_person(person)
    assert part.status.complete
    assert part.accounts == () and part.grants == ()
    assert [i.id for i in part.invitations] == [7001]  # the pending e-mail invitation


def test_exhausted_graphql_budget_waits_until_its_reset(sandbox: SandboxServer) -> None:
    reset = int(time.time()) + 120
    load(
        sandbox,
        github_world(graphql_rate_limit={"limit": 5000, "remaining": 0, "reset": reset}),
    )

    def reset_passes() -> None:
        with sandbox.sandbox.lock:
            sandbox.sandbox.github.rates["graphql"].remaining = 5000

    sleep = RecordingSleep(then=reset_passes)
    part = provider(sandbox, sleep).read(DESIRED)
    assert part.status.complete, part.status.problems
    assert len(sleep.waits) == 1
    assert 115 <= sleep.waits[0] <= 122
    # GitHub answers an exhausted GraphQL budget with HTTP 200 and a RATE_LIMITED error.
    assert endpoint_calls(sandbox, "github.graphql")[0].status == 200


def test_from_settings_uses_a_token_and_refuses_an_app_without_its_key(
    sandbox: SandboxServer,
) -> None:
    from pydantic import SecretStr

    from reconciler.settings import Settings

    load(sandbox, github_world())
    settings = Settings(sandbox_url=sandbox.url, github_token=SecretStr("ghs_exampletoken"))
    part = GitHubProvider.from_settings(settings, ORG).read(DESIRED)
    assert part.status.complete
    app_settings = Settings(
        sandbox_url=sandbox.url, github_app_id=12345, github_installation_id=678
    )
    with pytest.raises(PermanentProviderError, match="private key") as info:
        GitHubProvider.from_settings(app_settings, ORG)
    assert "ghs_" not in str(info.value)


# -- acting_as: who the tool is on GitHub (DESIGN 6.4) -------------------------------------


def test_acting_as_learns_the_token_login_with_one_get_user_and_caches_it(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world(tokens={"sandbox-token": "User0"}))
    gh = provider(sandbox)

    first = gh.acting_as()
    second = gh.acting_as()

    assert first == second == ("user0",)  # normalised as actions spell logins
    calls = endpoint_calls(sandbox, "github.users.get_authenticated")
    assert [(c.method, c.path, c.status) for c in calls] == [("GET", "/user", 200)]


def test_acting_as_raises_when_get_user_fails_rather_than_answer_nobody(
    sandbox: SandboxServer,
) -> None:
    load(sandbox, github_world(tokens={"another-token": "user0"}))  # sandbox-token revoked

    with pytest.raises(PermanentProviderError, match=r"GET /user.*401") as info:
        provider(sandbox).acting_as()
    assert "sandbox-token" not in str(info.value)

    load(sandbox, github_world())
    fault(sandbox, path="^/user$", every=True, status=503)
    with pytest.raises(TemporaryProviderError, match="GET /user"):
        provider(sandbox).acting_as()
    failed = [
        c for c in endpoint_calls(sandbox, "github.users.get_authenticated") if c.status == 503
    ]
    assert len(failed) == 3  # the provider's retry policy ran out, then it raised


def test_a_github_app_installation_acts_as_no_org_login_and_asks_nothing(
    sandbox: SandboxServer,
) -> None:
    from github import Auth

    from reconciler.providers.google_auth import throwaway_private_key_pem

    load(sandbox, github_world())
    installation = Auth.AppAuth(12345, throwaway_private_key_pem()).get_installation_auth(678)
    gh = GitHubProvider(org=ORG, base_url=sandbox.url, auth=installation)

    assert gh.acting_as() == ()
    assert [r for r in sandbox.sandbox.telemetry.log if r.api == "github"] == []
