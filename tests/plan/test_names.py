"""Table-driven tests of the given/family name split used by CREATE_ACCOUNT."""

from __future__ import annotations

import pytest

from reconciler.plan import split_person_name

CASES = [
    ("Japanese names are family-name first", "山田 太郎", ("太郎", "山田")),
    ("a full-width space separates too", "佐藤\u3000花子", ("花子", "佐藤")),
    ("katakana names are family-name first", "スミス ジョン", ("ジョン", "スミス")),
    ("Latin names are given-name first", "Taro Yamada", ("Taro", "Yamada")),
    ("extra Latin words stay with the given name", "Mary Ann Smith", ("Mary Ann", "Smith")),
    ("one word fills both required fields", "Madonna", ("Madonna", "Madonna")),
    ("surrounding spaces are ignored", "  Taro   Yamada ", ("Taro", "Yamada")),
]


@pytest.mark.parametrize(("name", "full", "expected"), CASES, ids=[c[0] for c in CASES])
def test_split_person_name(name: str, full: str, expected: tuple[str, str]) -> None:
    assert split_person_name(full) == expected
