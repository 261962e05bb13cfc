"""GitHub GraphQL v4 emulation at POST /graphql (and /api/graphql): queries are validated
against GitHub's own schema (npm @octokit/graphql-schema) and executed over the world's
"github" section; listed in `server.API_MODULES`, used by the GitHub provider's member and
team reads and by any other client pointed at the sandbox.

Reproduced rules (docs.github.com, "Rate limits and query limits for the GraphQL API"):
a connection listing `nodes` or `edges` needs `first` or `last` in 1..100; a query may ask
for at most 500,000 nodes; its cost is the number of connection requests / 100, rounded,
minimum 1, charged to the "graphql" budget; errors come back as HTTP 200 with
{"errors": [...]} like GitHub, including failures of this module's own code. Non-null
fields the world does not model get plausible values (`fill_non_null`), never null.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.sandbox.github_rest import (
    DOCS,
    SECONDARY_GRAPHQL_POINTS_PER_MINUTE,
    GitHubWorld,
    spend_secondary,
)
from reconciler.sandbox.http import Request, Response

if TYPE_CHECKING:
    from graphql import GraphQLSchema

    from reconciler.sandbox.server import Sandbox

SERVES = "GitHub GraphQL v4 (/graphql, and /api/graphql as on GitHub Enterprise)"

SCHEMA_PATH = Path(
    os.environ.get(
        "RECONCILER_GITHUB_GRAPHQL_SCHEMA",
        Path(__file__).resolve().parents[2]
        / "specs/node_modules/@octokit/graphql-schema/schema.json",
    )
)
MAX_PAGE = 100
MAX_NODES = 500_000

_schema: GraphQLSchema | None = None
_schema_lock = threading.Lock()


class SchemaMissingError(RuntimeError):
    """The official schema is not installed (it comes from npm via `make setup`)."""


def load_schema() -> GraphQLSchema:
    """GitHub's schema, built once per process on first use (~0.15 s) so the sandbox itself
    starts fast. graphql-core rejects the published schema under strict validation
    (research/client_libs.md addendum), hence assume_valid=True."""
    global _schema  # noqa: PLW0603 - a process-wide cache of an immutable schema
    with _schema_lock:
        if _schema is None:
            from graphql import build_client_schema

            if not SCHEMA_PATH.exists():
                raise SchemaMissingError(
                    f"GitHub GraphQL schema not found at {SCHEMA_PATH}; run `make setup` "
                    "(npm ci --prefix specs) to install @octokit/graphql-schema"
                )
            data = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
            _schema = build_client_schema(data.get("data", data), assume_valid=True)
        return _schema


class QueryError(Exception):
    """A GitHub-style GraphQL error: {"type": ..., "message": ..., "path"?: ...}."""

    def __init__(self, message: str, type_: str, path: list[str] | None = None) -> None:
        super().__init__(message)
        self.type = type_
        self.path = path


def encode_cursor(index: int) -> str:
    return base64.b64encode(f"cursor:v2:{index}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    """-1 for no cursor; index of the item the cursor points at otherwise."""
    if not cursor:
        return -1
    try:
        return int(base64.b64decode(cursor).decode().rsplit(":", 1)[1])
    except (ValueError, IndexError) as exc:
        message = f"`{cursor}` does not appear to be a valid cursor."
        raise QueryError(message, "INVALID_CURSOR_ARGUMENTS") from exc


def connection(items: list[Any], args: dict[str, Any], make_edge: Any) -> dict[str, Any]:
    """Relay cursor pagination over a list: first/after or last/before."""
    start = decode_cursor(args.get("after")) + 1
    end = decode_cursor(args.get("before")) if args.get("before") else len(items)
    window = list(range(start, max(start, end)))
    if args.get("first") is not None:
        selected = window[: args["first"]]
    else:
        selected = window[-args["last"] :] if args.get("last") else window
    edges = [make_edge(i, items[i]) for i in selected]
    return {
        "totalCount": len(items),
        "edges": edges,
        "nodes": [e["node"] for e in edges],
        "pageInfo": {
            "hasNextPage": bool(selected) and selected[-1] < len(items) - 1,
            "hasPreviousPage": bool(selected) and selected[0] > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def plan_cost(document: Any, variables: dict[str, Any]) -> tuple[int, int]:
    """(cost, node count) the way GitHub computes them: each connection is requested once per
    node of its parent connections, assuming every page is full; cost = requests / 100,
    rounded, minimum 1. Also enforces the first/last bounds before anything executes: GitHub
    requires them only of a connection whose `nodes` or `edges` are asked for, so one asked
    only for `totalCount` or `pageInfo` is answered (and counted as one request)."""
    from graphql.language import FieldNode, FragmentDefinitionNode, OperationDefinitionNode
    from graphql.utilities import value_from_ast_untyped

    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    requests = 0
    nodes = 0

    def walk(selection_set: Any, multiplier: int, path: list[str]) -> None:
        nonlocal requests, nodes
        if selection_set is None:
            return
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                args = {
                    a.name.value: value_from_ast_untyped(a.value, variables)
                    for a in sel.arguments or ()
                }
                name = sel.name.value
                inner = multiplier
                asked = _selected_names(sel.selection_set, fragments)
                if asked & CONNECTION_FIELDS:
                    requests += multiplier
                    bounded = args.get("first") is not None or args.get("last") is not None
                    if asked & ITEM_FIELDS or bounded:
                        inner = multiplier * _page_size(name, args, path)
                        nodes += inner
                walk(sel.selection_set, inner, [*path, name])
            elif hasattr(sel, "type_condition"):  # inline fragment
                walk(sel.selection_set, multiplier, path)
            else:  # fragment spread
                walk(fragments[sel.name.value].selection_set, multiplier, path)

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            walk(definition.selection_set, 1, [])
    if nodes > MAX_NODES:
        raise QueryError(
            f"By the time this query traverses to the last connection, it is requesting up "
            f"to {nodes} possible nodes which exceeds the maximum limit of {MAX_NODES}.",
            "MAX_NODE_LIMIT_EXCEEDED",
        )
    return max(1, round(requests / 100)), nodes


# A field is a connection when its selection asks for any of these; GitHub insists on
# first/last only when it lists items (ITEM_FIELDS).
CONNECTION_FIELDS = frozenset({"edges", "nodes", "pageInfo", "totalCount"})
ITEM_FIELDS = frozenset({"edges", "nodes"})


def _selected_names(selection_set: Any, fragments: dict[str, Any]) -> set[str]:
    """The field names a selection asks for, looking through inline fragments and fragment
    spreads (`... on Connection { nodes { ... } }` lists items as much as `nodes` does)."""
    from graphql.language import FieldNode, InlineFragmentNode

    names: set[str] = set()
    if selection_set is None:
        return names
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            names.add(sel.name.value)
        elif isinstance(sel, InlineFragmentNode):
            names |= _selected_names(sel.selection_set, fragments)
        elif sel.name.value in fragments:
            names |= _selected_names(fragments[sel.name.value].selection_set, fragments)
    return names


def _page_size(name: str, args: dict[str, Any], path: list[str]) -> int:
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise QueryError(
            f"You must provide a `first` or `last` value to properly paginate the `{name}` "
            "connection.",
            "MISSING_PAGINATION_BOUNDARIES",
            [*path, name],
        )
    for arg, value in (("first", first), ("last", last)):
        if value is None:
            continue
        if not isinstance(value, int) or value < 1:
            raise QueryError(
                f"`{arg}` on the `{name}` connection must be between 1 and {MAX_PAGE}.",
                "INVALID_PAGINATION_ARGUMENT",
                [*path, name],
            )
        if value > MAX_PAGE:
            raise QueryError(
                f"Requesting {value} records on the `{name}` connection exceeds the `{arg}` "
                f"limit of {MAX_PAGE} records.",
                "EXCESSIVE_PAGINATION",
                [*path, name],
            )
    return int(first if first is not None else last)  # type: ignore[arg-type]  # one is set


# Timestamps for records the world does not date (GitHub has no undated objects).
DEFAULT_STAMP = "2020-01-01T00:00:00Z"


def resolve_root(gw: GitHubWorld, rate: dict[str, Any], base: str) -> dict[str, Any]:
    """Plain dicts and callables: graphql-core's default resolver reads keys and calls
    callables with the field's arguments. `base` is the host the client addressed (web URLs,
    `url` and `resourcePath` fields, are on it, as github.com's are on https://github.com);
    fields the world does not model are filled by `fill_non_null`."""
    gh = gw.data if gw.loaded else {}

    def web_fields(path: str, record: dict[str, Any]) -> dict[str, Any]:
        stamp = record.get("created_at", DEFAULT_STAMP)
        return {"resourcePath": path, "url": f"{base}{path}", "createdAt": stamp,
                "updatedAt": record.get("updated_at", stamp)}  # fmt: skip

    def user_node(login: str) -> dict[str, Any]:
        u = gw.user(login)
        return {
            "login": u["login"], "databaseId": int(u["id"]), "name": u.get("name"),
            "email": u.get("email") or "", "id": f"U_{u['id']}", "isSiteAdmin": False,
            "avatarUrl": f"{base}/avatars/u/{u['id']}", **web_fields(f"/{u['login']}", u),
        }  # fmt: skip

    def org_node(org: dict[str, Any]) -> dict[str, Any]:
        def members_with_role(info: Any, **args: Any) -> dict[str, Any]:
            def edge(i: int, m: dict[str, Any]) -> dict[str, Any]:
                user = gw.user(m["login"])
                return {
                    "cursor": encode_cursor(i),
                    "role": m["role"].upper(),
                    "hasTwoFactorEnabled": bool(user.get("two_factor", True)),
                    "node": user_node(m["login"]),
                }

            return connection(gh["members"], args, edge)

        def teams(info: Any, **args: Any) -> dict[str, Any]:
            selected = gh["teams"]
            logins = {x.lower() for x in args.get("userLogins") or ()}
            if logins:
                selected = [
                    t for t in selected if any(m["login"].lower() in logins for m in t["members"])
                ]
            return connection(selected, args, lambda i, t: {"cursor": encode_cursor(i),
                                                            "node": team_node(t)})  # fmt: skip

        return {
            "login": org["login"],
            "id": f"O_{org['id']}",
            "databaseId": int(org["id"]),
            "name": org.get("name"),
            "description": org.get("description"),
            "avatarUrl": f"{base}/avatars/o/{org['id']}",
            **web_fields(f"/{org['login']}", org),
            "requiresTwoFactorAuthentication": bool(org.get("two_factor_requirement_enabled")),
            "membersWithRole": members_with_role,
            "teams": teams,
            "team": lambda info, slug: next(
                (team_node(t) for t in gh["teams"] if t["slug"] == slug.lower()), None
            ),
        }

    def member_text(login: str) -> str:
        """What Team.members(query:) searches: login and name (schema: "the search string
        to look for")."""
        u = gw.user(login)
        return f"{u['login']} {u.get('name') or ''}".lower()

    def team_node(team: dict[str, Any]) -> dict[str, Any]:
        def members(info: Any, **args: Any) -> dict[str, Any]:
            # Child teams are not emulated, so IMMEDIATE, CHILD_TEAM-free ALL are the same.
            needle = (args.get("query") or "").lower()
            chosen = [
                m
                for m in team["members"]
                if (args.get("role") is None or m["role"].upper() == args["role"])
                and (not needle or needle in member_text(m["login"]))
            ]
            return connection(
                chosen,
                args,
                lambda i, m: {"cursor": encode_cursor(i), "role": m["role"].upper(),
                              "node": user_node(m["login"])},
            )  # fmt: skip

        org_login = gh["org"]["login"]
        return {
            "slug": team["slug"],
            "id": f"T_{team['id']}",
            "databaseId": int(team["id"]),
            "name": team["name"],
            "description": team.get("description"),
            "combinedSlug": f"{org_login}/{team['slug']}",
            **web_fields(f"/orgs/{org_login}/teams/{team['slug']}", team),
            "privacy": "SECRET" if team.get("privacy") == "secret" else "VISIBLE",
            "members": members,
            "organization": lambda info: org_node(gh["org"]),
        }

    def organization(info: Any, login: str) -> dict[str, Any]:
        org = gh.get("org")
        if org is None or org["login"].lower() != login.lower():
            raise QueryError(
                f"Could not resolve to an Organization with the login of '{login}'.",
                "NOT_FOUND",
                ["organization"],
            )
        return org_node(org)

    def user(info: Any, login: str) -> dict[str, Any]:
        if login.lower() not in gw.users_by_login:
            raise QueryError(
                f"Could not resolve to a User with the login of '{login}'.", "NOT_FOUND", ["user"]
            )
        return user_node(login)

    return {"organization": organization, "user": user, "rateLimit": lambda info, **a: rate}


def fill_non_null(source: Any, info: Any, **args: Any) -> Any:
    """graphql-core's default resolver, except that a non-null field the world does not model
    answers a plausible value instead of null: GitHub never returns null there, and a client
    (or graphql-core itself: "Cannot return null for non-nullable field") fails on one."""
    from graphql import GraphQLNonNull, default_field_resolver

    value = default_field_resolver(source, info, **args)
    if value is None and isinstance(info.return_type, GraphQLNonNull):
        return placeholder(info.return_type.of_type, info, source)
    return value


_SCALAR_DEFAULTS: dict[str, Any] = {
    "Int": 0, "Float": 0.0, "Boolean": False, "BigInt": "0", "Date": DEFAULT_STAMP[:10],
    "GitObjectID": "0" * 40,
}  # fmt: skip


def placeholder(type_: Any, info: Any, source: Any) -> Any:
    """The value GitHub would plausibly show for an unmodelled field of `type_`: an empty
    connection or list, the first enum value, a URL under the parent's resource path, the
    parent's creation time, an empty string; objects are filled field by field the same way."""
    from graphql import (
        GraphQLAbstractType,
        GraphQLEnumType,
        GraphQLList,
        GraphQLObjectType,
        GraphQLScalarType,
    )

    parent = source if isinstance(source, dict) else {}
    name = info.field_name
    if isinstance(type_, GraphQLList):
        return []
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLObjectType):
        if type_.name.endswith("Connection"):
            return connection([], {}, lambda i, item: item)
        return {}
    if isinstance(type_, GraphQLAbstractType):
        return {"__typename": info.schema.get_possible_types(type_)[0].name}
    if isinstance(type_, GraphQLScalarType):
        if type_.name in _SCALAR_DEFAULTS:
            return _SCALAR_DEFAULTS[type_.name]
        if type_.name in ("DateTime", "PreciseDateTime", "GitTimestamp"):
            return parent.get("createdAt", DEFAULT_STAMP)
        if type_.name == "URI":
            return _derived_url(name, parent)
        if type_.name == "ID":
            raw = f"{info.parent_type.name}:{name}:{parent.get('id', '')}"
            return base64.b64encode(raw.encode()).decode()
    return ""


