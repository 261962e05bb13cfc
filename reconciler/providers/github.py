"""The GitHub provider: reads an organisation's members, teams, invitations and outside
collaborators through PyGithub and applies GitHub actions; used by the executor and the CLI.

Three parts: this module decides what to read and write (the sub-reads, the cache strategy,
the actions); `providers.github_transport` makes the requests (retries, paging, conditional
requests, the persisted ETag cache, error translation); `providers.github_payloads` turns
the answers into model values, without I/O. Every read's calls and problems are kept in one
`ReadTally`, whose status is the part's.

Members (with role and 2FA) and teams (with members and roles) come from one paginated GraphQL
query family (100 per connection, ~1 point a page); invitations, failed invitations and outside
collaborators from REST with Link pagination. Every REST GET carries the last ETag, and the
validators with the member and team data they vouch for persist between runs through a
`DocumentCache` (the state store's `github-cache.json`): conditional REST member lists decide
whether GraphQL must be asked at all, so an unchanged nightly read is 304s that cost no rate
limit (`_members`, `_teams`). Independent sub-reads run concurrently, at most
READ_CONCURRENCY requests on the wire.

Every credential is registered with the redactor (`reconciler.log.register_secret`) when it is
obtained: a configured token when the settings are loaded, and here the App's private key,
each App JWT and each installation token PyGithub fetches (`RegisteringAppAuth`,
`RegisteringInstallationAuth`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

from github import Auth, Github, GithubIntegration
from github.InstallationAuthorization import InstallationAuthorization

from reconciler.errors import PermanentProviderError, ProviderError
from reconciler.log import get_logger, register_secret
from reconciler.model import (
    Account,
    Action,
    ActionKind,
    DesiredState,
    GitHubOrgSettings,
    Grant,
    Invitation,
    Person,
    SnapshotPart,
    System,
    normalise_login,
)
from reconciler.providers import github_payloads as payloads
from reconciler.providers.base import ActionResult, DocumentCache, PostedComment
from reconciler.providers.github_payloads import Member, TeamRows
from reconciler.providers.github_transport import (
    PAGE,
    READ_CONCURRENCY,
    GitHubTransport,
    translated,
)
from reconciler.providers.retrying import DEFAULT_POLICY, RetryPolicy, call_with_retry
from reconciler.providers.tally import ReadTally

T = TypeVar("T")
log = get_logger(__name__)

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


def _part(
    tally: ReadTally,
    accounts: Iterable[Account],
    grants: Iterable[Grant],
    invitations: Iterable[Invitation],
    *,
    settings: GitHubOrgSettings | None = None,
    invitees: Iterable[Account] = (),
) -> SnapshotPart:
    """The read's result, in a fixed order; complete only if no sub-read reported a problem."""
    return SnapshotPart(
        system=System.GITHUB,
        status=tally.status(),
        accounts=tuple(accounts),
        grants=tuple(sorted(set(grants))),
        invitations=tuple(sorted(invitations, key=lambda i: i.id)),
        github_org=settings,
        invitees=tuple(sorted(set(invitees), key=lambda a: a.id)),
    )


def _merge(into: ReadTally, parts: Iterable[ReadTally]) -> None:
    """Add sub-reads' tallies to the read's, their problems in the order given (the jobs'
    order, whatever finished first)."""
    for part in parts:
        into.count(part.api_calls, part.round_trips)
        into.problems_from(part.problems)


