"""Sandbox IAM Admin v1 over gRPC (service accounts, keys, predefined and custom roles); started by
`server.SandboxServer` next to the HTTP port, driven by google-cloud-iam's IAMClient.

google-cloud-iam's admin v1 client ships only gRPC transports (research/client_libs.md
section 3), so this is a real `grpc.server` with a generic handler that speaks the proto-plus
types of `google.cloud.iam_admin_v1` - conformant by construction. Every call is counted in
`app.telemetry` (api "gcp", endpoints "iam.<Method>"), logged in the request log with method
"GRPC" and path "/google.iam.admin.v1.IAM/<Method>", and subject to the core fault rules: a
rule's HTTP status is mapped to the gRPC code Google documents for it (google.rpc.Code).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import grpc
from google.cloud.iam_admin_v1 import types as iam

from reconciler.sandbox.http import DISCARDED_MESSAGE, Request, Route
from reconciler.sandbox.iam_roles import ROLE_NAME, all_roles

if TYPE_CHECKING:
    from reconciler.sandbox.server import Sandbox

SERVICE = "google.iam.admin.v1.IAM"

# ListServiceAccountsRequest.page_size: "default 20 ... maximum 100" (IAM REST reference).
SA_DEFAULT_PAGE = 20
SA_MAX_PAGE = 100

# ListRolesRequest.page_size: "The default is 300, and the maximum is 1,000."
ROLES_DEFAULT_PAGE = 300
ROLES_MAX_PAGE = 1000
# ListRoles parents as the IAM reference spells them.
ROLE_PARENT = re.compile(r"projects/[a-z][a-z0-9-]{4,28}[a-z0-9]|organizations/[0-9]+")

# HTTP status -> gRPC code, as google.rpc.Code documents the HTTP mapping of each code.
HTTP_TO_GRPC = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ABORTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    500: grpc.StatusCode.INTERNAL,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
GRPC_TO_HTTP = {code: status for status, code in HTTP_TO_GRPC.items()}


class RpcFailure(Exception):
    """Raised by a method to end the call with a gRPC status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class GrpcServer:
    """The running server: `.port` is the bound port (0 asks for a random one)."""

    server: grpc.Server
    port: int

    def stop(self) -> None:
        self.server.stop(grace=None)


def _timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sa:{offset}".encode()).decode()


def _page_offset(token: str) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except ValueError as exc:
        raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "Invalid page token.") from exc
    if not re.fullmatch(r"sa:\d+", text):
        raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "Invalid page token.")
    return int(text[3:])