def _derived_url(field_name: str, parent: dict[str, Any]) -> str:
    """`membersUrl` / `membersResourcePath` of a record at /orgs/x/teams/y: its resource path
    plus /members, as GitHub shapes them; absolute for *Url fields."""
    stem = re.sub(r"^(url|resourcePath)$|(ResourcePath|Url|URL)$", "", field_name)
    suffix = re.sub(r"(?<!^)(?=[A-Z])", "-", stem).lower()
    own = str(parent.get("resourcePath", ""))
    path = f"{own}/{suffix}" if suffix else own or "/"
    if field_name.endswith("ResourcePath"):
        return str(path)
    url = str(parent.get("url", ""))
    return f"{url.removesuffix(own)}{path}"


INTERNAL_MESSAGE = (
    "Something went wrong while executing your query. This may be the result of a timeout, "
    "or it could be a GitHub bug."
)


def register(app: Sandbox) -> None:
    """Register POST /graphql (github.com) and POST /api/graphql (GitHub Enterprise)."""
    gw = app.github

    def graphql_endpoint(req: Request) -> Response:
        with app.lock:
            rate = gw.rates["graphql"]
            rate.refresh(time.time())
            try:
                resp = execute(req, rate)
            except Exception as exc:  # an emulator bug answers like a GitHub internal error
                resp = errors([internal_error(exc)])
            if resp.status == 200 and gw.loaded:
                gw.sync_rate_limit()
            resp.headers.update(rate.headers("graphql"))
            return resp

    def execute(req: Request, rate: Any) -> Response:
        from graphql import GraphQLError, execute_sync, get_operation_ast, parse, validate
        from graphql.execution.values import get_variable_values
        from graphql.language import OperationDefinitionNode, OperationType

        try:
            schema = load_schema()
        except SchemaMissingError as exc:
            return Response.json({"message": str(exc), "documentation_url": DOCS}, 500)
        try:
            payload = req.json()
            query, raw_variables = payload["query"], payload.get("variables")
            operation_name = payload.get("operationName")
        except (ValueError, KeyError, TypeError, AttributeError):
            problem = {"message": "Problems parsing JSON", "documentation_url": DOCS}
            return Response.json(problem, 400)
        variables = parse_variables(raw_variables)
        if variables is None:
            return errors([{"message": "Variables are invalid JSON."}])
        if not isinstance(query, str):
            return errors([{"message": "A query attribute must be specified and must be a "
                                       "string."}])  # fmt: skip
        limits = gw.data.get("secondary_rate_limit", {}) if gw.loaded else {}
        try:
            document = parse(query)
        except GraphQLError as exc:
            return errors([{"message": exc.message, "locations": _locations(exc)}])
        mutation = any(
            isinstance(d, OperationDefinitionNode) and d.operation is OperationType.MUTATION
            for d in document.definitions
        )
        limited = spend_secondary(
            rate,
            "graphql",
            "POST" if mutation else "GET",  # a query costs 1 secondary point, a mutation 5
            int(limits.get("graphql_points_per_minute", SECONDARY_GRAPHQL_POINTS_PER_MINUTE)),
            int(limits.get("retry_after", 60)),
        )
        if limited is not None:
            return limited
        problems = validate(schema, document)
        if problems:
            return errors([{"message": e.message, "locations": _locations(e)} for e in problems])
        if mutation:
            return errors([{"type": "FORBIDDEN", "message": "The sandbox emulates no mutations."}])
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            message = (
                f'No operation named "{operation_name}"'
                if operation_name
                else "An operation name is required"
            )
            return errors([{"message": message}])
        coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
        if isinstance(coerced, list):  # type errors in the variables, before anything runs
            return errors([{"message": e.message, "locations": _locations(e)} for e in coerced])
        try:
            cost, node_count = plan_cost(document, coerced.coerced)
        except QueryError as exc:
            return errors([_query_error(exc)])
        if rate.remaining < cost:
            # GitHub answers an exhausted GraphQL budget with 200 and a RATE_LIMITED error.
            return errors([{"type": "RATE_LIMITED",
                            "message": "API rate limit exceeded for installation."}])  # fmt: skip
        rate.remaining -= cost
        app.telemetry.add_points("graphql", cost)
        reset_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(rate.reset))
        limit_info = {"cost": cost, "limit": rate.limit, "remaining": rate.remaining,
                      "used": rate.limit - rate.remaining, "resetAt": reset_at,
                      "nodeCount": node_count}  # fmt: skip
        result = execute_sync(
            schema,
            document,
            root_value=resolve_root(gw, limit_info, req.base_url),
            variable_values=variables,
            operation_name=operation_name,
            field_resolver=fill_non_null,
        )
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [execution_error(e) for e in result.errors]
        return Response.json(body)

    for path in ("/graphql", "/api/graphql"):  # github.com, and GitHub Enterprise Server
        app.add_route("POST", path, graphql_endpoint, name="github.graphql", api="github")


