"""Sandbox emulation of Cloud Resource Manager v3 IAM policies and Cloud Asset v1
searchAllIamPolicies; registered on the sandbox by `server.Sandbox`, driven by the GCP provider.

World section "gcp" (docs/sandbox-gcp.md, schemas/gcp.schema.json): the organization, the
resources (projects, folders, organizations) with their IAM policies, service accounts and role
definitions. Policies live in `app.world`; the per-policy revision counters that make etags live
in this module's index, rebuilt by a reset hook whenever a world is loaded.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.sandbox.http import Request, Response
from reconciler.sandbox.iam_roles import grantable

if TYPE_CHECKING:
    from reconciler.sandbox.server import Sandbox


SERVES = "Cloud Resource Manager v3 IAM policies and Cloud Asset v1 searchAllIamPolicies"
CRM_PREFIX = "//cloudresourcemanager.googleapis.com/"

# The message the real API sends on an etag mismatch (IAM docs, "Policy versions": "There were
# concurrent policy changes..."); clients match on status ABORTED, people read the message.
CONCURRENT_CHANGE_MESSAGE = (
    "There were concurrent policy changes. Please retry the whole read-modify-write with "
    "exponential backoff."
)

# Binding.members prefixes the API accepts (discovery doc, Binding.members description).
MEMBER_PREFIXES = (
    "user:",
    "group:",
    "serviceAccount:",
    "domain:",
    "deleted:",
    "principal:",
    "principalSet:",
)
SPECIAL_MEMBERS = ("allUsers", "allAuthenticatedUsers")

ASSET_TYPES = {
    "projects": "cloudresourcemanager.googleapis.com/Project",
    "folders": "cloudresourcemanager.googleapis.com/Folder",
    "organizations": "cloudresourcemanager.googleapis.com/Organization",
}

# searchAllIamPolicies: "Page size is capped at 500 even if a larger value is given. If set to
# zero or a negative value, server will pick an appropriate default" (cloudasset v1 discovery).
SEARCH_MAX_PAGE = 500
SEARCH_DEFAULT_PAGE = 100

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def google_error(code: int, message: str, status: str | None = None) -> Response:
    """Google's JSON error shape (AIP-193): {"error": {"code", "message", "status"}}."""
    return Response.json(
        {"error": {"code": code, "message": message, "status": status or STATUS_NAMES[code]}},
        code,
    )


def make_etag(resource: str, revision: int) -> str:
    """Valid base64 (the GAPIC clients decode etags to bytes) of the resource and its revision,
    so an etag read from one policy never matches another policy's."""
    raw = struct.pack(">II", zlib.crc32(resource.encode()), revision)
    return base64.b64encode(raw).decode()


@dataclass
class ConcurrentChange:
    """A write by "someone else" applied just before the nth matching setIamPolicy is handled,
    so that write carries a stale etag: how tests provoke a real etag conflict."""

    resource: str
    nth: int = 1
    add: list[dict[str, str]] = field(default_factory=list)  # [{"role", "member"}]
    remove: list[dict[str, str]] = field(default_factory=list)
    seen: int = 0
    fired: bool = False


class GcpIndex:
    """Resource name -> world entry, and per-policy revisions; rebuilt on every world load."""

    def __init__(self, app: Sandbox) -> None:
        self.app = app
        self.resources: dict[str, dict[str, Any]] = {}
        self.revisions: dict[str, int] = {}
        self.concurrent: list[ConcurrentChange] = []

    def rebuild(self) -> None:
        gcp = self.app.world.get("gcp") or {}
        self.resources = {r["name"]: r for r in gcp.get("resources", [])}
        self.revisions = dict.fromkeys(self.resources, 1)
        self.concurrent = []
        for name, resource in self.resources.items():
            policy = resource.setdefault("policy", {})
            policy.setdefault("bindings", [])
            policy["etag"] = make_etag(name, 1)

    @property
    def organization(self) -> str | None:
        gcp = self.app.world.get("gcp") or {}
        org = gcp.get("organization")
        return str(org) if org else None

    def bump(self, name: str) -> None:
        self.revisions[name] += 1
        self.resources[name]["policy"]["etag"] = make_etag(name, self.revisions[name])

    def ancestors(self, name: str) -> list[str]:
        """Parents up the hierarchy, nearest first; stops at names not in the world."""
        chain: list[str] = []
        parent = self.resources.get(name, {}).get("parent")
        while parent and parent not in chain:
            chain.append(parent)
            parent = self.resources.get(parent, {}).get("parent")
        return chain


