"""The GitHub provider: reads an organisation's members, teams, invitations and outside
collaborators through PyGithub and applies GitHub actions; used by the executor and the CLI.

Reads follow DESIGN 5b: members (with role and 2FA) and teams (with members and roles) come
from one paginated GraphQL query family (100 per connection, ~1 point a page); invitations,
failed invitations and outside collaborators from REST with Link pagination; every REST GET
carries the last ETag, so an unchanged nightly read is all 304s that cost no rate limit.
PyGithub's own retry and throttle are off: `providers.retrying` is the one retry policy.

Every credential is registered with the redactor (`reconciler.log.register_secret`) when it is
obtained: a configured token when the settings are loaded, and here the App's private key,
each App JWT and each installation token PyGithub fetches (`RegisteringAppAuth`,
`RegisteringInstallationAuth`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from github import Auth, Github, GithubException, GithubIntegration, RateLimitExceededException
from github.InstallationAuthorization import InstallationAuthorization
from github.Requester import Requester

from reconciler.errors import (
    ConflictError,
    PermanentProviderError,
    ProviderError,
    TemporaryProviderError,
)
from reconciler.log import register_secret
from reconciler.model import (
    Account,
    Action,
    ActionKind,
    DesiredState,
    GitHubOrgSettings,
    Grant,
    GrantKind,
    Invitation,
    Person,
    ReadStatus,
    SnapshotPart,
    System,
    normalise_email,
    normalise_login,
)
from reconciler.providers.base import ActionResult, PostedComment
from reconciler.providers.retrying import DEFAULT_POLICY, RetryPolicy, call_with_retry

T = TypeVar("T")

PAGE = 100  # REST per_page and GraphQL first: both APIs' maximum (docs: "per_page max 100")
SECONDARY_DEFAULT_WAIT = 60.0  # docs: no retry-after on a secondary limit -> wait >= 60 s

MEMBERS_QUERY = """
query($org: String!, $after: String) {
  organization(login: $org) {
    databaseId
    requiresTwoFactorAuthentication
    membersWithRole(first: 100, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { role hasTwoFactorEnabled node { login databaseId name } }
    }
  }
  rateLimit { cost remaining resetAt limit used }
}"""
TEAMS_QUERY = """
query($org: String!, $after: String) {
  organization(login: $org) {
    teams(first: 100, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {
        slug databaseId name
        members(first: 100, membership: IMMEDIATE) {
          pageInfo { hasNextPage endCursor }
          edges { role node { login databaseId } }
        }
      }
    }
  }
  rateLimit { cost remaining resetAt limit used }
}"""
TEAM_MEMBERS_QUERY = """
query($org: String!, $slug: String!, $after: String) {
  organization(login: $org) {
    team(slug: $slug) {
      members(first: 100, after: $after, membership: IMMEDIATE) {
        pageInfo { hasNextPage endCursor }
        edges { role node { login databaseId } }
      }
    }
  }
  rateLimit { cost remaining resetAt limit used }
}"""
# Reverse look-up for one login (read_person): `userLogins` keeps only that person's teams,
# `query` narrows each team's members to them; 1 + 100 connection requests = 1 point.
PERSON_TEAMS_QUERY = """
query($org: String!, $login: String!, $logins: [String!], $after: String) {
  organization(login: $org) {
    teams(first: 100, after: $after, userLogins: $logins) {
      pageInfo { hasNextPage endCursor }
      nodes {
        slug
        members(first: 10, query: $login, membership: IMMEDIATE) {
          edges { role node { login databaseId } }
        }
      }
    }
  }
  rateLimit { cost remaining resetAt limit used }
}"""
GRAPHQL_QUERIES = (MEMBERS_QUERY, TEAMS_QUERY, TEAM_MEMBERS_QUERY, PERSON_TEAMS_QUERY)


SANDBOX_TOKEN = "sandbox-token"  # noqa: S105 - what the sandbox accepts when none is configured


class RegisteringAppAuth(Auth.AppAuth):
    """PyGithub's App auth, registering each JWT it signs (valid for minutes, but enough to
    mint installation tokens) with the redactor."""

    def create_jwt(self, expiration: int | None = None) -> str:
        jwt = super().create_jwt(expiration)
        register_secret(jwt)
        return jwt


class RegisteringInstallationAuth(Auth.AppInstallationAuth):
    """PyGithub's installation auth, registering each installation token the moment PyGithub
    obtains it (first use and every refresh before expiry), so an API that echoes it back
    cannot carry it into output."""

    def _get_installation_authorization(self) -> InstallationAuthorization:
        authorization = super()._get_installation_authorization()
        register_secret(authorization.token)
        return authorization


def app_installation_auth(app_id: int, private_key: str, installation_id: int) -> Auth.Auth:
    """GitHub App installation credentials whose key, JWTs and tokens are all registered."""
    register_secret(private_key)
    return RegisteringInstallationAuth(RegisteringAppAuth(app_id, private_key), installation_id)


@dataclass
class _Counter:
    """Calls made and problems met during one read (each REST or GraphQL call is one trip)."""

    api_calls: int = 0
    problems: list[str] = field(default_factory=list)

    def part(
        self,
        accounts: tuple[Account, ...],
        grants: list[Grant],
        invitations: list[Invitation],
        settings: GitHubOrgSettings | None = None,
        invitees: Iterable[Account] = (),
    ) -> SnapshotPart:
        """The read's result: complete only if no sub-read reported a problem (DESIGN 6.2)."""
        return SnapshotPart(
            system=System.GITHUB,
            status=ReadStatus(
                system=System.GITHUB,
                complete=not self.problems,
                problems=tuple(self.problems),
                api_calls=self.api_calls,
                round_trips=self.api_calls,
            ),
            accounts=accounts,
            grants=tuple(sorted(set(grants))),
            invitations=tuple(sorted(invitations, key=lambda i: i.id)),
            github_org=settings,
            invitees=tuple(sorted(set(invitees), key=lambda a: a.id)),
        )


