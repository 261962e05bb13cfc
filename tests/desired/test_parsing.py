"""The fast YAML path (libyaml) gives exactly what the reference parser (ruamel) gives, or
gives up: values, value positions and key positions, on real files and on fuzzed YAML. The
positions end up in plans and audit evidence (`SourceRef`), so "nearly" is not enough."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.bench.generating import generate_repo
from reconciler.bench.running import BENCH_NOW
from reconciler.desired import parsing
from reconciler.desired.loading import load_desired_state
from reconciler.desired.parsing import ParsedFile, ParseFailed, parse_fast, parse_yaml
from reconciler.desired.problems import ValidationFailed
from tests.desired.repos import BASE, ENGINEER, repo

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference(name: str, text: str) -> ParsedFile | None:
    try:
        return parse_yaml(name, text.encode(), fast=False)
    except ParseFailed:
        return None


def assert_same_or_gives_up(name: str, text: str) -> bool:
    """True when the fast path answered (and then equals the reference)."""
    quick = parse_fast(name, text)
    if quick is None:
        return False
    slow = reference(name, text)
    assert slow is not None, f"libyaml accepted what the reference refuses: {text!r}"
    assert (quick.data, quick.values, quick.keys) == (slow.data, slow.values, slow.keys)
    return True


def example_files() -> dict[str, str]:
    found = {"organization.yaml": "", "roles.yaml": ""}
    found = {n: (EXAMPLE / n).read_text("utf-8") for n in found}
    found |= {f"people/{p.name}": p.read_text("utf-8") for p in EXAMPLE.glob("people/*.yaml")}
    return found


def test_every_file_of_the_example_and_the_tests_takes_the_fast_path_unchanged() -> None:
    files = {**example_files(), **{f"tests/{k}": v for k, v in BASE.items()}}
    assert files
    for name, text in sorted(files.items()):
        assert assert_same_or_gives_up(name, text), name


def test_generated_people_and_organisation_take_the_fast_path_unchanged() -> None:
    files = generate_repo(60, BENCH_NOW.date())
    for name, raw in sorted(files.items()):
        assert assert_same_or_gives_up(name, raw.decode()), name


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # anchors and aliases
        "a: !!str 1\n",  # tags
        "%YAML 1.1\n---\na: yes\n",  # a directive changes the resolver
        "a: 1\na: 2\n",  # duplicate key: the reference reports it
        "<<: {a: 1}\n",  # merge key
        "? [a]\n: 1\n",  # complex key
        "a: 1\n---\nb: 2\n",  # a second document
        "a: 1\r\nb: 2\r\n",  # carriage returns
        "a: 1\t\n",  # tabs
        "a: |\n  two lines\n",  # block scalars
        "a: [1\n",  # a syntax error
        "a: =\n",  # the 1.1 value tag
        "[" * 40 + "]" * 40,  # deeper than MAX_DEPTH
    ],
)
def test_anything_unusual_makes_the_fast_path_give_up(text: str) -> None:
    assert parse_fast("x.yaml", text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a: yes\n", "yes"),  # YAML 1.2: not a boolean
        ("a: 0o17\n", 15),
        ("a: 0x1F\n", 31),
        ("a: 2026-02-30\n", "2026-02-30"),  # impossible date: text, the schema reports it
        ("a: 2026-01-02\n", __import__("datetime").date(2026, 1, 2)),
        ("a: '2026-01-02'\n", "2026-01-02"),  # quoted: always text
        ("a: ~\n", None),
        ("a:\n", None),
        ("a: 1e3\n", 1000.0),
        ("a: 1:20\n", "1:20"),  # YAML 1.2: no sexagesimal numbers
    ],
)
def test_scalars_resolve_as_yaml_1_2_like_the_reference(text: str, value: Any) -> None:
    assert assert_same_or_gives_up("x.yaml", text)
    quick = parse_fast("x.yaml", text)
    assert quick is not None and quick.data == {"a": value}


yaml_text = st.text(
    alphabet=st.sampled_from(list("ab:-[]{},&*!|>'\"#%@`?\n\t ~.0123456789e山")), max_size=200
)


@FUZZ
@given(yaml_text)
def test_fuzzed_yaml_is_parsed_as_the_reference_parses_it_or_not_at_all(text: str) -> None:
    assert_same_or_gives_up("x.yaml", text)


@FUZZ
@given(yaml_text)
def test_fuzzed_yaml_after_a_valid_file_is_parsed_as_the_reference_does(text: str) -> None:
    assert_same_or_gives_up("people/e0003.yaml", ENGINEER + text)


values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12), st.dates()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=15,
)


@FUZZ
@given(values, st.booleans())
def test_documents_of_any_shape_and_style_parse_as_the_reference(value: Any, flow: bool) -> None:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = flow
    out = io.StringIO()
    yaml.dump(value, out)
    assert_same_or_gives_up("x.yaml", out.getvalue())


def test_errors_name_the_reference_parsers_positions_even_if_the_fast_path_erred(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file that fails validation is parsed again by the reference parser before its
    errors are reported: here a deliberately wrong fast path shifts every line by 10."""
    wrong = parse_fast

    def shifted(name: str, text: str) -> ParsedFile | None:
        quick = wrong(name, text)
        if quick is None:
            return None
        move = {path: (line + 10, col) for path, (line, col) in quick.values.items()}
        return ParsedFile(name, quick.data, move, quick.keys)

    monkeypatch.setattr(parsing, "parse_fast", shifted)
    broken = ENGINEER.replace("email: taro.yamada@example.co.jp", "email: not-an-email")
    with pytest.raises(ValidationFailed) as failed:
        load_desired_state(repo({"people/e0003.yaml": broken}))
    [error] = [e for e in failed.value.errors if e.file == "people/e0003.yaml"]
    assert (error.line, error.field) == (3, "email")