class GitHubProvider:
    """Reads and writes one GitHub organisation. Construct with explicit parameters, or with
    `from_sandbox` / `from_settings`. Credentials live only inside PyGithub's auth object
    (held by the transport) and are never logged or put into errors."""

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
        self._net = GitHubTransport(
            base_url=base_url,
            auth=auth,
            policy=retry_policy,
            timeout=timeout,
            document=cache,
            scope={"base_url": base_url.rstrip("/"), "org": self.org, "identity": identity},
        )
        # A GitHub App installation acts as "<app>[bot]", which is never an org member nor
        # a login any action names; a token (personal or machine user) acts as its user.
        self._token_user = isinstance(auth, Auth.Token)
        self._acting_as: tuple[str, ...] | None = None

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
                    _, data = self._net.rest("GET", "/user")
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
        its own tally, merged into the read's in this fixed order; the invitee look-ups need
        the members and run after them. Members and teams come from the persisted cache when
        conditional REST lists prove it current (`_members`, `_teams`); the cache is saved
        after every read."""
        self._net.store.load()
        today = (now or datetime.now(UTC)).date()  # the run's day: who may be invited
        now = datetime.now(UTC)  # the cache's age is real time, whatever instant is planned
        org = f"/orgs/{self.org}"
        invitations: list[Invitation] = []
        failed: list[Invitation] = []
        outside: list[dict[str, Any]] = []
        members: list[Member] = []
        teams: dict[str, TeamRows] = {}
        members_ok: list[bool | None] = [None]

        def members_then_teams(t: ReadTally) -> None:
            # One after the other: GraphQL is asked at most once at a time (GitHub asks for
            # no concurrent GraphQL), and its pages keep a fixed order.
            members_ok[0] = self._sub_read("members", lambda tt: self._members(tt, now, members), t)
            self._sub_read("teams", lambda tt: self._teams(tt, now, teams), t)

        jobs: list[tuple[str, Callable[[ReadTally], Any]]] = [
            ("members and teams", members_then_teams),
            ("organisation settings", self._read_settings),
            ("invitations", partial(self._read_invitation_list, f"{org}/invitations", invitations)),
            (
                "failed invitations",
                partial(self._read_invitation_list, f"{org}/failed_invitations", failed),
            ),
            (
                "outside collaborators",
                lambda t: outside.extend(self._net.rest_pages(f"{org}/outside_collaborators", t)),
            ),
        ]
        tallies = [ReadTally(System.GITHUB) for _ in jobs]
        with ThreadPoolExecutor(READ_CONCURRENCY, thread_name_prefix="github-read") as pool:
            futures = [
                pool.submit(self._sub_read, what, fn, t)
                for (what, fn), t in zip(jobs, tallies, strict=True)
            ]
            _, settings, *_ = [f.result() for f in futures]
        tally = ReadTally(System.GITHUB)
        _merge(tally, tallies)
        # A failed read keeps what it got; a member list that read but cannot be the org's
        # (empty, or without an owner) makes the read incomplete.
        accounts, grants = payloads.member_values(self.org, members)
        if members_ok[0] is not None and (problem := payloads.member_list_problem(members)):
            tally.problem(problem)
        for slug, rows in sorted(teams.items()):
            grants.extend(payloads.team_grants(self.org, slug, rows))
        for user in outside:
            account, grant = payloads.outside_collaborator(self.org, user)
            accounts.setdefault(account.name, account)
            grants.append(grant)
        invitations.extend(failed)
        invitees: list[Account] = []
        for person in invitation_candidates(desired, accounts, invitations, today):
            self._sub_read(
                f"look-up of {person.id}'s GitHub account",
                partial(self._look_up_invitee, person, out=invitees),
                tally,
            )
        self._net.store.save(now)
        return _part(
            tally,
            sorted(accounts.values(), key=lambda a: a.name),
            grants,
            invitations,
            settings=settings,
            invitees=invitees,
        )

    def _look_up_invitee(self, person: Person, tally: ReadTally, *, out: list[Account]) -> None:
        """Who holds the person's account and login now, before anyone invites them: the
        account by its recorded id (it survives renames), and the login from the person file
        when the account no longer answers to it, because whoever holds that login now must
        never be invited in their place. Conditional GETs: unchanged answers are free 304s."""
        own = None
        if person.github_id is not None:
            own = self._net.get_cached_if_exists(f"/user/{person.github_id}", tally)
            if own is not None:
                out.append(payloads.user_account(own))
        if person.github and (own is None or not payloads.is_login(own, person.github)):
            holder = self._net.get_cached_if_exists(f"/users/{quote(person.github)}", tally)
            if holder is not None:
                out.append(payloads.user_account(holder))

    def _sub_read(self, what: str, fn: Callable[[ReadTally], T], tally: ReadTally) -> T | None:
        try:
            return fn(tally)
        except ProviderError as exc:
            tally.problem(f"{what}: {exc}")
            return None

    def _read_settings(self, tally: ReadTally) -> GitHubOrgSettings:
        return payloads.org_settings(self._net.get_cached(f"/orgs/{self.org}", tally))

    def _members(self, tally: ReadTally, now: datetime, out: list[Member]) -> bool:
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
                changed |= self._net.list_changed(path, tally, parameters)
        except ProviderError as exc:
            log.info("github_member_validators_unavailable", reason=str(exc))
            changed = True
        cached = self._net.store.members(now)
        if not changed and cached is not None:
            out.extend(cached)
            return True
        self._net.store.forget_members()  # until the new read is complete
        self._read_members(tally, out)
        self._net.store.keep_members(out, now)
        return True

    def _read_members(self, tally: ReadTally, members: list[Member]) -> None:
        """Every member through GraphQL into `members` (what was read stays on failure)."""
        for conn in self._net.graphql_pages(
            MEMBERS_QUERY,
            {"org": self.org},
            lambda data: data["organization"]["membersWithRole"],
            tally,
        ):
            members.extend(payloads.members(conn["edges"]))

    def _teams(self, tally: ReadTally, now: datetime, out: dict[str, TeamRows]) -> None:
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
            listed = self._net.rest_pages(f"/orgs/{self.org}/teams", tally)
        except ProviderError as exc:
            log.info("github_team_list_unavailable", reason=str(exc))
            listed = None
        if listed is None:
            self._net.store.forget_teams()
            self._read_teams(tally, out)
            return
        parents = payloads.parent_slugs(listed)
        if 2 * len(listed) > TEAM_VALIDATOR_LIMIT:
            self._read_large_teams(tally, out, now, parents)
            return
        slugs = payloads.team_slugs(listed)
        cached = self._net.store.teams(now)
        with ThreadPoolExecutor(READ_CONCURRENCY, thread_name_prefix="github-team") as pool:
            verdicts = dict(
                zip(slugs, pool.map(partial(self._team_changed, tally=tally), slugs), strict=True)
            )
        changed = [
            slug for slug in slugs if verdicts[slug] or slug in parents or slug not in cached
        ]
        self._net.store.forget_teams(changed)  # until their new read is complete
        if len(changed) > pages(len(slugs)):
            self._read_teams(tally, out)
        else:
            out.update((slug, cached[slug]) for slug in slugs if slug not in changed)
            for slug in changed:
                rows = self._read_team(slug, tally)
                if rows is not None:
                    out[slug] = rows
        self._net.store.keep_teams(out, now, fresh=set(changed))

    def _team_changed(self, slug: str, tally: ReadTally) -> bool:
        """Whether the team's REST member lists (all and `role=maintainer`) changed or could
        not be read; their calls count in `tally`, but a failure is no problem of the read:
        the team is then re-read instead."""
        path = f"/orgs/{self.org}/teams/{quote(slug)}/members"
        try:
            changed = self._net.list_changed(path, tally)
            changed |= self._net.list_changed(path, tally, {"role": "maintainer"})
        except ProviderError:
            changed = True  # not proven unchanged: re-read
        return changed

    def _read_large_teams(
        self, tally: ReadTally, out: dict[str, TeamRows], now: datetime, parents: set[str]
    ) -> None:
        """The teams connection (1 point per 100 teams, each with its first 100 members);
        a team with more members has its REST lists validated first and then comes from the
        cache, or is read again whole from its first member, so that its validator is never
        newer than any of its data."""
        cached = self._net.store.teams(now)
        fresh: set[str] = set()
        for conn in self._net.graphql_pages(
            TEAMS_QUERY, {"org": self.org}, lambda data: data["organization"]["teams"], tally
        ):
            for team in conn["nodes"]:
                slug, members = str(team["slug"]), team["members"]
                if not members["pageInfo"]["hasNextPage"]:
                    out[slug] = payloads.team_rows(members["edges"])
                    fresh.add(slug)
                    continue
                if not self._team_changed(slug, tally) and slug not in parents and slug in cached:
                    out[slug] = cached[slug]
                    continue
                self._net.store.forget_teams([slug])  # until its new read is complete
                rows = self._read_team(slug, tally)
                if rows is not None:
                    out[slug] = rows
                    fresh.add(slug)
        self._net.store.keep_teams(out, now, fresh=fresh)

    def _read_teams(self, tally: ReadTally, teams: dict[str, TeamRows]) -> None:
        """Every team's members through GraphQL into `teams` (kept on failure)."""
        for conn in self._net.graphql_pages(
            TEAMS_QUERY, {"org": self.org}, lambda data: data["organization"]["teams"], tally
        ):
            for team in conn["nodes"]:
                members = team["members"]
                edges = list(members["edges"])
                if members["pageInfo"]["hasNextPage"]:  # over 100 members: page that team alone
                    for page in self._net.graphql_pages(
                        TEAM_MEMBERS_QUERY,
                        {"org": self.org, "slug": team["slug"]},
                        lambda data: data["organization"]["team"]["members"],
                        tally,
                        after=members["pageInfo"]["endCursor"],
                    ):
                        edges.extend(page["edges"])
                teams[str(team["slug"])] = payloads.team_rows(edges)

    def _read_team(self, slug: str, tally: ReadTally) -> TeamRows | None:
        """One team's immediate members through GraphQL; None when the team is gone."""
        edges: list[Any] = []
        for page in self._net.graphql_pages(
            TEAM_MEMBERS_QUERY,
            {"org": self.org, "slug": slug},
            lambda data: (data["organization"]["team"] or {}).get("members"),
            tally,
        ):
            if page is None:
                return None
            edges.extend(page["edges"])
        return payloads.team_rows(edges)

    def _read_invitation_list(self, path: str, out: list[Invitation], tally: ReadTally) -> None:
        out.extend(payloads.invitation(self.org, raw) for raw in self._net.rest_pages(path, tally))

    def _read_invitations(
        self,
        tally: ReadTally,
        out: list[Invitation],
        keep: Callable[[Invitation], bool] = lambda inv: True,
    ) -> None:
        """Pending and failed invitations, each list a sub-read of its own."""
        for what, path in (
            ("invitations", f"/orgs/{self.org}/invitations"),
            ("failed invitations", f"/orgs/{self.org}/failed_invitations"),
        ):

            def read(t: ReadTally, path: str = path) -> None:
                found: list[Invitation] = []
                self._read_invitation_list(path, found, t)
                out.extend(inv for inv in found if keep(inv))

            self._sub_read(what, read, tally)

    # -- read_person -----------------------------------------------------------------------
    def read_person(self, person: Person) -> SnapshotPart:
        """Reverse look-ups for one person. Cost: 1-2 user GETs, 1 membership GET, 1 GraphQL
        page of their teams, plus ceil(n/100) GETs each for invitations, failed invitations
        and outside collaborators (GitHub has no per-user look-up for those lists)."""
        tally = ReadTally(System.GITHUB)
        accounts: list[Account] = []
        grants: list[Grant] = []
        invitations: list[Invitation] = []
        login = self._sub_read("user", lambda t: self._resolve_login(person, t, accounts), tally)
        if login:
            self._sub_read("membership", lambda t: self._person_membership(login, t, grants), tally)
            self._sub_read("teams", lambda t: self._person_teams(login, t, grants), tally)
            self._sub_read(
                "outside collaborators",
                lambda t: grants.extend(
                    payloads.outside_collaborator(self.org, u)[1]
                    for u in self._net.rest_pages(f"/orgs/{self.org}/outside_collaborators", t)
                    if payloads.is_login(u, login)
                ),
                tally,
            )
        logins = {x for x in (login, person.github, *person.previous_github_logins) if x}
        self._read_invitations(
            tally,
            invitations,
            lambda inv: inv.login in logins or (inv.email or None) == person.email,
        )
        return _part(tally, accounts, grants, invitations)

    def _resolve_login(
        self, person: Person, tally: ReadTally, accounts: list[Account]
    ) -> str | None:
        """The person's current login. The numeric id survives renames, so when it is known
        the login is looked up by id (GET /user/{id}); a renamed account is still found, and
        the logins the person file knows become its aliases."""
        if person.github_id is not None:
            path = f"/user/{person.github_id}"
        elif person.github:
            path = f"/users/{quote(person.github)}"
        else:
            return None
        user = self._net.get_if_exists(path, tally)
        if user is None:
            return None  # no such account (deleted): nothing to remove
        account = payloads.user_account(user, (person.github, *person.previous_github_logins))
        accounts.append(account)
        return account.name

    def _person_membership(self, login: str, tally: ReadTally, grants: list[Grant]) -> None:
        grant = payloads.membership_grant(self.org, login, self._membership(login, tally))
        if grant is not None:
            grants.append(grant)

    def _person_teams(self, login: str, tally: ReadTally, grants: list[Grant]) -> None:
        for conn in self._net.graphql_pages(
            PERSON_TEAMS_QUERY,
            {"org": self.org, "login": login, "logins": [login]},
            lambda data: data["organization"]["teams"],
            tally,
        ):
            grants.extend(payloads.person_team_grants(self.org, login, conn["nodes"]))

    def _membership(self, login: str, tally: ReadTally | None = None) -> dict[str, Any] | None:
        return self._net.get_if_exists(f"/orgs/{self.org}/memberships/{quote(login)}", tally)

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
        comments = self._net.rest_pages(f"{base}/{number}/comments")
        existing = next(
            (c for c in comments if isinstance(c, dict) and marker in str(c.get("body") or "")),
            None,
        )
        if existing is not None:
            _, data = self._net.rest(
                "PATCH", f"{base}/comments/{int(existing['id'])}", body={"body": body}
            )
        else:
            _, data = self._net.rest("POST", f"{base}/{number}/comments", body={"body": body})
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
            user = self._net.get_if_exists(f"/users/{quote(login)}")
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
        _, data = self._net.rest(
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
        _, data = self._net.rest(
            "PUT", f"/orgs/{org}/memberships/{quote(login)}", body={"role": role}
        )
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
        current = self._net.get_if_exists(path)
        if current is not None and current["role"] == role and current["state"] == "active":
            return False, f"{action.principal} already {role} of {action.target}"
        self._net.rest("PUT", path, body={"role": role})
        return True, f"{action.principal} {role} of {action.target}"

    def _remove_team_member(self, action: Action) -> tuple[bool, str]:
        return self._delete(self._team_path(action), f"{action.principal} from {action.target}")

    def _remove_outside_collaborator(self, action: Action) -> tuple[bool, str]:
        org, login = self._org_of(action), normalise_login(action.principal)
        # DELETE answers 204 whether or not the user collaborates, so the list is read first
        # to report `changed` truthfully (ceil(n/100) GETs; removals here are rare).
        present = any(
            payloads.is_login(u, login)
            for u in self._net.rest_pages(f"/orgs/{org}/outside_collaborators")
        )
        if not present:
            return False, f"{login} is not an outside collaborator of {org}"
        self._net.rest("DELETE", f"/orgs/{org}/outside_collaborators/{quote(login)}")
        return True, f"removed outside collaborator {login} from {org}"

    def _delete(self, path: str, what: str) -> tuple[bool, str]:
        try:
            self._net.rest("DELETE", path)
        except PermanentProviderError as exc:
            if exc.status == 404:
                return False, f"already gone: {what}"
            raise
        return True, f"removed {what}"


# -- helpers -------------------------------------------------------------------------------------


def pages(count: int) -> int:
    """GraphQL pages of a connection of `count` nodes (at least one)."""
    return max((count + PAGE - 1) // PAGE, 1)


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
        found = integration.get_org_installation(org)
        return AppInstallation(
            id=int(found.id),
            app_slug=str(found.app_slug or ""),
            permissions={str(k): str(v) for k, v in (found.permissions or {}).items()},
        )

    return call_with_retry(partial(translated, attempt), retry_policy)


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
        auth.token  # noqa: B018 - the property mints the token
        minted = auth.authorization
        assert minted is not None
        permissions = minted.raw_data.get("permissions") or {}
        return InstallationToken(
            expires_at=minted.expires_at,
            permissions={str(k): str(v) for k, v in permissions.items()},
        )

    return call_with_retry(partial(translated, attempt), retry_policy)


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
