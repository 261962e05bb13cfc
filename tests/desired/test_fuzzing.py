"""Whatever bytes or YAML a pull request contains, the loader either succeeds or raises
ValidationFailed with positioned errors: never another exception, never a hang."""

from __future__ import annotations

import io
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.desired.loading import load_desired_state
from reconciler.desired.problems import ValidationFailed
from tests.desired.repos import ENGINEER, repo

FILE = "people/e0003.yaml"
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load_or_fail(files: dict[str, bytes]) -> None:
    try:
        load_desired_state(files)
    except ValidationFailed as failed:
        assert failed.errors, "ValidationFailed must carry at least one error"
        for error in failed.errors:
            assert error.file in files or error.file == ""
            assert error.line >= 1 and error.column >= 1
            assert error.message


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_ever_fail_validation(raw: bytes) -> None:
    load_or_fail(repo({FILE: raw}))


# Text made of the characters that steer a YAML parser: indicators, anchors, tags, quotes.
yaml_text = st.text(
    alphabet=st.sampled_from(list("ab:-[]{},&*!|>'\"#%@`?\n\t ~.0123456789e")), max_size=200
)


@FUZZ
@given(yaml_text)
def test_arbitrary_yaml_syntax_only_ever_fails_validation(text: str) -> None:
    load_or_fail(repo({FILE: text}))


@FUZZ
@given(yaml_text)
def test_yaml_syntax_appended_to_a_valid_file_only_ever_fails_validation(text: str) -> None:
    load_or_fail(repo({FILE: ENGINEER + text}))


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.dates(),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["id", "name", "email", "roles", "grants", "employment", "x"]),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=20,
)


def dump(value: Any) -> str:
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(value, out)
    return out.getvalue()


@FUZZ
@given(documents, st.sampled_from(["organization.yaml", "roles.yaml", FILE]))
def test_well_formed_yaml_of_any_shape_only_ever_fails_validation(value: Any, name: str) -> None:
    load_or_fail(repo({name: dump(value)}))
