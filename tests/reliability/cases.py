"""Every case of the fault matrix (tests/reliability/matrix.py), registered in the order the
table in docs/reliability.md lists them; run by tests/reliability/test_fault_matrix.py.
`python -m tests.reliability.cases` prints the table."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from reconciler.audit import RecordType, read_records
from reconciler.model import ActionKind, System
from reconciler.runs import RunOutcome
from tests.e2e.scenario import (
    LEAVER,
    LEAVER_EMAIL,
    NEWCOMER_EMAIL,
    ORG,
    TZ,
    access_state,
    bindings,
    group_members,
    org_members,
    users,
)
from tests.e2e.test_crash_safety import (
    REPO_ROOT,
    test_a_run_killed_at_a_boundary_converges_on_rerun_with_nothing_lost,
)
from tests.reliability.matrix import case, table
from tests.reliability.world import (
    DEV,
    ENG,
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
    return {
        "error": {
            "code": code,
            "message": reason,
            "status": status,
            "errors": [{"reason": reason, "domain": "global", "message": reason}],
        }
    }


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

    case(
        id,
        f"{list_name} fails after every retry",
        "read incomplete: no change there but "
        "the leaver's known cuts, other systems done, exit 3; a re-run converges",
    )(run)


_GOOGLE_503 = {"method": "GET", "status": 503, "body": UNAVAILABLE}
_GITHUB_502 = {"status": 502, "body": {"message": "Server Error"}}
_GRAPHQL_502 = {"method": "POST", "path": "^/graphql$", **_GITHUB_502}
# GraphQL calls of a read of the grown GitHub world, in order: members pages 1 and 2, teams
# page 1 (team members nested, first 100), backend's members page 2, teams page 2.
_page_case(
    "google-users-page-2-of-2",
    "Directory users.list page 2 of 2",
    GOOGLE,
    {**_GOOGLE_503, "path": f"^{DIRECTORY}/users$"},
    2,
    "users",
    "users",
)
_page_case(
    "google-groups-page-2-of-2",
    "Directory groups.list page 2 of 2",
    GOOGLE,
    {**_GOOGLE_503, "path": f"^{DIRECTORY}/groups$"},
    2,
    "groups",
    "groups",
)
_page_case(
    "google-members-page-2-of-2",
    "Directory members.list of eng@ page 2 of 2",
    GOOGLE,
    {**_GOOGLE_503, "path": f"^{DIRECTORY}/groups/eng%40example.co.jp/members$"},
    2,
    "members",
    "members",
)
_page_case(
    "github-graphql-members-page-2-of-2",
    "GraphQL membersWithRole page 2 of 2",
    GITHUB,
    _GRAPHQL_502,
    2,
    "github",
    "members",
)
_page_case(
    "github-graphql-teams-page-1-of-2",
    "GraphQL teams page 1 of 2",
    GITHUB,
    _GRAPHQL_502,
    3,
    "github",
    "teams",
)
_page_case(
    "github-graphql-team-members-page-2-of-2",
    "GraphQL members of team backend page 2 of 2",
    GITHUB,
    _GRAPHQL_502,
    4,
    "github",
    "teams",
)
_page_case(
    "github-graphql-teams-page-2-of-2",
    "GraphQL teams page 2 of 2",
    GITHUB,
    _GRAPHQL_502,
    5,
    "github",
    "teams",
)
_page_case(
    "github-rest-invitations-page-2-of-2",
    "REST pending invitations page 2 of 2",
    GITHUB,
    {"method": "GET", "path": f"^/orgs/{ORG}/invitations$", **_GITHUB_502},
    2,
    "github",
    "invitations",
)
_page_case(
    "github-rest-outside-collaborators-page-2-of-2",
    "REST outside collaborators page 2 of 2",
    GITHUB,
    {"method": "GET", "path": f"^/orgs/{ORG}/outside_collaborators$", **_GITHUB_502},
    2,
    "github",
    "outside collaborators",
)
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
    [60.0],
    "waited GitHub's documented minute (recorded, not slept), then clean: exit 0",
)
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
    [{"method": "POST", "path": "^/graphql$", "every": True, "times": 2, **_GITHUB_502}],
    None,
)
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


@case(
    "rate-limit-outlasting-retries",
    "GitHub 429 on every attempt of the newcomer's invitation",
    "that action fails alone, the others are applied, exit 1; a re-run converges",
)
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


@case(
    "5xx-outlasting-retries-on-a-write",
    "503 on every attempt of the newcomer's account creation",
    "that action (and what needs the account) fails, the rest is applied, exit 1; a re-run "
    "converges with one account",
)
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

    case(
        id,
        f"{what} takes effect, its answer is lost (connection woken with 503)",
        "the retry finds it done, no duplicate; a re-run converges with nothing twice",
    )(run)


_lost_answer(
    "lost-answer-google-create-account",
    "the newcomer's account creation",
    "POST",
    f"{DIRECTORY}/users",
)
_lost_answer(
    "lost-answer-github-invitation", "the newcomer's invitation", "POST", f"/orgs/{ORG}/invitations"
)
_lost_answer(
    "lost-answer-github-team-add",
    "the mover's team membership",
    "PUT",
    f"/orgs/{ORG}/teams/sre/memberships/jmover",
)
_lost_answer(
    "lost-answer-gcp-set-iam-policy",
    "the leaver's dev binding removal",
    "POST",
    "/v3/projects/example-dev:setIamPolicy",
)


# -- answers that look fine but are not --------------------------------------------------------


@case(
    "graphql-200-with-errors",
    "GraphQL answers 200 with `errors` and no data on the member list",
    "GitHub read incomplete, nobody removed or invited there, exit 3; a re-run converges",
)
def _graphql_errors(w_factory: Any) -> None:
    w: World = w_factory()
    w.fault({"method": "POST", "path": "^/graphql$", "nth": 1, "status": 200,
             "body": {"data": None, "errors": [{"type": "FORBIDDEN", "path": ["organization"],
                      "message": "Resource not accessible by integration"}]}})  # fmt: skip
    incomplete(w, w.apply(), GITHUB)


@case(
    "github-empty-member-list",
    "GraphQL answers 200 with an empty member list",
    "GitHub read incomplete (an org always has an owner), nobody removed, exit 3",
)
def _empty_members(w_factory: Any) -> None:
    w: World = w_factory()
    empty = {"totalCount": 0, "pageInfo": {"hasNextPage": False, "endCursor": None}, "edges": []}
    w.fault({"method": "POST", "path": "^/graphql$", "nth": 1, "status": 200,
             "body": {"data": {"organization": {"membersWithRole": empty}}}})  # fmt: skip
    incomplete(w, w.apply(), GITHUB)


@case(
    "google-expired-credentials",
    "expired delegated credentials: users.list answers 200 with no users",
    "Google read incomplete, no account created or removed, exit 3",
)
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


@case(
    "etag-conflict-reread",
    "409 ABORTED on setIamPolicy: someone changed example-dev in between",
    "re-read and re-applied: both changes survive, exit 0",
)
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


@case(
    "etag-conflict-never-clears",
    "409 ABORTED on every setIamPolicy of example-prod",
    "that change fails after bounded re-reads, the others are applied, exit 1; a re-run converges",
)
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


# -- a list that shrinks suspiciously (read counts) -------------------------------------------


def _shrunk(id: str, what: str, system: System, shrink: Any) -> None:
    def run(w_factory: Any) -> None:
        w: World = w_factory(grown="github")  # over 100 people: every count is judged
        org = w.directory / "organization.yaml"
        org.write_text(
            org.read_text("utf-8").replace("max_removal_ratio: 1.0", "max_removal_ratio: 0.5"),
            "utf-8",
        )
        w.reload()
        assert w.apply().report.exit_code == 0  # a complete read: its counts are stored
        w.edit(shrink)
        before = access_state(w.state())[system.value]
        run = w.apply()
        assert run.report.exit_code == 3
        assert not run.snapshot.is_complete(system)
        assert w.writes(system) == []
        assert access_state(w.state())[system.value] == before  # nobody removed or re-added

    case(
        id,
        f"{what} shrinks to a handful between two runs, every page answering 200",
        "read treated as incomplete (counts of the last complete read), nothing written "
        "there, exit 3",
    )(run)


def _keep_few(items: list[Any]) -> list[Any]:
    return items[:3]


_shrunk("shrunk-google-group-memberships", "eng@'s member list", GOOGLE,
        lambda world: world["google"]["members"].update({ENG: _keep_few(
            world["google"]["members"][ENG])}))  # fmt: skip
_shrunk("shrunk-github-org-members", "the GitHub org's member list (only owners left)", GITHUB,
        lambda world: world["github"].update(members=[
            m for m in world["github"]["members"] if m["role"] == "admin"]))  # fmt: skip
_shrunk(
    "shrunk-gcp-binding-members",
    "example-dev's roles/editor binding",
    GCP,
    lambda world: [
        b.update(members=_keep_few(b["members"]))
        for r in world["gcp"]["resources"]
        if r["name"] == DEV
        for b in r["policy"]["bindings"]
        if b["role"] == "roles/editor"
    ],
)


# -- saved plans, crashes, concurrent runs ----------------------------------------------------


@case(
    "stale-saved-plan",
    "`apply --plan` of a reviewed plan after someone changed GitHub by hand",
    "refused as stale-plan before any write, exit 1",
)
def _stale_plan(w_factory: Any) -> None:
    w: World = w_factory()
    saved = w.tmp_path / "plan.json"
    assert w.cli("plan", "--dir", str(w.directory), "--out", str(saved)).exit_code == 2
    w.edit(lambda world: world["github"]["members"].append({"login": "late-addition",
                                                            "role": "member"}))  # fmt: skip
    result = w.cli("apply", "--dir", str(w.directory), "--plan", str(saved), "--confirm")
    assert result.exit_code == 1, result.output
    assert "stale-plan" in result.output
    assert w.writes() == []


for _boundary in ("before-first-cut-suspend", "after-account-created-answer-lost"):

    def _crash(w_factory: Any, boundary: str = _boundary) -> None:
        w: World = w_factory()
        # The crash tests of tests/e2e run the scenario themselves: reuse, not a copy.
        test_a_run_killed_at_a_boundary_converges_on_rerun_with_nothing_lost(
            w.sandbox, w.tmp_path / "crash", boundary
        )

    case(
        f"crash-{_boundary}",
        f"`apply --confirm` killed (SIGKILL) {_boundary.replace('-', ' ')}",
        "intent on disk without a result; the re-run converges, one account, "
        "offboarding-complete, audit verifies",
    )(_crash)


@case(
    "two-runs-at-once-local-state",
    "a second `apply --confirm` while the first (a subprocess) is mid-write; local state dir",
    "the second fails at once naming the holder, writes nothing, exit 1; the first finishes",
)
def _two_runs(w_factory: Any) -> None:
    w: World = w_factory()
    (rule,) = w.fault({"method": "PATCH|PUT", "path": f"^{DIRECTORY}/users/", "nth": 1,
                       "delay_ms": 60_000, "status": 503})  # fmt: skip
    first = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "--confirm", "--dir", str(w.directory)],
        env={**os.environ, **w.env}, cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while rule.fired == 0:
            assert first.poll() is None and time.monotonic() < deadline, "first run never wrote"
            time.sleep(0.02)
        writes_before = w.writes()
        second = w.cli("apply", "--dir", str(w.directory), "--confirm")
        assert second.exit_code == 1, second.output
        assert "another run is in progress" in second.stderr
        assert "apply" in second.stderr and str(first.pid) in second.stderr
        assert w.writes() == writes_before
    finally:
        w.sandbox.sandbox.clear_faults()  # the first run's write answers 503 and is retried
    assert first.wait(120) == 0
    w.converges(noop=True)


# -- the clock: end and start dates in Asia/Tokyo, the host in UTC -----------------------------


def _clock(id: str, local: str, leaver_cut: bool, newcomer_created: bool) -> None:
    def run(w_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
        try:
            w: World = w_factory()
            org = w.directory / "organization.yaml"
            org.write_text(
                org.read_text("utf-8").replace(
                    'offboarding_time: "00:00"', 'offboarding_time: "18:00"'
                ),
                "utf-8",
            )
            day = datetime.now(TZ).date()
            offset, clock = local.split(" ")
            moment = datetime.combine(day + timedelta(days=int(offset)),
                                      datetime.strptime(clock, "%H:%M:%S").time(), TZ)  # fmt: skip
            at = moment.astimezone(UTC).isoformat()  # given in UTC: the zone is converted
            result = w.cli("apply", "--dir", str(w.directory), "--confirm", "--at", at)
            assert result.exit_code == 0, result.output
            world = w.state()
            assert users(world)[LEAVER_EMAIL]["suspended"] is leaver_cut
            assert ("kleaver" not in org_members(world)) is leaver_cut
            assert (NEWCOMER_EMAIL in users(world)) is newcomer_created
        finally:
            monkeypatch.undo()
            time.tzset()

    offset, clock = local.split(" ")
    day = {"-1": "the day before", "0": "the end date", "+1": "the day after"}[offset]
    case(
        id,
        f"`apply --at` {day}, {clock} Asia/Tokyo (given in UTC, host TZ=UTC)",
        ("leaver cut" if leaver_cut else "leaver keeps access")
        + ", newcomer "
        + ("onboarded" if newcomer_created else "not yet onboarded")
        + ", exit 0",
    )(run)


_clock("clock-day-before-23-59-59", "-1 23:59:59", False, False)
_clock("clock-start-day-00-00-00", "0 00:00:00", False, True)
_clock("clock-end-day-17-59-59", "0 17:59:59", False, True)
_clock("clock-end-day-18-00-00", "0 18:00:00", True, True)
_clock("clock-end-day-23-59-59", "0 23:59:59", True, True)
_clock("clock-day-after-00-00-00", "+1 00:00:00", True, True)


# -- identities: renamed logins, squatters, email case ------------------------------------------


@case(
    "renamed-login-and-squatter",
    "the stayer renamed their GitHub login; a stranger took the old one",
    "the renamed member is kept (matched by id), the squatter is never invited or added",
)
def _renamed(w_factory: Any) -> None:
    w: World = w_factory()
    person = w.directory / "people" / "e0013.yaml"

    def rename(world: dict[str, Any]) -> None:
        user = next(u for u in world["github"]["users"] if u["login"] == "sstayer")
        user.update(login="saburo-t", previous_logins=["sstayer"])
        for m in [
            *world["github"]["members"],
            *(m for t in world["github"]["teams"] for m in t["members"]),
        ]:
            if m["login"] == "sstayer":
                m["login"] = "saburo-t"
        world["github"]["users"].append({"login": "sstayer", "id": 6666, "name": "squatter",
                                         "email": None, "two_factor": True,
                                         "previous_logins": []})  # fmt: skip
        person.write_text(person.read_text("utf-8") + f"github_id: {user['id']}\n", "utf-8")

    w.edit(rename)
    w.reload()
    report = w.apply().report
    assert report.exit_code in (0, 3), [o.message for o in report.failures]
    world = w.state()
    assert "saburo-t" in org_members(world)
    assert "sstayer" not in org_members(world)
    invited = [(i.get("login"), i.get("invitee_id")) for i in world["github"]["invitations"]]
    assert not [i for i in invited if i[0] == "sstayer" or i[1] == 6666], invited
    assert not [r for r in w.writes(GITHUB) if "sstayer" in r[1]]


@case(
    "email-case-differences",
    "the systems spell the stayer's address `Saburo.Stayer@Example.co.jp`",
    "one identity: no account created, nobody removed or re-added; converges",
)
def _email_case(w_factory: Any) -> None:
    w: World = w_factory()
    mixed = "Saburo.Stayer@Example.co.jp"

    def respell(world: dict[str, Any]) -> None:
        for u in world["google"]["users"]:
            if u["primaryEmail"] == "saburo.stayer@example.co.jp":
                u["primaryEmail"] = mixed
        for m in world["google"]["members"][ENG]:
            if m["email"] == "saburo.stayer@example.co.jp":
                m["email"] = mixed
        for r in world["gcp"]["resources"]:
            for b in r["policy"]["bindings"]:
                b["members"] = [f"user:{mixed}" if m == "user:saburo.stayer@example.co.jp"
                                else m for m in b["members"]]  # fmt: skip

    w.edit(respell)
    assert w.apply().report.exit_code == 0
    assert not [p for p in w.writes() if "saburo" in p[1].lower()]
    assert len([u for u in w.state()["google"]["users"]
                if u["primaryEmail"].lower() == "saburo.stayer@example.co.jp"]) == 1  # fmt: skip
    assert w.plan().actions == ()


# -- rules that keep access -----------------------------------------------------------------------


@case(
    "last-gcp-owner",
    "the leaver is the only roles/owner of example-prod",
    "the binding is kept (never the last owner), offboarding-incomplete, other cuts done, exit 3",
)
def _last_owner(w_factory: Any) -> None:
    w: World = w_factory()
    w.edit(
        lambda world: [
            b.update(members=[f"user:{LEAVER_EMAIL}"])
            for r in world["gcp"]["resources"]
            if r["name"] == PROD
            for b in r["policy"]["bindings"]
            if b["role"] == "roles/owner"
        ]
    )
    report = w.apply().report
    assert report.exit_code == 3
    world = w.state()
    assert bindings(world, PROD)["roles/owner"] == {f"user:{LEAVER_EMAIL}"}
    assert users(world)[LEAVER_EMAIL]["suspended"] is True
    assert "kleaver" not in org_members(world)
    kinds = [r.type for r in read_records(w.tmp_path / "state" / "audit.jsonl")]
    assert RecordType.OFFBOARDING_INCOMPLETE in kinds
    assert RecordType.OFFBOARDING_COMPLETE not in kinds


@case(
    "protected-accounts",
    "the break-glass admin sits in eng@ and on dev, named by no role",
    "protected accounts untouched, everything else applied, exit 0",
)
def _protected(w_factory: Any) -> None:
    w: World = w_factory()

    def add(world: dict[str, Any]) -> None:
        world["google"]["members"][ENG].append(
            {"id": "900000000000000000002", "email": "breakglass@example.co.jp",
             "role": "MEMBER", "type": "USER", "status": "ACTIVE"})  # fmt: skip
        world["github"]["members"].append({"login": "example-reconciler-bot", "role": "admin"})

    w.edit(add)
    report = w.apply().report
    assert report.exit_code == 0, [o.message for o in report.failures]
    world = w.state()
    assert "breakglass@example.co.jp" in group_members(world, ENG)
    assert "example-reconciler-bot" in org_members(world)
    assert not [p for p in w.writes() if "breakglass" in p[1] or "reconciler-bot" in p[1]]


@case(
    "mass-removal",
    "seven strangers in the GitHub org, limits.max_removals: 3",
    "the whole plan refused, nothing written, exit 2",
)
def _mass_removal(w_factory: Any) -> None:
    w: World = w_factory()
    org = w.directory / "organization.yaml"
    org.write_text(org.read_text("utf-8").replace("max_removals: 50", "max_removals: 3"), "utf-8")
    w.reload()
    w.edit(lambda world: world["github"]["members"].extend(
        {"login": f"stranger-{i}", "role": "member"} for i in range(7)))  # fmt: skip
    report = w.apply().report
    assert report.exit_code == 2
    assert w.writes() == []


@case(
    "mass-offboarding",
    "five end dates of today in one edit (limit: max(3, 5%) leavers)",
    "refused naming the leavers, nothing written, exit 2",
)
def _mass_offboarding(w_factory: Any) -> None:
    w: World = w_factory()
    day = datetime.now(TZ).date()
    for pid in ("e0002", "e0012", "e0013", "e0011"):
        path = w.directory / "people" / f"{pid}.yaml"
        text = path.read_text("utf-8")
        path.write_text(text.replace("start: ", f"end: {day}, start: ", 1), "utf-8")
    w.reload()
    result = w.cli("apply", "--dir", str(w.directory), "--confirm")
    assert result.exit_code == 2, result.output
    assert "e0012" in result.output and "--allow-mass-offboarding" in result.output
    assert w.writes() == []


# -- the desired-state repo itself -----------------------------------------------------------

_BOMB = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
    f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
    f"*{chr(97 + i)}]\n"
    for i in range(8)
)


def _repo_case(id: str, what: str, edit: Any, expect: str) -> None:
    def run(w_factory: Any) -> None:
        w: World = w_factory()
        edit(w.directory)
        for command in (["validate", str(w.directory)], ["plan", "--dir", str(w.directory)]):
            result = w.cli(*command)
            assert result.exit_code == 1, result.output
            assert "Traceback" not in result.output
            assert expect in result.output, result.output
        assert w.writes() == []
        assert not [r for r in w.sandbox.sandbox.telemetry.log if r.api != "control"]

    case(
        id,
        what,
        "`validate` and `plan` exit 1 with an error naming the file, line and "
        "field; no API called, no traceback",
    )(run)


_repo_case(
    "yaml-bomb",
    "a person file holding a billion-laughs alias bomb",
    lambda d: (d / "people" / "e0013.yaml").write_text(_BOMB, "utf-8"),
    "e0013.yaml",
)
_repo_case(
    "duplicate-keys",
    "`roles:` twice in a person file",
    lambda d: (d / "people" / "e0013.yaml").write_text(
        (d / "people" / "e0013.yaml").read_text("utf-8") + "roles: [sre]\n", "utf-8"
    ),
    "e0013.yaml:7",
)
_repo_case(
    "truncated-file",
    "a person file cut off mid-line",
    lambda d: (d / "people" / "e0013.yaml").write_text(
        (d / "people" / "e0013.yaml").read_text("utf-8")[:90], "utf-8"
    ),
    "e0013.yaml",
)
_repo_case(
    "file-in-an-unexpected-place",
    "a person file in people/archive/",
    lambda d: (
        (d / "people" / "archive").mkdir(),
        (d / "people" / "archive" / "e0099.yaml").write_text(
            (d / "people" / "e0013.yaml").read_text("utf-8"), "utf-8"
        ),
    ),
    "archive",
)


if __name__ == "__main__":
    print(table(), end="")