class GitHubProvider:
    """Reads and writes one GitHub organisation. Construct with explicit parameters, or with
    `from_sandbox` / `from_settings`. Credentials live only inside PyGithub's auth object and
    are never logged or put into errors."""

    system = System.GITHUB

    def __init__(
        self,
        *,
        org: str,
        base_url: str,
        auth: Auth.Auth | None,
        retry_policy: RetryPolicy = DEFAULT_POLICY,
        timeout: float = 30.0,
    ) -> None:
        self.org = normalise_login(org)
        self.policy = retry_policy
        self.client = Github(
            base_url=base_url,
            auth=auth,
            per_page=PAGE,
            timeout=int(timeout),
            # The library's retry and throttle would hide Retry-After from our policy and
            # sleep 0.25 s / 1 s per call (research/client_libs.md section 2).
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,
        )
        self.requester: Requester = self.client.requester
        # A GitHub App installation acts as "<app>[bot]", which is never an org member nor
        # a login any action names; a token (personal or machine user) acts as its user.
        self._token_user = isinstance(auth, Auth.Token)
        self._acting_as: tuple[str, ...] | None = None
        # url -> (etag, (headers, payload)): conditional GETs for data that rarely changes.
        self._etags: dict[str, tuple[str, tuple[dict[str, Any], Any]]] = {}

    @classmethod
    def from_sandbox(
        cls,
        base_url: str,
        org: str,
        retry_policy: RetryPolicy = DEFAULT_POLICY,
        token: str = SANDBOX_TOKEN,
    ) -> GitHubProvider:
        """Against the sandbox, with `token` (a configured RECONCILER_GITHUB_TOKEN, or the
        one the demo world maps to its bot)."""
        return cls(
            org=org,
            base_url=base_url.rstrip("/"),
            auth=Auth.Token(token),
            retry_policy=retry_policy,
            timeout=10.0,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        org: str,
        read_secret: Callable[[str], str] | None = None,
        retry_policy: RetryPolicy = DEFAULT_POLICY,
    ) -> GitHubProvider:
        """A GitHub App installation is preferred (short-lived tokens, policy 第4.1条: the
        private key comes from Secret Manager through `read_secret`); a token is allowed."""
        base_url = settings.sandbox_url or settings.github_api_url
        auth: Auth.Auth
        if settings.github_app_id and settings.github_installation_id:
            if not settings.github_private_key_secret or read_secret is None:
                raise PermanentProviderError(
                    "GitHub App configured without a private key: set "
                    "RECONCILER_GITHUB_PRIVATE_KEY_SECRET and pass a Secret Manager reader"
                )
            key = read_secret(settings.github_private_key_secret)
            auth = app_installation_auth(
                settings.github_app_id, key, settings.github_installation_id
            )
        elif settings.github_token is not None:
            auth = Auth.Token(settings.github_token.get_secret_value())
        else:
            raise PermanentProviderError(
                "no GitHub credentials: configure a GitHub App or RECONCILER_GITHUB_TOKEN"
            )
        return cls(org=org, base_url=base_url, auth=auth, retry_policy=retry_policy)

    # -- calls -----------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T], counter: _Counter | None = None) -> T:
        def attempt() -> T:
            if counter is not None:
                counter.api_calls += 1
            try:
                return fn()
            except GithubException as exc:
                raise translate_github_error(exc) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise TemporaryProviderError(
                    f"GitHub connection failed: {type(exc).__name__}"
                ) from None

        return call_with_retry(attempt, self.policy)

    def _rest(
        self,
        verb: str,
        path: str,
        *,
        parameters: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        counter: _Counter | None = None,
    ) -> tuple[dict[str, Any], Any]:
        return self._call(
            lambda: self.requester.requestJsonAndCheck(
                verb, path, parameters=parameters, headers=headers, input=body
            ),
            counter,
        )

    def _rest_pages(self, path: str, counter: _Counter) -> list[dict[str, Any]]:
        """Every page of a REST list, following `Link: rel="next"` as GitHub gives it. Each
        page is a conditional GET with that page's last ETag: an unchanged page answers 304,
        which does not count against the primary rate limit (GitHub REST best practices,
        "use conditional requests"), so an unchanged nightly read costs no core points."""
        items: list[dict[str, Any]] = []
        url: str | None = path
        parameters: dict[str, Any] | None = {"per_page": PAGE}
        while url is not None:
            key = f"{url}?per_page={PAGE}" if parameters else url
            headers, data = self._conditional_get(url, key, counter, parameters)
            items.extend(data or [])
            url, parameters = next_link(headers.get("link", "")), None
        return items

    def _conditional_get(
        self,
        url: str,
        key: str,
        counter: _Counter,
        parameters: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], Any]:
        """GET with the ETag last seen under `key` as If-None-Match. A 304 answers with no
        body and no Link header, so the cached headers and payload stand in for it."""
        cached = self._etags.get(key)
        conditional = {"If-None-Match": cached[0]} if cached else None
        headers, data = self._rest(
            "GET", url, parameters=parameters, headers=conditional, counter=counter
        )
        if data is None and cached is not None:  # 304 Not Modified
            return cached[1]
        if headers.get("etag"):
            self._etags[key] = (headers["etag"], (headers, data))
        return headers, data

    def _graphql(self, query: str, variables: dict[str, Any], counter: _Counter) -> Any:
        _, data = self._call(lambda: self.requester.graphql_query(query, variables), counter)
        return data["data"]

    def _graphql_pages(
        self,
        query: str,
        variables: dict[str, Any],
        connection: Callable[[Any], Any],
        counter: _Counter,
        after: str | None = None,
    ) -> Iterator[Any]:
        """Each page of the connection `connection` picks out of the answer, following
        pageInfo.endCursor from `after` until hasNextPage is false."""
        while True:
            conn = connection(self._graphql(query, {**variables, "after": after}, counter))
            yield conn
            if not conn["pageInfo"]["hasNextPage"]:
                return
            after = conn["pageInfo"]["endCursor"]

    # -- identity --------------------------------------------------------------------------
    def acting_as(self) -> tuple[str, ...]:
        """The login this provider acts as: for a token, the user `GET /user` names ("Get
        the authenticated user"), asked once and cached; () for a GitHub App installation
        (its bot is not an org member; `GET /user` answers 403 for it) and for no auth.

        A failed `GET /user` raises (after the usual retries) instead of returning (): the
        caller must not start an apply whose own-identity guard is missing (DESIGN 6.4)."""
        if self._acting_as is None:
            if not self._token_user:
                self._acting_as = ()
            else:
                try:
                    _, data = self._rest("GET", "/user")
                except ProviderError as exc:
                    raise type(exc)(
                        f"GitHub: could not learn the login the token acts as (GET /user): {exc}",
                        status=exc.status,
                        retry_after=exc.retry_after,
                    ) from None
                login = data.get("login") if isinstance(data, dict) else None
                if not isinstance(login, str) or not login:
                    raise PermanentProviderError(
                        "GitHub: GET /user answered without a login; cannot tell which "
                        "account the token acts as"
                    )
                self._acting_as = (normalise_login(login),)
        return self._acting_as

    # -- read ------------------------------------------------------------------------------
    def read(self, desired: DesiredState, now: datetime | None = None) -> SnapshotPart:
        """Everything in the org. A sub-read that fails after retries marks the part
        incomplete with a plain reason; what was read before the failure is kept, and the
        planner makes no removals in an incomplete system (DESIGN 6.2)."""
        counter = _Counter()
        settings = self._sub_read("organisation settings", self._read_settings, counter)
        accounts: dict[str, Account] = {}
        grants: list[Grant] = []
        members_ok = self._sub_read(
            "members", lambda c: self._read_members(c, accounts, grants), counter
        )
        if members_ok is not None:
            if not members_ok:
                counter.problems.append(
                    "members: the member list came back empty (an organisation always has an "
                    "owner): treating the read as incomplete"
                )
            elif not any(a.is_admin for a in accounts.values()):
                counter.problems.append(
                    "members: no organisation owner in the member list (roles hidden from "
                    "these credentials?): treating the read as incomplete"
                )
        self._sub_read("teams", lambda c: self._read_teams(c, grants), counter)
        invitations: list[Invitation] = []
        self._read_invitations(counter, invitations)
        self._sub_read(
            "outside collaborators",
            lambda c: self._read_outside(c, accounts, grants),
            counter,
        )
        invitees: list[Account] = []
        today = (now or datetime.now(UTC)).date()
        for person in invitation_candidates(desired, accounts, invitations, today):
            self._sub_read(
                f"look-up of {person.id}'s GitHub account",
                partial(self._look_up_invitee, person, out=invitees),
                counter,
            )
        return counter.part(
            tuple(sorted(accounts.values(), key=lambda a: a.name)),
            grants,
            invitations,
            settings,
            invitees,
        )

    def _look_up_invitee(self, person: Person, counter: _Counter, *, out: list[Account]) -> None:
        """Who holds the person's account and login now, before anyone invites them: the
        account by its recorded id (it survives renames), and the login from the person file
        when the account no longer answers to it, because whoever holds that login now must
        never be invited in their place. Conditional GETs: unchanged answers are free 304s."""
        own = None
        if person.github_id is not None:
            own = self._get_cached_if_exists(f"/user/{person.github_id}", counter)
            if own is not None:
                out.append(user_account(own))
        if person.github and (own is None or normalise_login(own["login"]) != person.github):
            holder = self._get_cached_if_exists(f"/users/{quote(person.github)}", counter)
            if holder is not None:
                out.append(user_account(holder))

    def _sub_read(self, what: str, fn: Callable[[_Counter], T], counter: _Counter) -> T | None:
        try:
            return fn(counter)
        except ProviderError as exc:
            counter.problems.append(f"{what}: {exc}")
            return None

    def _read_settings(self, counter: _Counter) -> GitHubOrgSettings:
        org = self._get_cached(f"/orgs/{self.org}", counter)
        return GitHubOrgSettings(
            org=normalise_login(org["login"]),
            id=int(org["id"]),
            two_factor_required=bool(org.get("two_factor_requirement_enabled")),
        )

    def _get_cached(self, path: str, counter: _Counter) -> Any:
        """GET with If-None-Match: a 304 is free of rate limit (GitHub REST best practices,
        "use conditional requests if appropriate")."""
        return self._conditional_get(path, path, counter)[1]

    def _get_cached_if_exists(self, path: str, counter: _Counter) -> dict[str, Any] | None:
        """`_get_cached`, with None only for 404 (absent); every other failure raises."""
        try:
            found: dict[str, Any] = self._get_cached(path, counter)
        except PermanentProviderError as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def _read_members(
        self, counter: _Counter, accounts: dict[str, Account], grants: list[Grant]
    ) -> int:
        count = 0
        for conn in self._graphql_pages(
            MEMBERS_QUERY,
            {"org": self.org},
            lambda data: data["organization"]["membersWithRole"],
            counter,
        ):
            for edge in conn["edges"]:
                node = edge["node"]
                login = normalise_login(node["login"])
                admin = edge["role"] == "ADMIN"
                accounts[login] = Account(
                    system=System.GITHUB,
                    id=str(node["databaseId"]),
                    name=login,
                    display_name=node.get("name") or "",
                    is_admin=admin,
                    # null when the reader is not an owner (schema: hasTwoFactorEnabled)
                    two_factor_enrolled=edge.get("hasTwoFactorEnabled"),
                )
                grants.append(
                    Grant(GrantKind.GITHUB_ORG, self.org, login, "admin" if admin else "member")
                )
                count += 1
        return count

    def _read_teams(self, counter: _Counter, grants: list[Grant]) -> None:
        for conn in self._graphql_pages(
            TEAMS_QUERY, {"org": self.org}, lambda data: data["organization"]["teams"], counter
        ):
            for team in conn["nodes"]:
                members = team["members"]
                edges = list(members["edges"])
                if members["pageInfo"]["hasNextPage"]:  # over 100 members: page that team alone
                    for page in self._graphql_pages(
                        TEAM_MEMBERS_QUERY,
                        {"org": self.org, "slug": team["slug"]},
                        lambda data: data["organization"]["team"]["members"],
                        counter,
                        after=members["pageInfo"]["endCursor"],
                    ):
                        edges.extend(page["edges"])
                target = f"{self.org}/{team['slug']}"
                grants.extend(
                    Grant(
                        GrantKind.GITHUB_TEAM,
                        target,
                        normalise_login(e["node"]["login"]),
                        e["role"].lower(),
                    )
                    for e in edges
                )

    def _read_outside(
        self, counter: _Counter, accounts: dict[str, Account], grants: list[Grant]
    ) -> None:
        for user in self._rest_pages(f"/orgs/{self.org}/outside_collaborators", counter):
            login = normalise_login(user["login"])
            accounts.setdefault(
                login, Account(system=System.GITHUB, id=str(user["id"]), name=login)
            )
            grants.append(Grant(GrantKind.GITHUB_COLLABORATOR, self.org, login, "outside"))

    def _read_invitations(
        self,
        counter: _Counter,
        out: list[Invitation],
        keep: Callable[[Invitation], bool] = lambda inv: True,
    ) -> None:
        """Pending and failed invitations, each list a sub-read of its own."""
        for what, path in (
            ("invitations", f"/orgs/{self.org}/invitations"),
            ("failed invitations", f"/orgs/{self.org}/failed_invitations"),
        ):

            def read(c: _Counter, path: str = path) -> None:
                out.extend(
                    inv
                    for inv in (self._invitation(raw) for raw in self._rest_pages(path, c))
                    if keep(inv)
                )

            self._sub_read(what, read, counter)

    def _invitation(self, raw: dict[str, Any]) -> Invitation:
        inviter = raw.get("inviter") or {}
        return Invitation(
            id=int(raw["id"]),
            org=self.org,
            login=normalise_login(raw["login"]) if raw.get("login") else None,
            email=normalise_email(raw["email"]) if raw.get("email") else None,
            role=raw["role"],
            created_at=parse_time(raw["created_at"]),
            failed_at=parse_time(raw["failed_at"]) if raw.get("failed_at") else None,
            failed_reason=raw.get("failed_reason"),
            inviter=normalise_login(inviter["login"]) if inviter.get("login") else None,
        )

    # -- read_person -----------------------------------------------------------------------
    def read_person(self, person: Person) -> SnapshotPart:
        """Reverse look-ups for one person. Cost: 1-2 user GETs, 1 membership GET, 1 GraphQL
        page of their teams, plus ceil(n/100) GETs each for invitations, failed invitations
        and outside collaborators (GitHub has no per-user look-up for those lists)."""
        counter = _Counter()
        accounts: list[Account] = []
        grants: list[Grant] = []
        invitations: list[Invitation] = []
        login = self._sub_read("user", lambda c: self._resolve_login(person, c, accounts), counter)
        if login:
            self._sub_read(
                "membership", lambda c: self._person_membership(login, c, grants), counter
            )
            self._sub_read("teams", lambda c: self._person_teams(login, c, grants), counter)
            self._sub_read(
                "outside collaborators",
                lambda c: grants.extend(
                    Grant(GrantKind.GITHUB_COLLABORATOR, self.org, login, "outside")
                    for u in self._rest_pages(f"/orgs/{self.org}/outside_collaborators", c)
                    if normalise_login(u["login"]) == login
                ),
                counter,
            )
        logins = {x for x in (login, person.github, *person.previous_github_logins) if x}
        self._read_invitations(
            counter,
            invitations,
            lambda inv: inv.login in logins or (inv.email or None) == person.email,
        )
        return counter.part(tuple(accounts), grants, invitations)

    def _resolve_login(
        self, person: Person, counter: _Counter, accounts: list[Account]
    ) -> str | None:
        """The person's current login. The numeric id survives renames, so when it is known
        the login is looked up by id (GET /user/{id}); a renamed account is still found."""
        if person.github_id is not None:
            path = f"/user/{person.github_id}"
        elif person.github:
            path = f"/users/{quote(person.github)}"
        else:
            return None
        user = self._get_if_exists(path, counter)
        if user is None:
            return None  # no such account (deleted): nothing to remove
        login = normalise_login(user["login"])
        accounts.append(
            Account(
                system=System.GITHUB,
                id=str(user["id"]),
                name=login,
                display_name=user.get("name") or "",
                aliases=tuple(
                    x for x in (person.github, *person.previous_github_logins) if x and x != login
                ),
            )
        )
        return login

    def _person_membership(self, login: str, counter: _Counter, grants: list[Grant]) -> None:
        membership = self._membership(login, counter)
        if membership is not None and membership["state"] == "active":
            grants.append(Grant(GrantKind.GITHUB_ORG, self.org, login, membership["role"]))

    def _person_teams(self, login: str, counter: _Counter, grants: list[Grant]) -> None:
        for conn in self._graphql_pages(
            PERSON_TEAMS_QUERY,
            {"org": self.org, "login": login, "logins": [login]},
            lambda data: data["organization"]["teams"],
            counter,
        ):
            for team in conn["nodes"]:
                for edge in team["members"]["edges"]:
                    if normalise_login(edge["node"]["login"]) == login:
                        grants.append(
                            Grant(
                                GrantKind.GITHUB_TEAM,
                                f"{self.org}/{team['slug']}",
                                login,
                                edge["role"].lower(),
                            )
                        )

    def _membership(self, login: str, counter: _Counter | None = None) -> dict[str, Any] | None:
        return self._get_if_exists(f"/orgs/{self.org}/memberships/{quote(login)}", counter)

    def _get_if_exists(self, path: str, counter: _Counter | None = None) -> dict[str, Any] | None:
        """GET one resource; None only for 404 (absent). Every other failure raises, so a
        failed read is never taken for "not there"."""
        try:
            _, data = self._rest("GET", path, counter=counter)
        except PermanentProviderError as exc:
            if exc.status == 404:
                return None
            raise
        result: dict[str, Any] | None = data
        return result

    # -- apply -----------------------------------------------------------------------------
    def apply(self, action: Action) -> ActionResult:
        """Apply one GitHub action; a no-op when its effect already holds (changed=False)."""
        handlers: dict[ActionKind, Callable[[Action], tuple[bool, str]]] = {
            ActionKind.INVITE_ORG_MEMBER: self._invite,
            ActionKind.CHANGE_ORG_ROLE: self._set_org_role,
            ActionKind.REMOVE_ORG_MEMBER: self._remove_org_member,
            ActionKind.CANCEL_INVITATION: self._cancel_invitation,
            ActionKind.ADD_TEAM_MEMBER: self._set_team_role,
            ActionKind.CHANGE_TEAM_ROLE: self._set_team_role,
            ActionKind.REMOVE_TEAM_MEMBER: self._remove_team_member,
            ActionKind.REMOVE_OUTSIDE_COLLABORATOR: self._remove_outside_collaborator,
        }
        handler = handlers.get(action.kind)
        if handler is None or action.system is not System.GITHUB:
            raise PermanentProviderError(f"the GitHub provider cannot apply {action.kind.value}")
        changed, message = handler(action)
        return ActionResult(action_id=action.id, ok=True, changed=changed, message=message)

    # -- deployment checks (reconciler doctor) ---------------------------------------------
    def own_org_role(self) -> tuple[str, str] | None:
        """(role, state) of the account a token acts as in the organisation ("admin",
        "active" for an owner), from GET /orgs/{org}/memberships/{login}; None when it is no
        member. Raises a ProviderError when it cannot be read, or for an App installation
        (which is no member: its permissions are checked with `org_installation`)."""
        logins = self.acting_as()
        if not logins:
            raise PermanentProviderError("GitHub: an App installation has no org membership")
        membership = self._membership(logins[0])
        if membership is None:
            return None
        return str(membership.get("role") or ""), str(membership.get("state") or "")

    # -- pull-request comments --------------------------------------------------------------
    def upsert_issue_comment(
        self, repository: str, number: int, body: str, marker: str
    ) -> PostedComment:
        """Put `body` on pull request (or issue) `number` of `repository` ("owner/name") as
        ONE comment: the first of its comments whose body contains `marker` is edited in place
        (PATCH /repos/{owner}/{repo}/issues/comments/{id}), otherwise one is created (POST
        .../issues/{n}/comments), so a pull request re-planned on every push keeps a single
        up-to-date plan instead of a growing thread. The comments are read with the Link
        pagination every list uses (GET .../issues/{n}/comments). Raises a ProviderError."""
        if marker not in body:
            raise ValueError(
                "the comment body must carry its marker, or the next run cannot find it"
            )
        owner, _, name = repository.partition("/")
        base = f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}/issues"
        comments = self._rest_pages(f"{base}/{number}/comments", _Counter())
        existing = next(
            (c for c in comments if isinstance(c, dict) and marker in str(c.get("body") or "")),
            None,
        )
        if existing is not None:
            _, data = self._rest(
                "PATCH", f"{base}/comments/{int(existing['id'])}", body={"body": body}
            )
        else:
            _, data = self._rest("POST", f"{base}/{number}/comments", body={"body": body})
        return PostedComment(
            id=int(data["id"]), url=str(data.get("html_url") or ""), created=existing is None
        )

    def _org_of(self, action: Action) -> str:
        org = normalise_login(action.target.split("/", 1)[0])
        if org != self.org:
            raise PermanentProviderError(f"action for org {org!r}, provider serves {self.org!r}")
        return org

    def _invite(self, action: Action) -> tuple[bool, str]:
        """Invite an account by its numeric id (`invitee_id` of POST /orgs/{org}/invitations),
        never by login: a login can change hands between the plan and this call, an id
        cannot. The id is the action's `github_id` param (the person file's, or the one the
        read resolved); without it the login is resolved now (GET /users/{login}) and the id
        it resolved to is named in the result, for the person file and the audit log."""
        org, login, role = self._org_of(action), action.principal, action.role or "member"
        recorded = action.param("github_id")
        if recorded and not recorded.isdigit():
            raise PermanentProviderError(
                f"invite_org_member: github_id {recorded!r} is not a number"
            )
        resolved = ""
        if recorded:
            account_id = int(recorded)
        else:
            user = self._get_if_exists(f"/users/{quote(login)}")
            if user is None:
                raise PermanentProviderError(
                    f"no GitHub account has the login {login}: not invited"
                )
            account_id = int(user["id"])
            resolved = (
                f"; the login {login} resolved to account id {account_id}: add "
                f"github_id: {account_id} to the person file"
            )
        current = self._membership(login)
        if current is not None and int(current["user"]["id"]) == account_id:
            if current["role"] == role:
                state = current["state"]
                return (
                    False,
                    f"{login} (account id {account_id}) already {state} in {org} as {role}",
                )
            return self._set_org_role(action)
        _, data = self._rest(
            "POST",
            f"/orgs/{org}/invitations",
            body={
                "invitee_id": account_id,
                "role": "admin" if role == "admin" else "direct_member",
            },
        )
        return True, (
            f"invited account id {account_id} ({login}) to {org} as {role}, invitation "
            f"{data['id']}{resolved}"
        )

    def _set_org_role(self, action: Action) -> tuple[bool, str]:
        org, login, role = self._org_of(action), action.principal, action.role or "member"
        current = self._membership(login)
        if current is not None and current["role"] == role:
            return False, f"{login} already {current['state']} in {org} as {role}"
        # PUT invites a non-member (state "pending" until accepted) or changes the role of a
        # member (docs: "Set organization membership for a user").
        _, data = self._rest("PUT", f"/orgs/{org}/memberships/{quote(login)}", body={"role": role})
        return True, f"{login} {data['state']} in {org} as {role}"

    def _remove_org_member(self, action: Action) -> tuple[bool, str]:
        org, login = self._org_of(action), action.principal
        # DELETE memberships removes a member or cancels their pending invitation (docs:
        # "Remove organization membership for a user"); 404 means neither exists.
        return self._delete(f"/orgs/{org}/memberships/{quote(login)}", f"{login} from {org}")

    def _cancel_invitation(self, action: Action) -> tuple[bool, str]:
        org = self._org_of(action)
        invitation_id = action.param("invitation_id")
        if not invitation_id.isdigit():
            raise PermanentProviderError("cancel_invitation needs a numeric invitation_id param")
        return self._delete(
            f"/orgs/{org}/invitations/{invitation_id}", f"invitation {invitation_id} in {org}"
        )

    def _team_path(self, action: Action) -> str:
        org = self._org_of(action)
        slug = action.target.split("/", 1)[1] if "/" in action.target else ""
        if not slug:
            raise PermanentProviderError(f"team target must be org/slug, got {action.target!r}")
        return f"/orgs/{org}/teams/{quote(slug)}/memberships/{quote(action.principal)}"

    def _set_team_role(self, action: Action) -> tuple[bool, str]:
        path, role = self._team_path(action), action.role or "member"
        current = self._get_if_exists(path)
        if current is not None and current["role"] == role and current["state"] == "active":
            return False, f"{action.principal} already {role} of {action.target}"
        self._rest("PUT", path, body={"role": role})
        return True, f"{action.principal} {role} of {action.target}"

    def _remove_team_member(self, action: Action) -> tuple[bool, str]:
        return self._delete(self._team_path(action), f"{action.principal} from {action.target}")

    def _remove_outside_collaborator(self, action: Action) -> tuple[bool, str]:
        org, login = self._org_of(action), normalise_login(action.principal)
        # DELETE answers 204 whether or not the user collaborates, so the list is read first
        # to report `changed` truthfully (ceil(n/100) GETs; removals here are rare).
        present = any(
            normalise_login(u["login"]) == login
            for u in self._rest_pages(f"/orgs/{org}/outside_collaborators", _Counter())
        )
        if not present:
            return False, f"{login} is not an outside collaborator of {org}"
        self._rest("DELETE", f"/orgs/{org}/outside_collaborators/{quote(login)}")
        return True, f"removed outside collaborator {login} from {org}"

    def _delete(self, path: str, what: str) -> tuple[bool, str]:
        try:
            self._rest("DELETE", path)
        except PermanentProviderError as exc:
            if exc.status == 404:
                return False, f"already gone: {what}"
            raise
        return True, f"removed {what}"


