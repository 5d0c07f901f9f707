"""Open Inference Protocol v2 tensors: JSON and the binary tensor data extension.

Binary extension (Triton's): the body is a JSON header of
``Inference-Header-Content-Length`` bytes followed by the raw little-endian
tensors, in order, of every input whose parameters carry ``binary_data_size``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from edgeconsole.agent.errors import BadRequest
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded

DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
}
NUMPY_TO_OIP = {v: k for k, v in DTYPES.items()}
MAX_ELEMENTS = 64 * 1024 * 1024
MAX_TENSORS = 64
MAX_DIMS = 32  # numpy's own limit on older versions


def oip_datatype(dtype: np.dtype[Any]) -> str:
    try:
        return NUMPY_TO_OIP[np.dtype(dtype).newbyteorder("=")]
    except KeyError:
        raise BadRequest(f"tensor type {dtype} has no OIP datatype") from None


def parse_request(
    body: bytes, header_length: int | None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Decode an infer request into its JSON part and named arrays."""
    if header_length is None:
        header_bytes, binary = body, b""
    else:
        if not 0 < header_length <= len(body):
            raise BadRequest("Inference-Header-Content-Length is outside the body")
        header_bytes, binary = body[:header_length], body[header_length:]
    try:
        req = loads_bounded(header_bytes, max_bytes=len(header_bytes), what="the infer request")
    except JSONRefused as exc:
        raise BadRequest(exc.what) from None
    if not isinstance(req, dict) or not isinstance(req.get("inputs"), list) or not req["inputs"]:
        raise BadRequest("the infer request needs a non-empty 'inputs' list")
    if len(req["inputs"]) > MAX_TENSORS:
        raise BadRequest(f"more than {MAX_TENSORS} inputs")
    arrays: dict[str, np.ndarray] = {}
    pos = 0
    for i, spec in enumerate(req["inputs"]):
        if not isinstance(spec, dict):
            raise BadRequest(f"inputs[{i}] must be an object")
        name, shape, dt = spec.get("name"), spec.get("shape"), spec.get("datatype")
        if not isinstance(name, str) or not name or name in arrays:
            raise BadRequest(f"inputs[{i}].name must be a unique non-empty string")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise BadRequest(f"input '{name}': shape must be a list of non-negative integers")
        if dt not in DTYPES:
            raise BadRequest(
                f"input '{name}': datatype {dt!r} is not supported",
                hint=f"use one of {', '.join(DTYPES)}",
            )
        # Each dimension on its own too: [0, 2**31, 2**31] has no elements, yet numpy
        # refuses to reshape to it, and np.prod in int64 silently wraps around.
        if len(shape) > MAX_DIMS or any(d > MAX_ELEMENTS for d in shape):
            raise BadRequest(
                f"input '{name}': shape is out of range (at most {MAX_DIMS} dimensions "
                f"of at most {MAX_ELEMENTS} each)"
            )
        count = math.prod(shape)
        if count > MAX_ELEMENTS:
            raise BadRequest(f"input '{name}' has too many elements ({count})")
        dtype = DTYPES[dt]
        params = spec.get("parameters") or {}
        if not isinstance(params, dict):
            raise BadRequest(f"input '{name}': parameters must be an object")
        size = params.get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise BadRequest(f"input '{name}': binary_data_size must be an integer")
            if size != count * dtype.itemsize:
                raise BadRequest(
                    f"input '{name}': {size} binary bytes for shape {shape} "
                    f"of {dt} (needs {count * dtype.itemsize})"
                )
            if pos + size > len(binary):
                raise BadRequest(f"input '{name}': binary data is truncated")
            arr = np.frombuffer(
                binary, dtype=dtype.newbyteorder("<"), count=count, offset=pos
            ).reshape(shape)
            pos += size
        else:
            data = spec.get("data")
            if data is None:
                raise BadRequest(f"input '{name}' has neither data nor binary_data_size")
            try:
                arr = np.asarray(data, dtype=dtype)
            except (ValueError, TypeError, OverflowError):
                raise BadRequest(f"input '{name}': data does not fit {dt}") from None
            if arr.size != count:
                raise BadRequest(f"input '{name}': {arr.size} values for shape {shape}")
            arr = arr.reshape(shape)
        arrays[name] = arr.astype(dtype.newbyteorder("="), copy=False)
    if pos != len(binary):
        raise BadRequest(f"{len(binary) - pos} unclaimed binary bytes after the inputs")
    return req, arrays


def encode_response(
    req: dict[str, Any], model_name: str, model_version: str, outputs: dict[str, np.ndarray]
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header length when it carries binary tensors."""
    params: dict[str, Any] = req["parameters"] if isinstance(req.get("parameters"), dict) else {}
    default_binary = bool(params.get("binary_data_output", False))
    wanted: list[tuple[str, bool]] = []
    requested = req.get("outputs")
    if isinstance(requested, list) and requested:
        for o in requested:
            if not isinstance(o, dict) or not isinstance(o.get("name"), str):
                raise BadRequest("each requested output needs a name")
            if o["name"] not in outputs:
                raise BadRequest(
                    f"unknown output '{o['name']}'", hint=f"outputs: {', '.join(outputs)}"
                )
            op: dict[str, Any] = o["parameters"] if isinstance(o.get("parameters"), dict) else {}
            wanted.append((o["name"], bool(op.get("binary_data", default_binary))))
    else:
        wanted = [(name, default_binary) for name in outputs]
    out_json: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, binary in wanted:
        arr = np.ascontiguousarray(outputs[name])
        entry: dict[str, Any] = {
            "name": name,
            "datatype": oip_datatype(arr.dtype),
            "shape": list(arr.shape),
        }
        if binary:
            raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            entry["data"] = arr.reshape(-1).tolist()
        out_json.append(entry)
    resp: dict[str, Any] = {
        "model_name": model_name,
        "model_version": model_version,
        "outputs": out_json,
    }
    if isinstance(req.get("id"), str):
        resp["id"] = req["id"]
    header = json.dumps(resp, separators=(",", ":")).encode()
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)
