"""Properties of the one JSON reader (push/strict_json.py), with Hypothesis."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diagops.push.strict_json import MAX_DEPTH, InvalidJson, parse

SCALARS = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text())
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                      max_leaves=30)


@settings(max_examples=300)
@given(VALUES)
def test_every_strict_json_value_within_the_depth_reads_back_equal(value):
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert parse(text) == value
        assert parse(text.encode()) == value


@settings(max_examples=200)
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_any_input_is_a_value_or_invalid_json_and_nothing_else(data):
    try:
        parse(data)
    except InvalidJson as exc:
        assert str(exc)


@given(st.integers(0xD800, 0xDFFF), st.text(max_size=20))
def test_a_lone_surrogate_escape_is_refused(code, around):
    text = json.dumps({"x": around})[:-2] + f'\\u{code:04x}"}}'
    with pytest.raises(InvalidJson):
        parse(text)


@given(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999"]), VALUES)
def test_non_json_numbers_are_refused_wherever_they_sit(number, value):
    with pytest.raises(InvalidJson):
        parse(json.dumps([value, {"data": "@"}]).replace('"@"', number))


@given(st.integers(1, 2000), st.sampled_from([("[", "]"), ('{"a":', "}")]))
def test_nesting_is_refused_exactly_past_the_depth_bound(depth, brackets):
    opening, closing = brackets
    text = opening * depth + "0" + closing * depth
    if depth <= MAX_DEPTH:
        assert parse(text) is not None
    else:
        with pytest.raises(InvalidJson):
            parse(text)


def test_brackets_inside_strings_do_not_count_as_nesting():
    assert parse(json.dumps({"s": "[" * 1000})) == {"s": "[" * 1000}