def has_conditions(policy: dict[str, Any]) -> bool:
    return any(b.get("condition") for b in policy.get("bindings", []))


def render_policy(name: str, policy: dict[str, Any], requested: int) -> dict[str, Any]:
    """The policy as getIamPolicy returns it for `options.requestedPolicyVersion`.

    Documented behaviour (Policy.version, discovery): "if you specify version 3, but the policy
    has no conditional role bindings, the response uses version 1". A client that asks for less
    than 3 on a policy with conditions gets each conditional binding with the condition removed
    and `_withcond_<hash>` appended to the role (IAM docs, "Policy versions"), so it cannot
    round-trip the conditions by accident."""
    conditional = has_conditions(policy)
    bindings: list[dict[str, Any]] = []
    for binding in policy.get("bindings", []):
        out = {"role": binding["role"], "members": list(binding.get("members", []))}
        cond = binding.get("condition")
        if cond and requested >= 3:
            out["condition"] = dict(cond)
        elif cond:
            digest = zlib.crc32(json.dumps(cond, sort_keys=True).encode())
            out["role"] = f"{binding['role']}_withcond_{digest:08x}"
        bindings.append(out)
    rendered: dict[str, Any] = {
        "version": 3 if conditional and requested >= 3 else 1,
        "etag": policy["etag"],
    }
    if bindings:
        rendered["bindings"] = bindings
    if policy.get("auditConfigs"):
        rendered["auditConfigs"] = copy.deepcopy(policy["auditConfigs"])
    return rendered


def validate_policy(policy: Any) -> str | None:
    """An INVALID_ARGUMENT message for a malformed incoming policy, or None."""
    if not isinstance(policy, dict):
        return "Invalid JSON payload: 'policy' must be an object."
    version = policy.get("version", 0)
    if version not in (0, 1, 3):
        return f"Invalid policy version {version}: valid values are 0, 1 and 3."
    for binding in policy.get("bindings", []) or []:
        if not isinstance(binding, dict) or not binding.get("role"):
            return "Every binding must name a role."
        for member in binding.get("members", []) or []:
            if member not in SPECIAL_MEMBERS and not str(member).startswith(MEMBER_PREFIXES):
                return f"Invalid member: {member}"
        if binding.get("condition") and version != 3:
            # Policy.version: "Any operation that affects conditional role bindings must
            # specify version 3"; otherwise a v1 write could silently drop conditions.
            return "Conditional role bindings require policy version 3."
    return None


