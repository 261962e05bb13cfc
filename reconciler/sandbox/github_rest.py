"""GitHub REST v3 emulation (org, members, memberships, invitations, teams, users, rate limit)
over the world's "github" section, at the root and under /api/v3 (GitHub Enterprise); listed
in `server.API_MODULES`. `GitHubWorld` (the section's indices and rate-limit budgets, shared
with GraphQL) lives on the Sandbox as `app.github`; `GitHubRest` holds the handlers.

What it reproduces, because the provider depends on it (docs/sandbox-github.md has the rest):
Link-header pagination (per_page default 30, max 100), absolute "url" fields built from the
Host header, rate-limit headers on every answer, ETag / If-None-Match -> 304 that costs no
rate limit, GitHub's primary and secondary rate-limit 403s, and its 404 / 422 error shapes.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from reconciler.sandbox.http import Request, Response

if TYPE_CHECKING:
    from reconciler.sandbox.server import Sandbox


SERVES = "GitHub REST v3, at the root and under /api/v3 (GitHub Enterprise layout)"
DOCS = "https://docs.github.com/rest"
# GitHub Enterprise Server serves REST under /api/v3 and GraphQL at /api/graphql; the sandbox
# serves both layouts so a client configured for either works unchanged.
ENTERPRISE_PREFIX = "/api/v3"
PRIMARY_LIMIT_MESSAGE = (
    "API rate limit exceeded for installation. If you reach out to GitHub Support for help, "
    "please include the request ID."
)
# GitHub's wording; PyGithub recognises it by its start (Requester.isSecondaryRateLimitError).
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
# Secondary limits (github/docs secondary-rate-limit reusable): 900 points per minute per REST
# endpoint, 2,000 for GraphQL; GET costs 1 point, POST/PATCH/PUT/DELETE cost 5.
SECONDARY_REST_POINTS_PER_MINUTE = 900
SECONDARY_GRAPHQL_POINTS_PER_MINUTE = 2000
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
# Who a token acts as when the world has no "tokens" map: a bot that is a member of nothing,
# so worlds that do not care about the tool's own login see no difference.
DEFAULT_ACTING_LOGIN = "sandbox-bot"
DEFAULT_ACTING_USER_ID = 999999
ORG_ROLES = ("admin", "member")
# Create an organization invitation: "role" enum (the OpenAPI description).
INVITATION_ROLES = ("admin", "direct_member", "billing_manager", "reinstate")
TEAM_ROLES = ("member", "maintainer")
# "Create an issue comment": GitHub refuses a body longer than this (the comment body limit,
# 65,536 characters) with 422 Validation Failed.
COMMENT_BODY_MAX = 65536
# "Create an installation access token for an app": tokens expire one hour after creation.
INSTALLATION_TOKEN_SECONDS = 3600
# What GitHub answers an App JWT it cannot verify (wrong key for the App id, not RS256,
# garbled), and one that has expired; both 401.
JWT_UNDECODABLE = "A JSON web token could not be decoded"
JWT_EXPIRED = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at "
    "which the assertion expires"
)
INTEGRATION_NOT_ACCESSIBLE = "Resource not accessible by integration"


class GitHubError(Exception):
    """Raised by handlers to answer with GitHub's error shape."""

    def __init__(
        self, status: int, message: str, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "documentation_url": DOCS}
        if self.errors is not None:
            body["errors"] = self.errors
        if self.status != 422:
            body["status"] = str(self.status)
        return body


def not_found() -> GitHubError:
    return GitHubError(404, "Not Found")


def validation_failed(resource: str, field_name: str, code: str = "invalid") -> GitHubError:
    """422 in GitHub's shape: {"message": "Validation Failed", "errors": [{resource, field,
    code}]} (docs.github.com/rest/overview/resources-in-the-rest-api#client-errors)."""
    return GitHubError(
        422, "Validation Failed", [{"resource": resource, "field": field_name, "code": code}]
    )


@dataclass
class RateState:
    """One rate-limit resource ("core" or "graphql"): the primary budget for the hour and
    the secondary per-endpoint points of the current minute."""

    limit: int = 5000
    remaining: int = 5000
    reset: int = 0
    window_start: float = 0.0
    window_points: dict[str, int] = field(default_factory=dict)

    def refresh(self, now: float) -> None:
        if now >= self.reset:
            self.remaining = self.limit
            self.reset = int(now) + 3600
        if now - self.window_start >= 60:
            self.window_start = now
            self.window_points = {}

    def headers(self, resource: str) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(max(self.remaining, 0)),
            "x-ratelimit-used": str(self.limit - max(self.remaining, 0)),
            "x-ratelimit-reset": str(self.reset),
            "x-ratelimit-resource": resource,
        }


