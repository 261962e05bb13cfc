"""Smoke test of the benchmark's peer phase (phase 6) on a tiny world: cartography's published
fetch functions and the product's read against one sandbox in its own process, through the real
client libraries, and the Terraform refresh formula. It checks the counts, never the times."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from reconciler.bench.generating import generate_desired
from reconciler.bench.minimums import full_read
from reconciler.bench.peers import cartography_round_trips, measure_peers, terraform_refresh
from reconciler.bench.rendering import peers_notes, peers_table
from reconciler.bench.running import BENCH_NOW
from reconciler.demo.world import World, build_world
from reconciler.model import DesiredState, System

LATENCY_MS = 2


@pytest.fixture(scope="module")
def desired() -> DesiredState:
    return generate_desired(20, BENCH_NOW.date())


@pytest.fixture(scope="module")
def world_and_peers(desired: DesiredState) -> tuple[World, dict[str, Any]]:
    world, _ = build_world(desired, BENCH_NOW, drift=False)
    return world, measure_peers(world, desired, BENCH_NOW, LATENCY_MS)


def test_the_product_reads_the_same_world_at_its_minimum(
    desired: DesiredState, world_and_peers: tuple[World, dict[str, Any]]
) -> None:
    world, peers = world_and_peers
    product = peers["reconciler"]
    assert product["complete"]
    minimum = full_read(world, desired)
    for system, api in ((System.GOOGLE, "google"), (System.GITHUB, "github"), (System.GCP, "gcp")):
        assert product["round_trips"][api] == minimum[system].round_trips, api


def test_cartography_google_reads_the_whole_directory_one_call_at_a_time(
    world_and_peers: tuple[World, dict[str, Any]],
) -> None:
    world, peers = world_and_peers
    google = peers["cartography"]["google"]
    assert "skipped" not in google, google
    # what it read is the world's directory, whole
    assert google["read"] == {
        "users": len(world["google"]["users"]),
        "groups": len(world["google"]["groups"]),
        "memberships": sum(len(m) for m in world["google"]["members"].values()),
    }
    # its round trips are its page sizes' count (no batching), and nothing but Directory
    # calls and the one token exchange of the delegated credentials
    assert google["round_trips"] == {
        "google": cartography_round_trips(world)["google"],
        "google_auth": 1,
    }
    assert google["round_trips"]["google"] > peers["reconciler"]["round_trips"]["google"]


def test_cartography_github_is_measured_or_skipped_with_the_sandbox_gap_named(
    world_and_peers: tuple[World, dict[str, Any]],
) -> None:
    world, peers = world_and_peers
    github = peers["cartography"]["github"]
    if "skipped" in github:
        # The sandbox does not serve GitHub Enterprise's /api/v3 REST prefix (cartography
        # asks GET {rest}/rate_limit before every GraphQL page) nor string-encoded GraphQL
        # variables yet; the number is then recorded as skipped, with the error.
        assert "/api/" in github["skipped"], github
    else:
        members = {m["login"] for m in world["github"]["members"]}
        assert github["read"]["members"] == len(members)
        assert github["read"]["teams"] == len(world["github"]["teams"])
        assert github["round_trips"]["github"] == cartography_round_trips(world)["github"]


def test_terraform_refresh_is_one_round_trip_per_membership_and_iam_member() -> None:
    world: dict[str, Any] = {
        "google": {"members": {"a@example.co.jp": [{}] * 3, "b@example.co.jp": [{}] * 2}},
        "github": {"members": [{}] * 4, "teams": [{"members": [{}] * 2}, {"members": []}]},
        "gcp": {
            "resources": [
                {"policy": {"bindings": [{"members": ["user:a", "user:b"]}, {"members": []}]}},
                {"policy": {"bindings": [{"members": ["group:c"]}]}},
                {"policy": {}},
            ]
        },
    }
    refresh = terraform_refresh(world, latency_ms=20)
    assert refresh["round_trips"] == {"google": 5, "github": 6, "gcp": 3}
    assert refresh["total_round_trips"] == 14
    assert refresh["sequential_seconds"] == 0.28  # 14 x 20 ms
    assert refresh["parallel_seconds"] == 0.04  # ceil(14 / 10) = 2 waves x 20 ms


def test_cartography_formula_counts_its_page_sizes() -> None:
    world: dict[str, Any] = {
        "google": {
            "users": [{}] * 501,  # 2 pages of 500
            "groups": [{"email": f"g{i}@example.co.jp"} for i in range(21)],  # 2 pages of 20
            "members": {"g0@example.co.jp": [{}] * 401},  # 3 pages; 20 empty groups: 1 each
        },
        "github": {
            "members": [{}] * 101,  # 2 pages
            "teams": [{"members": [{}] * 150}, {"members": []}],  # 1 page; 2 + 0 member pages
        },
    }
    assert cartography_round_trips(world) == {
        "google": 2 + 2 + 3 + 20,
        "github": 2 * (2 + 1 + 2),  # each GraphQL page preceded by GET /rate_limit
    }


def test_the_peers_table_shows_every_tool(world_and_peers: tuple[World, dict[str, Any]]) -> None:
    _, peers = world_and_peers
    out = io.StringIO()
    Console(file=out, width=200).print(peers_table(peers))
    text = out.getvalue()
    assert "reconciler read_all" in text
    assert "cartography google" in text
    assert "cartography github" in text
    assert "Terraform refresh" in text
    # a measured peer that spent what its page sizes predict needs no note; a skipped one
    # says why
    notes = peers_notes(peers)
    assert not any("cartography google" in note for note in notes), notes
    skipped = [s for s, entry in peers["cartography"].items() if "skipped" in entry]
    assert len(notes) == len(skipped), notes