def parse_variables(raw: Any) -> dict[str, Any] | None:
    """`variables` as an object, or as a JSON-encoded string (how graphql-ruby's controller
    and many clients send them; GitHub accepts both); None when it is neither."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
        if raw is None:
            return {}
    return raw if isinstance(raw, dict) else None


def execution_error(error: Any) -> dict[str, Any]:
    """An error met while resolving fields, in GitHub's shape (type, message, path,
    locations): the sandbox's own QueryErrors as they are, anything else from the emulator's
    code as GitHub's internal error rather than a Python message."""
    original = error.original_error
    if isinstance(original, QueryError):
        return _query_error(original, error)
    if original is not None:
        out = internal_error(original)
        out.update(path=error.path, locations=_locations(error))
        return out
    return {"message": error.message, "locations": _locations(error), "path": error.path}


def internal_error(exc: BaseException) -> dict[str, Any]:
    """GitHub's answer to a failure on its side; the exception is named under `extensions`
    so a sandbox bug stays diagnosable without pretending to be a GitHub message."""
    return {
        "type": "INTERNAL",
        "message": INTERNAL_MESSAGE,
        "extensions": {"sandbox": f"{type(exc).__name__}: {exc}"},
    }


def errors(items: list[dict[str, Any]]) -> Response:
    return Response.json({"errors": items})


def _locations(exc: Any) -> list[dict[str, int]]:
    return [{"line": loc.line, "column": loc.column} for loc in exc.locations or ()]


def _query_error(exc: QueryError, gql: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": exc.type, "message": str(exc)}
    path = gql.path if gql is not None and gql.path else exc.path
    if path:
        out["path"] = path
    if gql is not None:
        out["locations"] = _locations(gql)
    return out
