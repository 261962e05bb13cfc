"""Peers side by side: cartography's published GitHub and Google Workspace fetch functions, and a
Terraform-style refresh count, on the same world as the product's own read; called by
`python -m reconciler.bench` (`make bench`, phase 6) and its smoke test.

Why: "the read is at the API minimum" means more next to what other tools spend reading the
same organisation. Everything runs against one sandbox in a process of its own (as
`reconciler sandbox` runs it) with the same per-round-trip latency, and every count comes from
the sandbox's counters (what crossed the wire), never from the tools' own bookkeeping.

- cartography (PyPI `cartography`, a dev dependency): only its `get_*` fetch functions are
  called, with clients pointed at the sandbox; nothing is loaded into a graph database. Its
  Google functions take a discovery `Resource`, built here as the product builds its own (the
  bundled Directory discovery document with `rootUrl` moved to the sandbox, the same
  domain-wide-delegation credentials); its GitHub functions take a GraphQL URL and a token and
  use `requests`. A peer the sandbox cannot serve yet is recorded with the error as its reason,
  not patched around.
- Terraform: no run, a formula over the world. A refresh reads every resource in the state
  once: one read per membership resource (`googleworkspace_group_member`, `github_membership`,
  `github_team_membership`) and one `getIamPolicy` per IAM member resource
  (`google_*_iam_member`), one round trip each, `-parallelism=10` by default. The users, groups
  and teams themselves would add more: the count is a floor for Terraform.

cartography is imported here only, inside the functions (the product never imports it:
import-linter contract "Only the benchmarks import cartography").
"""

from __future__ import annotations

import datetime as dt
import json
import time
import warnings
from collections.abc import Callable, Mapping
from math import ceil
from typing import Any

import requests

from reconciler.bench.minimums import pages
from reconciler.bench.running import _timed_read
from reconciler.bench.scale import _counters, _trips
from reconciler.bench.throughput import sandbox_process
from reconciler.demo.world import World
from reconciler.model import DesiredState, GoogleScope
from reconciler.providers.connecting import connect_sandbox

TERRAFORM_PARALLELISM = 10  # `terraform plan/apply -parallelism` default
# cartography's own page sizes (cartography/intel/gsuite/*.py, github/*.py)
CARTOGRAPHY_USERS_PAGE = 500
CARTOGRAPHY_GROUPS_PAGE = 20
CARTOGRAPHY_MEMBERS_PAGE = 200
CARTOGRAPHY_GITHUB_PAGE = 100


def cartography_round_trips(world: Mapping[str, Any]) -> dict[str, int]:
    """The round trips cartography's fetch functions spend on `world` by their own page sizes
    and call pattern, one call after the other: Google users.list at 500, groups.list at 20,
    members.list at 200 per group (no batching); GitHub one GraphQL page of 100 per request,
    each preceded by a REST GET /rate_limit (`handle_rate_limit_sleep`), for the org members,
    the teams, and the members of every team that has any. The benchmark checks the measured
    counts against these, so a peer's number is known to be its whole read."""
    google = world.get("google") or {}
    github = world.get("github") or {}
    members = google.get("members") or {}
    groups = google.get("groups") or []
    team_sizes = [len(team.get("members") or []) for team in github.get("teams") or []]
    graphql_pages = (
        pages(len(github.get("members") or []), CARTOGRAPHY_GITHUB_PAGE)
        + pages(len(team_sizes), CARTOGRAPHY_GITHUB_PAGE)
        + sum(pages(size, CARTOGRAPHY_GITHUB_PAGE) for size in team_sizes if size)
    )
    return {
        "google": pages(len(google.get("users") or []), CARTOGRAPHY_USERS_PAGE)
        + pages(len(groups), CARTOGRAPHY_GROUPS_PAGE)
        + sum(
            pages(len(members.get(group["email"]) or []), CARTOGRAPHY_MEMBERS_PAGE)
            for group in groups
        ),
        "github": 2 * graphql_pages,
    }


def terraform_refresh(world: Mapping[str, Any], latency_ms: int) -> dict[str, Any]:
    """Round trips of a Terraform refresh of `world` managed one resource per membership and
    per IAM member, and its time at `latency_ms` a round trip, one at a time and at the
    default parallelism (latency only: the floor of the wall time)."""
    google = world.get("google") or {}
    github = world.get("github") or {}
    gcp = world.get("gcp") or {}
    reads = {
        # googleworkspace_group_member: one members.get each
        "google": sum(len(members) for members in (google.get("members") or {}).values()),
        # github_membership (GET /orgs/{org}/memberships/{user}) and github_team_membership
        # (GET /orgs/{org}/teams/{slug}/memberships/{user}): one each
        "github": len(github.get("members") or [])
        + sum(len(team.get("members") or []) for team in github.get("teams") or []),
        # google_{organization,folder,project}_iam_member: one getIamPolicy each
        "gcp": sum(
            len(binding.get("members") or [])
            for resource in gcp.get("resources") or []
            for binding in (resource.get("policy") or {}).get("bindings") or []
        ),
    }
    total = sum(reads.values())
    return {
        "round_trips": reads,
        "total_round_trips": total,
        "parallelism": TERRAFORM_PARALLELISM,
        "latency_ms": latency_ms,
        "sequential_seconds": round(total * latency_ms / 1000, 3),
        "parallel_seconds": round(ceil(total / TERRAFORM_PARALLELISM) * latency_ms / 1000, 3),
    }