# -- helpers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppInstallation:
    """What "Get an organization installation for the authenticated app" says of the App
    in one organisation: which installation, of which App, granted which permissions."""

    id: int
    app_slug: str
    permissions: Mapping[str, str]


def org_installation(
    base_url: str,
    app_id: int,
    private_key: str,
    org: str,
    retry_policy: RetryPolicy = DEFAULT_POLICY,
) -> AppInstallation:
    """GET /orgs/{org}/installation as the App itself (a JWT signed with its private key):
    the installation's id and its `permissions` map. Raises a ProviderError (404: the App is
    not installed on the organisation)."""
    register_secret(private_key)
    integration = GithubIntegration(
        auth=RegisteringAppAuth(app_id, private_key),
        base_url=base_url.rstrip("/"),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )

    def attempt() -> AppInstallation:
        try:
            found = integration.get_org_installation(org)
            return AppInstallation(
                id=int(found.id),
                app_slug=str(found.app_slug or ""),
                permissions={str(k): str(v) for k, v in (found.permissions or {}).items()},
            )
        except GithubException as exc:
            raise translate_github_error(exc) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TemporaryProviderError(
                f"GitHub connection failed: {type(exc).__name__}"
            ) from None

    return call_with_retry(attempt, retry_policy)


def user_account(user: dict[str, Any]) -> Account:
    """A GitHub user as an `Account` keyed by its numeric id (`public-user` / `simple-user`)."""
    return Account(
        system=System.GITHUB,
        id=str(user["id"]),
        name=normalise_login(user["login"]),
        display_name=user.get("name") or "",
    )


