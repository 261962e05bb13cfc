"""How the GitHub provider talks to GitHub: PyGithub requester calls under the one retry
policy, REST Link paging, GraphQL cursor paging, conditional requests with the ETag cache
persisted through a `DocumentCache`, and error translation; used by `providers.github`.

Nothing here decides what an answer means (that is `providers.github_payloads`) or what to
read (that is `providers.github`): this module only gets payloads, counts every request in
the read's `ReadTally` (each REST or GraphQL call is one API call and one round trip, every
retry included) and turns failures into the project's error hierarchy. PyGithub's own retry
and throttle are off: `providers.retrying` is the one retry policy. At most READ_CONCURRENCY
requests are on the wire at once, whatever the number of reader threads.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import requests
from github import Auth, Github, GithubException, RateLimitExceededException
from github.Requester import Requester

from reconciler.errors import (
    ConflictError,
    PermanentProviderError,
    ProviderError,
    ReconcilerError,
    TemporaryProviderError,
)
from reconciler.log import get_logger
from reconciler.providers.base import DocumentCache
from reconciler.providers.github_payloads import Member, TeamRows
from reconciler.providers.retrying import RetryPolicy, call_with_retry
from reconciler.providers.tally import ReadTally

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


def translated(fn: Callable[[], T]) -> T:
    """One attempt of a PyGithub call, its failure in the project's hierarchy: an API error
    through `translate_github_error`, a dropped or timed-out connection as temporary."""
    try:
        return fn()
    except GithubException as exc:
        raise translate_github_error(exc) from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TemporaryProviderError(f"GitHub connection failed: {type(exc).__name__}") from None


class GitHubTransport:
    """Requests to one GitHub API with one credential, shared by the reader threads of a
    provider. Credentials live only inside PyGithub's auth object and are never logged or
    put into errors; the cache (`store`) keeps only ETags, links and API payloads."""

    def __init__(
        self,
        *,
        base_url: str,
        auth: Auth.Auth | None,
        policy: RetryPolicy,
        timeout: float,
        document: DocumentCache | None,
        scope: dict[str, str],
    ) -> None:
        self.policy = policy
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
        self.store = ReadCache(document, scope)

    @property
    def requester(self) -> Requester:
        """This thread's PyGithub requester (same credentials, its own connection)."""
        requester: Requester | None = getattr(self._thread, "requester", None)
        if requester is None:
            requester = Github(**self._client_args).requester
            self._thread.requester = requester
        return requester

    # -- calls -----------------------------------------------------------------------------
    def call(self, fn: Callable[[], T], tally: ReadTally | None = None) -> T:
        """`fn` under the retry policy, each attempt counted in `tally` (a write passes none)."""

        def attempt() -> T:
            if tally is not None:
                tally.count()
            with self._slots:  # held on the wire only, never during a retry's wait
                return translated(fn)

        return call_with_retry(attempt, self.policy)

    def rest(
        self,
        verb: str,
        path: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        tally: ReadTally | None = None,
    ) -> tuple[dict[str, Any], Any]:
        """One REST request: (response headers, decoded body; None for a 304 or a 204)."""
        return self.call(
            lambda: self.requester.requestJsonAndCheck(
                verb,
                path,
                parameters=dict(parameters) if parameters is not None else None,
                headers=headers,
                input=body,
            ),
            tally,
        )

    def get_if_exists(self, path: str, tally: ReadTally | None = None) -> dict[str, Any] | None:
        """GET one resource; None only for 404 (absent). Every other failure raises, so a
        failed read is never taken for "not there"."""
        try:
            _, data = self.rest("GET", path, tally=tally)
        except PermanentProviderError as exc:
            if exc.status == 404:
                return None
            raise
        result: dict[str, Any] | None = data
        return result

    # -- REST paging and conditional requests -----------------------------------------------
    def rest_pages(
        self,
        path: str,
        tally: ReadTally | None = None,
        parameters: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every page of a REST list, following `Link: rel="next"` as GitHub gives it. Each
        page is a conditional GET with that page's last ETag: an unchanged page answers 304,
        which does not count against the primary rate limit (GitHub REST best practices,
        "use conditional requests"), so an unchanged nightly read costs no core points."""
        return self._pages(path, tally, parameters, keep=True)[0]

    def list_changed(
        self, path: str, tally: ReadTally, parameters: Mapping[str, str] | None = None
    ) -> bool:
        """Whether a REST list differs from the last time it was read: every page is a
        conditional GET, and the list is unchanged only when every page answers 304. Only
        the validators (ETag, next link) are kept, not the bodies: the list says whether the
        GraphQL data cached beside it is still current."""
        return self._pages(path, tally, parameters, keep=False)[1]

    def _pages(
        self,
        path: str,
        tally: ReadTally | None,
        parameters: Mapping[str, str] | None,
        *,
        keep: bool,
    ) -> tuple[list[dict[str, Any]], bool]:
        items: list[dict[str, Any]] = []
        changed = False
        url: str | None = path
        first: dict[str, Any] | None = {"per_page": PAGE, **(parameters or {})}
        while url is not None:
            query = "&".join(f"{k}={v}" for k, v in sorted((first or {}).items()))
            key = f"{url}?{query}" if query else url
            link, data, fresh = self.conditional_get(url, key, tally, first, keep=keep)
            changed |= fresh
            items.extend(data or [])
            url, first = next_link(link), None
        return items, changed

    def conditional_get(
        self,
        url: str,
        key: str,
        tally: ReadTally | None,
        parameters: dict[str, Any] | None = None,
        *,
        keep: bool = True,
    ) -> tuple[str, Any, bool]:
        """GET with the ETag last seen under `key` as If-None-Match: (next link, payload,
        whether it answered 200). A 304 answers with no body and no Link header, so the
        cached link and payload stand in for it."""
        cached = self.store.etag(key)
        conditional = {"If-None-Match": cached.etag} if cached else None
        headers, data = self.rest(
            "GET", url, parameters=parameters, headers=conditional, tally=tally
        )
        if data is None and cached is not None:  # 304 Not Modified
            return cached.link, cached.data, False
        link = str(headers.get("link", ""))
        if headers.get("etag"):
            self.store.remember(key, Validator(headers["etag"], link, data if keep else None))
        return link, data, True

    def get_cached(self, path: str, tally: ReadTally) -> Any:
        """GET with If-None-Match: a 304 is free of rate limit (GitHub REST best practices,
        "use conditional requests if appropriate")."""
        return self.conditional_get(path, path, tally)[1]

    def get_cached_if_exists(self, path: str, tally: ReadTally) -> dict[str, Any] | None:
        """`get_cached`, with None only for 404 (absent); every other failure raises."""
        try:
            found: dict[str, Any] = self.get_cached(path, tally)
        except PermanentProviderError as exc:
            if exc.status == 404:
                return None
            raise
        return found

    # -- GraphQL ---------------------------------------------------------------------------
    def graphql(self, query: str, variables: dict[str, Any], tally: ReadTally) -> Any:
        """One GraphQL request; its `data`. A GraphQL error (even in a 200) raises."""
        _, data = self.call(lambda: self.requester.graphql_query(query, variables), tally)
        return data["data"]

    def graphql_pages(
        self,
        query: str,
        variables: dict[str, Any],
        connection: Callable[[Any], Any],
        tally: ReadTally,
        after: str | None = None,
    ) -> Iterator[Any]:
        """Each page of the connection `connection` picks out of the answer, following
        pageInfo.endCursor from `after` until hasNextPage is false. A connection picked as
        None (its parent is gone) is yielded once and ends the paging."""
        while True:
            conn = connection(self.graphql(query, {**variables, "after": after}, tally))
            yield conn
            if conn is None or not conn["pageInfo"]["hasNextPage"]:
                return
            after = conn["pageInfo"]["endCursor"]


# -- the persisted cache -----------------------------------------------------------------------


@dataclass(frozen=True)
class Validator:
    """What a conditional GET needs next time: the page's ETag, its next link (a 304 has
    none) and, for lists whose items are used, the payload (None for validator-only lists)."""

    etag: str
    link: str
    data: Any


class ReadCache:
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
        self.etags: dict[str, Validator] = {}
        self.member_rows: tuple[str, list[Member]] | None = None  # (read_at, members)
        self.team_rows: dict[str, tuple[str, TeamRows]] = {}

    # -- validators
    def etag(self, key: str) -> Validator | None:
        with self.lock:
            return self.etags.get(key)

    def remember(self, key: str, validator: Validator) -> None:
        with self.lock:
            self.etags[key] = validator

    # -- members and teams
    def members(self, now: datetime) -> list[Member] | None:
        with self.lock:
            if self.member_rows is None or not _young(self.member_rows[0], now):
                return None
            return list(self.member_rows[1])

    def forget_members(self) -> None:
        with self.lock:
            self.member_rows = None

    def keep_members(self, members: list[Member], now: datetime) -> None:
        with self.lock:
            self.member_rows = (now.isoformat(), list(members))

    def teams(self, now: datetime) -> dict[str, TeamRows]:
        with self.lock:
            return {s: list(r) for s, (at, r) in self.team_rows.items() if _young(at, now)}

    def forget_teams(self, slugs: Iterable[str] | None = None) -> None:
        with self.lock:
            if slugs is None:
                self.team_rows = {}
            for slug in slugs or ():
                self.team_rows.pop(slug, None)

    def keep_teams(self, teams: Mapping[str, TeamRows], now: datetime, *, fresh: set[str]) -> None:
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
            str(k): Validator(str(v["etag"]), str(v["link"]), v.get("data"))
            for k, v in dict(raw["etags"]).items()
        }
        members = raw.get("members")
        member_rows = None
        if members is not None:
            member_rows = (
                str(members["read_at"]),
                [
                    Member(str(m[0]), str(m[1]), str(m[2]), bool(m[3]), _bool_or_none(m[4]))
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


# -- error translation -------------------------------------------------------------------------


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
    """Seconds to wait on a limit: `retry-after` when sent, else until `x-ratelimit-reset`
    (plus a second of clock skew) when the primary limit is spent, else GitHub's minute."""
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
