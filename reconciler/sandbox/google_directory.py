"""Emulates the Admin SDK Directory API v1 (users, groups, members, tokens, asps, batch) for
the sandbox server; listed in `server.API_MODULES`, which registers it.

The world's "google" section (docs/sandbox-google.md, schemas/google.schema.json) holds the
Directory resources as the API spells them, so GET /_sandbox/state shows exactly what a
client would read. Paths, page-size caps, page tokens, error bodies and the multipart batch
format follow the discovery document bundled with google-api-python-client.
"""

from __future__ import annotations

import base64
import email.message
import email.parser
import email.policy
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from reconciler.sandbox.http import Request, Response, parse_request

if TYPE_CHECKING:
    from reconciler.sandbox.server import Sandbox


SERVES = "Admin SDK Directory API v1 and its batch endpoint (/admin/directory/v1/, /batch)"
PREFIX = "/admin/directory/v1"
USERS_MAX = 500  # users.list maxResults: "1-500" (discovery doc)
GROUPS_MAX = 200  # groups.list: "Max allowed value is 200"
MEMBERS_MAX = 200  # members.list: same text
BATCH_MAX = 1000  # directory/v1/guides/batch: "up to 1,000 calls in a single batch request"
_MEMBER_KIND = {"kind": "admin#directory#member"}
_AUTH = "https://www.googleapis.com/auth/"
_USER, _USER_RO, _SECURITY = (
    "admin.directory.user",
    "admin.directory.user.readonly",
    ("admin.directory.user.security"),
)
_GROUP, _GROUP_RO = "admin.directory.group", "admin.directory.group.readonly"
_MEMBER, _MEMBER_RO = "admin.directory.group.member", "admin.directory.group.member.readonly"
# The OAuth scopes each method accepts, any one of them enough: the "scopes" of each method in
# the discovery document (tests/sandbox/test_google_conformance.py checks this table against
# it). Enforced only for worlds with a "delegation" section (docs/sandbox-google.md).
ACCEPTED_SCOPES: dict[str, tuple[str, ...]] = {
    "users.list": (_USER, _USER_RO, "cloud-platform"),
    "users.get": (_USER, _USER_RO),
    "users.insert": (_USER,),
    "users.update": (_USER,),
    "users.patch": (_USER,),
    "users.signOut": (_SECURITY,),
    "groups.list": (_GROUP, _GROUP_RO),
    "groups.get": (_GROUP, _GROUP_RO),
    "members.list": (_GROUP, _MEMBER, _MEMBER_RO, _GROUP_RO),
    "members.get": (_GROUP, _MEMBER, _MEMBER_RO, _GROUP_RO),
    "members.hasMember": (_GROUP, _MEMBER, _MEMBER_RO, _GROUP_RO),
    "members.insert": (_GROUP, _MEMBER),
    "members.patch": (_GROUP, _MEMBER),
    "members.update": (_GROUP, _MEMBER),
    "members.delete": (_GROUP, _MEMBER),
    "tokens.list": (_SECURITY,),
    "tokens.delete": (_SECURITY,),
    "asps.list": (_SECURITY,),
    "asps.delete": (_SECURITY,),
}
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def google_error(
    code: int,
    message: str,
    reason: str,
    domain: str = "global",
    headers: dict[str, str] | None = None,
) -> Response:
    """Google's JSON error body: {"error": {code, message, errors: [...], status}}."""
    return Response.json(
        {
            "error": {
                "code": code,
                "message": message,
                "errors": [{"message": message, "domain": domain, "reason": reason}],
                "status": _STATUS_NAMES.get(code, "UNKNOWN"),
            }
        },
        code,
        headers,
    )


def _not_found(what: str) -> Response:
    return google_error(404, f"Resource Not Found: {what}", "notFound")


def _invalid(message: str) -> Response:
    return google_error(400, message, "invalid")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _etag(value: Any) -> str:
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:27]
    return f'"{digest}"'


def _lower(value: Any) -> str:
    return str(value or "").strip().lower()