def invitation_candidates(
    desired: DesiredState,
    accounts: Mapping[str, Account],
    invitations: Iterable[Invitation],
    today: date,
) -> list[Person]:
    """People the plan may invite: a GitHub login or id in their file, a role or grant that
    grants GitHub access, employed around `today` (a day's slack either side for time zones),
    not found among the org's members and collaborators (`accounts`, by login) and without a
    pending invitation. Only they are looked up, so the read's cost grows with the number of
    pending invitees, not with the size of the org or the number of past leavers."""
    github_roles = {name for name, role in desired.roles.items() if role.github is not None}
    known_ids = {a.id for a in accounts.values()}
    pending = {i.login for i in invitations if i.login and i.failed_at is None}
    slack = timedelta(days=1)
    found: list[Person] = []
    for person in sorted(desired.people.values(), key=lambda p: p.id):
        job = person.employment
        if not (person.github or person.github_id is not None):
            continue
        if not github_roles & {*person.roles, *(g.role for g in person.grants)}:
            continue
        if job.start > today + slack or (job.end is not None and job.end < today - slack):
            continue
        if person.github_id is not None and str(person.github_id) in known_ids:
            continue
        if person.github_id is None and person.github in accounts:
            continue
        if person.github in pending:
            continue
        found.append(person)
    return found


