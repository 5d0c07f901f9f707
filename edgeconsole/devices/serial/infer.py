"""Run the device's model on a tensor the console sends (app group 65, command 7).

The input goes in offset-driven chunks that fill the device's buffer, like an
image upload: the first chunk names ``len``, ``dtype``, ``shape`` (and
optionally the input ``name``); the device answers the offset it holds, so a
lost frame costs a resend from there. When the last byte arrives the device runs
its active slot's model and answers the outputs with its own inference time in
µs; outputs too big for one response are read back with command 7 (read) in
chunks. Tensors travel little-endian, row-major. Everything the device answers
is checked here before it becomes an array: a confused or hostile device gets a
clear :class:`DeviceError`, never a wrong-shaped result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeconsole.core.errors import ConfigError, DeviceError
from edgeconsole.devices.serial import appgroup as app

if TYPE_CHECKING:
    from edgeconsole.devices.serial.client import SerialTarget

#: Element types on the wire (numpy names); the device accepts the same set.
DTYPES = ("float32", "float16", "float64", "int8", "uint8", "int16", "int32", "int64")
MAX_DIMS = 8
MAX_OUTPUTS = 64
#: The most output bytes the console accepts from one inference (the sim sends <= 256 KiB).
MAX_RESULT_BYTES = 16 * 1024 * 1024


def _malformed(target: SerialTarget | None, why: str) -> DeviceError:
    return DeviceError(
        f"device answered a malformed inference result: {why}",
        subject=target.address.path if target is not None else None,
        hint="the device firmware and the console disagree on app group 65 command 7; "
        "update the firmware",
    )


def _one_input(inputs: Mapping[str, np.ndarray] | np.ndarray) -> tuple[str | None, np.ndarray]:
    if isinstance(inputs, np.ndarray):
        return None, inputs
    if len(inputs) != 1:
        raise ConfigError(
            f"a serial device takes one input tensor per inference, got {len(inputs)}",
            hint="models with several inputs run on local:// or a gateway",
        )
    ((name, arr),) = inputs.items()
    return name, np.asarray(arr)


def encode_input(x: np.ndarray) -> bytes:
    """The tensor's bytes as the device reads them (little-endian, row-major)."""
    if x.dtype.name not in DTYPES:
        raise ConfigError(
            f"a {x.dtype} tensor cannot be sent to a serial device",
            hint=f"the wire carries {', '.join(DTYPES)}",
        )
    if x.size == 0 or x.ndim == 0 or x.ndim > MAX_DIMS:
        raise ConfigError(f"tensor of shape {list(x.shape)} cannot be sent (1..{MAX_DIMS} dims)")
    wire = np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("<"))
    return wire.tobytes()


def decode_outputs(
    meta: Any, data: bytes, *, target: SerialTarget | None = None
) -> dict[str, np.ndarray]:
    """Arrays from the device's output descriptions and their concatenated bytes."""
    if not isinstance(meta, list) or not 1 <= len(meta) <= MAX_OUTPUTS:
        raise _malformed(target, f"outputs must be a list of 1..{MAX_OUTPUTS} descriptions")
    if len(data) > MAX_RESULT_BYTES:
        raise _malformed(target, f"{len(data)} output bytes (limit {MAX_RESULT_BYTES})")
    out: dict[str, np.ndarray] = {}
    pos = 0
    for m in meta:
        if not isinstance(m, dict):
            raise _malformed(target, "an output description is not a map")
        name, dtype, shape, n = m.get("name"), m.get("dtype"), m.get("shape"), m.get("len")
        if not isinstance(name, str) or not name or len(name) > 128 or name in out:
            raise _malformed(target, f"output name {name!r} missing, too long or repeated")
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise _malformed(target, f"output '{name}' has dtype {dtype!r}")
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_DIMS
            or any(type(d) is not int or d < 0 for d in shape)
        ):
            raise _malformed(target, f"output '{name}' has shape {shape!r}")
        count = math.prod(shape)  # Python ints: a hostile shape cannot overflow
        need = count * np.dtype(dtype).itemsize
        if type(n) is not int or n != need:
            raise _malformed(target, f"output '{name}' says {n!r} B, shape {shape} needs {need}")
        if pos + n > len(data):
            raise _malformed(target, f"output '{name}' runs past the {len(data)} bytes sent")
        wire = np.dtype(dtype).newbyteorder("<")
        arr = np.frombuffer(data, dtype=wire, count=count, offset=pos).reshape(shape)
        out[name] = arr.astype(dtype)  # a native, writable copy
        pos += n
    if pos != len(data):
        raise _malformed(target, f"{len(data) - pos} bytes after the last output")
    return out


def run_infer(
    target: SerialTarget,
    inputs: Mapping[str, np.ndarray] | np.ndarray,
    *,
    timeout_s: float | None = None,
) -> tuple[dict[str, np.ndarray], int]:
    """Outputs by name and the device's own inference time (µs) for one input tensor."""
    target.require_smp()
    name, x = _one_input(inputs)
    raw = encode_input(x)
    head: dict[str, Any] = {"len": len(raw), "dtype": x.dtype.name, "shape": list(x.shape)}
    if name is not None:
        head["name"] = name
    off = 0
    stalls = 0
    answer: Any = None
    while True:
        extra = head if off == 0 else {}
        _, room = target.client.get_max_cbor_and_data_size(
            app.InferWrite(off=off, data=b"", **extra)
        )
        if room <= 0:
            raise DeviceError(
                f"the device's buffer ({target.transport.mtu} B) cannot hold an inference request",
                subject=target.address.path,
            )
        answer = target.request(
            app.InferWrite(off=off, data=raw[off : off + room], **extra), timeout_s
        )
        if answer.outputs is not None:
            break
        got = answer.off
        if type(got) is not int or not 0 <= got <= len(raw):
            raise _malformed(target, f"offset {got!r} outside the {len(raw)}-byte input")
        # The device says where it is; a device that never moves forward is stuck.
        stalls = stalls + 1 if got <= off else 0
        if stalls > 3:
            raise DeviceError(
                f"device stopped taking the sample at byte {got} of {len(raw)}",
                subject=target.address.path,
                hint="reset the device and try again",
            )
        off = got
    us = answer.infer_us
    if type(us) is not int or us < 0:
        raise _malformed(target, f"infer_us {us!r}")
    meta = answer.outputs
    if not isinstance(meta, list):
        raise _malformed(target, "outputs is not a list")
    if all(isinstance(m, dict) and "data" in m for m in meta):
        blobs = []
        for m in meta:
            if not isinstance(m["data"], bytes) or len(m["data"]) != m.get("len"):
                raise _malformed(target, f"inline data of output {m.get('name')!r}")
            blobs.append(m["data"])
        data = b"".join(blobs)
    else:
        data = _read_result(target, answer.out_len, timeout_s)
    return decode_outputs(meta, data, target=target), us


def _read_result(target: SerialTarget, total: Any, timeout_s: float | None) -> bytes:
    """The output bytes the device kept, read in chunks (command 7, read)."""
    if type(total) is not int or not 0 < total <= MAX_RESULT_BYTES:
        raise _malformed(target, f"out_len {total!r}")
    buf = bytearray()
    while len(buf) < total:
        part = target.request(app.InferResultRead(off=len(buf)), timeout_s)
        if part.off != len(buf) or part.len != total or not part.data:
            raise _malformed(target, f"result chunk at {part.off} of {part.len}, wanted {len(buf)}")
        buf += part.data[: total - len(buf)]
    return bytes(buf)
