"""Outside JSON with its size and nesting bounded before it is parsed (issue 13)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.core.jsonsafe import MAX_DEPTH, JSONRefused, loads_bounded, too_deep

MB = 1 << 20


def nested(depth: int, open_: bytes = b"[", close: bytes = b"]") -> bytes:
    return open_ * depth + close * depth


def test_depth_at_the_limit_is_parsed_and_one_more_is_refused() -> None:
    assert loads_bounded(nested(MAX_DEPTH), max_bytes=MB) is not None
    with pytest.raises(JSONRefused, match=f"nested deeper than {MAX_DEPTH} levels"):
        loads_bounded(nested(MAX_DEPTH + 1), max_bytes=MB)
    deep_objects = b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1)
    with pytest.raises(JSONRefused, match="nested deeper"):
        loads_bounded(deep_objects, max_bytes=MB)


@pytest.mark.parametrize("depth", [1_000, 100_000, 1_000_000])
def test_hostile_depths_never_raise_recursion_error(depth: int) -> None:
    for doc in (nested(depth), nested(depth)[:depth], b'{"k":' * depth):
        with pytest.raises(JSONRefused) as info:
            loads_bounded(doc, max_bytes=4 * depth + 16)
        assert isinstance(info.value, EdgeConsoleError) and isinstance(info.value, ValueError)


def test_brackets_inside_strings_do_not_count() -> None:
    doc = json.dumps({"a": "[" * 500, "b": [']]]]\\"[[[[' * 100], "c": "\\" * 9}).encode()
    assert not too_deep(doc)
    assert loads_bounded(doc, max_bytes=MB)["a"] == "[" * 500


def test_an_unterminated_string_full_of_escaped_quotes_is_scanned_once() -> None:
    """A naive scan retries at every later quote: quadratic on this (minutes for
    1 MB). Here it is one linear pass, then json says what is wrong."""
    doc = b"[" * (MAX_DEPTH + 1) + b'"' + b'\\"' * 500_000
    assert too_deep(doc)  # the brackets before the string still count
    doc = b'["' + b'\\"' * 500_000
    with pytest.raises(JSONRefused, match="not valid JSON"):
        loads_bounded(doc, max_bytes=2 * MB)


def test_size_utf8_and_syntax_are_refused_with_what_and_where() -> None:
    with pytest.raises(JSONRefused, match=r"manifest.json is 11 bytes, over the limit of 10"):
        loads_bounded(b'{"a": 1234}', max_bytes=10, what="manifest.json")
    with pytest.raises(JSONRefused, match=r"not valid JSON \(not UTF-8 text\)") as info:
        loads_bounded(b'{"a": "\xff"}', max_bytes=MB, subject="x.ecb")
    assert str(info.value).startswith("x.ecb: ")
    with pytest.raises(JSONRefused, match=r"not valid JSON \(Expecting"):
        loads_bounded(b"{", max_bytes=MB)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=30,
)


@given(json_values)
def test_documents_within_the_bounds_read_exactly_as_json_loads_does(value: Any) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        assert loads_bounded(text, max_bytes=MB) == json.loads(text)