class GitHubWorld:
    """Indices over app.world["github"], rebuilt on load and after each mutation, plus the
    rate-limit state. Every access happens under app.lock."""

    def __init__(self, app: Sandbox) -> None:
        self.app = app
        self.users_by_login: dict[str, dict[str, Any]] = {}
        self.users_by_id: dict[int, dict[str, Any]] = {}
        self.rates: dict[str, RateState] = {"core": RateState(), "graphql": RateState()}
        # Installation tokens minted by POST /app/installations/{id}/access_tokens; each is
        # also in the world's `token_permissions`, granted the installation's permissions.
        self.installation_tokens: set[str] = set()

    @property
    def data(self) -> dict[str, Any]:
        section: dict[str, Any] = self.app.world.setdefault("github", {})
        return section

    @property
    def loaded(self) -> bool:
        return "github" in self.app.world and "org" in self.app.world["github"]

    def on_load(self) -> None:
        self.installation_tokens = set()
        if "github" not in self.app.world:
            self.users_by_login, self.users_by_id = {}, {}
            self.rates = {"core": RateState(), "graphql": RateState()}
            return
        gh = self.data
        gh.setdefault("users", [])
        for key in ("members", "teams", "invitations", "failed_invitations"):
            gh.setdefault(key, [])
        gh.setdefault("outside_collaborators", [])
        gh.setdefault("org", {}).setdefault("two_factor_requirement_enabled", False)
        # Logins referenced without a user record get one, so small test worlds stay small.
        known = {u["login"].lower() for u in gh["users"]}
        referenced = [m["login"] for m in gh["members"]]
        referenced += [m["login"] for t in gh["teams"] for m in t.get("members", [])]
        referenced += list(gh["outside_collaborators"])
        referenced += list((gh.get("tokens") or {}).values())
        repos = gh.setdefault("repositories", [])
        referenced += [p["user"] for r in repos for p in r.get("pull_requests", [])]
        referenced += [c["user"] for r in repos for c in r.get("issue_comments", [])]
        next_id = max([int(u["id"]) for u in gh["users"] if "id" in u] + [1000000]) + 1
        for login in referenced:
            if login.lower() not in known:
                gh["users"].append({"login": login, "id": next_id})
                known.add(login.lower())
                next_id += 1
        for u in gh["users"]:
            if "id" not in u:
                u["id"] = next_id
                next_id += 1
            u.setdefault("two_factor", True)
        for repo in gh["repositories"]:
            repo.setdefault("pull_requests", [])
            repo.setdefault("issue_comments", [])
        for t in gh["teams"]:
            t.setdefault("members", [])
            t.setdefault("privacy", "closed")
            t.setdefault("name", t["slug"])
        self.reindex()
        self.rates = {}
        for resource, key in (("core", "rate_limit"), ("graphql", "graphql_rate_limit")):
            spec = gh.get(key) or gh.get("rate_limit") or {}
            limit = int(spec.get("limit", 5000))
            self.rates[resource] = RateState(
                limit=limit,
                remaining=int(spec.get("remaining", limit)),
                reset=int(spec.get("reset", time.time() + 3600)),
            )

    def reindex(self) -> None:
        users = self.data.get("users", [])
        self.users_by_login = {u["login"].lower(): u for u in users}
        self.users_by_id = {int(u["id"]): u for u in users}

    def sync_rate_limit(self) -> None:
        """Mirror the core budget into the world so GET /_sandbox/state shows it."""
        core = self.rates["core"]
        self.data["rate_limit"] = {
            "limit": core.limit, "remaining": core.remaining, "reset": core.reset,
        }  # fmt: skip

    # -- look-ups --------------------------------------------------------------------------
    def org(self, login: str) -> dict[str, Any]:
        org: dict[str, Any] | None = self.data.get("org") if self.loaded else None
        if org is None or org["login"].lower() != login.lower():
            raise not_found()
        return org

    def org_by_id(self, org_id: str) -> dict[str, Any]:
        org: dict[str, Any] | None = self.data.get("org") if self.loaded else None
        if org is None or str(org.get("id")) != org_id:
            raise not_found()
        return org

    def user(self, login: str) -> dict[str, Any]:
        user = self.users_by_login.get(login.lower())
        if user is None:
            raise not_found()
        return user

    def member(self, login: str) -> dict[str, Any] | None:
        return next((m for m in self.data["members"] if m["login"].lower() == login.lower()), None)

    def team(self, slug: str) -> dict[str, Any]:
        teams: list[dict[str, Any]] = self.data["teams"]
        team = next((t for t in teams if t["slug"] == slug.lower()), None)
        if team is None:
            raise not_found()
        return team

    def team_by_id(self, team_id: str) -> dict[str, Any]:
        teams: list[dict[str, Any]] = self.data["teams"]
        team = next((t for t in teams if str(t["id"]) == team_id), None)
        if team is None:
            raise not_found()
        return team

    def token_user(self, authorization: str | None) -> dict[str, Any]:
        """The user an `Authorization: token X` / `Bearer X` header acts as. With a "tokens"
        map only the tokens it lists are valid; without one any token is the default bot.
        GitHub answers 401 "Requires authentication" without a header and "Bad credentials"
        for a token it does not know (REST docs, "Get the authenticated user")."""
        parts = (authorization or "").split()
        if len(parts) != 2 or parts[0].lower() not in {"token", "bearer"}:
            raise GitHubError(401, "Requires authentication")
        if parts[1] in self.installation_tokens:
            # An installation acts as its App's bot, which GET /user does not describe.
            raise GitHubError(403, INTEGRATION_NOT_ACCESSIBLE)
        tokens: dict[str, str] | None = self.data.get("tokens") if self.loaded else None
        if tokens is None:
            found = self.users_by_login.get(DEFAULT_ACTING_LOGIN)
            return found or {"login": DEFAULT_ACTING_LOGIN, "id": DEFAULT_ACTING_USER_ID}
        login = tokens.get(parts[1])
        if login is None:
            raise GitHubError(401, "Bad credentials")
        return self.user(login)

    def pending_invitation(self, login: str) -> dict[str, Any] | None:
        return next(
            (
                i
                for i in self.data["invitations"]
                if i.get("login") and i["login"].lower() == login.lower()
            ),
            None,
        )


# -- JSON shapes (components/schemas of @octokit/openapi) --------------------------------------


def web(base: str) -> str:
    """The web UI's base for a REST base URL: GitHub Enterprise puts `html_url` and avatars
    on the host (https://ghe.example.com/login), not under /api/v3 like the `url` fields."""
    return base.removesuffix(ENTERPRISE_PREFIX)


def simple_user(base: str, user: dict[str, Any]) -> dict[str, Any]:
    login = user["login"]
    api = f"{base}/users/{login}"
    return {
        "login": login,
        "id": int(user["id"]),
        "node_id": f"U_{user['id']}",
        "avatar_url": f"{web(base)}/avatars/u/{user['id']}",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{web(base)}/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": "User",
        "site_admin": False,
        "user_view_type": "public",
    }


