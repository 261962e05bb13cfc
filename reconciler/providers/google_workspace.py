"""The Google Workspace provider: reads users, groups, members, OAuth tokens and app
passwords through the Admin SDK Directory API v1 and applies Google actions; used by the
executor, the CLI and the daemon through the `providers.base.Provider` seam.

This module is the transport: calls, retries, paging, batches and error translation.
What each answer means (User, Member, Token, Asp payloads -> model values) is the pure
`providers.google_payloads`; what one read cost and what failed is a
`providers.tally.ReadTally` per read.

Client: google-api-python-client, built from the discovery document bundled with the
library (no network fetch) with `rootUrl` replaced when an endpoint is given, which moves
batch requests too (research/client_libs.md section 1). The library's own retries are off
(`num_retries=0`: they ignore Retry-After); every call goes through
`providers.retrying.call_with_retry` with errors translated to the project's hierarchy.

Read cost: ceil(users/500) users.list pages + ceil(groups/200) groups.list
pages + batches of up to 1000 calls holding every group's member list, and one tokens.list
and one asps.list per user of our primary domain (2 calls per user: batching saves round
trips, not quota - "n requests batched count as n requests"). Member lists longer than 200
continue in later batches. So a 300-user, 40-group org costs 1 + 1 + 1 round trips.
"""

from __future__ import annotations

import functools
import json
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import google.auth.credentials
import google_auth_httplib2
import httplib2
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError

from reconciler.errors import (
    ConflictError,
    PermanentProviderError,
    ProviderError,
    TemporaryProviderError,
)
from reconciler.model import (
    Account,
    Action,
    ActionKind,
    DesiredState,
    GoogleScope,
    Grant,
    Person,
    SnapshotPart,
    System,
    Unread,
    normalise_email,
)
from reconciler.providers import google_auth
from reconciler.providers import google_payloads as payloads
from reconciler.providers.base import ActionResult
from reconciler.providers.google_batch import FastBatchHttpRequest
from reconciler.providers.permissions import directory_scopes
from reconciler.providers.retrying import DEFAULT_POLICY, RetryPolicy, call_with_retry
from reconciler.providers.tally import ReadTally
from reconciler.providers.translating import (
    TRANSPORT_ERRORS,
    error_for_status,
    retry_after_seconds,
)
from reconciler.settings import Settings

USERS_PAGE = 500  # users.list maxResults maximum (discovery doc: "maximum": "500")
GROUPS_PAGE = 200  # groups.list: "Max allowed value is 200"
MEMBERS_PAGE = 200  # members.list: same
BATCH_MAX = 1000  # directory/v1/guides/batch: up to 1,000 calls per batch request
# Partial responses keep pages small: only what the model needs.
USER_FIELDS = (
    "id,primaryEmail,name/fullName,suspended,isAdmin,isEnrolledIn2Sv,isEnforcedIn2Sv,"
    "lastLoginTime,creationTime,aliases"
)
USERS_LIST_FIELDS = f"nextPageToken,users({USER_FIELDS})"
GROUPS_LIST_FIELDS = "nextPageToken,groups(id,email)"
# The full read also asks for each group's member count: it tells how many member pages the
# longest list needs, so the other batch parts can be spread over those waves (`_read_details`).
GROUPS_READ_FIELDS = "nextPageToken,groups(id,email,directMembersCount)"
MEMBERS_LIST_FIELDS = "nextPageToken,members(id,email,role,type,status)"
TOKENS_FIELDS = "items(clientId,displayText,scopes)"
ASPS_FIELDS = "items(codeId,name)"
# 403 reasons that mean "slow down", not "forbidden" (admin-sdk/directory/v1/limits).
RATE_LIMIT_REASONS = frozenset({"userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded"})

# Note: when a keep-alive connection answers nothing (BadStatusLine / RemoteDisconnected on
# the first try), httplib2 reconnects and re-sends once by itself, whatever its RETRIES
# setting: it cannot tell a dropped request from a connection the server closed while idle.
# So one dropped connection may be absorbed there; a second one reaches our policy. Round
# trips in ReadStatus count our attempts, not those invisible reconnects.


def _reasons(exc: HttpError) -> list[str]:
    try:
        body = json.loads(exc.content or b"{}")
        errors = body.get("error", {}).get("errors", [])
        return [str(e.get("reason", "")) for e in errors if isinstance(e, dict)]
    except (ValueError, AttributeError):
        return []


