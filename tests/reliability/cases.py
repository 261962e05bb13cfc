"""Every case of the fault matrix (tests/reliability/matrix.py), registered in the order the
table in docs/reliability.md lists them; run by tests/reliability/test_fault_matrix.py.
`python -m tests.reliability.cases` prints the table."""

from __future__ import annotations

from typing import Any

from reconciler.model import System
from reconciler.runs import RunOutcome
from tests.e2e.scenario import LEAVER, ORG
from tests.reliability.matrix import case, table
from tests.reliability.world import World, applied, held_back, persistent

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


if __name__ == "__main__":
    print(table(), end="")