def public_user(base: str, user: dict[str, Any]) -> dict[str, Any]:
    body = simple_user(base, user)
    stamp = user.get("created_at", "2020-01-01T00:00:00Z")
    body.update(
        name=user.get("name"), company=None, blog="", location=None, email=user.get("email"),
        hireable=None, bio=None, twitter_username=None, public_repos=0, public_gists=0,
        followers=0, following=0, created_at=stamp, updated_at=stamp,
    )  # fmt: skip
    return body


def private_user(base: str, user: dict[str, Any]) -> dict[str, Any]:
    """`private-user`: what `GET /user` shows the account itself (plan and quota fields)."""
    body = public_user(base, user)
    body.update(
        private_gists=0, total_private_repos=0, owned_private_repos=0, disk_usage=0,
        collaborators=0, two_factor_authentication=bool(user.get("two_factor", True)),
        user_view_type="private",
    )  # fmt: skip
    return body


def org_simple(base: str, org: dict[str, Any]) -> dict[str, Any]:
    login = org["login"]
    api = f"{base}/orgs/{login}"
    return {
        "login": login,
        "id": int(org["id"]),
        "node_id": f"O_{org['id']}",
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": f"{api}/members{{/member}}",
        "public_members_url": f"{api}/public_members{{/member}}",
        "avatar_url": f"{web(base)}/avatars/o/{org['id']}",
        "description": org.get("description"),
    }


def org_full(base: str, org: dict[str, Any]) -> dict[str, Any]:
    body = org_simple(base, org)
    stamp = org.get("created_at", "2020-01-01T00:00:00Z")
    body.update(
        name=org.get("name"), html_url=f"{web(base)}/{org['login']}", type="Organization",
        has_organization_projects=True, has_repository_projects=True, public_repos=0,
        public_gists=0, followers=0, following=0, created_at=stamp, updated_at=stamp,
        archived_at=None, two_factor_requirement_enabled=bool(
            org.get("two_factor_requirement_enabled", False)
        ),
    )  # fmt: skip
    return body


def team_json(base: str, org: dict[str, Any], team: dict[str, Any]) -> dict[str, Any]:
    # Real GitHub answers with /organizations/{org_id}/team/{team_id} URLs, and PyGithub
    # follows them for non-lazy teams (research/client_libs.md section 2).
    api = f"{base}/organizations/{org['id']}/team/{team['id']}"
    return {
        "id": int(team["id"]),
        "node_id": f"T_{team['id']}",
        "url": api,
        "html_url": f"{web(base)}/orgs/{org['login']}/teams/{team['slug']}",
        "name": team["name"],
        "slug": team["slug"],
        "description": team.get("description"),
        "privacy": team.get("privacy", "closed"),
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": f"{api}/members{{/member}}",
        "repositories_url": f"{api}/repos",
        "parent": None,
        "type": "organization",
        "organization_id": int(org["id"]),
    }


def team_full(base: str, org: dict[str, Any], team: dict[str, Any]) -> dict[str, Any]:
    body = team_json(base, org, team)
    body.pop("type")  # team-full's "type" is an enum of enterprise|organization, kept below
    stamp = team.get("created_at", "2020-01-01T00:00:00Z")
    body.update(
        type="organization", members_count=len(team["members"]), repos_count=0,
        created_at=stamp, updated_at=stamp, organization=org_full(base, org),
    )  # fmt: skip
    return body


def org_membership(
    base: str, org: dict[str, Any], user: dict[str, Any], role: str, state: str
) -> dict[str, Any]:
    return {
        "url": f"{base}/orgs/{org['login']}/memberships/{user['login']}",
        "state": state,
        "role": role,
        "organization_url": f"{base}/orgs/{org['login']}",
        "organization": org_simple(base, org),
        "user": simple_user(base, user),
    }


def invitation_json(gw: GitHubWorld, base: str, inv: dict[str, Any]) -> dict[str, Any]:
    inviter = gw.users_by_login.get(str(inv.get("inviter") or "").lower()) or {
        "login": inv.get("inviter") or "ghost",
        "id": 10000,
    }
    org = gw.data["org"]
    body: dict[str, Any] = {
        "id": int(inv["id"]),
        "node_id": f"OI_{inv['id']}",
        "login": inv.get("login"),
        "email": inv.get("email"),
        "role": inv.get("role", "direct_member"),
        "created_at": inv["created_at"],
        "inviter": simple_user(base, inviter),
        "team_count": len(inv.get("team_ids", [])),
        "invitation_teams_url": f"{base}/organizations/{org['id']}/invitations/{inv['id']}/teams",
        "invitation_source": "member",
    }
    if "failed_at" in inv:
        body["failed_at"] = inv["failed_at"]
        body["failed_reason"] = inv.get("failed_reason")
    return body


def issue_comment_json(
    gw: GitHubWorld, base: str, repo: dict[str, Any], comment: dict[str, Any]
) -> dict[str, Any]:
    """`issue-comment` as "List issue comments" and "Create an issue comment" answer it."""
    full = f"{gw.data['org']['login']}/{repo['name']}"
    user = gw.users_by_login.get(str(comment.get("user") or "").lower())
    return {
        "id": int(comment["id"]),
        "node_id": f"IC_{comment['id']}",
        "url": f"{base}/repos/{full}/issues/comments/{comment['id']}",
        "html_url": f"{web(base)}/{full}/pull/{comment['issue_number']}"
        f"#issuecomment-{comment['id']}",
        "issue_url": f"{base}/repos/{full}/issues/{comment['issue_number']}",
        "body": comment["body"],
        "user": simple_user(base, user) if user else None,
        "created_at": comment["created_at"],
        "updated_at": comment.get("updated_at", comment["created_at"]),
        "author_association": "MEMBER" if user and gw.member(user["login"]) else "NONE",
    }