def _ensure_sections(section: dict[str, Any]) -> None:
    """Lists of users and groups; per-group members and per-user tokens and ASPs by email."""
    for name in ("users", "groups"):
        section.setdefault(name, [])
    for name in ("members", "tokens", "asps"):
        section.setdefault(name, {})


# -- partial responses -------------------------------------------------------------------------
def parse_fields(spec: str) -> dict[str, Any]:
    """Parse Google's `fields=` syntax ("a,b(c,d),e/f") into a nested selection tree."""
    tree: dict[str, Any] = {}
    pos = 0

    def parse_level(into: dict[str, Any]) -> None:
        nonlocal pos
        while pos < len(spec):
            m = re.compile(r"[A-Za-z0-9_*/]+").match(spec, pos)
            if not m:
                raise ValueError(f"bad fields selector at {pos}")
            path = m.group(0).split("/")
            pos = m.end()
            node = into
            for name in path[:-1]:
                node = node.setdefault(name, {})
            leaf: dict[str, Any] = node.setdefault(path[-1], {})
            if pos < len(spec) and spec[pos] == "(":
                pos += 1
                parse_level(leaf)
                pos += 1  # ")"
            if pos < len(spec) and spec[pos] == ",":
                pos += 1
                continue
            return

    parse_level(tree)
    return tree


def select_fields(value: Any, tree: dict[str, Any]) -> Any:
    """Apply a selection tree; an empty subtree means "the whole value"."""
    if not tree or "*" in tree:
        return value
    if isinstance(value, list):
        return [select_fields(v, tree) for v in value]
    if isinstance(value, dict):
        return {k: select_fields(value[k], sub) for k, sub in tree.items() if k in value}
    return value


# -- page tokens -------------------------------------------------------------------------------
def _page_token(offset: int, key: str) -> str:
    """Opaque to clients (the API documents nothing about them); bound to the query."""
    raw = json.dumps({"o": offset, "k": hashlib.sha256(key.encode()).hexdigest()[:8]})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _page_offset(token: str | None, key: str) -> int | None:
    if not token:
        return 0
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if raw["k"] != hashlib.sha256(key.encode()).hexdigest()[:8]:
            return None
        return int(raw["o"])
    except (ValueError, KeyError, TypeError):
        return None


def _paginate(
    req: Request, items: list[Any], cap: int, key: str
) -> tuple[list[Any], str | None] | Response:
    max_results = req.int_arg("maxResults", 100 if cap == USERS_MAX else cap)
    if max_results < 1 or max_results > cap:
        return _invalid(f"Invalid value for maxResults: {max_results} (1-{cap})")
    offset = _page_offset(req.arg("pageToken"), key)
    if offset is None:
        return _invalid("Invalid pageToken")
    page = items[offset : offset + max_results]
    nxt = offset + max_results
    return page, (_page_token(nxt, key) if nxt < len(items) else None)