def translate_github_error(exc: GithubException) -> ProviderError:
    """PyGithub's exception -> the project's hierarchy, with the server's wait hint.

    GitHub signals limits with 403 or 429 (docs "Rate limits for the REST API"): with
    `x-ratelimit-remaining: 0` wait until `x-ratelimit-reset`; otherwise honour `retry-after`,
    and without it wait at least a minute. A GraphQL budget overrun is a 200 whose error has
    type RATE_LIMITED (PyGithub raises it as a 400).
    """
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    data = exc.data if isinstance(exc.data, dict) else {}
    message = str(data.get("message") or "")
    graphql_types = {
        e["type"] for e in data.get("errors") or () if isinstance(e, dict) and e.get("type")
    }
    status = exc.status
    limited = (
        isinstance(exc, RateLimitExceededException)
        or status == 429
        or "RATE_LIMITED" in graphql_types
        or (status == 403 and headers.get("x-ratelimit-remaining") == "0")
    )
    if limited:
        return TemporaryProviderError(
            f"GitHub rate limit ({status}): {message or 'RATE_LIMITED'}",
            status=status,
            retry_after=rate_limit_wait(headers),
        )
    if status >= 500:
        return TemporaryProviderError(f"GitHub server error {status}", status=status)
    if status == 409:
        return ConflictError(f"GitHub conflict: {message}", status=status)
    errors = [e for e in data.get("errors") or () if isinstance(e, dict)]
    # A GraphQL error list comes without a top-level message; a REST 422 has both, and its
    # errors say which field was refused and why ("body is too long ...").
    if graphql_types or (errors and not message):
        detail = "; ".join(str(e.get("message")) for e in errors)
        return PermanentProviderError(f"GitHub GraphQL error: {detail}", status=status)
    detail = "; ".join(str(e["message"]) for e in errors if e.get("message"))
    return PermanentProviderError(
        f"GitHub answered {status}: {message}" + (f" ({detail})" if detail else ""), status=status
    )


def rate_limit_wait(headers: dict[str, str], now: float | None = None) -> float:
    if "retry-after" in headers:
        try:
            return float(headers["retry-after"])
        except ValueError:
            pass
    if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
        now = time.time() if now is None else now
        return max(float(headers["x-ratelimit-reset"]) - now, 0.0) + 1.0
    return SECONDARY_DEFAULT_WAIT


def next_link(link_header: str) -> str | None:
    """The rel="next" URL of an RFC 8288 Link header, as GitHub sends it."""
    for part in link_header.split(","):
        section = part.split(";")
        if len(section) >= 2 and section[1].strip() == 'rel="next"':
            return section[0].strip().strip("<>")
    return None


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
