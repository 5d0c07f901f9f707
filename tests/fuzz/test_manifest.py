"""The bundle manifest parser (and the model description parser it feeds): any JSON,
and any single edit of a real manifest, is accepted or refused with a BundleError /
EdgeConsoleError, never with anything else."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from edgeconsole.bundles.manifest import parse_manifest, peek_policy_fields
from edgeconsole.core.errors import EdgeConsoleError
from tests.fuzz._bundle import describe, manifest
from tests.fuzz._settings import count, fuzz

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)


def _parse(obj: Any) -> None:
    try:
        peek_policy_fields(obj, "fuzz.ecb")
        m = parse_manifest(obj, "fuzz.ecb")
    except EdgeConsoleError as exc:
        assert str(exc)  # a message a person can read
        return
    # Accepted: what it says must hold together.
    assert m.files and all(e.length >= 0 for e in m.files.values())
    try:
        describe(m.model_part() if hasattr(m, "model_part") else obj)
    except EdgeConsoleError as exc:
        assert str(exc)


@fuzz(quick=60)
@given(json_values)
def test_any_json_is_refused_plainly(obj: Any) -> None:
    count("manifest: arbitrary JSON")
    _parse(obj)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


@fuzz(quick=80)
@given(st.data())
def test_one_edit_of_a_real_manifest_is_accepted_or_refused_plainly(data: st.DataObject) -> None:
    count("manifest: one edit of a real manifest")
    m = manifest()
    path = data.draw(st.sampled_from(_paths(m)[1:]))
    parent: Any = m
    for k in path[:-1]:
        parent = parent[k]
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace":
        parent[path[-1]] = data.draw(json_values)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[data.draw(st.text(max_size=12))] = data.draw(json_values)
    else:
        parent.append(data.draw(json_values))
    _parse(m)