def register(app: Sandbox) -> None:
    """Register Resource Manager v3, Cloud Asset v1 and the GCP control routes."""
    index = GcpIndex(app)
    app.reset_hooks.append(index.rebuild)

    def describe(base_url: str) -> dict[str, Any]:
        with app.lock:
            return {
                "google": base_url,
                "gcp_resources": sorted(index.resources),
                "gcp_organization": index.organization,
            }

    app.describers.append(describe)

    def resource_of(req: Request) -> tuple[str, dict[str, Any] | None]:
        name = f"{req.params['kind']}/{req.params['id']}"
        return name, index.resources.get(name)

    def missing(name: str) -> Response:
        # CRM answers 403, not 404, for resources that do not exist or that the caller cannot
        # see, so existence does not leak (Resource Manager docs, projects.getIamPolicy).
        return google_error(
            403,
            f"The caller does not have permission on resource {name} (or it may not exist).",
        )

    def get_iam_policy(req: Request) -> Response:
        try:
            body = req.json()
        except ValueError:
            return google_error(400, "Invalid JSON payload received.")
        requested = int(((body or {}).get("options") or {}).get("requestedPolicyVersion") or 0)
        if requested not in (0, 1, 3):
            return google_error(400, f"Invalid requested policy version {requested}.")
        with app.lock:
            name, resource = resource_of(req)
            if resource is None:
                return missing(name)
            return Response.json(render_policy(name, resource["policy"], requested))

    def set_iam_policy(req: Request) -> Response:
        try:
            body = req.json()
        except ValueError:
            return google_error(400, "Invalid JSON payload received.")
        incoming = (body or {}).get("policy")
        problem = validate_policy(incoming)
        if problem or not isinstance(incoming, dict):
            return google_error(400, problem or "A policy is required.")
        mask = (body or {}).get("updateMask") or "bindings,etag"
        fields = {f.strip() for f in str(mask).split(",") if f.strip()}
        with app.lock:
            name, resource = resource_of(req)
            if resource is None:
                return missing(name)
            _fire_concurrent_changes(index, name)
            current = resource["policy"]
            etag = incoming.get("etag")
            # Read-modify-write: a stale etag means someone wrote in between. A missing etag
            # is accepted and the last write wins, as the real API does (Policy.etag docs).
            if etag and etag != current["etag"]:
                return google_error(409, CONCURRENT_CHANGE_MESSAGE, "ABORTED")
            if has_conditions(current) and incoming.get("version", 0) != 3:
                return google_error(
                    400, "The policy has conditional role bindings; use policy version 3."
                )
            # A binding to a role that does not exist is refused, as by the real API; roles
            # the policy already binds are let through (a world may hold invented ones).
            present = {b["role"] for b in current.get("bindings", [])}
            gcp = app.world.get("gcp") or {}
            for binding in incoming.get("bindings", []) or []:
                role = binding["role"]
                if binding.get("members") and role not in present and not grantable(gcp, role):
                    return google_error(400, f"Role {role} is not supported for this resource.")
            # SetIamPolicyRequest.updateMask: "If no mask is provided, the following default
            # mask is used: paths: 'bindings, etag'" - so auditConfigs survive a plain write.
            if "bindings" in fields:
                current["bindings"] = [
                    _clean_binding(b)
                    for b in incoming.get("bindings", []) or []
                    if b.get("members")
                ]
            if "auditConfigs" in fields or "audit_configs" in fields:
                current["auditConfigs"] = copy.deepcopy(incoming.get("auditConfigs", []) or [])
            current["version"] = 3 if has_conditions(current) else 1
            index.bump(name)
            return Response.json(render_policy(name, current, 3))

    def test_iam_permissions(req: Request) -> Response:
        """TestIamPermissionsRequest {permissions} -> the subset the caller holds on the
        resource (the world's `caller_permissions`; absent: all of them); the field is
        left out when none is held, as the JSON mapping omits empty repeated fields."""
        try:
            body = req.json()
        except ValueError:
            return google_error(400, "Invalid JSON payload received.")
        asked = (body or {}).get("permissions")
        if not isinstance(asked, list) or not all(isinstance(p, str) for p in asked):
            return google_error(400, "permissions must be a list of permission names.")
        with app.lock:
            name, resource = resource_of(req)
            if resource is None:
                return missing(name)
            held = resource.get("caller_permissions")
        granted = [p for p in asked if held is None or p in held]
        return Response.json({"permissions": granted} if granted else {})

    def search_all_iam_policies(req: Request) -> Response:
        scope = req.params["scope"]
        page_size = req.int_arg("pageSize", SEARCH_DEFAULT_PAGE)
        if page_size <= 0:
            page_size = SEARCH_DEFAULT_PAGE
        page_size = min(page_size, SEARCH_MAX_PAGE)
        offset = _decode_token(req.arg("pageToken"))
        if offset is None:
            return google_error(400, "Invalid page token.")
        matcher = _member_matcher(req.arg("query") or "")
        with app.lock:
            if scope not in index.resources and scope != index.organization:
                return google_error(403, f"The caller does not have permission on {scope}.")
            results = []
            for name in sorted(index.resources):
                if name != scope and scope not in index.ancestors(name):
                    continue
                result = _search_result(index, name, matcher)
                if result is not None:
                    results.append(result)
        page = results[offset : offset + page_size]
        payload: dict[str, Any] = {"results": page}
        if offset + page_size < len(results):
            payload["nextPageToken"] = _encode_token(offset + page_size)
        return Response.json(payload)

    def concurrent_change(req: Request) -> Response:
        spec = req.json()
        if not isinstance(spec, dict) or "resource" not in spec:
            return Response.json({"error": "body must name a resource"}, 400)
        change = ConcurrentChange(
            resource=str(spec["resource"]),
            nth=int(spec.get("nth", 1)),
            add=list(spec.get("add", [])),
            remove=list(spec.get("remove", [])),
        )
        with app.lock:
            index.concurrent.append(change)
        return Response.json({"ok": True}, 201)

    for verb, handler in (
        ("getIamPolicy", get_iam_policy),
        ("setIamPolicy", set_iam_policy),
        ("testIamPermissions", test_iam_permissions),
    ):
        app.add_route(
            "POST",
            "/v3/{kind}/{id}:" + verb,
            handler,
            name=f"gcp.crm.{verb}",
            api="gcp",
        )
    app.add_route(
        "GET",
        "/v1/{scope+}:searchAllIamPolicies",
        search_all_iam_policies,
        name="gcp.asset.searchAllIamPolicies",
        api="gcp",
    )
    app.add_route(
        "POST",
        "/_sandbox/gcp/concurrent-changes",
        concurrent_change,
        name="sandbox.gcp.concurrent-changes.post",
        api="control",
    )


