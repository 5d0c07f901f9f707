"""Checks on a bundle's ONNX files before onnx/onnxruntime ever loads them.

The protobuf is parsed with ``ModelProto.ParseFromString`` only: no external data
is followed, no file is opened by onnx. Every tensor (initializers, sparse
initializers, node attributes, nested subgraphs) that declares external data must
point at a file listed in the manifest, by plain name, within that file's length.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from edgeconsole.bundles.errors import BundleUnsafeModelError
from edgeconsole.bundles.names import name_problem


def parse_model_proto(data: bytes, name: str, subject: str) -> onnx.ModelProto:
    """Parse without following external data; refuse anything that is not an ONNX model."""
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise BundleUnsafeModelError(
            f"{name} is not an ONNX model (protobuf does not parse)", subject=subject
        ) from exc
    # Arbitrary bytes sometimes parse as an almost empty message: demand the
    # parts every real model has.
    if model.ir_version <= 0 or not model.opset_import or not model.graph.output:
        raise BundleUnsafeModelError(
            f"{name} is not an ONNX model (no IR version, opset or graph outputs)", subject=subject
        )
    return model


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _graph_tensors(attr.g)
            for g in attr.graphs:
                yield from _graph_tensors(g)
            if attr.HasField("sparse_tensor"):
                yield attr.sparse_tensor.values
                yield attr.sparse_tensor.indices


def all_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    yield from _graph_tensors(model.graph)
    for fn in model.functions:
        for node in fn.node:
            for attr in node.attribute:
                if attr.HasField("t"):
                    yield attr.t
                if attr.HasField("g"):
                    yield from _graph_tensors(attr.g)


def external_refs(model: onnx.ModelProto) -> list[tuple[str, dict[str, str]]]:
    """(tensor name, external_data key/values) for every tensor that has any."""
    out = []
    for t in all_tensors(model):
        if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data):
            out.append((t.name, {e.key: e.value for e in t.external_data}))
    return out


def check_external_data(
    model: onnx.ModelProto,
    model_name: str,
    lengths: dict[str, int],
    subject: str,
    root: Path | None = None,
) -> set[str]:
    """Refuse external data outside the bundle; return the files referenced."""
    used: set[str] = set()
    for tensor, info in external_refs(model):
        loc = info.get("location")
        where = f"{model_name}: tensor {tensor!r} external data"
        if not loc:
            raise BundleUnsafeModelError(f"{where} has no location", subject=subject)
        problem = name_problem(loc)
        if problem is not None:
            raise BundleUnsafeModelError(
                f"{where} location {loc!r} refused: {problem}",
                subject=subject,
                hint="external data must be a file inside the bundle",
            )
        if loc not in lengths or loc == model_name or loc.endswith(".onnx"):
            raise BundleUnsafeModelError(
                f"{where} points at {loc!r}, which is not a data file listed in the manifest",
                subject=subject,
                hint="external data must be a file inside the bundle",
            )
        try:
            offset = int(info.get("offset", "0"))
            length = int(info["length"]) if "length" in info else lengths[loc] - offset
        except ValueError as exc:
            raise BundleUnsafeModelError(
                f"{where} offset/length are not integers", subject=subject
            ) from exc
        if offset < 0 or length < 0 or offset + length > lengths[loc]:
            raise BundleUnsafeModelError(
                f"{where} range {offset}+{length} exceeds {loc!r} ({lengths[loc]} bytes)",
                subject=subject,
            )
        if root is not None:
            # In an extraction dir every file was created by the reader, so this
            # only trips if something raced us; still, never follow a link.
            st = os.lstat(root / loc)
            if not stat.S_ISREG(st.st_mode):
                raise BundleUnsafeModelError(
                    f"{where} {loc!r} is not a regular file", subject=subject
                )
        used.add(loc)
    return used