class Directory:
    """The Directory API's routes over `app.world["google"]`, with indices rebuilt on load."""

    def __init__(self, app: Sandbox) -> None:
        self.app = app
        self.users_by_key: dict[str, dict[str, Any]] = {}
        self.groups_by_key: dict[str, dict[str, Any]] = {}

    # -- world -----------------------------------------------------------------------------
    @property
    def g(self) -> dict[str, Any]:
        section: dict[str, Any] = self.app.world.setdefault("google", {})
        _ensure_sections(section)
        return section

    def reindex(self) -> None:
        """Reset hook: build user/group indices (by id, primary email and alias)."""
        g = self.app.world.get("google")
        self.users_by_key = {}
        self.groups_by_key = {}
        if not isinstance(g, dict):
            return
        _ensure_sections(g)
        for user in g["users"]:
            self._index_user(user)
        for group in g["groups"]:
            self._index_group(group)

    def _index_user(self, user: dict[str, Any]) -> None:
        user.setdefault("kind", "admin#directory#user")
        user.setdefault(
            "id",
            str(int(hashlib.sha256(_lower(user["primaryEmail"]).encode()).hexdigest(), 16))[:21],
        )
        for key in (user["id"], user["primaryEmail"], *user.get("aliases", [])):
            self.users_by_key[_lower(key)] = user

    def _index_group(self, group: dict[str, Any]) -> None:
        group.setdefault("kind", "admin#directory#group")
        group.setdefault("id", hashlib.sha256(_lower(group["email"]).encode()).hexdigest()[:15])
        for key in (group["id"], group["email"], *group.get("aliases", [])):
            self.groups_by_key[_lower(key)] = group

    def describe(self, base_url: str) -> dict[str, Any]:
        g = self.app.world.get("google") or {}
        return {
            "google": base_url,
            "workspace_customer": g.get("customer"),
            "workspace_domain": g.get("domain"),
        }

    def authorise(self, method: str, req: Request) -> Response | None:
        """With a "delegation" in the world, the bearer token must be one the token endpoint
        issued (401 otherwise, as for an expired or foreign token) and must carry one of the
        scopes `method` accepts (403 "insufficient authentication scopes" otherwise, what
        Google answers a token minted for other scopes). Without one, any caller passes."""
        if not isinstance(self.g.get("delegation"), dict):
            return None
        parts = (req.headers.get("authorization") or "").split()
        token = parts[1] if len(parts) == 2 and parts[0].lower() == "bearer" else ""
        digest = hashlib.sha256(token.encode()).hexdigest()
        grant = next(
            (
                g
                for g in reversed(self.g.get("oauth_grants", []))
                if g.get("token_sha256") == digest
            ),
            None,
        )
        if grant is None:
            return google_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
                "authError",
            )
        accepted = {_AUTH + s for s in ACCEPTED_SCOPES[method]}
        if not accepted & set(grant.get("scopes", [])):
            return google_error(
                403, "Request had insufficient authentication scopes.", "insufficientPermissions"
            )
        return None

    def _scope_error(self, req: Request) -> Response | None:
        customer, domain = req.arg("customer"), req.arg("domain")
        if customer is None and domain is None:
            return _invalid("Bad Request: either customer or domain is required")
        if customer not in (None, "my_customer", self.g.get("customer")):
            return google_error(403, "Not Authorized to access this resource/api", "forbidden")
        return None

    # -- users -----------------------------------------------------------------------------
    def user(self, key: str) -> dict[str, Any] | None:
        return self.users_by_key.get(_lower(key))

    def users_list(self, req: Request) -> Response:
        with self.app.lock:
            err = self._scope_error(req)
            if err:
                return err
            if self.g.get("expired_credentials"):
                # What a delegated token for a de-privileged or deleted admin looks like in
                # practice: 200 with no "users" key. Providers must treat it as incomplete.
                return Response.json({"kind": "admin#directory#users", "etag": _etag([])})
            users = list(self.g.get("users", []))
            domain = req.arg("domain")
            if domain:
                users = [
                    u for u in users if _lower(u["primaryEmail"]).endswith("@" + _lower(domain))
                ]
            users = self._query_users(users, req.arg("query") or "")
            reverse = req.arg("sortOrder") == "DESCENDING"
            users.sort(key=lambda u: _lower(u["primaryEmail"]), reverse=reverse)
            key = f"users|{domain}|{req.arg('query')}"
            return self._list_page(req, "users", users, cap=USERS_MAX, key=key, view=lambda u: u)

    @staticmethod
    def _query_users(users: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
        """The minimal `query=` subset: isSuspended=, isAdmin=, email:/email= (prefix)."""
        for term in query.split():
            m = re.fullmatch(r"(\w+)[:=](.+)", term)
            if not m:
                continue
            name, value = m.group(1), m.group(2).strip("'\"").lower()
            if name in ("isSuspended", "isAdmin"):
                field = "suspended" if name == "isSuspended" else "isAdmin"
                users = [u for u in users if bool(u.get(field)) == (value == "true")]
            elif name == "email":
                users = [u for u in users if _lower(u["primaryEmail"]).startswith(value)]
        return users

    def users_get(self, req: Request) -> Response:
        with self.app.lock:
            user = self.user(req.params["userKey"])
            if user is None:
                return _not_found("userKey")
            return self._respond(req, user)

    def users_insert(self, req: Request) -> Response:
        body = req.json()
        with self.app.lock:
            email = _lower(body.get("primaryEmail"))
            name = body.get("name") or {}
            if not email or not name.get("givenName") or not name.get("familyName"):
                return _invalid("Invalid Input: primaryEmail, name.givenName, name.familyName")
            if len(str(body.get("password", ""))) < 8:
                return google_error(400, "Invalid Password", "invalid")
            if self.user(email) is not None:
                return google_error(409, "Entity already exists.", "duplicate")
            user: dict[str, Any] = {
                "kind": "admin#directory#user",
                "id": str(int(hashlib.sha256(email.encode()).hexdigest(), 16))[:21],
                "primaryEmail": email,
                "name": {
                    "givenName": name["givenName"],
                    "familyName": name["familyName"],
                    "fullName": f"{name['givenName']} {name['familyName']}",
                },
                "isAdmin": False,
                "isDelegatedAdmin": False,
                "suspended": bool(body.get("suspended", False)),
                "isEnrolledIn2Sv": False,
                "isEnforcedIn2Sv": False,
                "changePasswordAtNextLogin": bool(body.get("changePasswordAtNextLogin", False)),
                "creationTime": _now(),
                "lastLoginTime": "1970-01-01T00:00:00.000Z",  # the API's "never logged in"
                "orgUnitPath": body.get("orgUnitPath", "/"),
                "customerId": self.g.get("customer", "C00000000"),
            }
            if body.get("recoveryEmail"):
                user["recoveryEmail"] = body["recoveryEmail"]
            # The password itself is never stored: the API does not return it either.
            self.g["users"].append(user)
            self._index_user(user)
            return Response.json(user)

    def users_patch(self, req: Request) -> Response:
        body = req.json()
        with self.app.lock:
            user = self.user(req.params["userKey"])
            if user is None:
                return _not_found("userKey")
            for key in ("suspended", "orgUnitPath", "recoveryEmail", "changePasswordAtNextLogin"):
                if key in body:
                    user[key] = body[key]
            if "name" in body:
                user["name"] = {**user.get("name", {}), **body["name"]}
            if "suspended" in body:
                if body["suspended"]:
                    user["suspensionReason"] = "ADMIN"
                else:
                    user.pop("suspensionReason", None)
            return Response.json(user)

    def users_sign_out(self, req: Request) -> Response:
        with self.app.lock:
            user = self.user(req.params["userKey"])
            if user is None:
                return _not_found("userKey")
            self.g.setdefault("sign_outs", []).append({"user": user["primaryEmail"], "at": _now()})
            return Response.empty(204)

    # -- groups ----------------------------------------------------------------------------
    def group(self, key: str) -> dict[str, Any] | None:
        return self.groups_by_key.get(_lower(key))

    def _group_view(self, group: dict[str, Any]) -> dict[str, Any]:
        members = self.g["members"].get(_lower(group["email"]), [])
        return {**group, "directMembersCount": str(len(members))}

    def groups_list(self, req: Request) -> Response:
        with self.app.lock:
            user_key = req.arg("userKey")
            if user_key is not None:
                # Direct memberships only, as the API documents for userKey.
                user = self.user(user_key)
                wanted = {_lower(user_key)} | ({_lower(user["primaryEmail"])} if user else set())
                groups = [
                    g
                    for g in self.g["groups"]
                    if any(
                        _lower(m.get("email")) in wanted
                        for m in self.g["members"].get(_lower(g["email"]), [])
                    )
                ]
            else:
                err = self._scope_error(req)
                if err:
                    return err
                groups = list(self.g["groups"])
                domain = req.arg("domain")
                if domain:
                    groups = [
                        g for g in groups if _lower(g["email"]).endswith("@" + _lower(domain))
                    ]
            groups.sort(key=lambda g: _lower(g["email"]))
            key = f"groups|{user_key}|{req.arg('domain')}"
            return self._list_page(
                req, "groups", groups, cap=GROUPS_MAX, key=key, view=self._group_view
            )

    def groups_get(self, req: Request) -> Response:
        with self.app.lock:
            group = self.group(req.params["groupKey"])
            if group is None:
                return _not_found("groupKey")
            return self._respond(req, self._group_view(group))

    # -- members ---------------------------------------------------------------------------
    def _members_of(self, req: Request) -> tuple[dict[str, Any], list[dict[str, Any]]] | Response:
        group = self.group(req.params["groupKey"])
        if group is None:
            return _not_found("groupKey")
        members: list[dict[str, Any]] = self.g["members"].setdefault(_lower(group["email"]), [])
        return group, members

    @staticmethod
    def _find(members: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
        wanted = _lower(key)
        return next(
            (m for m in members if wanted in (_lower(m.get("email")), _lower(m.get("id")))), None
        )

    def members_list(self, req: Request) -> Response:
        with self.app.lock:
            found = self._members_of(req)
            if isinstance(found, Response):
                return found
            group, members = found
            roles = {r.strip().upper() for r in (req.arg("roles") or "").split(",") if r.strip()}
            items = [m for m in members if not roles or m.get("role") in roles]
            key = f"members|{group['id']}|{sorted(roles)}"
            return self._list_page(
                req,
                "members",
                items,
                cap=MEMBERS_MAX,
                key=key,
                view=lambda m: {**_MEMBER_KIND, **m},
            )

    def _member(self, req: Request) -> tuple[list[dict[str, Any]], dict[str, Any]] | Response:
        """The group's member list and the member `memberKey` names (404 for either)."""
        found = self._members_of(req)
        if isinstance(found, Response):
            return found
        _, members = found
        member = self._find(members, req.params["memberKey"])
        if member is None:
            return _not_found("memberKey")
        return members, member

    def members_get(self, req: Request) -> Response:
        with self.app.lock:
            found = self._member(req)
            if isinstance(found, Response):
                return found
            return self._respond(req, {**_MEMBER_KIND, **found[1]})

    def members_has(self, req: Request) -> Response:
        with self.app.lock:
            found = self._members_of(req)
            if isinstance(found, Response):
                return found
            member = self._find(found[1], req.params["memberKey"])
            return Response.json({"isMember": member is not None})

    def members_insert(self, req: Request) -> Response:
        body = req.json()
        with self.app.lock:
            found = self._members_of(req)
            if isinstance(found, Response):
                return found
            _, members = found
            email = _lower(body.get("email"))
            role = str(body.get("role") or "MEMBER").upper()
            if not email:
                return _invalid("Missing required field: memberKey")
            if role not in ("MEMBER", "MANAGER", "OWNER"):
                return _invalid(f"Invalid role: {role}")
            if self._find(members, email) is not None:
                return google_error(409, "Member already exists.", "duplicate")
            user, group = self.user(email), self.group(email)
            member_id = (
                user["id"]
                if user
                else group["id"]
                if group
                else hashlib.sha256(email.encode()).hexdigest()[:21]
            )
            member = {
                "id": member_id,
                "email": email,
                "role": role,
                "type": "GROUP" if group else "USER",
                "status": "ACTIVE",
            }
            members.append(member)
            return Response.json({**_MEMBER_KIND, **member})

    def members_patch(self, req: Request) -> Response:
        body = req.json()
        with self.app.lock:
            found = self._member(req)
            if isinstance(found, Response):
                return found
            _, member = found
            if "role" in body:
                role = str(body["role"]).upper()
                if role not in ("MEMBER", "MANAGER", "OWNER"):
                    return _invalid(f"Invalid role: {role}")
                member["role"] = role
            return Response.json({**_MEMBER_KIND, **member})

    def members_delete(self, req: Request) -> Response:
        with self.app.lock:
            found = self._member(req)
            if isinstance(found, Response):
                return found
            members, member = found
            members.remove(member)
            return Response.empty(204)

    # -- tokens and app-specific passwords --------------------------------------------------
    def _per_user(self, req: Request, section: str) -> tuple[str, list[dict[str, Any]]] | Response:
        user = self.user(req.params["userKey"])
        if user is None:
            return _not_found("userKey")
        email = _lower(user["primaryEmail"])
        items: list[dict[str, Any]] = self.g[section].setdefault(email, [])
        return email, items

    def _per_user_list(self, req: Request, section: str, kind: str) -> Response:
        """tokens.list / asps.list: the whole list in one answer (neither method pages)."""
        with self.app.lock:
            found = self._per_user(req, section)
            if isinstance(found, Response):
                return found
            email, items = found
            views = [{"kind": f"admin#directory#{kind}", "userKey": email, **x} for x in items]
            return self._respond(
                req, {"kind": f"admin#directory#{kind}List", "etag": _etag(views), "items": views}
            )

    def _per_user_delete(
        self, req: Request, section: str, id_param: str, matches: Callable[[dict[str, Any]], bool]
    ) -> Response:
        with self.app.lock:
            found = self._per_user(req, section)
            if isinstance(found, Response):
                return found
            _, items = found
            item = next((x for x in items if matches(x)), None)
            if item is None:
                return _not_found(id_param)
            items.remove(item)
            return Response.empty(204)

    def tokens_list(self, req: Request) -> Response:
        return self._per_user_list(req, "tokens", "token")

    def tokens_delete(self, req: Request) -> Response:
        client_id = req.params["clientId"]
        return self._per_user_delete(
            req, "tokens", "clientId", lambda t: t.get("clientId") == client_id
        )

    def asps_list(self, req: Request) -> Response:
        return self._per_user_list(req, "asps", "asp")

    def asps_delete(self, req: Request) -> Response:
        # codeId is an integer in the API's payload and a string in the path.
        code = req.params["codeId"]
        return self._per_user_delete(req, "asps", "codeId", lambda a: str(a.get("codeId")) == code)

    # -- helpers -----------------------------------------------------------------------------
    def _list_page(
        self,
        req: Request,
        collection: str,
        items: list[dict[str, Any]],
        *,
        cap: int,
        key: str,
        view: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> Response:
        """One page of users / groups / members, shaped as the API shapes every list: the
        collection key and nextPageToken are omitted when there is nothing to put in them."""
        paged = _paginate(req, items, cap, key)
        if isinstance(paged, Response):
            return paged
        page, nxt = paged
        views = [view(x) for x in page]
        body: dict[str, Any] = {"kind": f"admin#directory#{collection}", "etag": _etag(views)}
        if views:
            body[collection] = views
        if nxt:
            body["nextPageToken"] = nxt
        return self._respond(req, body)

    @staticmethod
    def _respond(req: Request, body: dict[str, Any]) -> Response:
        spec = req.arg("fields")
        if spec:
            try:
                body = select_fields(body, parse_fields(spec))
            except ValueError as exc:
                return _invalid(f"Invalid field selection: {exc}")
        return Response.json(body)

    # -- batch -------------------------------------------------------------------------------
    def batch(self, req: Request) -> Response:
        ctype = req.headers.get("content-type", "")
        if not ctype.startswith("multipart/mixed"):
            return _invalid("Batch requests must be multipart/mixed")
        message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + req.body
        )
        parts = message.get_payload()
        if not isinstance(parts, list):
            return _invalid("Batch body has no parts")
        if len(parts) > BATCH_MAX:
            return _invalid(f"Too many requests in batch: {len(parts)} (max {BATCH_MAX})")
        parent = req.seq or None  # the outer request's log entry, set by Sandbox.dispatch
        boundary = f"batch_{uuid.uuid4().hex}"
        out: list[bytes] = []
        for part in parts:
            if not isinstance(part, email.message.Message):
                return _invalid("Malformed batch part")
            content_id = str(part.get("Content-ID", ""))
            payload = part.get_payload(decode=False)
            inner = self._parse_inner(str(payload), req)
            resp = (
                self.app.dispatch(inner, in_batch=parent) if isinstance(inner, Request) else inner
            )
            if resp.drop_connection:
                # A dropped connection cannot happen to one part: the whole batch drops.
                return Response(status=500, drop_connection=True)
            out.append(_render_part(content_id, resp))
        body = b"".join(b"--" + boundary.encode() + b"\r\n" + p for p in out)
        body += b"--" + boundary.encode() + b"--\r\n"
        return Response(
            status=200, body=body, headers={"Content-Type": f"multipart/mixed; boundary={boundary}"}
        )

    @staticmethod
    def _parse_inner(payload: str, outer: Request) -> Request | Response:
        head, _, body = payload.replace("\r\n", "\n").partition("\n\n")
        lines = head.split("\n")
        m = re.fullmatch(r"(\w+) (\S+) HTTP/1\.[01]", lines[0].strip())
        if not m:
            return _invalid("Malformed request line in batch part")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        headers.setdefault("host", outer.headers.get("host", "127.0.0.1"))
        return parse_request(m.group(1), m.group(2), headers, body.encode())


def _render_part(content_id: str, resp: Response) -> bytes:
    """One response part; the client maps "<response-BASE + N>" back to request N."""
    cid = content_id.strip("<>")
    reason = HTTPStatus(resp.status).phrase if resp.status in HTTPStatus._value2member_map_ else ""
    head = [f"HTTP/1.1 {resp.status} {reason}"]
    headers = {"Content-Type": "application/json; charset=UTF-8", **resp.headers}
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append(f"Content-Length: {len(resp.body)}")
    inner = "\r\n".join(head).encode() + b"\r\n\r\n" + resp.body
    return (
        b"Content-Type: application/http\r\n"
        + f"Content-ID: <response-{cid}>\r\n\r\n".encode()
        + inner
        + b"\r\n"
    )


def register(app: Sandbox) -> None:
    """Register the Directory API's routes on the sandbox."""
    d = Directory(app)
    app.reset_hooks.append(d.reindex)
    app.describers.append(d.describe)
    routes: list[tuple[str, str, Callable[[Request], Response], str]] = [
        ("GET", "/users", d.users_list, "users.list"),
        ("POST", "/users", d.users_insert, "users.insert"),
        ("GET", "/users/{userKey}", d.users_get, "users.get"),
        ("PUT", "/users/{userKey}", d.users_patch, "users.update"),
        ("PATCH", "/users/{userKey}", d.users_patch, "users.patch"),
        ("POST", "/users/{userKey}/signOut", d.users_sign_out, "users.signOut"),
        ("GET", "/groups", d.groups_list, "groups.list"),
        ("GET", "/groups/{groupKey}", d.groups_get, "groups.get"),
        ("GET", "/groups/{groupKey}/members", d.members_list, "members.list"),
        ("POST", "/groups/{groupKey}/members", d.members_insert, "members.insert"),
        ("GET", "/groups/{groupKey}/members/{memberKey}", d.members_get, "members.get"),
        ("PATCH", "/groups/{groupKey}/members/{memberKey}", d.members_patch, "members.patch"),
        ("PUT", "/groups/{groupKey}/members/{memberKey}", d.members_patch, "members.update"),
        ("DELETE", "/groups/{groupKey}/members/{memberKey}", d.members_delete, "members.delete"),
        ("GET", "/groups/{groupKey}/hasMember/{memberKey}", d.members_has, "members.hasMember"),
        ("GET", "/users/{userKey}/tokens", d.tokens_list, "tokens.list"),
        ("DELETE", "/users/{userKey}/tokens/{clientId}", d.tokens_delete, "tokens.delete"),
        ("GET", "/users/{userKey}/asps", d.asps_list, "asps.list"),
        ("DELETE", "/users/{userKey}/asps/{codeId}", d.asps_delete, "asps.delete"),
    ]

    def authorised(
        name: str, handler: Callable[[Request], Response]
    ) -> Callable[[Request], Response]:
        def checked(req: Request) -> Response:
            with app.lock:
                refused = d.authorise(name, req)
            return refused if refused is not None else handler(req)

        return checked

    for method, path, handler, name in routes:
        app.add_route(
            method, PREFIX + path, authorised(name, handler), name=f"google.{name}", api="google"
        )
    # The bundled discovery doc's batchPath is "batch"; the per-API path is what Google
    # documents for Directory (directory/v1/guides/batch). Both are served.
    for path in ("/batch", "/batch/admin/directory/v1"):
        app.add_route("POST", path, d.batch, name="google.batch", api="google")