def translate_http_error(exc: HttpError, what: str) -> ProviderError:
    """Map a client HttpError to the project's hierarchy; the message names the operation
    and the API's reason only (never the URL's query or any header)."""
    resp = getattr(exc, "resp", None)
    status = int(resp.status) if resp is not None and getattr(resp, "status", None) else 0
    reasons = _reasons(exc)
    retry_after = retry_after_seconds(resp.get("retry-after")) if resp is not None else None
    message = f"{what}: HTTP {status or '?'} {','.join(r for r in reasons if r) or ''}".strip()
    # No status at all is a transport failure; a 403 with a rate-limit reason is a limit.
    temporary = status == 0 or (status == 403 and bool(RATE_LIMIT_REASONS & set(reasons)))
    if status == 403 and not temporary:
        # Forbidden says nothing about why; the scope the call needs is what people miss.
        message = f"{message}: forbidden; {google_auth.delegation_hint(what)}"
    return error_for_status(message, status, retry_after, temporary=temporary)


Key = tuple[str, str]  # (what, for whom): ("members", group), ("tokens", user), ...
# The API method behind each kind of batched call, to name it in errors.
_CALL_OF_KIND = {
    "members": "members.list",
    "tokens": "tokens.list",
    "asps": "asps.list",
    "member": "members.get",
}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _member_pages(count: Any) -> int:
    """Pages of members.list a group's `directMembersCount` (an int64 string) needs; 1 when
    the API left it out, since an empty list is still one call."""
    try:
        return max(1, _ceil_div(int(count), MEMBERS_PAGE))
    except (TypeError, ValueError):
        return 1


@dataclass
class _Call:
    """One batched API call: `key` says what it is for, `build` makes the HttpRequest."""

    key: Key
    build: Callable[[], Any]


@dataclass
class _Batched:
    results: dict[Key, dict[str, Any]] = field(default_factory=dict)
    errors: dict[Key, ProviderError] = field(default_factory=dict)