def installation_json(base: str, org: dict[str, Any], inst: dict[str, Any]) -> dict[str, Any]:
    """`installation` as "Get an organization installation for the authenticated app"
    answers it: the permissions map is what the App was granted in this organisation."""
    stamp = inst.get("created_at", "2020-04-01T00:00:00Z")
    return {
        "id": int(inst["id"]),
        "account": simple_user(base, {"login": org["login"], "id": org["id"]})
        | {"type": "Organization"},
        "repository_selection": inst.get("repository_selection", "all"),
        "access_tokens_url": f"{base}/app/installations/{inst['id']}/access_tokens",
        "repositories_url": f"{base}/installation/repositories",
        "html_url": f"{web(base)}/organizations/{org['login']}/settings/installations/{inst['id']}",
        "app_id": int(inst["app_id"]),
        "app_slug": inst.get("app_slug", "reconciler"),
        "target_id": int(org["id"]),
        "target_type": "Organization",
        "permissions": dict(inst.get("permissions", {})),
        "events": list(inst.get("events", [])),
        "created_at": stamp,
        "updated_at": stamp,
        "single_file_name": None,
        "suspended_by": None,
        "suspended_at": None,
    }


# -- plumbing ----------------------------------------------------------------------------------


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _decode_jwt(jwt: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """A compact JWT's header, claims, signature and signed bytes; 401 when it is garbled."""
    head, body, sig = jwt.split(".")
    try:
        header, claims = json.loads(_b64url(head)), json.loads(_b64url(body))
        signature = _b64url(sig)
    except (ValueError, binascii.Error):
        raise GitHubError(401, JWT_UNDECODABLE) from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise GitHubError(401, JWT_UNDECODABLE)
    return header, claims, signature, f"{head}.{body}".encode()


def paginate(req: Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """Slice one page and build GitHub's Link header with absolute URLs on our own host
    (PyGithub asserts that Link URLs point at its base_url host)."""
    per_page = min(max(req.int_arg("per_page", DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    page = max(req.int_arg("page", 1), 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = items[(page - 1) * per_page : page * per_page]
    query = {k: v[0] for k, v in req.query.items() if k not in ("page", "per_page")}

    def url(n: int) -> str:
        return f"{req.base_url}{req.path}?{urlencode({**query, 'page': n, 'per_page': per_page})}"

    links = []
    if page < last:
        links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
    if page > 1:
        links += [f'<{url(1)}>; rel="first"', f'<{url(min(page - 1, last))}>; rel="prev"']
    return chunk, ({"Link": ", ".join(links)} if links else {})


def etag_of(body: bytes) -> str:
    return 'W/"' + hashlib.sha256(body).hexdigest()[:40] + '"'


def spend_secondary(
    rate: RateState, endpoint: str, method: str, per_minute: int, retry_after: int
) -> Response | None:
    cost = 5 if method in WRITE_METHODS else 1
    used = rate.window_points.get(endpoint, 0) + cost
    rate.window_points[endpoint] = used
    if used > per_minute:
        return Response.json(
            {"message": SECONDARY_LIMIT_MESSAGE, "documentation_url": DOCS},
            403,
            {"retry-after": str(retry_after)},
        )
    return None


Body = tuple[int, Any, dict[str, str]]  # status, JSON payload (None = no body), headers
# The permission a write needs of a token granted only some (a fine-grained token or an App
# installation token: "Permissions required for fine-grained personal access tokens" in
# GitHub's REST docs): organisation and team writes need Members: write, comments on pull
# requests Pull requests: write. Reads are not restricted here.
_WRITE_PERMISSION = {"orgs": "members", "teams": "members", "issues": "pull_requests"}
NOT_ACCESSIBLE = "Resource not accessible by personal access token"


class GitHubRest:
    """GitHub REST v3's handlers over the sandbox's one `GitHubWorld` (`app.github`, shared
    with GraphQL). Each handler answers (status, payload, headers); `serve` wraps it in what
    every GitHub answer shares: rate limits, secondary limits, ETags and error shapes."""

    def __init__(self, app: Sandbox) -> None:
        self.app = app

    @property
    def gw(self) -> GitHubWorld:
        return self.app.github

    def describe(self, base_url: str) -> dict[str, Any]:
        with self.app.lock:
            org = self.gw.data.get("org", {}).get("login") if self.gw.loaded else None
        return {
            "github_rest": base_url,
            "github_rest_enterprise": base_url + ENTERPRISE_PREFIX,
            "github_graphql": base_url + "/graphql",
            "github_org": org,
        }

    def serve(
        self, req: Request, name: str, fn: Callable[[Request], Body], *, free: bool
    ) -> Response:
        gw = self.gw
        with self.app.lock:
            rate = gw.rates["core"]
            now = time.time()
            rate.refresh(now)
            limits = gw.data.get("secondary_rate_limit", {}) if gw.loaded else {}
            if not free and rate.remaining <= 0:
                resp = Response.json(
                    {"message": PRIMARY_LIMIT_MESSAGE, "documentation_url": DOCS}, 403
                )
            else:
                resp = (
                    spend_secondary(
                        rate,
                        name,
                        req.method,
                        int(limits.get("points_per_minute", SECONDARY_REST_POINTS_PER_MINUTE)),
                        int(limits.get("retry_after", 60)),
                    )
                    or self.refusal(req, name)
                    or self.run(req, fn)
                )
                if resp.status == 200 and req.method == "GET":
                    tag = etag_of(resp.body)
                    resp.headers["ETag"] = tag
                    if req.headers.get("if-none-match") == tag:
                        # A 304 does not count against the primary limit (GitHub REST best
                        # practices, "conditional requests").
                        resp = Response.empty(304, {"ETag": tag})
                        free = True
                if not free:
                    rate.remaining -= 1
                    self.app.telemetry.add_points("core", 1)
                if gw.loaded:
                    gw.sync_rate_limit()
            resp.headers.update(rate.headers("core"))
            return resp

    def refusal(self, req: Request, name: str) -> Response | None:
        """403 for a write by a token the world's `token_permissions` grants too little
        (what GitHub answers a read-only fine-grained token that tries to write)."""
        if req.method not in WRITE_METHODS or not self.gw.loaded:
            return None
        granted_by_token: dict[str, dict[str, str]] = self.gw.data.get("token_permissions") or {}
        parts = (req.headers.get("authorization") or "").split()
        granted = granted_by_token.get(parts[1]) if len(parts) == 2 else None
        needed = _WRITE_PERMISSION.get(name.split(".", 1)[0])
        if granted is None or needed is None or granted.get(needed) in {"write", "admin"}:
            return None
        message = (
            INTEGRATION_NOT_ACCESSIBLE if parts[1] in self.gw.installation_tokens
            else NOT_ACCESSIBLE
        )  # fmt: skip
        return Response.json({"message": message, "documentation_url": DOCS}, 403)

    @staticmethod
    def run(req: Request, fn: Callable[[Request], Body]) -> Response:
        try:
            status, payload, headers = fn(req)
        except GitHubError as exc:
            return Response.json(exc.payload(), exc.status)
        if payload is None:
            return Response.empty(status, headers)
        return Response.json(payload, status, headers)

    # -- organisation --------------------------------------------------------------------
    def get_org(self, req: Request) -> Body:
        return 200, org_full(req.base_url, self.gw.org(req.params["org"])), {}

    def list_members(self, req: Request) -> Body:
        self.gw.org(req.params["org"])
        role = req.arg("role", "all")
        flt = req.arg("filter", "all")
        if role not in ("all", "admin", "member"):
            raise validation_failed("Organization", "role")
        if flt not in ("all", "2fa_disabled", "2fa_insecure"):
            raise validation_failed("Organization", "filter")
        users = []
        for m in self.gw.data["members"]:
            user = self.gw.user(m["login"])
            if role != "all" and m["role"] != role:
                continue
            if flt != "all" and user.get("two_factor", True):
                continue
            users.append(user)
        page, headers = paginate(req, users)
        return 200, [simple_user(req.base_url, u) for u in page], headers

    def get_membership(self, req: Request) -> Body:
        org = self.gw.org(req.params["org"])
        user = self.gw.user(req.params["username"])
        member = self.gw.member(user["login"])
        if member is not None:
            return 200, org_membership(req.base_url, org, user, member["role"], "active"), {}
        inv = self.gw.pending_invitation(user["login"])
        if inv is not None:
            role = "admin" if inv.get("role") == "admin" else "member"
            return 200, org_membership(req.base_url, org, user, role, "pending"), {}
        raise not_found()

    def put_membership(self, req: Request) -> Body:
        org = self.gw.org(req.params["org"])
        user = self.gw.user(req.params["username"])
        body = req.json() or {}
        role = body.get("role", "member")
        if role not in ORG_ROLES:
            raise validation_failed("Membership", "role")
        member = self.gw.member(user["login"])
        if member is not None:
            member["role"] = role
            return 200, org_membership(req.base_url, org, user, role, "active"), {}
        # Inviting a non-member creates a pending invitation; the state stays "pending" until
        # they accept (docs: "Set organization membership for a user").
        inv = self.gw.pending_invitation(user["login"])
        if inv is None:
            inv = {
                "id": self.next_invitation_id(),
                "login": user["login"],
                "email": None,
                "created_at": iso_now(),
                "inviter": self.first_admin(),
                "team_ids": [],
            }
            self.gw.data["invitations"].append(inv)
        inv["role"] = "admin" if role == "admin" else "direct_member"
        return 200, org_membership(req.base_url, org, user, role, "pending"), {}

    def create_invitation(self, req: Request) -> Body:
        """POST /orgs/{org}/invitations ("Create an organization invitation"): by `invitee_id`
        (a GitHub user id, whatever the account's login is now) or by `email`. 422 for an
        unknown id, a member or someone already invited, as GitHub refuses them."""
        self.gw.org(req.params["org"])
        body = req.json() or {}
        if not isinstance(body, dict):
            raise validation_failed("OrganizationInvitation", "invitee_id")
        role = body.get("role", "direct_member")
        if role not in INVITATION_ROLES:
            raise validation_failed("OrganizationInvitation", "role")
        invitee_id, email = body.get("invitee_id"), body.get("email")
        login: str | None = None
        if invitee_id is not None:
            if not isinstance(invitee_id, int) or isinstance(invitee_id, bool):
                raise validation_failed("OrganizationInvitation", "invitee_id")
            user = self.gw.users_by_id.get(invitee_id)
            if user is None:
                raise validation_failed("OrganizationInvitation", "invitee_id")
            login = user["login"]
            if self.gw.member(login) is not None or self.gw.pending_invitation(login) is not None:
                raise validation_failed("OrganizationInvitation", "invitee_id", "already_exists")
        elif not isinstance(email, str) or "@" not in email:
            raise validation_failed("OrganizationInvitation", "email", "missing_field")
        inv = {
            "id": self.next_invitation_id(),
            "login": login,
            "email": None if login else email,
            "role": "admin" if role == "admin" else "direct_member",
            "created_at": iso_now(),
            "inviter": self.first_admin(),
            "team_ids": [t for t in body.get("team_ids") or [] if isinstance(t, int)],
        }
        if invitee_id is not None:
            inv["invitee_id"] = invitee_id
        self.gw.data["invitations"].append(inv)
        return 201, invitation_json(self.gw, req.base_url, inv), {}

    def delete_membership(self, req: Request) -> Body:
        self.gw.org(req.params["org"])
        user = self.gw.user(req.params["username"])
        if not self.remove_member(user["login"]):
            inv = self.gw.pending_invitation(user["login"])
            if inv is None:
                raise not_found()
            self.gw.data["invitations"].remove(inv)
        return 204, None, {}

    def delete_member(self, req: Request) -> Body:
        self.gw.org(req.params["org"])
        user = self.gw.user(req.params["username"])
        self.remove_member(user["login"])  # GitHub answers 204 for a non-member too
        return 204, None, {}

    def remove_member(self, login: str) -> bool:
        """Leaving the org also leaves every team (GitHub removes team memberships)."""
        member = self.gw.member(login)
        if member is None:
            return False
        self.gw.data["members"].remove(member)
        for team in self.gw.data["teams"]:
            team["members"] = [m for m in team["members"] if m["login"].lower() != login.lower()]
        return True

    def next_invitation_id(self) -> int:
        ids = [
            int(i["id"]) for i in self.gw.data["invitations"] + self.gw.data["failed_invitations"]
        ]
        return max([*ids, 5000000]) + 1

    def first_admin(self) -> str | None:
        return next((m["login"] for m in self.gw.data["members"] if m["role"] == "admin"), None)

    def list_invitations(self, req: Request) -> Body:
        self.gw.org(req.params["org"])
        page, headers = paginate(req, self.gw.data["invitations"])
        return 200, [invitation_json(self.gw, req.base_url, i) for i in page], headers

    def list_failed_invitations(self, req: Request) -> Body:
        self.gw.org(req.params["org"])
        page, headers = paginate(req, self.gw.data["failed_invitations"])
        return 200, [invitation_json(self.gw, req.base_url, i) for i in page], headers

    def delete_invitation(self, req: Request) -> Body:
        self.gw.org(req.params["org"])
        inv = next(
            (i for i in self.gw.data["invitations"] if str(i["id"]) == req.params["invitation_id"]),
            None,
        )
        if inv is None:
            raise not_found()
        self.gw.data["invitations"].remove(inv)
        return 204, None, {}

    def list_outside(self, req: Request) -> Body:
        self.gw.org(req.params["org"])
        users = [self.gw.user(login) for login in self.gw.data["outside_collaborators"]]
        page, headers = paginate(req, users)
        return 200, [simple_user(req.base_url, u) for u in page], headers

    def delete_outside(self, req: Request) -> Body:
        self.gw.org(req.params["org"])
        user = self.gw.user(req.params["username"])
        if self.gw.member(user["login"]) is not None:
            # GitHub refuses to treat a member as an outside collaborator.
            raise GitHubError(422, "You cannot specify an organization member to remove as an "
                                   "outside collaborator.")  # fmt: skip
        self.gw.data["outside_collaborators"] = [
            c for c in self.gw.data["outside_collaborators"] if c.lower() != user["login"].lower()
        ]
        return 204, None, {}

    # -- teams ---------------------------------------------------------------------------
    def find_team(self, req: Request) -> tuple[dict[str, Any], dict[str, Any]]:
        if "org_id" in req.params:
            org = self.gw.org_by_id(req.params["org_id"])
            return org, self.gw.team_by_id(req.params["team_id"])
        org = self.gw.org(req.params["org"])
        return org, self.gw.team(req.params["team_slug"])

    def list_teams(self, req: Request) -> Body:
        org = self.gw.org(req.params["org"])
        page, headers = paginate(req, self.gw.data["teams"])
        return 200, [team_json(req.base_url, org, t) for t in page], headers

    def get_team(self, req: Request) -> Body:
        org, team = self.find_team(req)
        return 200, team_full(req.base_url, org, team), {}

    def list_team_members(self, req: Request) -> Body:
        _, team = self.find_team(req)
        role = req.arg("role", "all")
        if role not in ("all", *TEAM_ROLES):
            raise validation_failed("Team", "role")
        users = [
            self.gw.user(m["login"]) for m in team["members"] if role in ("all", m.get("role"))
        ]
        page, headers = paginate(req, users)
        return 200, [simple_user(req.base_url, u) for u in page], headers

    def team_membership_json(self, req: Request, org: dict[str, Any], team: dict[str, Any],
                             login: str, role: str) -> dict[str, Any]:  # fmt: skip
        return {
            "url": f"{req.base_url}/organizations/{org['id']}/team/{team['id']}/memberships/"
            f"{login}",
            "role": role,
            "state": "active",
        }

    def get_team_membership(self, req: Request) -> Body:
        org, team = self.find_team(req)
        user = self.gw.user(req.params["username"])
        m = next((m for m in team["members"] if m["login"].lower() == user["login"].lower()),
                 None)  # fmt: skip
        if m is None:
            raise not_found()
        return 200, self.team_membership_json(req, org, team, user["login"], m["role"]), {}

    def put_team_membership(self, req: Request) -> Body:
        org, team = self.find_team(req)
        user = self.gw.user(req.params["username"])
        role = (req.json() or {}).get("role", "member")
        if role not in TEAM_ROLES:
            raise validation_failed("TeamMember", "role")
        if self.gw.member(user["login"]) is None:
            # Adding a non-member to a team sends an org invitation on GitHub; the product
            # never relies on that, so the sandbox answers like an org that forbids it.
            raise GitHubError(422, "User is not a member of the organization.")
        m = next((m for m in team["members"] if m["login"].lower() == user["login"].lower()),
                 None)  # fmt: skip
        if m is None:
            team["members"].append({"login": user["login"], "role": role})
        else:
            m["role"] = role
        return 200, self.team_membership_json(req, org, team, user["login"], role), {}

    def delete_team_membership(self, req: Request) -> Body:
        _, team = self.find_team(req)
        user = self.gw.user(req.params["username"])
        before = len(team["members"])
        team["members"] = [
            m for m in team["members"] if m["login"].lower() != user["login"].lower()
        ]
        if len(team["members"]) == before:
            raise not_found()
        return 204, None, {}

    # -- repositories: issue comments (a pull request is an issue) ---------------------
    def find_issue(self, req: Request) -> tuple[dict[str, Any], int]:
        """The repository and the issue or pull request number the path names; 404 for a
        repository of another owner, an unknown repository or an unknown number."""
        self.gw.org(req.params["owner"])
        repo = next(
            (
                r
                for r in self.gw.data["repositories"]
                if r["name"].lower() == req.params["repo"].lower()
            ),
            None,
        )
        if repo is None:
            raise not_found()
        try:
            number = int(req.params.get("issue_number", "0"))
        except ValueError:
            raise not_found() from None
        if "issue_number" in req.params and not any(
            int(p["number"]) == number for p in repo["pull_requests"]
        ):
            raise not_found()
        return repo, number

    def comment_body(self, req: Request, resource: str = "IssueComment") -> str:
        body = req.json() or {}
        text = body.get("body") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise validation_failed(resource, "body", "missing_field")
        if len(text) > COMMENT_BODY_MAX:
            raise GitHubError(422, "Validation Failed", [{
                "resource": resource, "code": "custom", "field": "body",
                "message": f"body is too long (maximum is {COMMENT_BODY_MAX} characters)",
            }])  # fmt: skip
        return text

    def list_issue_comments(self, req: Request) -> Body:
        repo, number = self.find_issue(req)
        comments = [c for c in repo["issue_comments"] if int(c["issue_number"]) == number]
        comments.sort(key=lambda c: int(c["id"]))
        page, headers = paginate(req, comments)
        return 200, [issue_comment_json(self.gw, req.base_url, repo, c) for c in page], headers

    def next_comment_id(self) -> int:
        ids = [int(c["id"]) for r in self.gw.data["repositories"] for c in r["issue_comments"]]
        return max([*ids, 8000000]) + 1

    def create_issue_comment(self, req: Request) -> Body:
        repo, number = self.find_issue(req)
        text = self.comment_body(req)
        user = self.gw.token_user(req.headers.get("authorization"))
        stamp = iso_now()
        comment = {"id": self.next_comment_id(), "issue_number": number, "body": text,
                   "user": user["login"], "created_at": stamp, "updated_at": stamp}  # fmt: skip
        if user["login"].lower() not in self.gw.users_by_login:
            self.gw.data["users"].append({"login": user["login"], "id": int(user["id"])})
            self.gw.reindex()
        repo["issue_comments"].append(comment)
        return 201, issue_comment_json(self.gw, req.base_url, repo, comment), {}

    def update_issue_comment(self, req: Request) -> Body:
        repo, _ = self.find_issue(req)
        comment = next(
            (c for c in repo["issue_comments"] if str(c["id"]) == req.params["comment_id"]), None
        )
        if comment is None:
            raise not_found()
        comment["body"] = self.comment_body(req)
        comment["updated_at"] = iso_now()
        return 200, issue_comment_json(self.gw, req.base_url, repo, comment), {}

    # -- GitHub App ----------------------------------------------------------------------
    def app_jwt(self, req: Request) -> dict[str, Any] | None:
        """Check the request's App JWT (`Authorization: Bearer`, RS256, signed by the App's
        private key, `iss` its App id, `exp` in the future) and return the world's
        installation of that App, or None when the App has none. 401 otherwise: a token is
        not a JWT, and a JWT the App's key does not verify "could not be decoded".

        The signature is verified when the installation has `public_key` (the App's, PEM);
        without one, any well-formed RS256 JWT of the App passes, so small worlds need no
        key pair."""
        parts = (req.headers.get("authorization") or "").split()
        if len(parts) != 2 or parts[0].lower() != "bearer" or parts[1].count(".") != 2:
            raise GitHubError(401, JWT_UNDECODABLE)
        header, claims, signature, signed = _decode_jwt(parts[1])
        inst: dict[str, Any] | None = self.gw.data.get("installation") if self.gw.loaded else None
        if header.get("alg") != "RS256" or not isinstance(claims.get("exp"), int | float):
            raise GitHubError(401, JWT_UNDECODABLE)
        app_id = inst.get("app_id") if inst else None
        if app_id is not None and str(claims.get("iss")) != str(app_id):
            raise GitHubError(401, JWT_UNDECODABLE)  # no App with that id has this key
        if inst and inst.get("public_key"):
            key = serialization.load_pem_public_key(str(inst["public_key"]).encode())
            assert isinstance(key, rsa.RSAPublicKey)
            try:
                key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                raise GitHubError(401, JWT_UNDECODABLE) from None
        if float(claims["exp"]) <= time.time():
            raise GitHubError(401, JWT_EXPIRED)
        return inst

    def get_org_installation(self, req: Request) -> Body:
        """ "Get an organization installation for the authenticated app": only an App's JWT
        may ask (GitHub answers 401 to a token); 404 when the App is not installed there."""
        org = self.gw.org(req.params["org"])
        inst = self.app_jwt(req)
        if not inst:
            raise not_found()
        return 200, installation_json(req.base_url, org, inst), {}

    def create_installation_token(self, req: Request) -> Body:
        """ "Create an installation access token for an app": 201 with a token that expires
        in an hour and acts with the installation's permissions (or the subset the body's
        `permissions` asks for; more than granted -> 422). The token goes into the world's
        `token_permissions`, so a write it was not granted is refused like any token's."""
        inst = self.app_jwt(req)
        if not inst or str(inst["id"]) != req.params["installation_id"]:
            raise not_found()
        try:
            body = req.json() if req.body else {}
        except ValueError:
            raise GitHubError(400, "Problems parsing JSON") from None
        granted: dict[str, str] = dict(inst.get("permissions", {}))
        asked = (body or {}).get("permissions") or {}
        if not isinstance(asked, dict):
            raise validation_failed("Installation", "permissions")
        levels = {"read": 1, "write": 2, "admin": 3}
        for name, level in asked.items():
            if levels.get(str(level), 9) > levels.get(granted.get(name, ""), 0):
                raise GitHubError(
                    422, "The permissions requested are not granted to this installation."
                )
        permissions = {str(k): str(v) for k, v in asked.items()} if asked else granted
        token = f"ghs_{secrets.token_hex(18)}"
        self.gw.installation_tokens.add(token)
        self.gw.data.setdefault("token_permissions", {})[token] = dict(permissions)
        expires = time.gmtime(time.time() + INSTALLATION_TOKEN_SECONDS)
        answer = {
            "token": token,
            "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", expires),
            "permissions": permissions,
            "repository_selection": inst.get("repository_selection", "all"),
        }
        return 201, answer, {}

    # -- users and rate limit ------------------------------------------------------------
    def get_user(self, req: Request) -> Body:
        return 200, public_user(req.base_url, self.gw.user(req.params["username"])), {}

    def get_authenticated_user(self, req: Request) -> Body:
        return (
            200,
            private_user(req.base_url, self.gw.token_user(req.headers.get("authorization"))),
            {},
        )

    def get_user_by_id(self, req: Request) -> Body:
        try:
            user = self.gw.users_by_id.get(int(req.params["account_id"]))
        except ValueError:
            user = None
        if user is None:
            raise not_found()
        return 200, public_user(req.base_url, user), {}

    def get_rate_limit(self, req: Request) -> Body:
        def one(resource: str) -> dict[str, int]:
            r = self.gw.rates[resource]
            r.refresh(time.time())
            return {"limit": r.limit, "remaining": max(r.remaining, 0),
                    "used": r.limit - max(r.remaining, 0), "reset": r.reset}  # fmt: skip

        # "search" is required by the rate-limit-overview schema; it is not emulated
        # (30 requests a minute on GitHub), so it is always full.
        search = {"limit": 30, "remaining": 30, "used": 0, "reset": int(time.time()) + 60}
        resources = {"core": one("core"), "graphql": one("graphql"), "search": search}
        return 200, {"resources": resources, "rate": one("core")}, {}


def _routes(rest: GitHubRest) -> list[tuple[str, str, str, Callable[[Request], Body], bool]]:
    """(method, path, endpoint name, handler, free of rate limit) for every REST route."""
    org_p = "/orgs/{org}"
    routes: list[tuple[str, str, str, Callable[[Request], Body], bool]] = [
        (method, path, name, fn, False)
        for method, path, name, fn in (
            ("GET", org_p, "orgs.get", rest.get_org),
            ("GET", f"{org_p}/members", "orgs.members.list", rest.list_members),
            ("DELETE", f"{org_p}/members/{{username}}", "orgs.members.delete", rest.delete_member),
            ("GET", f"{org_p}/memberships/{{username}}", "orgs.memberships.get",
             rest.get_membership),
            ("PUT", f"{org_p}/memberships/{{username}}", "orgs.memberships.put",
             rest.put_membership),
            ("DELETE", f"{org_p}/memberships/{{username}}", "orgs.memberships.delete",
             rest.delete_membership),
            ("GET", f"{org_p}/invitations", "orgs.invitations.list", rest.list_invitations),
            ("POST", f"{org_p}/invitations", "orgs.invitations.create", rest.create_invitation),
            ("DELETE", f"{org_p}/invitations/{{invitation_id}}", "orgs.invitations.delete",
             rest.delete_invitation),
            ("GET", f"{org_p}/failed_invitations", "orgs.failed_invitations.list",
             rest.list_failed_invitations),
            ("GET", f"{org_p}/outside_collaborators", "orgs.outside_collaborators.list",
             rest.list_outside),
            ("DELETE", f"{org_p}/outside_collaborators/{{username}}",
             "orgs.outside_collaborators.delete", rest.delete_outside),
            ("GET", f"{org_p}/teams", "teams.list", rest.list_teams),
            ("GET", "/user", "users.get_authenticated", rest.get_authenticated_user),
            ("GET", "/users/{username}", "users.get", rest.get_user),
            ("GET", "/user/{account_id}", "users.get_by_id", rest.get_user_by_id),
            ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments",
             "issues.comments.list", rest.list_issue_comments),
            ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments",
             "issues.comments.create", rest.create_issue_comment),
            ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}",
             "issues.comments.update", rest.update_issue_comment),
            ("GET", f"{org_p}/installation", "apps.get_org_installation",
             rest.get_org_installation),
            ("POST", "/app/installations/{installation_id}/access_tokens",
             "apps.create_installation_access_token", rest.create_installation_token),
        )
    ]  # fmt: skip
    routes.append(("GET", "/rate_limit", "rate_limit.get", rest.get_rate_limit, True))
    for prefix in ("/orgs/{org}/teams/{team_slug}", "/organizations/{org_id}/team/{team_id}"):
        routes.append(("GET", prefix, "teams.get", rest.get_team, False))
        routes.append(("GET", f"{prefix}/members", "teams.members.list",
                       rest.list_team_members, False))  # fmt: skip
        for method, fn in (
            ("GET", rest.get_team_membership),
            ("PUT", rest.put_team_membership),
            ("DELETE", rest.delete_team_membership),
        ):
            routes.append((method, f"{prefix}/memberships/{{username}}",
                           f"teams.memberships.{method.lower()}", fn, False))  # fmt: skip
    return routes


def register(app: Sandbox) -> None:
    """Register every REST route twice: at the root, as api.github.com serves them, and under
    `/api/v3`, as GitHub Enterprise Server does (PyGithub's `base_url=.../api/v3`)."""
    rest = GitHubRest(app)
    app.describers.append(rest.describe)
    for method, path, name, fn, free in _routes(rest):

        def handler(req: Request, name: str = name, fn: Callable[[Request], Body] = fn,
                    free: bool = free) -> Response:  # fmt: skip
            return rest.serve(req, name, fn, free=free)

        app.add_route(method, path, handler, name=f"github.{name}", api="github")
        app.add_route(method, ENTERPRISE_PREFIX + path, enterprise(handler),
                      name=f"github.{name}", api="github")  # fmt: skip


def enterprise(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """The same handler under `/api/v3`: it sees the path without the prefix and a base URL
    with it, so `url` fields and Link headers point back under `/api/v3` (PyGithub asserts
    that the URLs it follows start with its base_url's path)."""

    def prefixed(req: Request) -> Response:
        inner = dataclasses.replace(
            req,
            path=req.path.removeprefix(ENTERPRISE_PREFIX),
            base_url=req.base_url + ENTERPRISE_PREFIX,
        )
        return handler(inner)

    return prefixed


def iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def world_of(app: Sandbox) -> GitHubWorld:
    """The sandbox's one GitHubWorld, `app.github`: kept so tests written before the world
    moved onto the Sandbox keep working; new code reads `app.github`."""
    return app.github
