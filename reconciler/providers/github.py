"""The GitHub provider: reads an organisation's members, teams, invitations and outside
collaborators through PyGithub and applies GitHub actions; used by the executor and the CLI.

Members (with role and 2FA) and teams (with members and roles) come from one paginated GraphQL
query family (100 per connection, ~1 point a page); invitations, failed invitations and outside
collaborators from REST with Link pagination. Every REST GET carries the last ETag, and the
validators with the member and team data they vouch for persist between runs through a
`DocumentCache` (the state store's `github-cache.json`): conditional REST member lists decide
whether GraphQL must be asked at all, so an unchanged nightly read is 304s that cost no rate
limit (`_ReadCache`, `_members`, `_teams`). Independent sub-reads run concurrently, at most
READ_CONCURRENCY requests on the wire. PyGithub's own retry and throttle are off:
`providers.retrying` is the one retry policy.

Every credential is registered with the redactor (`reconciler.log.register_secret`) when it is
obtained: a configured token when the settings are loaded, and here the App's private key,
each App JWT and each installation token PyGithub fetches (`RegisteringAppAuth`,
`RegisteringInstallationAuth`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
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
    ReconcilerError,
    TemporaryProviderError,
)
from reconciler.log import get_logger, register_secret
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
from reconciler.providers.base import ActionResult, DocumentCache, PostedComment
from reconciler.providers.retrying import DEFAULT_POLICY, RetryPolicy, call_with_retry

T = TypeVar("T")
log = get_logger(__name__)

PAGE = 100  # REST per_page and GraphQL first: both APIs' maximum (docs: "per_page max 100")
SECONDARY_DEFAULT_WAIT = 60.0  # docs: no retry-after on a secondary limit -> wait >= 60 s
# Independent sub-reads run this many at a time. GitHub's secondary limits forbid more than
# 100 concurrent requests and ask integrators to avoid concurrency altogether where they can;
# 4 keeps far below any of them (and below the 900 REST points a minute even at 304 speed)
# while the slowest list no longer waits for the others.
READ_CONCURRENCY = 4
# The persisted cache (`github-cache.json`): its format version, how long its GraphQL data
# may be trusted at all, and its size bound.
CACHE_VERSION = 1
# Every security-relevant change (membership, org role, team membership or maintainer, 2FA,
# login) changes a validated REST list and is seen on the next read; a display-name change
# does not, so the cached member data is re-read in full at least this often anyway.
CACHE_MAX_AGE = timedelta(days=7)
CACHE_MAX_BYTES = 8 * 1024 * 1024
# Per-team validators cost two REST GETs per team on a changed or cold read; above this many
# the teams are re-read through GraphQL instead (1 point per 100 teams), so a cold read of a
# very large organisation stays well inside the secondary limit of 900 REST points a minute.
TEAM_VALIDATOR_LIMIT = 300

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

    authorization: InstallationAuthorization | None = None  # the last one obtained

    def _get_installation_authorization(self) -> InstallationAuthorization:
        authorization = super()._get_installation_authorization()
        register_secret(authorization.token)
        self.authorization = authorization
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
        """The read's result: complete only if no sub-read reported a problem."""
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
        cache: DocumentCache | None = None,
        identity: str = "token",
    ) -> None:
        self.org = normalise_login(org)
        self.policy = retry_policy
        self._client_args: dict[str, Any] = {
            "base_url": base_url,
            "auth": auth,
            "per_page": PAGE,
            "timeout": int(timeout),
            # The library's retry and throttle would hide Retry-After from our policy and
            # sleep 0.25 s / 1 s per call (research/client_libs.md section 2).
            "retry": None,
            "seconds_between_requests": None,
            "seconds_between_writes": None,
            "lazy": True,
        }
        self.client = Github(**self._client_args)
        # PyGithub's connection object keeps the request being made in attributes, so a
        # client is never shared between threads: each reader thread builds its own.
        self._thread = threading.local()
        self._thread.requester = self.client.requester
        self._slots = threading.BoundedSemaphore(READ_CONCURRENCY)
        # A GitHub App installation acts as "<app>[bot]", which is never an org member nor
        # a login any action names; a token (personal or machine user) acts as its user.
        self._token_user = isinstance(auth, Auth.Token)
        self._acting_as: tuple[str, ...] | None = None
        self._store = _ReadCache(
            cache, {"base_url": base_url.rstrip("/"), "org": self.org, "identity": identity}
        )

    @property
    def requester(self) -> Requester:
        """This thread's PyGithub requester (same credentials, its own connection)."""
        requester: Requester | None = getattr(self._thread, "requester", None)
        if requester is None:
            requester = Github(**self._client_args).requester
            self._thread.requester = requester
        return requester

    @classmethod
    def from_sandbox(
        cls,
        base_url: str,
        org: str,
        retry_policy: RetryPolicy = DEFAULT_POLICY,
        token: str = SANDBOX_TOKEN,
        cache: DocumentCache | None = None,
    ) -> GitHubProvider:
        """Against the sandbox, with `token` (a configured RECONCILER_GITHUB_TOKEN, or the
        one the demo world maps to its bot)."""
        return cls(
            org=org,
            base_url=base_url.rstrip("/"),
            auth=Auth.Token(token),
            retry_policy=retry_policy,
            timeout=10.0,
            cache=cache,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        org: str,
        read_secret: Callable[[str], str] | None = None,
        retry_policy: RetryPolicy = DEFAULT_POLICY,
        cache: DocumentCache | None = None,
    ) -> GitHubProvider:
        """A GitHub App installation is preferred (short-lived tokens, policy 第4.1条: the
        private key comes from Secret Manager through `read_secret`); a token is allowed."""
        base_url = settings.sandbox_url or settings.github_api_url
        auth: Auth.Auth
        identity = "token"  # names the credential in the cache document; never the secret
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
            identity = f"app {settings.github_app_id} install {settings.github_installation_id}"
        elif settings.github_token is not None:
            auth = Auth.Token(settings.github_token.get_secret_value())
        else:
            raise PermanentProviderError(
                "no GitHub credentials: configure a GitHub App or RECONCILER_GITHUB_TOKEN"
            )
        return cls(
            org=org,
            base_url=base_url,
            auth=auth,
            retry_policy=retry_policy,
            cache=cache,
            identity=identity,
        )

    # -- calls -----------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T], counter: _Counter | None = None) -> T:
        def attempt() -> T:
            if counter is not None:
                counter.api_calls += 1
            try:
                with self._slots:  # held on the wire only, never during a retry's wait
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

    def _rest_pages(
        self, path: str, counter: _Counter, parameters: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Every page of a REST list, following `Link: rel="next"` as GitHub gives it. Each
        page is a conditional GET with that page's last ETag: an unchanged page answers 304,
        which does not count against the primary rate limit (GitHub REST best practices,
        "use conditional requests"), so an unchanged nightly read costs no core points."""
        return self._pages(path, counter, parameters, keep=True)[0]

    def _list_changed(
        self, path: str, counter: _Counter, parameters: Mapping[str, str] | None = None
    ) -> bool:
        """Whether a REST list differs from the last time it was read: every page is a
        conditional GET, and the list is unchanged only when every page answers 304. Only
        the validators (ETag, next link) are kept, not the bodies: the list says whether the
        GraphQL data cached beside it is still current."""
        return self._pages(path, counter, parameters, keep=False)[1]

    def _pages(
        self, path: str, counter: _Counter, parameters: Mapping[str, str] | None, *, keep: bool
    ) -> tuple[list[dict[str, Any]], bool]:
        items: list[dict[str, Any]] = []
        changed = False
        url: str | None = path
        first: dict[str, Any] | None = {"per_page": PAGE, **(parameters or {})}
        while url is not None:
            query = "&".join(f"{k}={v}" for k, v in sorted((first or {}).items()))
            key = f"{url}?{query}" if query else url
            link, data, fresh = self._conditional_get(url, key, counter, first, keep=keep)
            changed |= fresh
            items.extend(data or [])
            url, first = next_link(link), None
        return items, changed

    def _conditional_get(
        self,
        url: str,
        key: str,
        counter: _Counter,
        parameters: dict[str, Any] | None = None,
        *,
        keep: bool = True,
    ) -> tuple[str, Any, bool]:
        """GET with the ETag last seen under `key` as If-None-Match: (next link, payload,
        whether it answered 200). A 304 answers with no body and no Link header, so the
        cached link and payload stand in for it."""
        cached = self._store.etag(key)
        conditional = {"If-None-Match": cached.etag} if cached else None
        headers, data = self._rest(
            "GET", url, parameters=parameters, headers=conditional, counter=counter
        )
        if data is None and cached is not None:  # 304 Not Modified
            return cached.link, cached.data, False
        link = str(headers.get("link", ""))
        if headers.get("etag"):
            self._store.remember(key, _Validator(headers["etag"], link, data if keep else None))
        return link, data, True

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
        caller must not start an apply whose own-identity guard is missing."""
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
        planner makes no removals in an incomplete system.

        The sub-reads that do not depend on each other (settings, members, teams, the two
        invitation lists, outside collaborators) run `READ_CONCURRENCY` at a time, each with
        its own counter; the invitee look-ups need the members and run after them. Members
        and teams come from the persisted cache when conditional REST lists prove it current
        (`_members`, `_teams`); the cache is saved after every read."""
        self._store.load()
        today = (now or datetime.now(UTC)).date()  # the run's day: who may be invited
        now = datetime.now(UTC)  # the cache's age is real time, whatever instant is planned
        org = f"/orgs/{self.org}"
        invitations: list[Invitation] = []
        failed: list[Invitation] = []
        outside: list[dict[str, Any]] = []
        members: list[_Member] = []
        teams: dict[str, list[tuple[str, str]]] = {}
        members_ok: list[bool | None] = [None]

        def members_then_teams(c: _Counter) -> None:
            # One after the other: GraphQL is asked at most once at a time (GitHub asks for
            # no concurrent GraphQL), and its pages keep a fixed order.
            members_ok[0] = self._sub_read("members", lambda cc: self._members(cc, now, members), c)
            self._sub_read("teams", lambda cc: self._teams(cc, now, teams), c)

        jobs: list[tuple[str, Callable[[_Counter], Any]]] = [
            ("members and teams", members_then_teams),
            ("organisation settings", self._read_settings),
            ("invitations", partial(self._read_invitation_list, f"{org}/invitations", invitations)),
            (
                "failed invitations",
                partial(self._read_invitation_list, f"{org}/failed_invitations", failed),
            ),
            (
                "outside collaborators",
                lambda c: outside.extend(self._rest_pages(f"{org}/outside_collaborators", c)),
            ),
        ]
        counters = [_Counter() for _ in jobs]
        with ThreadPoolExecutor(READ_CONCURRENCY, thread_name_prefix="github-read") as pool:
            futures = [
                pool.submit(self._sub_read, what, fn, c)
                for (what, fn), c in zip(jobs, counters, strict=True)
            ]
            _, settings, *_ = [f.result() for f in futures]
        counter = _Counter()
        for c in counters:  # problems in a fixed order, whatever finished first
            counter.api_calls += c.api_calls
            counter.problems.extend(c.problems)
        accounts: dict[str, Account] = {}
        grants: list[Grant] = []
        self._member_grants(members, accounts, grants)  # a failed read keeps what it got
        if members_ok[0] is not None:
            if not members:
                counter.problems.append(
                    "members: the member list came back empty (an organisation always has an "
                    "owner): treating the read as incomplete"
                )
            elif not any(a.is_admin for a in accounts.values()):
                counter.problems.append(
                    "members: no organisation owner in the member list (roles hidden from "
                    "these credentials?): treating the read as incomplete"
                )
        for slug, rows in sorted(teams.items()):
            grants.extend(
                Grant(GrantKind.GITHUB_TEAM, f"{self.org}/{slug}", login, role)
                for login, role in rows
            )
        for user in outside:
            login = normalise_login(user["login"])
            accounts.setdefault(
                login, Account(system=System.GITHUB, id=str(user["id"]), name=login)
            )
            grants.append(Grant(GrantKind.GITHUB_COLLABORATOR, self.org, login, "outside"))
        invitations.extend(failed)
        invitees: list[Account] = []
        for person in invitation_candidates(desired, accounts, invitations, today):
            self._sub_read(
                f"look-up of {person.id}'s GitHub account",
                partial(self._look_up_invitee, person, out=invitees),
                counter,
            )
        self._store.save(now)
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

    def _members(self, counter: _Counter, now: datetime, out: list[_Member]) -> bool:
        """The org's members with role and 2FA: the cached ones when the conditional REST
        member lists (all, `role=admin`, `filter=2fa_disabled`) all answer 304, since any
        membership, login, role or 2FA change changes one of them; otherwise (or when the
        cache is missing, older than CACHE_MAX_AGE or a validator fails) from GraphQL.

        The validators are fetched BEFORE the GraphQL read: data read after its validator
        is at least as new as it, so a change between the two is seen next time."""
        path = f"/orgs/{self.org}/members"
        try:
            changed = False
            for parameters in ({}, {"role": "admin"}, {"filter": "2fa_disabled"}):
                changed |= self._list_changed(path, counter, parameters)
        except ProviderError as exc:
            log.info("github_member_validators_unavailable", reason=str(exc))
            changed = True
        cached = self._store.members(now)
        if not changed and cached is not None:
            out.extend(cached)
            return True
        self._store.forget_members()  # until the new read is complete
        self._read_members(counter, out)
        self._store.keep_members(out, now)
        return True

    def _read_members(self, counter: _Counter, members: list[_Member]) -> None:
        """Every member through GraphQL into `members` (what was read stays on failure)."""
        for conn in self._graphql_pages(
            MEMBERS_QUERY,
            {"org": self.org},
            lambda data: data["organization"]["membersWithRole"],
            counter,
        ):
            for edge in conn["edges"]:
                node = edge["node"]
                members.append(
                    _Member(
                        login=normalise_login(node["login"]),
                        id=str(node["databaseId"]),
                        name=node.get("name") or "",
                        admin=edge["role"] == "ADMIN",
                        # null when the reader is not an owner (schema: hasTwoFactorEnabled)
                        two_factor=edge.get("hasTwoFactorEnabled"),
                    )
                )

    def _member_grants(
        self, members: list[_Member], accounts: dict[str, Account], grants: list[Grant]
    ) -> None:
        for m in members:
            accounts[m.login] = Account(
                system=System.GITHUB,
                id=m.id,
                name=m.login,
                display_name=m.name,
                is_admin=m.admin,
                two_factor_enrolled=m.two_factor,
            )
            grants.append(
                Grant(GrantKind.GITHUB_ORG, self.org, m.login, "admin" if m.admin else "member")
            )

    def _teams(
        self, counter: _Counter, now: datetime, out: dict[str, list[tuple[str, str]]]
    ) -> None:
        """Each team's immediate members and roles (slug -> [(login, role)]). A team comes
        from the cache when its conditional REST member lists (all, `role=maintainer`)
        answer 304; the rest are re-read through GraphQL, one query per changed team, or
        the whole teams connection when that is cheaper. REST lists include child teams'
        members, so a parent team is never trusted from the cache (removing someone from
        the parent alone would not change its REST list). Above TEAM_VALIDATOR_LIMIT
        validators the teams connection is read every time and only the teams over 100
        members, whose further pages cost most, are validated (`_read_large_teams`); when
        the REST team list fails, every team is read through GraphQL."""
        try:
            listed = self._rest_pages(f"/orgs/{self.org}/teams", counter)
        except ProviderError as exc:
            log.info("github_team_list_unavailable", reason=str(exc))
            listed = None
        if listed is None:
            self._store.forget_teams()
            self._read_teams(counter, out)
            return
        parents = {str(t["parent"]["slug"]) for t in listed if t.get("parent")}
        if 2 * len(listed) > TEAM_VALIDATOR_LIMIT:
            self._read_large_teams(counter, out, now, parents)
            return
        slugs = [str(t["slug"]) for t in listed]
        cached = self._store.teams(now)
        with ThreadPoolExecutor(READ_CONCURRENCY, thread_name_prefix="github-team") as pool:
            verdicts = dict(zip(slugs, pool.map(self._team_changed, slugs), strict=True))
        counter.api_calls += sum(calls for _, calls in verdicts.values())
        changed = [
            slug for slug in slugs if verdicts[slug][0] or slug in parents or slug not in cached
        ]
        self._store.forget_teams(changed)  # until their new read is complete
        if len(changed) > pages(len(slugs)):
            self._read_teams(counter, out)
        else:
            out.update((slug, cached[slug]) for slug in slugs if slug not in changed)
            for slug in changed:
                rows = self._read_team(slug, counter)
                if rows is not None:
                    out[slug] = rows
        self._store.keep_teams(out, now, fresh=set(changed))

    def _team_changed(self, slug: str) -> tuple[bool, int]:
        """(whether the team's REST member lists, all and `role=maintainer`, changed or could
        not be read, the calls that took)."""
        path = f"/orgs/{self.org}/teams/{quote(slug)}/members"
        mine = _Counter()
        try:
            changed = self._list_changed(path, mine)
            changed |= self._list_changed(path, mine, {"role": "maintainer"})
        except ProviderError:
            changed = True  # not proven unchanged: re-read
        return changed, mine.api_calls

    def _read_large_teams(
        self,
        counter: _Counter,
        out: dict[str, list[tuple[str, str]]],
        now: datetime,
        parents: set[str],
    ) -> None:
        """The teams connection (1 point per 100 teams, each with its first 100 members);
        a team with more members has its REST lists validated first and then comes from the
        cache, or is read again whole from its first member, so that its validator is never
        newer than any of its data."""
        cached = self._store.teams(now)
        fresh: set[str] = set()
        for conn in self._graphql_pages(
            TEAMS_QUERY, {"org": self.org}, lambda data: data["organization"]["teams"], counter
        ):
            for team in conn["nodes"]:
                slug, members = str(team["slug"]), team["members"]
                if not members["pageInfo"]["hasNextPage"]:
                    out[slug] = _team_rows(members["edges"])
                    fresh.add(slug)
                    continue
                changed, calls = self._team_changed(slug)
                counter.api_calls += calls
                if not changed and slug not in parents and slug in cached:
                    out[slug] = cached[slug]
                    continue
                self._store.forget_teams([slug])  # until its new read is complete
                rows = self._read_team(slug, counter)
                if rows is not None:
                    out[slug] = rows
                    fresh.add(slug)
        self._store.keep_teams(out, now, fresh=fresh)

    def _read_teams(self, counter: _Counter, teams: dict[str, list[tuple[str, str]]]) -> None:
        """Every team's members through GraphQL into `teams` (kept on failure)."""
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
                teams[str(team["slug"])] = _team_rows(edges)

    def _read_team(self, slug: str, counter: _Counter) -> list[tuple[str, str]] | None:
        """One team's immediate members through GraphQL; None when the team is gone."""
        edges: list[Any] = []
        for page in self._graphql_pages(
            TEAM_MEMBERS_QUERY,
            {"org": self.org, "slug": slug},
            lambda data: (data["organization"]["team"] or {}).get("members"),
            counter,
        ):
            if page is None:
                return None
            edges.extend(page["edges"])
        return _team_rows(edges)

    def _read_invitation_list(self, path: str, out: list[Invitation], counter: _Counter) -> None:
        out.extend(self._invitation(raw) for raw in self._rest_pages(path, counter))

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
class _Member:
    """One org member as the GraphQL member list gives it (and the cache keeps it)."""

    login: str
    id: str
    name: str
    admin: bool
    two_factor: bool | None


def _team_rows(edges: Iterable[Any]) -> list[tuple[str, str]]:
    return [(normalise_login(e["node"]["login"]), str(e["role"]).lower()) for e in edges]


def pages(count: int) -> int:
    """GraphQL pages of a connection of `count` nodes (at least one)."""
    return max((count + PAGE - 1) // PAGE, 1)


@dataclass(frozen=True)
class _Validator:
    """What a conditional GET needs next time: the page's ETag, its next link (a 304 has
    none) and, for lists whose items are used, the payload (None for validator-only lists)."""

    etag: str
    link: str
    data: Any


class _ReadCache:
    """The GitHub provider's memory between reads: conditional-request validators and the
    member and team data they validate, in memory and, when a `DocumentCache` is given, in
    the state store (`github-cache.json`), so a one-shot CLI run or a new daemon process
    revalidates with free 304s instead of re-reading.

    Correctness rules: the document is used only for the same API, org and credential; a
    document that cannot be read or understood is ignored (logged; the read is then a full
    one); member and team data is dropped before it is re-read and kept again only once the
    new read finished, so a failed read never leaves old data behind a new validator; data
    older than CACHE_MAX_AGE is re-read whatever the validators say. Only ETags, links and
    API payloads are stored: no header, token or credential. Thread-safe."""

    def __init__(self, document: DocumentCache | None, scope: dict[str, str]) -> None:
        self.document = document
        self.scope = scope
        self.lock = threading.Lock()
        self.loaded = False
        self.etags: dict[str, _Validator] = {}
        self.member_rows: tuple[str, list[_Member]] | None = None  # (read_at, members)
        self.team_rows: dict[str, tuple[str, list[tuple[str, str]]]] = {}

    # -- validators
    def etag(self, key: str) -> _Validator | None:
        with self.lock:
            return self.etags.get(key)

    def remember(self, key: str, validator: _Validator) -> None:
        with self.lock:
            self.etags[key] = validator

    # -- members and teams
    def members(self, now: datetime) -> list[_Member] | None:
        with self.lock:
            if self.member_rows is None or not _young(self.member_rows[0], now):
                return None
            return list(self.member_rows[1])

    def forget_members(self) -> None:
        with self.lock:
            self.member_rows = None

    def keep_members(self, members: list[_Member], now: datetime) -> None:
        with self.lock:
            self.member_rows = (now.isoformat(), list(members))

    def teams(self, now: datetime) -> dict[str, list[tuple[str, str]]]:
        with self.lock:
            return {s: list(r) for s, (at, r) in self.team_rows.items() if _young(at, now)}

    def forget_teams(self, slugs: Iterable[str] | None = None) -> None:
        with self.lock:
            if slugs is None:
                self.team_rows = {}
            for slug in slugs or ():
                self.team_rows.pop(slug, None)

    def keep_teams(
        self, teams: Mapping[str, list[tuple[str, str]]], now: datetime, *, fresh: set[str]
    ) -> None:
        """`teams` is every team there is now; those in `fresh` were read just now."""
        with self.lock:
            old = self.team_rows
            self.team_rows = {
                slug: (now.isoformat() if slug in fresh or slug not in old else old[slug][0], rows)
                for slug, rows in teams.items()
            }

    # -- persistence
    def load(self) -> None:
        """Read the document once per provider object; a bad one is ignored and reported."""
        if self.loaded or self.document is None:
            self.loaded = True
            return
        self.loaded = True
        try:
            raw = self.document.load()
            if raw is not None:
                self._restore(raw)
        except (ReconcilerError, ValueError, TypeError, KeyError) as exc:
            log.warning(
                "github_cache_ignored",
                reason=f"{type(exc).__name__}: {exc}",
                effect="the cache document is not understood; this read is a full one",
            )
            self.etags, self.member_rows, self.team_rows = {}, None, {}

    def _restore(self, raw: Any) -> None:
        if not isinstance(raw, dict) or raw.get("version") != CACHE_VERSION:
            raise ValueError("not a version 1 GitHub cache document")
        if not isinstance(raw.get("scope"), dict):
            raise ValueError("the cache document names no API, org and credential")
        if raw["scope"] != self.scope:
            log.info("github_cache_other_scope", effect="another API, org or credential: not used")
            return
        etags = {
            str(k): _Validator(str(v["etag"]), str(v["link"]), v.get("data"))
            for k, v in dict(raw["etags"]).items()
        }
        members = raw.get("members")
        member_rows = None
        if members is not None:
            member_rows = (
                str(members["read_at"]),
                [
                    _Member(str(m[0]), str(m[1]), str(m[2]), bool(m[3]), _bool_or_none(m[4]))
                    for m in members["rows"]
                ],
            )
        teams = {
            str(slug): (str(t["read_at"]), [(str(login), str(role)) for login, role in t["rows"]])
            for slug, t in dict(raw.get("teams") or {}).items()
        }
        for at in [member_rows[0]] if member_rows else []:
            datetime.fromisoformat(at)
        for at, _ in teams.values():
            datetime.fromisoformat(at)
        self.etags, self.member_rows, self.team_rows = etags, member_rows, teams

    def save(self, now: datetime) -> None:
        """Write the document, within CACHE_MAX_BYTES: cached list bodies are dropped first
        (their lists then cost a GET next time), and a document still too large is not
        written (a warning says so). A failed write is logged; the read stands."""
        if self.document is None:
            return
        with self.lock:
            document: dict[str, Any] = {
                "version": CACHE_VERSION,
                "scope": self.scope,
                "saved_at": now.isoformat(),
                "etags": {
                    k: {"etag": v.etag, "link": v.link, "data": v.data}
                    for k, v in sorted(self.etags.items())
                },
                "members": None
                if self.member_rows is None
                else {
                    "read_at": self.member_rows[0],
                    "rows": [
                        [m.login, m.id, m.name, m.admin, m.two_factor] for m in self.member_rows[1]
                    ],
                },
                "teams": {
                    slug: {"read_at": at, "rows": [list(r) for r in rows]}
                    for slug, (at, rows) in sorted(self.team_rows.items())
                },
            }
        size = len(json.dumps(document))
        if size > CACHE_MAX_BYTES:
            document["etags"] = {k: v for k, v in document["etags"].items() if v["data"] is None}
            size = len(json.dumps(document))
        if size > CACHE_MAX_BYTES:
            log.warning("github_cache_too_large", bytes=size, bound=CACHE_MAX_BYTES)
            return
        try:
            self.document.save(document)
        except ReconcilerError as exc:
            log.warning("github_cache_not_saved", reason=str(exc))


def _young(read_at: str, now: datetime) -> bool:
    return now - datetime.fromisoformat(read_at) < CACHE_MAX_AGE


def _bool_or_none(value: Any) -> bool | None:
    return None if value is None else bool(value)


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


@dataclass(frozen=True)
class InstallationToken:
    """What "Create an installation access token for an app" answered (never the token)."""

    expires_at: datetime
    permissions: Mapping[str, str]


def mint_installation_token(
    base_url: str,
    app_id: int,
    private_key: str,
    installation_id: int,
    retry_policy: RetryPolicy = DEFAULT_POLICY,
) -> InstallationToken:
    """An installation token minted through `app_installation_auth`, exactly as a run's
    first GitHub call mints one (POST /app/installations/{id}/access_tokens with the App's
    JWT): `reconciler doctor` proves the App id, key and installation id belong together.
    Raises a ProviderError (404: no such installation of this App; 401: the JWT refused)."""
    auth = app_installation_auth(app_id, private_key, installation_id)
    assert isinstance(auth, RegisteringInstallationAuth)
    # Github() hands the auth its requester; nothing is sent until the token is asked for.
    Github(auth=auth, base_url=base_url.rstrip("/"), retry=None,
           seconds_between_requests=None, seconds_between_writes=None)  # fmt: skip

    def attempt() -> InstallationToken:
        try:
            auth.token  # noqa: B018 - the property mints the token
        except GithubException as exc:
            raise translate_github_error(exc) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TemporaryProviderError(
                f"GitHub connection failed: {type(exc).__name__}"
            ) from None
        minted = auth.authorization
        assert minted is not None
        permissions = minted.raw_data.get("permissions") or {}
        return InstallationToken(
            expires_at=minted.expires_at,
            permissions={str(k): str(v) for k, v in permissions.items()},
        )

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
