"""Table-driven tests of `effective_bindings`: who really reaches each GCP role, directly or
through Google groups (nested groups, cycles, guests, service accounts, empty groups), with
the group path that leads there. Plain data in, plain data out."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from reconciler.model import Binding, Grant, GrantKind, IamPolicy
from reconciler.views import EffectiveBinding, effective_bindings

PROD = "projects/example-prod"
DOMAINS = ("example.co.jp",)
TARO = "taro.yamada@example.co.jp"
HANAKO = "hanako.sato@example.co.jp"


def members(*rows: tuple[str, str]) -> list[Grant]:
    return [Grant(GrantKind.GOOGLE_GROUP, g, m, "MEMBER") for g, m in rows]


@dataclass
class Case:
    name: str
    bindings: list[Binding]
    groups: list[Grant] = field(default_factory=list)
    users: tuple[str, ...] = (TARO, HANAKO)
    # (member, via) reached on PROD for the binding's role; exactly these, nothing else
    expected: set[tuple[str, tuple[str, ...]]] = field(default_factory=set)


CASES = [
    Case(
        "a member the binding names is reached directly",
        [Binding("roles/viewer", (f"user:{TARO.upper()}",))],
        expected={(f"user:{TARO}", ())},
    ),
    Case(
        "a group member reaches the role through the group, and the group is a member itself",
        [Binding("roles/viewer", ("group:prod-readers@example.co.jp",))],
        members(("prod-readers@example.co.jp", TARO)),
        expected={
            ("group:prod-readers@example.co.jp", ()),
            (f"user:{TARO}", ("prod-readers@example.co.jp",)),
        },
    ),
    Case(
        "a nested group's member is reached with the whole path, outermost group first",
        [Binding("roles/viewer", ("group:eng@example.co.jp",))],
        members(("eng@example.co.jp", "platform@example.co.jp"), ("platform@example.co.jp", TARO)),
        expected={
            ("group:eng@example.co.jp", ()),
            (f"user:{TARO}", ("eng@example.co.jp", "platform@example.co.jp")),
        },
    ),
    Case(
        "the shortest path wins when a member is in the group and in a nested group",
        [Binding("roles/viewer", ("group:eng@example.co.jp",))],
        members(
            ("eng@example.co.jp", "platform@example.co.jp"),
            ("eng@example.co.jp", TARO),
            ("platform@example.co.jp", TARO),
        ),
        expected={("group:eng@example.co.jp", ()), (f"user:{TARO}", ("eng@example.co.jp",))},
    ),
    Case(
        "a cycle of groups is followed once and still reaches everyone in it",
        [Binding("roles/viewer", ("group:a@example.co.jp",))],
        members(
            ("a@example.co.jp", "b@example.co.jp"),
            ("b@example.co.jp", "a@example.co.jp"),
            ("b@example.co.jp", HANAKO),
        ),
        expected={
            ("group:a@example.co.jp", ()),
            (f"user:{HANAKO}", ("a@example.co.jp", "b@example.co.jp")),
        },
    ),
    Case(
        "a guest outside the domains and a service account in a group are reached",
        [Binding("roles/viewer", ("group:ops@example.co.jp",))],
        members(
            ("ops@example.co.jp", "friend@example.com"),
            ("ops@example.co.jp", "ci@example-prod.iam.gserviceaccount.com"),
        ),
        expected={
            ("group:ops@example.co.jp", ()),
            ("user:friend@example.com", ("ops@example.co.jp",)),
            ("serviceAccount:ci@example-prod.iam.gserviceaccount.com", ("ops@example.co.jp",)),
        },
    ),
    Case(
        "an in-domain member that is no user and has no members (an empty group) reaches nobody",
        [Binding("roles/viewer", ("group:ops@example.co.jp",))],
        members(("ops@example.co.jp", "empty-team@example.co.jp")),
        expected={("group:ops@example.co.jp", ())},
    ),
    Case(
        "a user known by an alias is reached under the address the group lists",
        [Binding("roles/viewer", ("group:ops@example.co.jp",))],
        members(("ops@example.co.jp", "taro@example.co.jp")),
        users=(TARO, "taro@example.co.jp"),
        expected={
            ("group:ops@example.co.jp", ()),
            ("user:taro@example.co.jp", ("ops@example.co.jp",)),
        },
    ),
    Case(
        "a group nobody bound reaches nothing",
        [Binding("roles/viewer", (f"user:{HANAKO}",))],
        members(("eng@example.co.jp", TARO)),
        expected={(f"user:{HANAKO}", ())},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_effective_bindings(case: Case) -> None:
    policy = IamPolicy(PROD, "etag", 1, tuple(case.bindings))
    found = effective_bindings([policy], case.groups, case.users, DOMAINS)
    assert {(e.member, e.via) for e in found} == case.expected
    assert {(e.resource, e.role) for e in found} == {(PROD, "roles/viewer")}


def test_a_conditional_binding_keeps_its_condition_through_the_group() -> None:
    binding = Binding("roles/owner", ("group:break@example.co.jp",), {"title": "incident-42"})
    found = effective_bindings(
        [IamPolicy(PROD, "etag", 1, (binding,))],
        members(("break@example.co.jp", TARO)),
        (TARO,),
        DOMAINS,
    )
    assert (
        EffectiveBinding(
            PROD, "roles/owner", f"user:{TARO}", ("break@example.co.jp",), "incident-42"
        )
        in found
    )
    assert all(e.conditional for e in found)


def test_the_path_says_which_groups_lead_there() -> None:
    e = EffectiveBinding(
        PROD, "roles/viewer", f"user:{TARO}", ("eng@example.co.jp", "platform@example.co.jp")
    )
    assert e.path() == "group eng@example.co.jp > platform@example.co.jp"
    assert EffectiveBinding(PROD, "roles/viewer", f"user:{TARO}").path() == "directly"