def _spent(url: str, before: Mapping[str, Any]) -> dict[str, int]:
    """Round trips per API since `before`, the APIs not called left out."""
    return {api: n for api, n in sorted(_trips(before, _counters(url)).items()) if n}


def _measured(url: str, fetch: Callable[[], dict[str, int]]) -> dict[str, Any]:
    """Round trips per API (sandbox counters) and wall time of `fetch`, with what it read.

    A peer that fails is recorded with the error as its reason and the round trips it spent
    until then: a peer the sandbox cannot serve yet must not hide the other numbers."""
    before = _counters(url)
    started = time.perf_counter()
    try:
        read = fetch()
    except Exception as exc:  # a peer's own failure, whatever its kind, is a result here
        return {"skipped": f"{type(exc).__name__}: {exc}"[:500], "round_trips": _spent(url, before)}
    seconds = round(time.perf_counter() - started, 3)
    return {"seconds": seconds, "round_trips": _spent(url, before), "read": read}


def _directory(url: str, scope: GoogleScope) -> Any:
    """A Directory API `Resource` as the product builds its own: the bundled discovery document
    with rootUrl moved to the sandbox, authorised by the same domain-wide delegation."""
    import google_auth_httplib2
    import httplib2
    from googleapiclient.discovery import build_from_document
    from googleapiclient.discovery_cache import get_static_doc

    from reconciler.providers import google_auth
    from reconciler.providers.google_workspace import GoogleWorkspaceProvider

    subject = GoogleWorkspaceProvider.from_sandbox(url, scope).subject  # the product's admin
    assert subject is not None  # from_sandbox always names one
    credentials = google_auth.sandbox_delegated_credentials(url, subject)
    doc = json.loads(get_static_doc("admin", "directory_v1"))
    doc["rootUrl"] = url.rstrip("/") + "/"
    http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=60))
    return build_from_document(doc, http=http)


def _import_cartography() -> None:
    """Import the cartography modules used here; its import warns that it is tested on newer
    Pythons only, which is noise on the bench's tables."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import cartography.intel.github.teams
        import cartography.intel.github.users
        import cartography.intel.gsuite.groups
        import cartography.intel.gsuite.users  # noqa: F401


def cartography_google(url: str, scope: GoogleScope) -> dict[str, Any]:
    """cartography's Google Workspace fetch: get_all_users, get_all_groups and
    get_members_for_groups (what its sync_gsuite_users / sync_gsuite_groups call first)."""
    _import_cartography()
    from cartography.intel.gsuite.groups import get_all_groups, get_members_for_groups
    from cartography.intel.gsuite.users import get_all_users

    def fetch() -> dict[str, int]:
        admin = _directory(url, scope)
        users = get_all_users(admin)
        groups = get_all_groups(admin, scope.customer)
        members = get_members_for_groups(admin, [group["id"] for group in groups])
        return {
            "users": sum(len(page.get("users", [])) for page in users),
            "groups": len(groups),
            "memberships": sum(len(m) for m in members.values()),
        }

    return _measured(url, fetch)


def cartography_github(url: str, org: str, token: str) -> dict[str, Any]:
    """cartography's GitHub fetch: users.get_users, teams.get_teams and the team members
    (teams._get_team_users_for_multiple_teams, what its sync_github_teams calls), against the
    sandbox's GraphQL endpoint at the GitHub Enterprise Server path (/api/graphql, REST at
    /api/v3), the form of URL cartography takes for a host other than api.github.com."""
    _import_cartography()
    from cartography.intel.github.teams import _get_team_users_for_multiple_teams, get_teams
    from cartography.intel.github.users import get_users

    api_url = url.rstrip("/") + "/api/graphql"

    def fetch() -> dict[str, int]:
        members, _ = get_users(token, api_url, org)
        teams, _ = get_teams(org, api_url, token)
        team_members = _get_team_users_for_multiple_teams(teams.nodes, org, api_url, token)
        return {
            "members": len(members),
            "teams": len(teams.nodes),
            "team_memberships": sum(len(m) for m in team_members.values()),
        }

    return _measured(url, fetch)


def measure_peers(
    world: World, desired: DesiredState, now: dt.datetime, latency_ms: int
) -> dict[str, Any]:
    """The product's full read, cartography's fetches and the Terraform count of one world,
    the sandbox in its own process with `latency_ms` per round trip; the results' `peers`."""
    from reconciler.providers.github import SANDBOX_TOKEN

    systems = desired.organization.systems
    out: dict[str, Any] = {"latency_ms": latency_ms}
    with sandbox_process(world) as url:
        requests.post(f"{url}/_sandbox/latency", json={"latency_ms": latency_ms}, timeout=30)
        providers = connect_sandbox(url, desired)
        before = _counters(url)
        snapshot, seconds, per_system = _timed_read(providers, desired, now)
        out["reconciler"] = {
            "seconds": seconds,
            "per_system_seconds": per_system,
            "round_trips": _spent(url, before),
            "complete": all(part.status.complete for part in snapshot.parts.values()),
        }
        cartography: dict[str, Any] = {}
        if systems.google:
            cartography["google"] = cartography_google(url, systems.google)
        if systems.github:
            cartography["github"] = cartography_github(url, systems.github.org, SANDBOX_TOKEN)
        out["cartography"] = cartography
    out["cartography_expected_round_trips"] = cartography_round_trips(world)
    out["terraform"] = terraform_refresh(world, latency_ms)
    return out
