"""`grant_order` is Grant's own order as a sort key: a provider may sort by it instead of by
the dataclass comparisons and must get exactly the same sequence."""

from __future__ import annotations

import itertools

from reconciler.model import Grant, GrantKind, grant_order


def test_sorting_by_grant_order_gives_the_dataclass_order() -> None:
    # Every combination of two values per field, every kind, in a scrambled order: each field
    # decides some comparisons, and ties on the earlier fields are broken by the later ones.
    grants = [
        Grant(kind, target, principal, role)
        for kind, target, principal, role in itertools.product(
            GrantKind,
            ("projects/example-stg", "projects/example-prod"),
            ("user:taro.yamada@example.co.jp", "group:eng@example.co.jp"),
            ("roles/viewer", "roles/editor"),
        )
    ]
    scrambled = grants[::-1][1::2] + grants[::-1][0::2]
    assert sorted(scrambled, key=grant_order) == sorted(scrambled)
