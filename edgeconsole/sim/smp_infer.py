"""Inference on a console-sent sample over SMP (the app group's command 7).

The console sends an input tensor in offset-driven chunks (like image upload); the
device runs its active slot's model on it and answers the outputs, or, when they do
not fit one response, keeps them to be read back in chunks (command 7 read).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cbor2
import numpy as np
from smp import header as smphdr

from edgeconsole.sim.device_model import DeviceModel, InferError
from edgeconsole.sim.smp_app import APP_GROUP_ID, AppErr, SmpFailure, whole

#: Largest input tensor (and total output) of one inference: RAM an MCU can spare.
MAX_INFER_BYTES = 256 * 1024
MAX_INFER_DIMS = 8
#: Tensor element types on the wire (little-endian, row-major), numpy names.
INFER_DTYPES = ("float32", "float16", "float64", "int8", "uint8", "int16", "int32", "int64")
_INFER_ERR = {
    "no_model": AppErr.NO_MODEL,
    "invalid": AppErr.INVALID,
    "failed": AppErr.INFER_FAILED,
}


@dataclass
class InferInput:
    """An input tensor arriving in chunks (RAM only: a reset forgets it)."""

    name: str | None
    dtype: str
    shape: tuple[int, ...]
    length: int
    buf: bytearray
    off: int = 0


@dataclass
class InferOutput:
    """The last inference's outputs, kept for chunked reading until the next one."""

    meta: list[dict[str, Any]]
    data: bytes
    infer_us: int


class SmpInference:
    """Command 7's state (RAM only: a reset forgets it): the input arriving, the
    last outputs kept for reading."""

    def __init__(self, buf_size: int, running_model: Callable[[], DeviceModel | None]) -> None:
        self.buf_size = buf_size
        self._running_model = running_model
        self.infer_in: InferInput | None = None
        self.infer_out: InferOutput | None = None

    def _fits(self, answer: dict[str, Any]) -> bool:
        """Whether a response fits the device's buffer (header + CBOR + CRC)."""
        return smphdr.Header.SIZE + len(cbor2.dumps(answer)) + 2 <= self.buf_size

    def _model(self) -> DeviceModel:
        model = self._running_model()
        if model is None:
            raise SmpFailure(APP_GROUP_ID, AppErr.NO_MODEL, "no slot is running")
        return model

    def _start(self, body: dict[str, Any]) -> InferInput:
        def bad(why: str) -> SmpFailure:
            return SmpFailure(APP_GROUP_ID, AppErr.INVALID, why)

        length = body.get("len")
        if type(length) is not int or length <= 0:
            raise bad("len (input bytes) required at off 0")
        if length > MAX_INFER_BYTES:
            raise SmpFailure(
                APP_GROUP_ID, AppErr.TOO_LARGE, f"input {length} B > limit {MAX_INFER_BYTES} B"
            )
        dtype = body.get("dtype")
        if not isinstance(dtype, str) or dtype not in INFER_DTYPES:
            raise bad(f"dtype must be one of {','.join(INFER_DTYPES)}")
        shape = body.get("shape")
        if (
            not isinstance(shape, list)
            or not 1 <= len(shape) <= MAX_INFER_DIMS
            or any(type(d) is not int or not 1 <= d <= MAX_INFER_BYTES for d in shape)
        ):
            raise bad(f"shape must be 1..{MAX_INFER_DIMS} dims, each 1..{MAX_INFER_BYTES}")
        count = 1
        for d in shape:
            count *= d
        if count * np.dtype(dtype).itemsize != length:
            raise bad(f"len {length} != shape {shape} x {np.dtype(dtype).itemsize} B")
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or not 0 < len(name) <= 64):
            raise bad("name must be a short string")
        try:
            self._model().check_input(name, dtype, tuple(shape))
        except InferError as exc:
            raise SmpFailure(APP_GROUP_ID, _INFER_ERR[exc.kind], exc.reason) from None
        return InferInput(name, dtype, tuple(shape), length, bytearray(length))

    def write(self, frame: bytes, body: Any) -> dict[str, Any]:
        off = whole(body, "off")
        data = body.get("data", b"")
        if off is None:
            raise SmpFailure(APP_GROUP_ID, AppErr.INVALID, "off required")
        if not isinstance(data, bytes):
            raise SmpFailure(APP_GROUP_ID, AppErr.INVALID, "data must be bytes")
        if off == 0:
            # A new sample: whatever was half-sent or kept from the last one goes.
            self.infer_in = self.infer_out = None
            self.infer_in = self._start(body)
        pending = self.infer_in
        if pending is None:
            raise SmpFailure(
                APP_GROUP_ID, AppErr.INVALID, "no inference in progress: start at off 0"
            )
        if off != pending.off:
            return {"off": pending.off}  # the console lost track: tell it where we are
        if pending.off + len(data) > pending.length:
            self.infer_in = None
            raise SmpFailure(APP_GROUP_ID, AppErr.INVALID, "data beyond len")
        pending.buf[pending.off : pending.off + len(data)] = data
        pending.off += len(data)
        if pending.off < pending.length:
            return {"off": pending.off}
        self.infer_in = None
        wire = np.dtype(pending.dtype).newbyteorder("<")
        x = np.frombuffer(bytes(pending.buf), dtype=wire).reshape(pending.shape)
        x = x.astype(pending.dtype, copy=False)
        try:
            outputs, infer_us = self._model().infer(pending.name, x)
        except InferError as exc:
            raise SmpFailure(APP_GROUP_ID, _INFER_ERR[exc.kind], exc.reason) from None
        meta: list[dict[str, Any]] = []
        blobs: list[bytes] = []
        for name, arr in outputs:
            raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
            meta.append(
                {"name": name, "dtype": arr.dtype.name, "shape": list(arr.shape), "len": len(raw)}
            )
            blobs.append(raw)
        total = sum(len(b) for b in blobs)
        if total > MAX_INFER_BYTES:
            raise SmpFailure(
                APP_GROUP_ID, AppErr.TOO_LARGE, f"outputs {total} B > limit {MAX_INFER_BYTES} B"
            )
        answer: dict[str, Any] = {
            "off": pending.length,
            "infer_us": infer_us,
            "out_len": total,
            "outputs": [dict(m, data=b) for m, b in zip(meta, blobs, strict=True)],
        }
        if self._fits(answer):
            return answer
        # Too big for one response: the console reads the bytes with cmd 7 read.
        self.infer_out = InferOutput(meta, b"".join(blobs), infer_us)
        answer["outputs"] = meta
        return answer

    def read(self, frame: bytes, body: Any) -> dict[str, Any]:
        off = whole(body, "off")
        out = self.infer_out
        if out is None:
            raise SmpFailure(APP_GROUP_ID, AppErr.INVALID, "no inference result to read")
        if off is None or off > len(out.data):
            raise SmpFailure(APP_GROUP_ID, AppErr.INVALID, f"off must be 0..{len(out.data)}")
        # Header (8), CRC (2), the map with its off/len/data keys and values, and the
        # byte string's head take at most 37 B: 48 leaves a margin.
        room = max(16, self.buf_size - 48)
        return {"off": off, "len": len(out.data), "data": out.data[off : off + room]}