def _clean_binding(binding: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"role": binding["role"], "members": list(binding["members"])}
    if binding.get("condition"):
        out["condition"] = dict(binding["condition"])
    return out


def _fire_concurrent_changes(index: GcpIndex, name: str) -> None:
    for change in index.concurrent:
        if change.resource != name or change.fired:
            continue
        change.seen += 1
        if change.seen != change.nth:
            continue
        change.fired = True
        bindings = index.resources[name]["policy"]["bindings"]
        for edit in change.add:
            target = next(
                (b for b in bindings if b["role"] == edit["role"] and not b.get("condition")),
                None,
            )
            if target is None:
                bindings.append({"role": edit["role"], "members": [edit["member"]]})
            elif edit["member"] not in target["members"]:
                target["members"].append(edit["member"])
        for edit in change.remove:
            for b in bindings:
                if b["role"] == edit["role"] and not b.get("condition"):
                    b["members"] = [m for m in b["members"] if m != edit["member"]]
        index.resources[name]["policy"]["bindings"] = [b for b in bindings if b["members"]]
        index.bump(name)


def _member_matcher(query: str) -> Any:
    """Cloud Asset query `policy:user:x@y` matches bindings naming exactly that member;
    `policy:x@y` matches any member type with that identity (searching-iam-policies guide)."""
    query = query.strip()
    if not query:
        return lambda member: True
    if not query.startswith("policy:"):
        return lambda member: False  # only policy: queries are emulated
    wanted = query.removeprefix("policy:").strip('"').lower()
    if wanted.startswith(tuple(p.lower() for p in MEMBER_PREFIXES)):
        return lambda member: member.lower() == wanted
    return lambda member: member.split(":", 1)[-1].lower() == wanted


def _search_result(index: GcpIndex, name: str, matcher: Any) -> dict[str, Any] | None:
    resource = index.resources[name]
    bindings = []
    for binding in resource["policy"].get("bindings", []):
        if any(matcher(m) for m in binding.get("members", [])):
            bindings.append(_clean_binding(binding))
    if not bindings:
        return None
    kind = name.split("/", 1)[0]
    result: dict[str, Any] = {
        "resource": CRM_PREFIX + name,
        "assetType": ASSET_TYPES.get(kind, "cloudresourcemanager.googleapis.com/Project"),
        "policy": {"bindings": bindings},
    }
    ancestors = [name, *index.ancestors(name)]
    if kind == "projects":
        number = resource.get("number")
        result["project"] = f"projects/{number}" if number else name
    folders = [a for a in ancestors if a.startswith("folders/")]
    if folders:
        result["folders"] = folders
    org = next((a for a in ancestors if a.startswith("organizations/")), index.organization)
    if org:
        result["organization"] = org
    return result


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_token(token: str | None) -> int | None:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not text.startswith("offset:") or not text[7:].isdigit():
        return None
    return int(text[7:])