class IamAdmin:
    """The method implementations, reading `app.world["gcp"]` under `app.lock`."""

    def __init__(self, app: Sandbox) -> None:
        self.app = app

    def _gcp(self) -> dict[str, Any]:
        gcp = self.app.world.get("gcp") or {}
        return gcp if isinstance(gcp, dict) else {}

    def _accounts(self, project: str) -> list[dict[str, Any]]:
        return [
            sa for sa in self._gcp().get("service_accounts", []) if sa.get("project") == project
        ]

    def _projects(self) -> set[str]:
        names = {r["name"] for r in self._gcp().get("resources", [])}
        names |= {f"projects/{sa['project']}" for sa in self._gcp().get("service_accounts", [])}
        return {n.removeprefix("projects/") for n in names if n.startswith("projects/")}

    def _find_account(self, name: str) -> dict[str, Any]:
        # name: projects/{PROJECT_ID|-}/serviceAccounts/{EMAIL|UNIQUE_ID}; "-" is the
        # documented wildcard for the project (GetServiceAccountRequest.name).
        m = re.fullmatch(r"projects/([^/]+)/serviceAccounts/([^/]+)", name)
        if not m:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource name: {name}")
        project, key = m.groups()
        for sa in self._gcp().get("service_accounts", []):
            if project not in ("-", sa.get("project")):
                continue
            if key.lower() == str(sa.get("email", "")).lower() or key == sa.get("unique_id"):
                return dict(sa)
        raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"Unknown service account: {name}")

    @staticmethod
    def _account_message(sa: dict[str, Any]) -> iam.ServiceAccount:
        project = sa["project"]
        return iam.ServiceAccount(
            name=f"projects/{project}/serviceAccounts/{sa['email']}",
            project_id=project,
            unique_id=str(sa["unique_id"]),
            email=sa["email"],
            display_name=sa.get("display_name", ""),
            description=sa.get("description", ""),
            oauth2_client_id=str(sa["unique_id"]),
            disabled=bool(sa.get("disabled", False)),
            etag=b"BwWWja0YfJA=",
        )

    def list_service_accounts(
        self, request: iam.ListServiceAccountsRequest
    ) -> iam.ListServiceAccountsResponse:
        m = re.fullmatch(r"projects/([^/]+)", request.name)
        if not m:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid name: {request.name}")
        size = request.page_size if request.page_size > 0 else SA_DEFAULT_PAGE
        size = min(size, SA_MAX_PAGE)
        offset = _page_offset(request.page_token)
        with self.app.lock:
            if m.group(1) not in self._projects():
                raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"Unknown project: {request.name}")
            accounts = sorted(self._accounts(m.group(1)), key=lambda sa: str(sa["email"]))
        page = accounts[offset : offset + size]
        token = _page_token(offset + size) if offset + size < len(accounts) else ""
        return iam.ListServiceAccountsResponse(
            accounts=[self._account_message(sa) for sa in page], next_page_token=token
        )

    def get_service_account(self, request: iam.GetServiceAccountRequest) -> iam.ServiceAccount:
        with self.app.lock:
            return self._account_message(self._find_account(request.name))

    def list_service_account_keys(
        self, request: iam.ListServiceAccountKeysRequest
    ) -> iam.ListServiceAccountKeysResponse:
        with self.app.lock:
            sa = self._find_account(request.name)
        # key_types: "If empty, all key types are returned" (ListServiceAccountKeysRequest).
        wanted = {iam.ListServiceAccountKeysRequest.KeyType(t).name for t in request.key_types}
        keys = []
        for key in sa.get("keys", []):
            if wanted and key["key_type"] not in wanted:
                continue
            keys.append(
                iam.ServiceAccountKey(
                    name=f"projects/{sa['project']}/serviceAccounts/{sa['email']}/keys/{key['id']}",
                    key_type=getattr(iam.ListServiceAccountKeysRequest.KeyType, key["key_type"]),
                    key_algorithm=iam.ServiceAccountKeyAlgorithm.KEY_ALG_RSA_2048,
                    key_origin=iam.ServiceAccountKeyOrigin.GOOGLE_PROVIDED,
                    valid_after_time=_timestamp(key.get("valid_after")),
                    valid_before_time=_timestamp(key.get("valid_before")),
                    disabled=bool(key.get("disabled", False)),
                )
            )
        return iam.ListServiceAccountKeysResponse(keys=keys)

    def _roles(self) -> dict[str, dict[str, Any]]:
        with self.app.lock:
            return all_roles(self._gcp())

    def get_role(self, request: iam.GetRoleRequest) -> iam.Role:
        # GetRoleRequest.name: roles/{ROLE_NAME}, projects/{PROJECT_ID}/roles/{CUSTOM_ROLE_ID}
        # or organizations/{ORGANIZATION_ID}/roles/{CUSTOM_ROLE_ID}. A deleted custom role is
        # still answered (with `deleted`) until it is purged.
        if not ROLE_NAME.fullmatch(request.name):
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid role name: {request.name}")
        role = self._roles().get(request.name)
        if role is None:
            raise RpcFailure(
                grpc.StatusCode.NOT_FOUND, f"The role named {request.name} was not found."
            )
        return _role_message(request.name, role, full=True)

    def list_roles(self, request: iam.ListRolesRequest) -> iam.ListRolesResponse:
        """ListRolesRequest: `parent` empty for the predefined roles, `projects/{ID}` or
        `organizations/{ID}` for that resource's custom roles (wildcards are invalid);
        `page_size` default 300, maximum 1,000; `view` BASIC omits includedPermissions, FULL
        returns them; deleted custom roles only with `show_deleted`."""
        parent = request.parent
        if parent and not ROLE_PARENT.fullmatch(parent):
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid parent: {parent}")
        prefix = f"{parent}/roles/" if parent else "roles/"
        roles = sorted(
            (name, role)
            for name, role in self._roles().items()
            if name.startswith(prefix)
            and "/" not in name[len(prefix) :]
            and (request.show_deleted or not role.get("deleted"))
        )
        size = request.page_size if request.page_size > 0 else ROLES_DEFAULT_PAGE
        size = min(size, ROLES_MAX_PAGE)
        offset = _page_offset(request.page_token)
        page = roles[offset : offset + size]
        token = _page_token(offset + size) if offset + size < len(roles) else ""
        full = request.view == iam.RoleView.FULL
        return iam.ListRolesResponse(
            roles=[_role_message(name, role, full=full) for name, role in page],
            next_page_token=token,
        )

    def query_grantable_roles(
        self, request: iam.QueryGrantableRolesRequest
    ) -> iam.QueryGrantableRolesResponse:
        # Every role in the world is grantable on every resource: the sandbox does not model
        # which roles apply to which resource types.
        roles = sorted((n, r) for n, r in self._roles().items() if not r.get("deleted"))
        size = min(request.page_size if request.page_size > 0 else 300, 1000)
        offset = _page_offset(request.page_token)
        page = roles[offset : offset + size]
        token = _page_token(offset + size) if offset + size < len(roles) else ""
        return iam.QueryGrantableRolesResponse(
            roles=[iam.Role(name=n, title=r.get("title", "")) for n, r in page],
            next_page_token=token,
        )


