"""The Google Workspace provider, through google-api-python-client against the sandbox:
batched reads with their exact round-trip cost, every fault kind, incomplete reads, DWD,
and every Google action applied idempotently with the sandbox state asserted afterwards."""

from __future__ import annotations

import math
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
from google.oauth2.credentials import Credentials as BearerCredentials

from reconciler.errors import ConflictError, PermanentProviderError
from reconciler.model import (
    Action,
    ActionKind,
    Employment,
    EmploymentType,
    GoogleScope,
    Grant,
    GrantKind,
    Person,
    Phase,
    System,
)
from reconciler.providers.google_auth import SignJwtDelegatedCredentials
from reconciler.providers.google_workspace import GoogleWorkspaceProvider
from reconciler.providers.retrying import RetryPolicy
from reconciler.sandbox.server import SandboxServer
from tests.sandbox.test_google_directory import DOMAIN, google_world

SCOPE = GoogleScope(customer="C01example", domain=DOMAIN, admin_subject=f"user0000@{DOMAIN}")


def google_error(code: int, reason: str, status: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": reason,
            "status": status,
            "errors": [{"message": reason, "domain": "usageLimits", "reason": reason}],
        }
    }


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def provider(
    sandbox: SandboxServer, *, attempts: int = 4, timeout: float = 10.0, **kwargs: Any
) -> tuple[GoogleWorkspaceProvider, RecordingSleep]:
    sleep = RecordingSleep()
    policy = RetryPolicy(attempts=attempts, initial_wait=0.01, max_wait=0.05, sleep=sleep)
    return (
        GoogleWorkspaceProvider.from_sandbox(
            sandbox.url, SCOPE, retry_policy=policy, timeout=timeout, **kwargs
        ),
        sleep,
    )


def calls(sandbox: SandboxServer, endpoint: str) -> list[Any]:
    return [r for r in sandbox.sandbox.telemetry.log if r.endpoint == endpoint]


def person(email: str) -> Person:
    return Person(
        id="e0001",
        name="Taro Test",
        email=email,
        employment=Employment(EmploymentType.EMPLOYEE, date(2025, 4, 1)),
    )


# -- read ------------------------------------------------------------------------------------
def test_read_follows_every_page_and_batches_member_lists_at_the_documented_cost(
    sandbox: SandboxServer,
) -> None:
    users, groups, big = 1001, 3, 450
    sandbox.sandbox.load_world(
        google_world(users=users, groups=groups, members_per_group=big, suspended=(5,))
    )
    gw, _ = provider(sandbox)
    part = gw.read(None)  # type: ignore[arg-type]
    assert part.status.complete, part.status.problems
    assert len(part.accounts) == users
    # Pages: 3 users.list (500+500+1), 1 groups.list; the lists have 451 members, 3 pages
    # each, so 3 waves at least; the 3 x 3 member pages and 2 x 1001 tokens/asps calls are
    # 2011 batch parts, 3 batches at least. The parts that wait on nothing are spread over
    # the 3 waves, so each wave is one batch: 3, not 3 in the first wave plus 2 nearly empty.
    parts = 3 * groups + 2 * users
    expected_trips = 3 + 1 + max(3, math.ceil(parts / 1000))
    assert part.status.round_trips == expected_trips
    assert sandbox.sandbox.telemetry.counters()["round_trips"]["google"] == expected_trips
    assert part.status.api_calls == 3 + 1 + parts
    assert len(calls(sandbox, "google.members.list")) == 3 * groups
    members = [g for g in part.grants if g.kind is GrantKind.GOOGLE_GROUP]
    assert len(members) == groups * (big + 1)
    assert (
        Grant(GrantKind.GOOGLE_GROUP, f"team2@{DOMAIN}", "partner@example.com", "MEMBER") in members
    )
    assert Grant(GrantKind.GOOGLE_GROUP, f"team0@{DOMAIN}", f"user0000@{DOMAIN}", "OWNER") in (
        members
    )
    # users.list asked only for the fields the model needs, at the 500 maximum
    first = calls(sandbox, "google.users.list")[0]
    assert first.query["maxResults"] == ["500"]
    assert first.query["fields"][0].startswith("nextPageToken,users(id,primaryEmail")


