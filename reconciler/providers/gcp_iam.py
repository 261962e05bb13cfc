"""GCP IAM provider, the transport: the calls that read IAM policies, service accounts and
keys and edit bindings with etag-guarded read-modify-write; used by the executor and the CLI
through the Provider seam.

Resource Manager v3 and Cloud Asset v1 go through google-api-python-client (REST), IAM Admin v1
through google-cloud-iam (gRPC only: research/client_libs.md section 3). Every call runs under
`retrying.call_with_retry` with the libraries' own retries switched off (`num_retries=0`,
`retry=None`), so the project's one retry policy is the only one in force; every attempt is
counted in the read's `ReadTally`. This module owns the calls, their concurrency, paging,
retries and error translation; what the answers mean (policies, grants, service accounts,
keys) is decided in `providers/gcp_payloads.py`, which sees only the answers' JSON form: the
IAM Admin messages are converted here, at the edge (`message_dict`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import google.auth
import google.auth.transport.requests
import grpc
import httplib2
from google.api_core import exceptions as core_exceptions
from google.auth.credentials import Credentials
from google.cloud import iam_admin_v1
from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport
from google_auth_httplib2 import AuthorizedHttp
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
    Action,
    ActionKind,
    DesiredState,
    Grant,
    IamPolicy,
    Person,
    ServiceAccount,
    ServiceAccountKey,
    SnapshotPart,
    System,
    gcp_user,
    grant_order,
    normalise_member,
)
from reconciler.providers.base import ActionResult
from reconciler.providers.gcp_payloads import (
    account_of,
    edit_bindings,
    grants_from_policy,
    grants_naming,
    key_from_dict,
    policy_from_json,
    refuse_last_owner,
    service_account_from_dict,
    with_keys,
)
from reconciler.providers.google_auth import register_refreshed_tokens
from reconciler.providers.retrying import DEFAULT_POLICY, RetryPolicy, call_with_retry
from reconciler.providers.tally import ReadTally
from reconciler.providers.translating import (
    TRANSPORT_ERRORS,
    error_for_status,
    retry_after_seconds,
)
from reconciler.settings import Settings

T = TypeVar("T")

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

# Anything that touches conditional role bindings must read and write policy version 3, or the
# conditions are mangled or dropped (Policy.version docs; research/api_facts.md section 3).
POLICY_VERSION = 3
# ListServiceAccountsRequest.page_size maximum (IAM reference); searchAllIamPolicies caps at 500.
SA_PAGE_SIZE = 100
# ListRolesRequest.page_size: "The default is 300, and the maximum is 1,000."
ROLES_PAGE_SIZE = 1000
SEARCH_PAGE_SIZE = 500
# Resource Manager documents read limits of 10 per second and 600 per minute per consumer
# project (RM "Quotas and usage limits"). A 200-project read is about 200 getIamPolicy, a
# third of a minute's allowance; 4 in flight is kept (not raised with the IAM pool below)
# because RM also states a per-second limit, and with IAM at 16 the policies already take no
# longer than the service-account side, so more would buy nothing measurable. A 429 is
# retried with backoff, never sooner than its Retry-After.
DEFAULT_CONCURRENCY = 4
# IAM Admin v1 (ListServiceAccounts, ListServiceAccountKeys) documents one rate: 6,000 read
# requests per project per minute (IAM "Quotas and limits"), counted per minute. Keys are one
# call per service account (no multi-account form), so they dominate a large read: the
# 10,000-person bench world's 702 IAM calls are 12 % of a minute's quota, so 16 in flight
# stays inside it whatever the latency, and the calls' waits on the wire take half as long
# as with 8 (702 / 16 rounds instead of 702 / 8); only a read of some 6,000 service accounts
# or more would meet the quota, and RESOURCE_EXHAUSTED is retried with backoff.
DEFAULT_IAM_CONCURRENCY = 16
# How many whole read-modify-write cycles one edit may take when other writers keep changing
# the policy (409 ABORTED: "retry the whole read-modify-write with exponential backoff").
DEFAULT_WRITE_ATTEMPTS = 5

# google.api_core exceptions worth retrying (AIP-194: UNAVAILABLE, RESOURCE_EXHAUSTED and
# DEADLINE_EXCEEDED are transient); everything else is permanent.
_TEMPORARY_GRPC = (
    core_exceptions.ServiceUnavailable,
    core_exceptions.ResourceExhausted,
    core_exceptions.DeadlineExceeded,
)


def translate_error(exc: BaseException, what: str) -> ProviderError:
    """Map a client-library exception onto the project's error hierarchy (no secrets: the
    messages carry the operation, the status and Google's own error message only)."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, HttpError):
        status = int(exc.resp.status)
        message = f"{what}: HTTP {status}: {_http_error_message(exc)}"
        return error_for_status(message, status, retry_after_seconds(exc.resp.get("retry-after")))
    if isinstance(exc, _TEMPORARY_GRPC):
        return TemporaryProviderError(
            f"{what}: {exc.code}: {exc.message}",
            status=_http_status(exc),
            retry_after=_grpc_retry_after(exc),
        )
    if isinstance(exc, core_exceptions.Aborted):
        return ConflictError(f"{what}: ABORTED: {exc.message}", status=409)
    if isinstance(exc, core_exceptions.GoogleAPICallError):
        return PermanentProviderError(
            f"{what}: {exc.code}: {exc.message}", status=_http_status(exc)
        )
    if isinstance(exc, TRANSPORT_ERRORS):
        # Dropped connections, resets, timeouts, truncated answers: the request may not have
        # arrived (a write that did land is caught by its etag on the retry).
        return TemporaryProviderError(f"{what}: connection failed: {type(exc).__name__}")
    return PermanentProviderError(f"{what}: {type(exc).__name__}: {exc}")


