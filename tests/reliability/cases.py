"""Every case of the fault matrix (tests/reliability/matrix.py), registered in the order the
table in docs/reliability.md lists them; run by tests/reliability/test_fault_matrix.py.
`python -m tests.reliability.cases` prints the table."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from reconciler.model import ActionKind, System
from reconciler.runs import RunOutcome
from tests.e2e.scenario import (
    LEAVER,
    LEAVER_EMAIL,
    NEWCOMER_EMAIL,
    ORG,
    bindings,
    org_members,
    users,
)
from tests.reliability.matrix import case, table
from tests.reliability.world import (
    DEV,
    PROD,
    RecordedWaits,
    World,
    applied,
    held_back,
    persistent,
)

GOOGLE, GITHUB, GCP = System.GOOGLE, System.GITHUB, System.GCP
DIRECTORY = "/admin/directory/v1"


def _google_error(code: int, reason: str, status: str = "") -> dict[str, Any]:
    return {"error": {"code": code, "message": reason, "status": status,
                      "errors": [{"reason": reason, "domain": "global", "message": reason}]}}  # fmt: skip


UNAVAILABLE = _google_error(503, "backendError", "UNAVAILABLE")


def incomplete(w: World, run: RunOutcome, system: System) -> None:
    """The safe outcome of a read that failed in `system`: exit 3 (partial), that system
    marked incomplete, nothing there but the leaver's known cuts, the other systems done;
    with the fault gone, the next run finishes the job."""
    report = run.report
    assert report.exit_code == 3, (report.partial, [o.message for o in report.failures])
    assert not run.snapshot.is_complete(system)
    assert [s for s in run.snapshot.parts if not run.snapshot.is_complete(s)] == [system]
    for outcome in report.outcomes:
        if outcome.action.system is system:
            assert outcome.action.offboarding and outcome.action.person_id == LEAVER, outcome
    world = w.state()
    held_back(world, system)
    for other in System:
        if other is not system:
            applied(world, other)
    w.converges()


def _page_case(id: str, list_name: str, system: System, spec: dict[str, Any], nth: int,
               grown: str, problem: str) -> None:  # fmt: skip
    def run(w_factory: Any) -> None:
        w: World = w_factory(grown=grown)
        rules = w.fault(*persistent(spec, nth))
        outcome = w.apply()
        assert [r.fired for r in rules] == [1] * len(rules)  # the page and each retry of it
        problems = outcome.snapshot.parts[system].status.problems
        assert any(problem in p for p in problems), problems
        incomplete(w, outcome, system)

    case(id, f"{list_name} fails after every retry", "read incomplete: no change there but "
         "the leaver's known cuts, other systems done, exit 3; a re-run converges")(run)  # fmt: skip


_GOOGLE_503 = {"method": "GET", "status": 503, "body": UNAVAILABLE}
_GITHUB_502 = {"status": 502, "body": {"message": "Server Error"}}
_GRAPHQL_502 = {"method": "POST", "path": "^/graphql$", **_GITHUB_502}
# GraphQL calls of a read of the grown GitHub world, in order: members pages 1 and 2, teams
# page 1 (team members nested, first 100), backend's members page 2, teams page 2.
_page_case("google-users-page-2-of-2", "Directory users.list page 2 of 2", GOOGLE,
           {**_GOOGLE_503, "path": f"^{DIRECTORY}/users$"}, 2, "users", "users")
_page_case("google-groups-page-2-of-2", "Directory groups.list page 2 of 2", GOOGLE,
           {**_GOOGLE_503, "path": f"^{DIRECTORY}/groups$"}, 2, "groups", "groups")
_page_case("google-members-page-2-of-2", "Directory members.list of eng@ page 2 of 2", GOOGLE,
           {**_GOOGLE_503, "path": f"^{DIRECTORY}/groups/eng%40example.co.jp/members$"}, 2,
           "members", "members")
_page_case("github-graphql-members-page-2-of-2", "GraphQL membersWithRole page 2 of 2", GITHUB,
           _GRAPHQL_502, 2, "github", "members")
_page_case("github-graphql-teams-page-1-of-2", "GraphQL teams page 1 of 2", GITHUB,
           _GRAPHQL_502, 3, "github", "teams")
_page_case("github-graphql-team-members-page-2-of-2",
           "GraphQL members of team backend page 2 of 2", GITHUB, _GRAPHQL_502, 4, "github",
           "teams")
_page_case("github-graphql-teams-page-2-of-2", "GraphQL teams page 2 of 2", GITHUB,
           _GRAPHQL_502, 5, "github", "teams")
_page_case("github-rest-invitations-page-2-of-2", "REST pending invitations page 2 of 2",
           GITHUB, {"method": "GET", "path": f"^/orgs/{ORG}/invitations$", **_GITHUB_502}, 2,
           "github", "invitations")
_page_case("github-rest-outside-collaborators-page-2-of-2",
           "REST outside collaborators page 2 of 2", GITHUB,
           {"method": "GET", "path": f"^/orgs/{ORG}/outside_collaborators$", **_GITHUB_502}, 2,
           "github", "outside collaborators")
for _resource in ("organizations/123456789012", "projects/example-dev", "projects/example-prod"):
    _page_case(f"gcp-get-iam-policy-{_resource.split('/')[1]}",
               f"CRM getIamPolicy of {_resource}", GCP,
               {"method": "POST", "path": f"^/v3/{_resource}:getIamPolicy$", "status": 503,
                "body": UNAVAILABLE}, 1, "", "getIamPolicy")  # fmt: skip
_page_case("gcp-grpc-list-service-accounts", "IAM gRPC ListServiceAccounts of example-prod",
           GCP, {"method": "GRPC", "path": "/google.iam.admin.v1.IAM/ListServiceAccounts$",
                 "status": 503}, 2, "", "ListServiceAccounts")  # fmt: skip


# -- rate limits, 5xx bursts, dropped connections: waited out, retried, converged ------------


def _recovers(id: str, fault: str, specs: list[dict[str, Any]], waits: list[float] | None,
              outcome: str = "waited and retried: the run is clean (exit 0), nothing twice; "
              "the next run has nothing to do") -> None:  # fmt: skip
    """A transient fault the one retry policy absorbs. `waits`: the waits the run must have
    made, each at least as long as the server asked (recorded, not slept)."""

    def run(w_factory: Any) -> None:
        w: World = w_factory()
        rules = w.fault(*[_at_run_time(spec) for spec in specs])
        recorder = RecordedWaits()
        report = w.apply(recorder.policy()).report
        assert report.exit_code == 0, [o.message for o in report.failures] or report.partial
        assert all(r.fired for r in rules), [r.to_json() for r in rules]
        if waits is not None:
            assert sorted(recorder.waits, reverse=True)[: len(waits)] == pytest.approx(
                waits, abs=1.0
            ), recorder.waits
            assert all(wait >= min(waits) - 0.5 for wait in recorder.waits[: len(waits)])
        w.converges(noop=True)

    case(id, fault, outcome)(run)


def _at_run_time(spec: dict[str, Any]) -> dict[str, Any]:
    """`x-ratelimit-reset: "@reset+N"` becomes the epoch second N seconds from now."""
    headers = {
        k: str(int(time.time()) + int(v.removeprefix("@reset+"))) if v.startswith("@reset+") else v
        for k, v in spec.get("headers", {}).items()
    }
    return {**spec, "headers": headers} if headers else spec


_SECONDARY = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}
_recovers(
    "github-secondary-403-retry-after",
    "GitHub secondary limit: 403 with Retry-After: 7 on a team write",
    [{"method": "PUT", "path": f"^/orgs/{ORG}/teams/sre/memberships/jmover$", "nth": 1,
      "status": 403, "headers": {"Retry-After": "7"}, "body": _SECONDARY}], [7.0])  # fmt: skip
_recovers(
    "github-secondary-429-no-retry-after",
    "GitHub secondary limit: 429 without Retry-After on GraphQL",
    [{"method": "POST", "path": "^/graphql$", "nth": 1, "status": 429, "body": _SECONDARY}],
    [60.0], "waited GitHub's documented minute (recorded, not slept), then clean: exit 0")
_recovers(
    "github-429-retry-after-on-removal",
    "GitHub 429 with Retry-After: 3 on the leaver's org removal",
    [{"method": "DELETE", "path": f"^/orgs/{ORG}/memberships/kleaver$", "nth": 1,
      "status": 429, "headers": {"Retry-After": "3"}, "body": _SECONDARY}], [3.0])  # fmt: skip
_recovers(
    "google-403-rate-limit-retry-after",
    "Google 403 rateLimitExceeded with Retry-After: 5 on users.list",
    [{"method": "GET", "path": f"^{DIRECTORY}/users$", "nth": 1, "status": 403,
      "headers": {"Retry-After": "5"}, "body": _google_error(403, "rateLimitExceeded")}],
    [5.0])  # fmt: skip
_recovers(
    "google-403-user-rate-limit-no-retry-after",
    "Google 403 userRateLimitExceeded without Retry-After on the leaver's suspension",
    [{"method": "PATCH|PUT", "path": f"^{DIRECTORY}/users/kenji.leaver%40example.co.jp$",
      "nth": 1, "status": 403, "body": _google_error(403, "userRateLimitExceeded")}],
    None)  # fmt: skip
_recovers(
    "google-429-on-batch",
    "Google 429 rateLimitExceeded on a batch of member lists",
    [{"method": "POST", "path": "^/batch$", "nth": 1, "status": 429,
      "body": _google_error(429, "rateLimitExceeded", "RESOURCE_EXHAUSTED")}], None)  # fmt: skip
_recovers(
    "gcp-429-on-set-iam-policy",
    "CRM 429 RESOURCE_EXHAUSTED with Retry-After: 2 on setIamPolicy of example-dev",
    [{"method": "POST", "path": "^/v3/projects/example-dev:setIamPolicy$", "nth": 1,
      "status": 429, "headers": {"Retry-After": "2"},
      "body": _google_error(429, "rateLimitExceeded", "RESOURCE_EXHAUSTED")}], [2.0])  # fmt: skip
_recovers(
    "google-5xx-burst",
    "a burst of three 503s on Directory groups.list",
    [{"method": "GET", "path": f"^{DIRECTORY}/groups$", "every": True, "times": 2,
      "status": 503, "body": UNAVAILABLE}], None)  # fmt: skip
_recovers(
    "github-5xx-burst",
    "a burst of 502s on GraphQL",
    [{"method": "POST", "path": "^/graphql$", "every": True, "times": 2, **_GITHUB_502}], None)
_recovers(
    "gcp-5xx-burst",
    "a burst of 503s on getIamPolicy of example-prod",
    [{"method": "POST", "path": "^/v3/projects/example-prod:getIamPolicy$", "every": True,
      "times": 2, "status": 503, "body": UNAVAILABLE}], None)  # fmt: skip
_recovers(
    "grpc-unavailable-burst",
    "a burst of gRPC UNAVAILABLE on ListServiceAccounts",
    [{"method": "GRPC", "path": "/google.iam.admin.v1.IAM/ListServiceAccounts$", "every": True,
      "times": 2, "status": 503}], None)  # fmt: skip
_recovers(
    "github-dropped-connection",
    "connection dropped without an answer on the outside collaborators list",
    [{"method": "GET", "path": f"^/orgs/{ORG}/outside_collaborators$", "every": True,
      "times": 2, "drop_connection": True}], None)  # fmt: skip
_recovers(
    "google-dropped-connection-on-write",
    "connection dropped before the handler on the newcomer's account creation",
    [{"method": "POST", "path": f"^{DIRECTORY}/users$", "nth": 1, "drop_connection": True}],
    None)  # fmt: skip
_recovers(
    "gcp-dropped-connection",
    "connection dropped on getIamPolicy of example-dev",
    [{"method": "POST", "path": "^/v3/projects/example-dev:getIamPolicy$", "nth": 1,
      "drop_connection": True}], None)  # fmt: skip


@case("rate-limit-outlasting-retries", "GitHub 429 on every attempt of the newcomer's invitation",
      "that action fails alone, the others are applied, exit 1; a re-run converges")
def _rate_limit_outlasting_retries(w_factory: Any) -> None:
    w: World = w_factory()
    w.fault({"method": "POST", "path": f"^/orgs/{ORG}/invitations$", "every": True,
             "status": 429, "headers": {"Retry-After": "1"}, "body": _SECONDARY})  # fmt: skip
    report = w.apply(RecordedWaits().policy()).report
    assert report.exit_code == 1
    assert [o.action.kind for o in report.failures] == [ActionKind.INVITE_ORG_MEMBER]
    world = w.state()
    assert world["github"]["invitations"] == []
    for system in System:
        if system is not GITHUB:
            applied(world, system)
    assert "kleaver" not in org_members(world)
    w.converges()


@case("5xx-outlasting-retries-on-a-write", "503 on every attempt of the newcomer's account creation",
      "that action (and what needs the account) fails, the rest is applied, exit 1; a re-run "
      "converges with one account")
def _5xx_outlasting(w_factory: Any) -> None:
    w: World = w_factory()
    w.fault({"method": "POST", "path": f"^{DIRECTORY}/users$", "every": True, "status": 503,
             "body": UNAVAILABLE})  # fmt: skip
    report = w.apply().report
    assert report.exit_code == 1
    assert ActionKind.CREATE_ACCOUNT in [o.action.kind for o in report.failures]
    world = w.state()
    assert NEWCOMER_EMAIL not in users(world)
    assert users(world)[LEAVER_EMAIL]["suspended"] is True
    applied(world, GITHUB)
    w.converges()


# -- a write that lands but whose answer is lost ---------------------------------------------


def _lost_answer(id: str, what: str, method: str, path: str) -> None:
    def run(w_factory: Any) -> None:
        w: World = w_factory()
        (rule,) = w.fault({"method": method, "path": f"^{path}$", "nth": 1,
                           "delay_after_ms": 60_000})  # fmt: skip
        done = threading.Event()

        def lose_the_answer() -> None:
            # Once the write took effect, clearing the faults wakes the request asleep
            # after its handler: it answers 503 "discarded", the answer of the write is lost.
            while not done.is_set():
                with w.sandbox.sandbox.telemetry.lock:
                    landed = any(r.method == method and r.path == path and r.status
                                 for r in w.sandbox.sandbox.telemetry.log)  # fmt: skip
                if landed:
                    w.sandbox.sandbox.clear_faults()
                    return
                time.sleep(0.01)

        thread = threading.Thread(target=lose_the_answer, daemon=True)
        thread.start()
        try:
            report = w.apply().report
        finally:
            done.set()
            thread.join(10)
        assert rule.fired == 1
        assert report.exit_code in (0, 1), report.partial  # retried in the run, or failed
        world = w.state()
        assert [u["primaryEmail"] for u in world["google"]["users"]].count(NEWCOMER_EMAIL) == 1
        assert [i.get("login") for i in world["github"]["invitations"]].count("hnewcomer") == 1
        w.converges()

    case(id, f"{what} takes effect, its answer is lost (connection woken with 503)",
         "the retry finds it done, no duplicate; a re-run converges with nothing twice")(run)


_lost_answer("lost-answer-google-create-account", "the newcomer's account creation", "POST",
             f"{DIRECTORY}/users")
_lost_answer("lost-answer-github-invitation", "the newcomer's invitation", "POST",
             f"/orgs/{ORG}/invitations")
_lost_answer("lost-answer-github-team-add", "the mover's team membership", "PUT",
             f"/orgs/{ORG}/teams/sre/memberships/jmover")
_lost_answer("lost-answer-gcp-set-iam-policy", "the leaver's dev binding removal", "POST",
             "/v3/projects/example-dev:setIamPolicy")


# -- answers that look fine but are not --------------------------------------------------------


@case("graphql-200-with-errors", "GraphQL answers 200 with `errors` and no data on the member list",
      "GitHub read incomplete, nobody removed or invited there, exit 3; a re-run converges")
def _graphql_errors(w_factory: Any) -> None:
    w: World = w_factory()
    w.fault({"method": "POST", "path": "^/graphql$", "nth": 1, "status": 200,
             "body": {"data": None, "errors": [{"type": "FORBIDDEN", "path": ["organization"],
                      "message": "Resource not accessible by integration"}]}})  # fmt: skip
    incomplete(w, w.apply(), GITHUB)


@case("github-empty-member-list", "GraphQL answers 200 with an empty member list",
      "GitHub read incomplete (an org always has an owner), nobody removed, exit 3")
def _empty_members(w_factory: Any) -> None:
    w: World = w_factory()
    empty = {"totalCount": 0, "pageInfo": {"hasNextPage": False, "endCursor": None}, "edges": []}
    w.fault({"method": "POST", "path": "^/graphql$", "nth": 1, "status": 200,
             "body": {"data": {"organization": {"membersWithRole": empty}}}})  # fmt: skip
    incomplete(w, w.apply(), GITHUB)


@case("google-expired-credentials", "expired delegated credentials: users.list answers 200 with no users",
      "Google read incomplete, no account created or removed, exit 3")
def _expired(w_factory: Any) -> None:
    w: World = w_factory()
    w.edit(lambda world: world["google"].update(expired_credentials=True))
    run = w.apply()
    assert run.report.exit_code == 3
    world = w.state()
    held_back(world, GOOGLE)
    applied(world, GITHUB)
    applied(world, GCP)
    w.edit(lambda world: world["google"].update(expired_credentials=False))
    w.converges()


@case("etag-conflict-reread", "409 ABORTED on setIamPolicy: someone changed example-dev in between",
      "re-read and re-applied: both changes survive, exit 0")
def _etag_conflict(w_factory: Any) -> None:
    w: World = w_factory()
    response = requests.post(
        f"{w.sandbox.url}/_sandbox/gcp/concurrent-changes",
        json={"resource": DEV, "nth": 1,
              "add": [{"role": "roles/viewer", "member": "group:auditors@example.co.jp"}]},
        timeout=5,
    )  # fmt: skip
    assert response.status_code == 201
    assert w.apply().report.exit_code == 0
    world = w.state()
    assert "group:auditors@example.co.jp" in bindings(world, DEV)["roles/viewer"]
    assert f"user:{LEAVER_EMAIL}" not in bindings(world, DEV)["roles/editor"]
    w.converges(noop=True)


@case("etag-conflict-never-clears", "409 ABORTED on every setIamPolicy of example-prod",
      "that change fails after bounded re-reads, the others are applied, exit 1; a re-run "
      "converges")
def _etag_forever(w_factory: Any) -> None:
    w: World = w_factory()
    w.fault({"method": "POST", "path": "^/v3/projects/example-prod:setIamPolicy$", "every": True,
             "status": 409, "body": _google_error(409, "aborted", "ABORTED")})  # fmt: skip
    report = w.apply().report
    assert report.exit_code == 1
    assert {o.action.target for o in report.failures} == {PROD}
    world = w.state()
    assert "roles/viewer" not in bindings(world, PROD)
    assert f"user:{LEAVER_EMAIL}" not in bindings(world, DEV)["roles/editor"]
    w.converges()


if __name__ == "__main__":
    print(table(), end="")