def test_read_produces_accounts_account_grants_tokens_and_app_passwords(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(google_world(users=4, suspended=(3,)))
    gw, _ = provider(sandbox)
    part = gw.read(None)  # type: ignore[arg-type]
    assert part.system is System.GOOGLE and part.status.complete
    by_name = {a.name: a for a in part.accounts}
    admin, alias_holder, suspended = (
        by_name[f"user0000@{DOMAIN}"],
        by_name[f"user0001@{DOMAIN}"],
        by_name[f"user0003@{DOMAIN}"],
    )
    assert admin.is_admin and admin.two_factor_enrolled and admin.last_login is None
    assert alias_holder.aliases == (f"alias1@{DOMAIN}",)
    assert alias_holder.last_login == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert alias_holder.two_factor_enrolled is False and alias_holder.id == "1" + "0" * 19 + "1"
    assert suspended.suspended
    accounts = {g for g in part.grants if g.kind is GrantKind.GOOGLE_ACCOUNT}
    assert accounts == {
        Grant(GrantKind.GOOGLE_ACCOUNT, DOMAIN, f"user0000@{DOMAIN}", "ADMIN"),
        Grant(GrantKind.GOOGLE_ACCOUNT, DOMAIN, f"user0001@{DOMAIN}", "USER"),
        Grant(GrantKind.GOOGLE_ACCOUNT, DOMAIN, f"user0002@{DOMAIN}", "USER"),
    }  # the suspended user is an Account but holds no account grant
    assert [(t.user, t.client_id) for t in part.oauth_tokens] == [
        (f"user0001@{DOMAIN}", "client-1.apps.example.com")
    ]
    assert [(a.user, a.code_id) for a in part.app_passwords] == [(f"user0001@{DOMAIN}", 42)]


def test_read_uses_domain_wide_delegation_with_the_admin_subject(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world())
    gw, _ = provider(sandbox)
    gw.read(None)  # type: ignore[arg-type]
    grants = sandbox.sandbox.world["google"]["oauth_grants"]
    assert len(grants) == 1
    assert grants[0]["sub"] == f"user0000@{DOMAIN}"
    assert "https://www.googleapis.com/auth/admin.directory.user.security" in grants[0]["scopes"]


def test_keyless_delegation_signs_the_assertion_with_sign_jwt(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world())
    creds = SignJwtDelegatedCredentials(
        source_credentials=BearerCredentials(token="runtime-identity-token"),
        service_account_email="dwd@example-prod.iam.gserviceaccount.com",
        subject=f"user0000@{DOMAIN}",
        token_uri=f"{sandbox.url}/token",
        iam_credentials_url=sandbox.url,
    )
    gw = GoogleWorkspaceProvider(endpoint=sandbox.url, credentials=creds, scope=SCOPE)
    assert gw.read(None).status.complete  # type: ignore[arg-type]
    world = sandbox.sandbox.world["google"]
    assert [c["serviceAccount"] for c in world["sign_jwt_calls"]] == [
        "dwd@example-prod.iam.gserviceaccount.com"
    ]
    assert world["oauth_grants"][0]["iss"] == "dwd@example-prod.iam.gserviceaccount.com"
    assert world["oauth_grants"][0]["sub"] == f"user0000@{DOMAIN}"


def test_429_retry_after_is_honoured_before_the_page_is_asked_again(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(google_world())
    sandbox.sandbox.add_fault(
        {
            "path": "^/admin/directory/v1/users$",
            "nth": 1,
            "status": 429,
            "headers": {"Retry-After": "7"},
            "body": google_error(429, "rateLimitExceeded", "RESOURCE_EXHAUSTED"),
        }
    )
    gw, sleep = provider(sandbox)
    part = gw.read(None)  # type: ignore[arg-type]
    assert part.status.complete
    assert sleep.waits == [7.0]
    assert [r.status for r in calls(sandbox, "google.users.list")] == [429, 200]


def test_403_user_rate_limit_is_retried_not_treated_as_forbidden(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world())
    sandbox.sandbox.add_fault(
        {
            "path": "^/admin/directory/v1/groups$",
            "nth": 1,
            "status": 403,
            "body": google_error(403, "userRateLimitExceeded", "PERMISSION_DENIED"),
        }
    )
    gw, sleep = provider(sandbox)
    assert gw.read(None).status.complete  # type: ignore[arg-type]
    assert len(sleep.waits) == 1
    assert [r.status for r in calls(sandbox, "google.groups.list")] == [403, 200]


def test_503_backend_error_in_a_batch_part_is_retried_alone_then_succeeds(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(google_world(groups=3))
    sandbox.sandbox.add_fault(
        {
            "path": "/groups/team1%40example.co.jp/members$",
            "nth": 1,
            "status": 503,
            "body": google_error(503, "backendError", "UNAVAILABLE"),
        }
    )
    gw, sleep = provider(sandbox)
    part = gw.read(None)  # type: ignore[arg-type]
    assert part.status.complete
    assert len(sleep.waits) == 1
    member_calls = calls(sandbox, "google.members.list")
    assert len(member_calls) == 4  # 3 groups + the one part retried, not the whole batch
    assert len(calls(sandbox, "google.batch")) == 2
    assert Grant(GrantKind.GOOGLE_GROUP, f"team1@{DOMAIN}", f"user0001@{DOMAIN}", "MEMBER") in (
        part.grants
    )


def test_a_member_list_failing_after_retries_makes_the_read_incomplete_not_empty(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(google_world(groups=2))
    sandbox.sandbox.add_fault(
        {
            "path": "/groups/team1%40example.co.jp/members$",
            "every": True,
            "status": 503,
            "body": google_error(503, "backendError", "UNAVAILABLE"),
        }
    )
    gw, _ = provider(sandbox, attempts=3)
    part = gw.read(None)  # type: ignore[arg-type]
    assert not part.status.complete
    assert any(f"team1@{DOMAIN}" in p and "503" in p for p in part.status.problems)
    assert not [g for g in part.grants if g.target == f"team1@{DOMAIN}"]
    assert [g for g in part.grants if g.target == f"team0@{DOMAIN}"]
    assert len(calls(sandbox, "google.members.list")) == 1 + 3


def test_a_users_page_failing_after_retries_makes_the_read_incomplete(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(google_world(users=600))
    sandbox.sandbox.add_fault(
        {"path": "^/admin/directory/v1/users$", "every": True, "status": 500, "times": 0}
    )
    gw, sleep = provider(sandbox, attempts=2)
    part = gw.read(None)  # type: ignore[arg-type]
    assert not part.status.complete
    assert any("users list failed" in p for p in part.status.problems)
    assert len(sleep.waits) == 1


def test_expired_credentials_answering_no_users_is_an_incomplete_read(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(google_world(extra={"expired_credentials": True}))
    gw, _ = provider(sandbox)
    part = gw.read(None)  # type: ignore[arg-type]
    assert not part.status.complete
    assert part.accounts == ()
    assert any("empty" in p and "credentials" in p for p in part.status.problems)


def test_dropped_connection_is_retried_and_the_read_completes(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world())
    sandbox.sandbox.add_fault(
        {"path": "^/admin/directory/v1/groups$", "every": True, "times": 2, "drop_connection": True}
    )
    gw, sleep = provider(sandbox)
    part = gw.read(None)  # type: ignore[arg-type]
    assert part.status.complete
    # httplib2 re-sends once on a connection that answered nothing (it takes it for a stale
    # keep-alive); the second drop reaches our policy, which waits and retries.
    assert len(sleep.waits) == 1
    assert len(calls(sandbox, "google.groups.list")) == 3
    assert [g for g in part.grants if g.kind is GrantKind.GOOGLE_GROUP]


def test_dropped_batch_connection_is_retried_by_the_one_policy(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world())
    sandbox.sandbox.add_fault(
        {"path": "^/batch$", "every": True, "times": 2, "drop_connection": True}
    )
    gw, sleep = provider(sandbox)
    part = gw.read(None)  # type: ignore[arg-type]
    assert part.status.complete and len(sleep.waits) == 1
    assert len(calls(sandbox, "google.batch")) == 3
    assert [t.client_id for t in part.oauth_tokens] == ["client-1.apps.example.com"]


def test_slow_response_times_out_and_is_retried(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world())
    sandbox.sandbox.add_fault({"path": "^/admin/directory/v1/groups$", "nth": 1, "delay_ms": 1500})
    gw, sleep = provider(sandbox, timeout=0.5)
    part = gw.read(None)  # type: ignore[arg-type]
    assert part.status.complete
    assert len(sleep.waits) == 1
    # The slow call is logged when its delay ends, after the retry has already answered.
    deadline = time.monotonic() + 3
    while len(calls(sandbox, "google.groups.list")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(calls(sandbox, "google.groups.list")) == 2


# -- read_person -------------------------------------------------------------------------------
def test_read_person_uses_reverse_look_ups_only(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world(users=700, groups=30, members_per_group=2))
    gw, _ = provider(sandbox)
    part = gw.read_person(person(f"USER0001@{DOMAIN}"))
    assert part.status.complete, part.status.problems
    assert [a.name for a in part.accounts] == [f"user0001@{DOMAIN}"]
    assert {g for g in part.grants if g.kind is GrantKind.GOOGLE_GROUP} == {
        Grant(GrantKind.GOOGLE_GROUP, f"team{i}@{DOMAIN}", f"user0001@{DOMAIN}", "MEMBER")
        for i in range(30)
    }
    assert [t.client_id for t in part.oauth_tokens] == ["client-1.apps.example.com"]
    endpoints = {r.endpoint for r in sandbox.sandbox.telemetry.log}
    assert "google.users.list" not in endpoints and "google.members.list" not in endpoints
    assert calls(sandbox, "google.groups.list")[0].query["userKey"] == [f"user0001@{DOMAIN}"]
    # users.get + groups.list + one batch (30 members.get + tokens + asps)
    assert part.status.round_trips == 3


def test_read_person_of_someone_without_an_account_is_complete_and_empty(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(google_world())
    gw, _ = provider(sandbox)
    part = gw.read_person(person(f"nobody@{DOMAIN}"))
    assert part.status.complete and part.accounts == () and part.grants == ()


# -- apply -----------------------------------------------------------------------------------
def act(
    kind: ActionKind, principal: str, target: str = DOMAIN, role: str = "", **params: str
) -> Action:
    return Action(
        phase=Phase.ADD,
        system=System.GOOGLE,
        kind=kind,
        target=target,
        principal=principal,
        role=role,
        params=tuple(sorted(params.items())),
    )


def state(sandbox: SandboxServer) -> dict[str, Any]:
    world: dict[str, Any] = sandbox.sandbox.world["google"]
    return world


def user_state(sandbox: SandboxServer, email: str) -> dict[str, Any]:
    return next(u for u in state(sandbox)["users"] if u["primaryEmail"] == email)


def test_create_account_sets_a_random_password_that_is_never_returned(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(google_world())
    gw, _ = provider(sandbox)
    email = f"hanako.sato@{DOMAIN}"
    action = act(
        ActionKind.CREATE_ACCOUNT,
        email,
        given_name="Hanako",
        family_name="Sato",
        recovery_email="hanako@example.com",
        org_unit="/Engineering",
    )
    first = gw.apply(action)
    assert first.ok and first.changed and first.provider_time is not None
    created = user_state(sandbox, email)
    assert created["changePasswordAtNextLogin"] is True
    assert created["recoveryEmail"] == "hanako@example.com"
    assert created["orgUnitPath"] == "/Engineering"
    # The sandbox's request log masks it (DESIGN 6.8) as "<redacted N chars sha256:PREFIX>".
    sent = calls(sandbox, "google.users.insert")[0].body["password"]
    assert sent.startswith("<redacted ")
    assert int(sent.split()[1]) >= 24
    assert sent not in repr(first)
    second = gw.apply(action)
    assert second.ok and not second.changed
    gw.apply(act(ActionKind.CREATE_ACCOUNT, f"jiro.sato@{DOMAIN}", given_name="J", family_name="S"))
    assert calls(sandbox, "google.users.insert")[2].body["password"] != sent


@pytest.mark.parametrize(
    ("kind", "suspended_after"),
    [(ActionKind.SUSPEND_ACCOUNT, True), (ActionKind.UNSUSPEND_ACCOUNT, False)],
)
def test_suspend_and_unsuspend_are_idempotent(
    sandbox: SandboxServer, kind: ActionKind, suspended_after: bool
) -> None:
    sandbox.sandbox.load_world(google_world(users=3, suspended=(2,) if not suspended_after else ()))
    gw, _ = provider(sandbox)
    email = f"user0002@{DOMAIN}"
    assert gw.apply(act(kind, email)).changed
    assert user_state(sandbox, email)["suspended"] is suspended_after
    assert not gw.apply(act(kind, email)).changed
    assert len(calls(sandbox, "google.users.patch")) == 1


def test_sign_out_revoke_token_and_delete_app_password(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world())
    gw, _ = provider(sandbox)
    email = f"user0001@{DOMAIN}"
    assert gw.apply(act(ActionKind.SIGN_OUT, email)).changed
    assert [s["user"] for s in state(sandbox)["sign_outs"]] == [email]
    revoke = act(ActionKind.REVOKE_TOKEN, email, client_id="client-1.apps.example.com")
    assert gw.apply(revoke).changed
    assert state(sandbox)["tokens"][email] == []
    assert not gw.apply(revoke).changed
    delete = act(ActionKind.DELETE_APP_PASSWORD, email, code_id="42")
    assert gw.apply(delete).changed
    assert state(sandbox)["asps"][email] == []
    assert not gw.apply(delete).changed


def test_group_membership_actions_are_idempotent(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world())
    gw, _ = provider(sandbox)
    group, email = f"team0@{DOMAIN}", f"user0002@{DOMAIN}"

    def role_of(who: str) -> str | None:
        members = state(sandbox)["members"][group]
        return next((m["role"] for m in members if m["email"] == who), None)

    add = act(ActionKind.ADD_GROUP_MEMBER, email, group, "MEMBER")
    assert gw.apply(add).changed and role_of(email) == "MEMBER"
    assert not gw.apply(add).changed  # 409 duplicate, role already right
    change = act(ActionKind.CHANGE_GROUP_ROLE, email, group, "MANAGER", old_role="MEMBER")
    assert gw.apply(change).changed and role_of(email) == "MANAGER"
    assert not gw.apply(change).changed
    # adding with another role to an existing member corrects the role
    assert gw.apply(act(ActionKind.ADD_GROUP_MEMBER, email, group, "OWNER")).changed
    assert role_of(email) == "OWNER"
    remove = act(ActionKind.REMOVE_GROUP_MEMBER, email, group, "OWNER")
    assert gw.apply(remove).changed and role_of(email) is None
    assert not gw.apply(remove).changed  # 404 on delete: already gone


def test_errors_are_translated_conflict_and_permanent(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world())
    gw, sleep = provider(sandbox)
    with pytest.raises(PermanentProviderError) as not_member:
        gw.apply(
            act(ActionKind.CHANGE_GROUP_ROLE, f"user0002@{DOMAIN}", f"team0@{DOMAIN}", "OWNER")
        )
    assert not_member.value.status == 404
    sandbox.sandbox.add_fault(
        {"path": "^/admin/directory/v1/users/", "method": "PATCH", "nth": 1, "status": 409,
         "body": google_error(409, "conflict", "ABORTED")}
    )  # fmt: skip
    with pytest.raises(ConflictError):
        gw.apply(act(ActionKind.SUSPEND_ACCOUNT, f"user0001@{DOMAIN}"))
    with pytest.raises(PermanentProviderError):
        gw.apply(Action(Phase.ADD, System.GITHUB, ActionKind.ADD_TEAM_MEMBER, "acme/devs", "taro"))
    assert sleep.waits == []  # neither kind is retried


def test_from_settings_uses_the_sandbox_url_and_refuses_without_credentials(
    sandbox: SandboxServer,
) -> None:
    from reconciler.settings import Settings

    sandbox.sandbox.load_world(google_world())
    gw = GoogleWorkspaceProvider.from_settings(
        Settings(sandbox_url=sandbox.url, _env_file=None),  # type: ignore[call-arg]
        SCOPE,
    )
    assert gw.read(None).status.complete  # type: ignore[arg-type]
    with pytest.raises(PermanentProviderError, match="IMPERSONATE_SERVICE_ACCOUNT"):
        GoogleWorkspaceProvider.from_settings(Settings(_env_file=None), SCOPE)  # type: ignore[call-arg]


def test_acting_as_names_the_delegated_admin_and_the_signing_service_account(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(google_world())
    gw, _ = provider(sandbox)
    gw.read(None)  # type: ignore[arg-type]
    sandbox.sandbox.telemetry.reset()

    acting = gw.acting_as()

    # What the credentials really presented to the token endpoint: iss and sub.
    grant = sandbox.sandbox.world["google"]["oauth_grants"][0]
    assert acting == (grant["sub"], grant["iss"])
    assert acting == (f"user0000@{DOMAIN}", "reconciler@example-sandbox.iam.gserviceaccount.com")
    assert list(sandbox.sandbox.telemetry.log) == []  # known from the credentials: no call


def test_acting_as_with_keyless_delegation_names_the_impersonated_account(
    sandbox: SandboxServer,
) -> None:
    creds = SignJwtDelegatedCredentials(
        source_credentials=BearerCredentials(token="runtime-identity-token"),
        service_account_email="DWD@example-prod.iam.gserviceaccount.com",
        subject=f"user0000@{DOMAIN}",
        token_uri=f"{sandbox.url}/token",
        iam_credentials_url=sandbox.url,
    )
    gw = GoogleWorkspaceProvider(
        endpoint=sandbox.url, credentials=creds, scope=SCOPE, subject=f"Ops.Admin@{DOMAIN}"
    )

    assert gw.acting_as() == (f"ops.admin@{DOMAIN}", "dwd@example-prod.iam.gserviceaccount.com")