def _role_message(name: str, role: dict[str, Any], *, full: bool) -> iam.Role:
    stage = getattr(iam.Role.RoleLaunchStage, str(role.get("stage", "GA")))
    return iam.Role(
        name=name,
        title=role.get("title", ""),
        description=role.get("description", ""),
        included_permissions=list(role.get("included_permissions", [])) if full else [],
        stage=stage,
        etag=b"AA==",
        deleted=bool(role.get("deleted", False)),
    )


def serve(app: Sandbox, host: str, port: int) -> GrpcServer:
    """Start the IAM Admin gRPC server on host:port (0 = random) and return it."""
    admin = IamAdmin(app)
    # Google serves a client's concurrent calls side by side; a pool smaller than what a
    # client keeps in flight would queue them here and measure the sandbox, not the client.
    workers = futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="iam-grpc")
    server = grpc.server(workers)
    bound = server.add_insecure_port(f"{host}:{port}")
    methods: dict[str, tuple[Callable[[Any], Any], type[Any], type[Any]]] = {
        "ListServiceAccounts": (
            admin.list_service_accounts,
            iam.ListServiceAccountsRequest,
            iam.ListServiceAccountsResponse,
        ),
        "GetServiceAccount": (
            admin.get_service_account,
            iam.GetServiceAccountRequest,
            iam.ServiceAccount,
        ),
        "ListServiceAccountKeys": (
            admin.list_service_account_keys,
            iam.ListServiceAccountKeysRequest,
            iam.ListServiceAccountKeysResponse,
        ),
        "GetRole": (admin.get_role, iam.GetRoleRequest, iam.Role),
        "ListRoles": (admin.list_roles, iam.ListRolesRequest, iam.ListRolesResponse),
        "QueryGrantableRoles": (
            admin.query_grantable_roles,
            iam.QueryGrantableRolesRequest,
            iam.QueryGrantableRolesResponse,
        ),
    }
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            _instrumented(app, name, fn, f"{host}:{bound}"),
            request_deserializer=req_type.deserialize,
            response_serializer=resp_type.serialize,
        )
        for name, (fn, req_type, resp_type) in methods.items()
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.start()
    return GrpcServer(server=server, port=bound)


def _instrumented(
    app: Sandbox, method: str, fn: Callable[[Any], Any], address: str
) -> Callable[[Any, grpc.ServicerContext], Any]:
    """Wrap a method with latency, fault rules, counting and the request log."""
    path = f"/{SERVICE}/{method}"
    route = Route("GRPC", re.compile(re.escape(path)), lambda r: None, f"iam.{method}", "gcp")  # type: ignore[arg-type,return-value]

    def call(request: Any, context: grpc.ServicerContext) -> Any:
        req = Request(
            method="GRPC",
            path=path,
            raw_path=path,
            query={},
            headers={k.lower(): str(v) for k, v in context.invocation_metadata()},
            body=b"",
            base_url=f"grpc://{address}",
        )
        epoch = app.epoch
        # A call that slept through a reset or a clearing of the faults is discarded, as on
        # HTTP (`Sandbox.dispatch`): it must not act on the new world.
        if not app.pause(app.latency_ms, epoch):
            context.abort(grpc.StatusCode.UNAVAILABLE, DISCARDED_MESSAGE)
        # The core's own fault matcher, so nth/probability/times count exactly as for HTTP.
        fault = app.fault_for(req)
        if fault is not None:
            if not app.pause(fault.delay_ms, epoch):
                context.abort(grpc.StatusCode.UNAVAILABLE, DISCARDED_MESSAGE)
            if fault.drop_connection or fault.status is not None:
                status = 503 if fault.drop_connection else int(fault.status or 500)
                app.telemetry.record(req, route, status)
                code = HTTP_TO_GRPC.get(status, grpc.StatusCode.UNKNOWN)
                retry_after = fault.headers.get("Retry-After") or fault.headers.get("retry-after")
                if retry_after:
                    context.set_trailing_metadata((("retry-after", str(retry_after)),))
                context.abort(code, f"sandbox fault: HTTP {status}")
        try:
            response = fn(request)
        except RpcFailure as failure:
            app.telemetry.record(req, route, GRPC_TO_HTTP.get(failure.code, 500))
            context.abort(failure.code, failure.message)
        app.telemetry.record(req, route, 200)
        return response

    return call
