"""The agent's request parsing: infer bodies (JSON + binary tensor data, the
Inference-Header-Content-Length split) and JSON command bodies. Anything hostile
is a BadRequest (HTTP 400 with a message), never a crash or a huge allocation."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from edgeconsole.agent.errors import AgentRequestError
from edgeconsole.agent.tensors import MAX_ELEMENTS, parse_request
from tests.fuzz._settings import count, fuzz

DTYPES = [
    "FP32",
    "FP16",
    "FP64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT8",
    "BOOL",
    "BYTES",
    "fp32",
    "FLOAT",
    "",
]
any_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)
shape = st.lists(
    st.one_of(st.integers(-2, 8), st.integers(2**31, 2**63), st.text(max_size=3)), max_size=4
)
tensor = st.fixed_dictionaries(
    {
        "name": st.one_of(st.text(max_size=8), any_json),
        "datatype": st.sampled_from(DTYPES),
        "shape": st.one_of(shape, any_json),
    },
    optional={
        "data": st.one_of(
            st.lists(st.one_of(st.floats(), st.integers(-300, 300)), max_size=70), any_json
        ),
        "parameters": st.one_of(
            st.fixed_dictionaries(
                {"binary_data_size": st.one_of(st.integers(-5, 10**12), any_json)}
            ),
            any_json,
        ),
    },
)


def _check(body: bytes, header_len: int | None) -> None:
    try:
        req, arrays = parse_request(body, header_len)
    except AgentRequestError as exc:
        assert exc.status == 400 and str(exc)
        return
    assert isinstance(req, dict) and arrays
    for arr in arrays.values():
        assert isinstance(arr, np.ndarray) and arr.size <= MAX_ELEMENTS


@fuzz(quick=100)
# No elements, yet numpy cannot shape it; and an int64 product that wraps to 0: both
# were 500s until the long run found them.
@example(
    [{"name": "x", "datatype": "FP32", "shape": [0, 2**31, 2**31], "data": []}], b"", False, None
)
@example([{"name": "x", "datatype": "FP32", "shape": [2**32, 2**32], "data": []}], b"", False, None)
@given(
    st.lists(tensor, max_size=3),
    st.binary(max_size=512),
    st.booleans(),
    st.one_of(st.none(), st.integers(-5, 5)),
)
def test_infer_requests_parse_or_are_400(
    inputs: list[dict[str, Any]], binary: bytes, use_binary: bool, skew: int | None
) -> None:
    count("agent: infer request bodies")
    head = json.dumps({"inputs": inputs}, allow_nan=True).encode()
    if use_binary:
        body = head + binary
        header_len = len(head) + (skew or 0)
    else:
        body, header_len = head, None
    _check(body, header_len)


@fuzz(quick=60)
@given(st.binary(max_size=1024), st.one_of(st.none(), st.integers(-10, 2000)))
def test_arbitrary_bodies_are_400(body: bytes, header_len: int | None) -> None:
    count("agent: arbitrary infer bodies")
    _check(body, header_len)