class GoogleWorkspaceProvider:
    """Provider for one Workspace customer, acting as the delegated admin."""

    system = System.GOOGLE

    def __init__(
        self,
        *,
        endpoint: str | None,
        credentials: google.auth.credentials.Credentials,
        scope: GoogleScope,
        retry_policy: RetryPolicy = DEFAULT_POLICY,
        timeout: float = 60.0,
        batch_size: int = BATCH_MAX,
        batch_concurrency: int = 2,
        subject: str | None = None,
        read_only: bool = False,
    ) -> None:
        """`endpoint` None means Google itself (the discovery doc's rootUrl). `subject`: the
        admin the credentials impersonate (domain-wide delegation); default the scope's.

        batch_concurrency bounds batches in flight: the 429 rateLimitExceeded limit is per
        Workspace account and "cannot be increased" (limits page), so stay modest.

        `read_only`: the credentials hold only the read-only scopes, which cover no
        tokens.list or asps.list: those are not called, and the part says they were not read."""
        doc = json.loads(get_static_doc("admin", "directory_v1"))
        if endpoint:
            doc["rootUrl"] = endpoint.rstrip("/") + "/"
        self.scope = scope
        self.subject = subject or scope.admin_subject
        self.read_only = read_only
        self._credentials = credentials
        self._policy = retry_policy
        self._timeout = timeout
        self._batch_size = max(1, min(batch_size, BATCH_MAX))
        self._concurrency = max(1, batch_concurrency)
        self._local = threading.local()
        self._service = build_from_document(doc, http=self._http())
        # Where the discovery client sends its batches (its `new_batch_http_request`).
        self._batch_uri = doc["rootUrl"] + doc.get("batchPath", "batch")
        self._collections: dict[str, Any] = {}

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_sandbox(
        cls, base_url: str, scope: GoogleScope, *, read_only: bool = False, **kwargs: Any
    ) -> GoogleWorkspaceProvider:
        """Against the sandbox, with the real DWD service-account token flow (for the
        read-only scopes alone when `read_only`)."""
        subject = scope.admin_subject or f"admin@{scope.domain}"
        creds = google_auth.sandbox_delegated_credentials(
            base_url, subject, directory_scopes(read_only)
        )
        return cls(
            endpoint=base_url, credentials=creds, scope=scope, subject=subject,
            read_only=read_only, **kwargs,
        )  # fmt: skip

    @classmethod
    def from_settings(
        cls, settings: Settings, scope: GoogleScope, **kwargs: Any
    ) -> GoogleWorkspaceProvider:
        """Production: keyless DWD if a service account to impersonate is configured,
        else a key JSON from Secret Manager. The sandbox URL, when set, wins."""
        if settings.sandbox_url:
            return cls.from_sandbox(
                settings.sandbox_url, scope, read_only=settings.read_only, **kwargs
            )
        scopes = directory_scopes(settings.read_only)
        subject = scope.admin_subject or settings.google_admin_subject
        if not subject:
            raise PermanentProviderError("Google: no admin subject for domain-wide delegation")
        creds: google.auth.credentials.Credentials
        if settings.google_impersonate_service_account:
            creds = google_auth.keyless_delegated_credentials(
                settings.google_impersonate_service_account, subject, scopes
            )
        elif settings.google_credentials_secret:
            info = google_auth.key_from_secret_manager(settings.google_credentials_secret)
            creds = google_auth.key_delegated_credentials(info, subject, scopes)
        else:
            raise PermanentProviderError(
                "Google: set RECONCILER_GOOGLE_IMPERSONATE_SERVICE_ACCOUNT (keyless, preferred) "
                "or RECONCILER_GOOGLE_CREDENTIALS_SECRET"
            )
        return cls(
            endpoint=None, credentials=creds, scope=scope, subject=subject,
            read_only=settings.read_only, **kwargs,
        )  # fmt: skip

    # -- identity ------------------------------------------------------------------------
    def acting_as(self) -> tuple[str, ...]:
        """The delegated admin (every Directory call runs as it) and the service account
        that signs the delegation, when the credentials name one (key-based and keyless DWD
        both do). Known from construction: no API call, so it cannot fail."""
        found = [self.subject or ""]
        email = getattr(self._credentials, "service_account_email", None)
        if isinstance(email, str) and "@" in email:
            found.append(email)
        return tuple(dict.fromkeys(normalise_email(e) for e in found if e))

    # -- plumbing ------------------------------------------------------------------------
    def _http(self) -> google_auth_httplib2.AuthorizedHttp:
        """One authorised httplib2.Http per thread: httplib2 connections are not
        thread-safe, and batches run on a small pool."""
        authed = getattr(self._local, "http", None)
        if authed is None:
            authed = google_auth_httplib2.AuthorizedHttp(
                self._credentials, http=httplib2.Http(timeout=self._timeout)
            )
            self._local.http = authed
        return authed

    def _collection(self, name: str) -> Any:
        """The discovery client's collection `name` ("members", "tokens", "asps"), built once.
        Each `service.tokens()` builds a new Resource with every method of the collection;
        one per user's tokens.list and asps.list was about 300 MB at 10,000 users."""
        found = self._collections.get(name)
        if found is None:
            found = self._collections.setdefault(name, getattr(self._service, name)())
        return found

    def _execute(self, request: Any, what: str, tally: ReadTally | None = None) -> dict[str, Any]:
        """One API call with the project's retry policy; every attempt is counted in the
        read's `tally` (none outside a read: an apply's calls are not a read's cost)."""

        def once() -> dict[str, Any]:
            if tally is not None:
                tally.count()
            try:
                result = request.execute(http=self._http(), num_retries=0)
            except HttpError as exc:
                raise translate_http_error(exc, what) from exc
            except TRANSPORT_ERRORS as exc:
                raise TemporaryProviderError(f"{what}: {type(exc).__name__}") from exc
            return result if isinstance(result, dict) else {}

        return call_with_retry(once, self._policy)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One Directory API call by its method name ("users.list") under the retry policy:
        how `doctor` makes its harmless read per delegation scope. Raises a ProviderError."""
        resource, name = method.split(".", 1)
        request = getattr(getattr(self._service, resource)(), name)(**params)
        return self._execute(request, method)

    def _run_chunk(self, chunk: Sequence[_Call], tally: ReadTally) -> _Batched:
        """Send up to 1000 calls as one batch; re-send only the parts that failed
        temporarily, under the one retry policy (a failed part never hides as "empty")."""
        out = _Batched()
        pending = {c.key: c for c in chunk}

        def once() -> None:
            batch = FastBatchHttpRequest(batch_uri=self._batch_uri)
            answers: dict[str, tuple[Any, Any]] = {}
            ids: dict[str, Key] = {}

            def callback(request_id: str, response: Any, exception: Any) -> None:
                answers[request_id] = (response, exception)

            for n, (key, call) in enumerate(pending.items()):
                ids[str(n)] = key
                batch.add(call.build(), callback=callback, request_id=str(n))
            tally.count(api_calls=len(pending), round_trips=1)
            try:
                batch.execute(http=self._http())
            except HttpError as exc:  # the batch as a whole (BatchError is an HttpError)
                raise translate_http_error(exc, "batch") from exc
            except TRANSPORT_ERRORS as exc:
                raise TemporaryProviderError(f"batch: {type(exc).__name__}") from exc
            hints: list[float] = []
            temporary = 0
            for request_id, key in ids.items():
                response, exception = answers.get(request_id, (None, None))
                if exception is None and request_id in answers:
                    out.results[key] = response if isinstance(response, dict) else {}
                    out.errors.pop(key, None)
                    del pending[key]
                    continue
                error = (
                    translate_http_error(exception, _CALL_OF_KIND.get(key[0], "batch part"))
                    if isinstance(exception, HttpError)
                    else TemporaryProviderError("batch part: no answer")
                )
                out.errors[key] = error
                if isinstance(error, TemporaryProviderError):
                    temporary += 1
                    if error.retry_after is not None:
                        hints.append(error.retry_after)
                else:
                    del pending[key]
            if temporary:
                raise TemporaryProviderError(
                    f"{temporary} batch parts failed temporarily",
                    retry_after=max(hints) if hints else None,
                )

        try:
            call_with_retry(once, self._policy)
        except ProviderError as exc:
            for key in pending:
                out.errors.setdefault(key, exc)
        return out

    def _run_batched(self, calls: Sequence[_Call], tally: ReadTally) -> _Batched:
        """All calls in batches of at most `batch_size`, `batch_concurrency` in flight."""
        chunks = [calls[i : i + self._batch_size] for i in range(0, len(calls), self._batch_size)]
        merged = _Batched()
        if not chunks:
            return merged
        if len(chunks) == 1 or self._concurrency == 1:
            parts = [self._run_chunk(c, tally) for c in chunks]
        else:
            with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
                parts = list(pool.map(functools.partial(self._run_chunk, tally=tally), chunks))
        for part in parts:
            merged.results.update(part.results)
            merged.errors.update(part.errors)
        return merged

    def _list_all(
        self, make: Callable[[str | None], Any], item: str, what: str, tally: ReadTally
    ) -> list[Any]:
        """Follow nextPageToken; raises the page's ProviderError if a page fails."""
        items: list[Any] = []
        token: str | None = None
        while True:
            page = self._execute(make(token), what, tally)
            items.extend(page.get(item, []))
            token = page.get("nextPageToken")
            if not token:
                return items

    # -- read ----------------------------------------------------------------------------
    def read(self, desired: DesiredState, now: datetime | None = None) -> SnapshotPart:
        """Everything in the customer: accounts, account and group grants, tokens, ASPs."""
        del desired  # the scope was fixed at construction; the whole customer is read
        tally = ReadTally(System.GOOGLE)
        users: list[dict[str, Any]] = []
        groups: list[dict[str, Any]] = []
        svc = self._service
        try:
            users = self._list_all(
                lambda token: svc.users().list(
                    customer=self.scope.customer, maxResults=USERS_PAGE, orderBy="email",
                    pageToken=token, fields=USERS_LIST_FIELDS,
                ),
                "users",
                "users.list",
                tally,
            )  # fmt: skip
        except ProviderError as exc:
            tally.problem(f"users list failed: {exc}")
        if not users and tally.complete:
            # An organisation always has at least its admin; 200 with no users is what
            # expired or de-privileged delegated credentials look like. Never "nobody".
            tally.problem("users list came back empty: delegated credentials may be expired")
        try:
            groups = self._list_all(
                lambda token: svc.groups().list(
                    customer=self.scope.customer, maxResults=GROUPS_PAGE, pageToken=token,
                    fields=GROUPS_READ_FIELDS,
                ),
                "groups",
                "groups.list",
                tally,
            )  # fmt: skip
        except ProviderError as exc:
            tally.problem(f"groups list failed: {exc}")

        own = payloads.in_domain(users, self.scope.domain)
        expected = {g["email"]: _member_pages(g.get("directMembersCount")) for g in groups}
        members, per_user = self._read_details(expected, own, tally)

        accounts = tuple(payloads.account(u) for u in users)
        grants = [payloads.account_grant(a, self.scope.domain) for a in accounts if not a.suspended]
        for group_email, items in members.items():
            grants.extend(payloads.member_grants(group_email, items))
        tokens, asps = payloads.user_security(per_user)
        return SnapshotPart(
            system=System.GOOGLE,
            status=tally.status(),
            accounts=accounts,
            grants=tuple(sorted(grants)),
            oauth_tokens=tokens,
            app_passwords=asps,
            not_read=self._not_read(),
        )

    def _read_details(
        self, expected_pages: Mapping[str, int], user_emails: Iterable[str], tally: ReadTally
    ) -> tuple[dict[str, list[dict[str, Any]]], dict[tuple[str, str], dict[str, Any]]]:
        """Member lists (every page), tokens and ASPs, all through batches; a part that
        failed is a problem in `tally` and its group's list is left out, never partial.

        Page k+1 of a member list needs page k's token, so the longest list (in
        `expected_pages`, from the groups' member counts) takes that many waves of batches
        however the rest is sent. The calls that wait on nothing (first pages, tokens, ASPs)
        are spread over those waves instead of all going first, so the later waves are full
        batches, not a few follow-up pages each: the round trips stay at the floor,
        max(longest list, all parts / batch size). A count that proves wrong only costs
        extra waves; every list is still followed to its last page."""

        def members_call(group: str, token: str | None) -> _Call:
            return _Call(
                ("members", group),
                lambda: self._collection("members").list(
                    groupKey=group, maxResults=MEMBERS_PAGE, pageToken=token,
                    fields=MEMBERS_LIST_FIELDS,
                ),
            )  # fmt: skip

        # Longest lists first, since they must start early; the security calls fill the rest.
        firsts = sorted(expected_pages, key=lambda g: (-expected_pages[g], g))
        free = deque(members_call(g, None) for g in firsts)
        security = 0
        for user in user_emails:
            calls = self._security_calls(user)
            free.extend(calls)
            security += len(calls)
        pages_left = sum(expected_pages.values())  # member pages still to come, all groups
        waves = max(expected_pages.values(), default=1)
        members: dict[str, list[dict[str, Any]]] = {}
        per_user: dict[tuple[str, str], dict[str, Any]] = {}
        follow: list[_Call] = []  # the next pages of lists under way: they cannot wait
        wave = 0
        while follow or free:
            # This wave's even share of what is left, in whole batches, and never less than
            # the follow-up pages (each wave a chain waits for is a round trip).
            share = _ceil_div(max(1, pages_left + security), max(1, waves - wave))
            size = self._batch_size * _ceil_div(max(1, share, len(follow)), self._batch_size)
            calls = follow + [free.popleft() for _ in range(min(len(free), size - len(follow)))]
            security -= sum(1 for c in calls if c.key[0] != "members")
            done = self._run_batched(calls, tally)
            follow, wave = [], wave + 1
            for key, result in done.results.items():
                kind, name = key
                if kind == "members":
                    members.setdefault(name, []).extend(result.get("members", []))
                    pages_left -= 1
                    if result.get("nextPageToken"):
                        follow.append(members_call(name, result["nextPageToken"]))
                else:
                    per_user[(kind, name)] = result
            for key, error in sorted(done.errors.items(), key=str):
                kind, name = key
                if kind == "members":
                    members.pop(name, None)  # never a partial list presented as whole
                tally.problem(f"{kind} of {name} failed: {error}")
        return members, per_user

    def _security_calls(self, user: str) -> list[_Call]:
        if self.read_only:
            return []  # no read-only scope covers them: `not_read` says so
        return [
            _Call(
                (payloads.TOKENS, user),
                functools.partial(
                    self._collection("tokens").list, userKey=user, fields=TOKENS_FIELDS
                ),
            ),
            _Call(
                (payloads.ASPS, user),
                functools.partial(self._collection("asps").list, userKey=user, fields=ASPS_FIELDS),
            ),
        ]

    def _not_read(self) -> frozenset[Unread]:
        return frozenset(Unread) if self.read_only else frozenset()

    # -- read_person ---------------------------------------------------------------------
    def read_person(self, person: Person) -> SnapshotPart:
        """Reverse look-ups only: the user, the groups naming them (groups.list userKey),
        their role in each, their tokens and ASPs. Cost does not grow with the org."""
        tally = ReadTally(System.GOOGLE)
        email = normalise_email(person.email)
        svc = self._service
        accounts: list[Account] = []
        grants: list[Grant] = []
        user: dict[str, Any] | None = None
        try:
            user = self._execute(
                svc.users().get(userKey=email, fields=USER_FIELDS), "users.get", tally
            )
        except PermanentProviderError as exc:
            if exc.status != 404:
                tally.problem(f"user {email} failed: {exc}")
        except ProviderError as exc:
            tally.problem(f"user {email} failed: {exc}")
        if user:
            account = payloads.account(user)
            accounts.append(account)
            if not account.suspended:
                grants.append(payloads.account_grant(account, self.scope.domain))
        groups: list[dict[str, Any]] = []
        try:
            groups = self._list_all(
                lambda token: svc.groups().list(
                    userKey=email,
                    maxResults=GROUPS_PAGE,
                    pageToken=token,
                    fields=GROUPS_LIST_FIELDS,
                ),
                "groups",
                "groups.list",
                tally,
            )
        except ProviderError as exc:
            tally.problem(f"groups of {email} failed: {exc}")
        calls = [
            _Call(
                ("member", g["email"]),
                functools.partial(
                    svc.members().get, groupKey=g["email"], memberKey=email, fields="email,role"
                ),
            )
            for g in groups
        ]
        if user:
            calls.extend(self._security_calls(email))
        done = self._run_batched(calls, tally)
        for (kind, name), result in sorted(done.results.items(), key=str):
            if kind == "member":
                grants.extend(payloads.member_grants(name, [result]))
        for (kind, name), error in sorted(done.errors.items(), key=str):
            if kind == "member" and error.status == 404:
                continue  # removed since groups.list answered: nothing to report
            tally.problem(f"{kind} of {name} failed: {error}")
        tokens, asps = payloads.user_security(done.results)
        return SnapshotPart(
            system=System.GOOGLE,
            status=tally.status(),
            accounts=tuple(accounts),
            grants=tuple(sorted(grants)),
            oauth_tokens=tokens,
            app_passwords=asps,
            not_read=self._not_read(),
        )

    # -- apply ---------------------------------------------------------------------------
    def apply(self, action: Action) -> ActionResult:
        """Apply one Google action idempotently (see each branch for how "already so" is
        detected); raises TemporaryProviderError / ConflictError / PermanentProviderError."""
        handlers: dict[ActionKind, Callable[[Action], ActionResult]] = {
            ActionKind.CREATE_ACCOUNT: self._create_account,
            ActionKind.SUSPEND_ACCOUNT: lambda a: self._set_suspended(a, True),
            ActionKind.UNSUSPEND_ACCOUNT: lambda a: self._set_suspended(a, False),
            ActionKind.SIGN_OUT: self._sign_out,
            ActionKind.REVOKE_TOKEN: self._revoke_token,
            ActionKind.DELETE_APP_PASSWORD: self._delete_asp,
            ActionKind.ADD_GROUP_MEMBER: self._add_member,
            ActionKind.CHANGE_GROUP_ROLE: self._change_member_role,
            ActionKind.REMOVE_GROUP_MEMBER: self._remove_member,
        }
        handler = handlers.get(action.kind)
        if handler is None or action.system is not System.GOOGLE:
            raise PermanentProviderError(f"Google provider cannot apply {action.kind.value}")
        return handler(action)

    @staticmethod
    def _result(
        action: Action, changed: bool, message: str, when: datetime | None = None
    ) -> ActionResult:
        return ActionResult(action.id, True, changed, message, when)

    def _create_account(self, action: Action) -> ActionResult:
        email = normalise_email(action.principal)
        body: dict[str, Any] = {
            "primaryEmail": email,
            "name": {
                "givenName": action.param("given_name"),
                "familyName": action.param("family_name"),
            },
            # Random, never stored, logged or returned; the person sets their own
            # at first sign-in. token_urlsafe(24) is 32 chars, within the API's 8-100.
            "password": secrets.token_urlsafe(24),
            "changePasswordAtNextLogin": True,
        }
        if action.param("recovery_email"):
            body["recoveryEmail"] = action.param("recovery_email")
        if action.param("org_unit"):
            body["orgUnitPath"] = action.param("org_unit")
        try:
            created = self._execute(
                self._service.users().insert(body=body, fields="id,creationTime"), "users.insert"
            )
        except ConflictError:
            # 409 duplicate: the account exists (a re-run after a crash, or made by hand).
            return self._result(action, False, f"{email} already exists")
        return self._result(
            action, True, f"created {email}", payloads.parse_time(created.get("creationTime"))
        )

    def _set_suspended(self, action: Action, suspended: bool) -> ActionResult:
        email = normalise_email(action.principal)
        users = self._service.users()
        current = self._execute(users.get(userKey=email, fields="suspended"), "users.get")
        if bool(current.get("suspended", False)) == suspended:
            return self._result(
                action, False, f"{email} already {'' if suspended else 'un'}suspended"
            )
        self._execute(
            users.patch(userKey=email, body={"suspended": suspended}, fields="suspended"),
            "users.patch",
        )
        return self._result(action, True, f"{'' if suspended else 'un'}suspended {email}")

    def _sign_out(self, action: Action) -> ActionResult:
        # signOut has no observable "already signed out" state: it is idempotent by nature
        # (resets sign-in cookies), so every call reports a change.
        email = normalise_email(action.principal)
        self._execute(self._service.users().signOut(userKey=email), "users.signOut")
        return self._result(action, True, f"signed out {email}")

    def _delete_absent_ok(self, request: Any, what: str) -> bool:
        """DELETE answering 404 means the effect already holds."""
        try:
            self._execute(request, what)
        except PermanentProviderError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _revoke_token(self, action: Action) -> ActionResult:
        email, client_id = normalise_email(action.principal), action.param("client_id")
        changed = self._delete_absent_ok(
            self._service.tokens().delete(userKey=email, clientId=client_id), "tokens.delete"
        )
        return self._result(action, changed, f"token {client_id} of {email} revoked")

    def _delete_asp(self, action: Action) -> ActionResult:
        email, code_id = normalise_email(action.principal), action.param("code_id")
        changed = self._delete_absent_ok(
            self._service.asps().delete(userKey=email, codeId=int(code_id)), "asps.delete"
        )
        return self._result(action, changed, f"app password {code_id} of {email} deleted")

    def _add_member(self, action: Action) -> ActionResult:
        group, email = normalise_email(action.target), normalise_email(action.principal)
        role = (action.role or "MEMBER").upper()
        try:
            self._execute(
                self._service.members().insert(
                    groupKey=group, body={"email": email, "role": role}, fields="email,role"
                ),
                "members.insert",
            )
        except ConflictError:
            # 409 duplicate: already a member; make sure the role matches too.
            return self._ensure_role(action, group, email, role)
        return self._result(action, True, f"added {email} to {group} as {role}")

    def _change_member_role(self, action: Action) -> ActionResult:
        group, email = normalise_email(action.target), normalise_email(action.principal)
        return self._ensure_role(action, group, email, (action.role or "MEMBER").upper())

    def _ensure_role(self, action: Action, group: str, email: str, role: str) -> ActionResult:
        members = self._service.members()
        current = self._execute(
            members.get(groupKey=group, memberKey=email, fields="role"), "members.get"
        )
        if str(current.get("role", "")).upper() == role:
            return self._result(action, False, f"{email} already {role} of {group}")
        self._execute(
            members.patch(groupKey=group, memberKey=email, body={"role": role}, fields="role"),
            "members.patch",
        )
        return self._result(action, True, f"{email} is now {role} of {group}")

    def _remove_member(self, action: Action) -> ActionResult:
        group, email = normalise_email(action.target), normalise_email(action.principal)
        changed = self._delete_absent_ok(
            self._service.members().delete(groupKey=group, memberKey=email), "members.delete"
        )
        return self._result(action, changed, f"removed {email} from {group}")