def _http_error_message(exc: HttpError) -> str:
    try:
        payload = json.loads(exc.content)
        return str(payload["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return str(exc.reason or "")


def _http_status(exc: core_exceptions.GoogleAPICallError) -> int | None:
    code = exc.code
    return int(code) if isinstance(code, int) else None


def _grpc_retry_after(exc: core_exceptions.GoogleAPICallError) -> float | None:
    response = getattr(exc, "response", None)
    trailing = getattr(response, "trailing_metadata", None)
    if not callable(trailing):
        return None
    try:
        metadata = trailing() or ()
    except Exception:  # the call object may be gone; the hint is optional
        return None
    for key, value in metadata:
        if key == "retry-after":
            return retry_after_seconds(str(value))
    return None


def message_dict(message: Any) -> dict[str, Any]:
    """A google-cloud-iam (proto-plus) message in protobuf's JSON mapping, the edge where the
    gRPC answers become plain values for `gcp_payloads`: camelCase field names as the IAM
    REST reference spells them, enums by name, Timestamps as RFC 3339 strings, fields at
    their default left out (as a REST answer leaves them out)."""
    result: dict[str, Any] = type(message).to_dict(
        message,
        use_integers_for_enums=False,
        preserving_proto_field_name=False,
        always_print_fields_with_no_presence=False,
    )
    return result


class GcpIamProvider:
    """Reads and edits GCP IAM: Resource Manager policies, service accounts and their keys."""

    system = System.GCP

    def __init__(
        self,
        *,
        crm: Any,
        asset: Any,
        iam: iam_admin_v1.IAMClient,
        http_factory: Callable[[], httplib2.Http],
        organization: str | None = None,
        retry: RetryPolicy = DEFAULT_POLICY,
        concurrency: int = DEFAULT_CONCURRENCY,
        iam_concurrency: int = DEFAULT_IAM_CONCURRENCY,
        write_attempts: int = DEFAULT_WRITE_ATTEMPTS,
        credentials: Credentials | None = None,
    ) -> None:
        """crm / asset: discovery `Resource`s for cloudresourcemanager v3 and cloudasset v1;
        iam: an IAMClient; http_factory: makes one (authorised) httplib2.Http per thread,
        because httplib2 connections are not thread-safe; organization: the scope of
        reverse look-ups ("organizations/123"); credentials: what the clients authenticate
        with, kept only to say who the provider acts as (`acting_as`); None when the
        clients send none (the sandbox)."""
        self._crm = crm
        # One discovery collection per kind, built once: building one costs more CPU than
        # the request it makes (a profile of the 10,000-person read: 0.6 s of the policies'
        # 1.0 s), and requests built from it are independent, so the threads share it.
        self._collections = {
            "projects": crm.projects(),
            "folders": crm.folders(),
            "organizations": crm.organizations(),
        }
        self._asset = asset
        self._iam = iam
        self._http_factory = http_factory
        self._local = threading.local()
        self.organization = organization
        self.retry = retry
        self.concurrency = max(1, concurrency)  # Resource Manager calls in flight
        self.iam_concurrency = max(1, iam_concurrency)  # IAM Admin calls in flight
        self.write_attempts = max(1, write_attempts)
        self._credentials = credentials
        self._acting_as: tuple[str, ...] | None = None

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_sandbox(cls, info: dict[str, Any], **kwargs: Any) -> GcpIamProvider:
        """From the sandbox's `GET /_sandbox/` answer: REST via the base URL, IAM via gRPC."""
        base_url = str(info.get("google") or info["base_url"]).rstrip("/")
        crm_doc = json.loads(get_static_doc("cloudresourcemanager", "v3"))
        asset_doc = json.loads(get_static_doc("cloudasset", "v1"))
        # Replacing rootUrl moves every method of the document (client_libs.md section 1).
        crm_doc["rootUrl"] = asset_doc["rootUrl"] = base_url + "/"
        channel = grpc.insecure_channel(str(info["iam_grpc"]))
        kwargs.setdefault("organization", info.get("gcp_organization"))
        return cls(
            crm=build_from_document(crm_doc, http=httplib2.Http()),
            asset=build_from_document(asset_doc, http=httplib2.Http()),
            iam=iam_admin_v1.IAMClient(transport=IAMGrpcTransport(channel=channel)),
            http_factory=lambda: httplib2.Http(timeout=30),
            **kwargs,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, organization: str | None = None, **kwargs: Any
    ) -> GcpIamProvider:
        """Production: Application Default Credentials (workload identity on Cloud Run, no
        key files, policy 第4.1条); the sandbox when `settings.sandbox_url` is set."""
        if settings.sandbox_url:
            import requests

            info = requests.get(f"{settings.sandbox_url.rstrip('/')}/_sandbox/", timeout=10)
            info.raise_for_status()
            if organization:
                kwargs["organization"] = organization
            return cls.from_sandbox(info.json(), **kwargs)
        credentials: Credentials
        credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
        credentials = register_refreshed_tokens(credentials)  # each token it obtains is masked
        crm_doc = json.loads(get_static_doc("cloudresourcemanager", "v3"))
        asset_doc = json.loads(get_static_doc("cloudasset", "v1"))

        def authorised_http() -> httplib2.Http:
            return AuthorizedHttp(credentials, http=httplib2.Http(timeout=60))

        return cls(
            crm=build_from_document(crm_doc, http=authorised_http()),
            asset=build_from_document(asset_doc, http=authorised_http()),
            iam=iam_admin_v1.IAMClient(credentials=credentials),
            http_factory=authorised_http,
            organization=organization,
            credentials=credentials,
            **kwargs,
        )

    # -- identity -------------------------------------------------------------------------
    def acting_as(self) -> tuple[str, ...]:
        """ "serviceAccount:<email>" of the credentials, when they are a service account's
        (key, impersonated, workload identity on Cloud Run / GCE). ADC on Cloud Run / GCE
        starts as the placeholder "default" until the first token refresh asks the metadata
        server for the real address (google-auth compute_engine.Credentials); it is
        refreshed here once to learn it, and a failed refresh raises, so an apply refuses to
        start rather than run without the guard. Credentials of a person (a developer's
        gcloud login) name no service account: () - that person is in the repo, and the
        planner treats them like anyone else. No credentials (the sandbox): ()."""
        if self._acting_as is None:
            credentials = self._credentials
            email = getattr(credentials, "service_account_email", None)
            if credentials is not None and email == "default":
                request = google.auth.transport.requests.Request()
                self._call(
                    "learn the service account (metadata server)",
                    lambda: credentials.refresh(request),  # type: ignore[no-untyped-call]
                )
                email = getattr(credentials, "service_account_email", None)
            real = isinstance(email, str) and "@" in email
            self._acting_as = (normalise_member(f"serviceAccount:{email}"),) if real else ()
        return self._acting_as

    # -- plumbing -------------------------------------------------------------------------
    def _http(self) -> httplib2.Http:
        http: httplib2.Http | None = getattr(self._local, "http", None)
        if http is None:
            http = self._http_factory()
            self._local.http = http
        return http

    def _call(self, what: str, fn: Callable[[], T], tally: ReadTally | None = None) -> T:
        """One logical call under the shared retry policy, errors translated; each attempt is
        one API call and one round trip in `tally` (it is what quota sees)."""

        def attempt() -> T:
            if tally is not None:
                tally.count()
            try:
                return fn()
            except Exception as exc:
                raise translate_error(exc, what) from exc

        return call_with_retry(attempt, self.retry)

    def _execute(self, request: Any) -> dict[str, Any]:
        # num_retries=0: the library's own retry ignores Retry-After (client_libs.md section 1).
        result: dict[str, Any] = request.execute(http=self._http(), num_retries=0)
        return result

    def _collection(self, resource: str) -> Any:
        collection = self._collections.get(resource.split("/", 1)[0])
        if collection is None:
            raise PermanentProviderError(f"not a Resource Manager resource: {resource}")
        return collection

    def get_policy_json(self, resource: str, tally: ReadTally | None = None) -> dict[str, Any]:
        """The raw policy of one resource at version 3 (conditions intact), with its etag."""
        collection = self._collection(resource)
        body = {"options": {"requestedPolicyVersion": POLICY_VERSION}}
        return self._call(
            f"getIamPolicy {resource}",
            lambda: self._execute(collection.getIamPolicy(resource=resource, body=body)),
            tally,
        )

    def held_permissions(self, resource: str, permissions: Sequence[str]) -> frozenset[str]:
        """Which of `permissions` the caller holds on `resource`: Resource Manager
        testIamPermissions, which needs no permission itself (how `doctor` checks a
        deployment before its first run). Raises a ProviderError (403: the resource does not
        exist or the caller cannot see it)."""
        collection = self._collection(resource)
        body = {"permissions": list(permissions)}
        answer = self._call(
            f"testIamPermissions {resource}",
            lambda: self._execute(collection.testIamPermissions(resource=resource, body=body)),
        )
        return frozenset(str(p) for p in answer.get("permissions", []))

    # -- read -----------------------------------------------------------------------------
    def read(self, desired: DesiredState, now: datetime | None = None) -> SnapshotPart:
        resources = [scope.resource for scope in desired.organization.systems.gcp]
        if self.organization is None:
            self.organization = next((r for r in resources if r.startswith("organizations/")), None)
        projects = [r.removeprefix("projects/") for r in resources if r.startswith("projects/")]
        tally = ReadTally(System.GCP)
        policies: list[IamPolicy] = []
        grants: set[Grant] = set()
        # Resource Manager (policies) and IAM Admin (service accounts, keys) have separate
        # quotas, so each has its own pool; a project's keys are asked for as soon as its
        # service accounts are listed, while the other lists and the policies are in flight,
        # and each answer is turned into model values while the later calls are on the wire.
        with (
            ThreadPoolExecutor(self.concurrency, thread_name_prefix="gcp-read") as crm_pool,
            ThreadPoolExecutor(self.iam_concurrency, thread_name_prefix="gcp-iam") as iam_pool,
        ):
            policy_jobs = [(r, crm_pool.submit(self.get_policy_json, r, tally)) for r in resources]
            sa_jobs = [
                (p, iam_pool.submit(self._read_service_accounts, p, tally)) for p in projects
            ]
            key_jobs: list[tuple[ServiceAccount, Future[list[ServiceAccountKey]]]] = []
            for project, sa_job in sa_jobs:
                try:
                    listed = sa_job.result()
                except ProviderError as exc:
                    tally.problem(f"service accounts of projects/{project} not read: {exc}")
                    continue
                key_jobs += [(sa, iam_pool.submit(self._read_keys, sa, tally)) for sa in listed]
            for resource, job in policy_jobs:
                try:
                    policy = policy_from_json(resource, job.result())
                except ProviderError as exc:
                    tally.problem(f"IAM policy of {resource} not read: {exc}")
                    continue
                policies.append(policy)
                grants.update(grants_from_policy(policy))
            service_accounts: list[ServiceAccount] = []
            for sa, key_job in key_jobs:
                try:
                    service_accounts.append(with_keys(sa, key_job.result()))
                except ProviderError as exc:
                    tally.problem(f"keys of {sa.email} not read: {exc}")
                    service_accounts.append(sa)
        return SnapshotPart(
            system=System.GCP,
            status=tally.status(),
            accounts=tuple(account_of(sa) for sa in service_accounts),
            grants=tuple(sorted(grants, key=grant_order)),
            service_accounts=tuple(service_accounts),
            policies=tuple(policies),
        )

    def _read_service_accounts(self, project: str, tally: ReadTally) -> list[ServiceAccount]:
        """Every page of ListServiceAccounts, each page retried on its own; one failed page
        fails the whole list (a partial list must never look like "no such account")."""
        found: list[ServiceAccount] = []
        token = ""
        while True:
            request = {
                "name": f"projects/{project}",
                "page_size": SA_PAGE_SIZE,
                "page_token": token,
            }
            # One page per call: the pager exposes the first response's fields, and its own
            # iteration would fetch further pages outside our retry policy.
            page = self._call(
                f"ListServiceAccounts projects/{project}",
                lambda request=request: self._iam.list_service_accounts(  # type: ignore[misc]
                    request=request, retry=None
                ),
                tally,
            )
            found += [service_account_from_dict(message_dict(sa), project) for sa in page.accounts]
            token = page.next_page_token
            if not token:
                return found

    def role_names(self, parents: Iterable[str]) -> frozenset[str]:
        """The names of every role under each ListRoles parent ("" = the predefined roles,
        `projects/P`, `organizations/N` = their custom roles), deleted custom roles left out.

        ListRoles pages of 1,000 in the BASIC view (no permission lists) are the cheapest way
        to know a set of names: the predefined roles (some 2,000) take a few round trips
        however many roles the repo names, each custom-role parent usually one, where GetRole
        would cost one call per role named and give no candidates for a did-you-mean. The
        parents are listed concurrently; a failure raises (an unchecked role must not pass
        as known)."""
        wanted = sorted(set(parents))
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="gcp-roles") as pool:
            found = list(pool.map(self._list_roles, wanted))
        return frozenset(name for names in found for name in names)

    def _list_roles(self, parent: str) -> list[str]:
        names: list[str] = []
        token = ""
        while True:
            request = {
                "parent": parent,
                "page_size": ROLES_PAGE_SIZE,
                "page_token": token,
                "view": iam_admin_v1.RoleView.BASIC,
            }
            page = self._call(
                f"ListRoles {parent or 'roles'}",
                lambda request=request: self._iam.list_roles(  # type: ignore[misc]
                    request=request, retry=None
                ),
            )
            names.extend(role.name for role in page.roles if not role.deleted)
            token = page.next_page_token
            if not token:
                return names

    def _read_keys(self, sa: ServiceAccount, tally: ReadTally) -> list[ServiceAccountKey]:
        """USER_MANAGED keys only: system-managed keys are rotated by Google and never leave it
        (ServiceAccountKey docs), so they are no one's credential to review."""
        name = f"projects/{sa.project}/serviceAccounts/{sa.email}"
        response = self._call(
            f"ListServiceAccountKeys {sa.email}",
            lambda: self._iam.list_service_account_keys(
                request={
                    "name": name,
                    "key_types": [iam_admin_v1.ListServiceAccountKeysRequest.KeyType.USER_MANAGED],
                },
                retry=None,
            ),
            tally,
        )
        return [key_from_dict(message_dict(key)) for key in response.keys]

    def read_person(self, person: Person) -> SnapshotPart:
        """Cloud Asset searchAllIamPolicies for `policy:user:<email>` over the organization:
        the cost depends on the bindings naming the person, not on the organization's size."""
        tally = ReadTally(System.GCP)
        if not self.organization:
            tally.problem("no GCP organization configured for reverse look-ups")
            return SnapshotPart(system=System.GCP, status=tally.status())
        member = gcp_user(person.email)
        results: list[Mapping[str, Any]] = []
        token: str | None = None
        scope = self.organization
        try:
            while True:
                page_token = token
                response = self._call(
                    f"searchAllIamPolicies {scope}",
                    lambda page_token=page_token: self._execute(  # type: ignore[misc]
                        self._asset.v1().searchAllIamPolicies(
                            scope=scope,
                            query=f"policy:{member}",
                            pageSize=SEARCH_PAGE_SIZE,
                            pageToken=page_token,
                        )
                    ),
                    tally,
                )
                results += response.get("results", [])
                token = response.get("nextPageToken")
                if not token:
                    break
        except ProviderError as exc:
            tally.problem(f"reverse look-up of {person.email} failed: {exc}")
            return SnapshotPart(system=System.GCP, status=tally.status())
        return SnapshotPart(
            system=System.GCP,
            status=tally.status(),
            grants=tuple(sorted(set(grants_naming(member, results)))),
        )

    # -- apply ----------------------------------------------------------------------------
    def apply(self, action: Action) -> ActionResult:
        if action.kind is ActionKind.ADD_BINDING:
            adds, removes = [(action.role, action.principal)], []
        elif action.kind is ActionKind.REMOVE_BINDING:
            adds, removes = [], [(action.role, action.principal)]
        else:
            raise PermanentProviderError(f"the GCP provider cannot apply {action.kind.value}")
        changed = self.apply_bindings(action.target, adds, removes)
        return ActionResult(
            action_id=action.id,
            ok=True,
            changed=changed,
            message=action.describe() if changed else f"already done: {action.describe()}",
        )

    def apply_bindings(
        self,
        resource: str,
        adds: Iterable[tuple[str, str]],
        removes: Iterable[tuple[str, str]],
    ) -> bool:
        """Add and remove (role, member) pairs on one resource's unconditional bindings in a
        single read-modify-write; True when the policy changed.

        setIamPolicy replaces the whole policy, so the cycle is: read at version 3, edit only
        the named members, write back with the etag. A 409 ABORTED means another writer got in
        between: the whole cycle is retried on a fresh read with exponential backoff
        (api_facts.md section 3), at most `write_attempts` times, then ConflictError."""
        add_list, remove_list = list(adds), list(removes)
        sleep = self.retry.sleep if self.retry.sleep is not None else time.sleep
        last: ConflictError | None = None
        collection = self._collection(resource)
        for attempt in range(self.write_attempts):
            if attempt:
                sleep(min(self.retry.max_wait, self.retry.initial_wait * 2 ** (attempt - 1)))
            policy = self.get_policy_json(resource)
            edited, changed = edit_bindings(policy.get("bindings", []), add_list, remove_list)
            if not changed:
                return False
            refuse_last_owner(resource, policy.get("bindings", []), edited)
            # Only bindings, etag and version are sent; with no updateMask the API applies the
            # default mask "bindings, etag" (SetIamPolicyRequest.updateMask), so auditConfigs
            # and everything else on the policy stay exactly as they are.
            body = {
                "policy": {
                    "version": POLICY_VERSION,
                    "etag": policy.get("etag"),
                    "bindings": edited,
                }
            }
            try:
                self._call(
                    f"setIamPolicy {resource}",
                    lambda body=body: self._execute(  # type: ignore[misc]
                        collection.setIamPolicy(resource=resource, body=body)
                    ),
                )
            except ConflictError as exc:
                last = exc
                continue
            return True
        raise ConflictError(
            f"setIamPolicy {resource}: the policy kept changing during {self.write_attempts} "
            f"read-modify-write attempts; re-read and re-plan ({last})",
            status=409,
        )
