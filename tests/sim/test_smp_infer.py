"""App group 65 cmd 7 "infer" on the virtual device: real frames over a real pty.

Hostile requests (malformed CBOR, truncated frames, wrong types, oversized
tensors, chunks out of order) are written as SMP console frames to the device's
pseudo-terminal and must come back as an SMP error with a clear reason, while
the device keeps serving. The model is the factory image (the signed vibration
anomaly bundle) run by onnxruntime on the device.
"""

from __future__ import annotations

import os
import select
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cbor2
import numpy as np
import pytest
from smp import header as smphdr
from smp.error import MGMT_ERR

from edgeconsole.sim.device import VirtualSerialDevice
from edgeconsole.sim.device_model import DeviceModel, InferError, factory_image
from edgeconsole.sim.smp_app import APP_GROUP_ID, AppCmd, AppErr
from edgeconsole.sim.smp_infer import MAX_INFER_BYTES
from edgeconsole.sim.smp_lines import SmpLineDecoder, encode_frame
from edgeconsole.sim.smp_server import DeviceHooks, SmpServer
from edgeconsole.sim.storage import DeviceStorage

Make = Callable[..., VirtualSerialDevice]
WINDOW = 192  # the vibration model's input: 64 readings x 3 axes


def frame(body: bytes, op: int = smphdr.OP.WRITE, seq: int = 1, length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    head = smphdr.Header._STRUCT.pack(
        op | (smphdr.Version.V2 << 3), 0, n, APP_GROUP_ID, seq, AppCmd.INFER
    )
    return head + body


def req(op: int = smphdr.OP.WRITE, seq: int = 1, **fields: Any) -> bytes:
    return frame(cbor2.dumps(fields), op, seq)


class Wire:
    """The console end of the device's pty: raw frames out, decoded responses in."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(str(path), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        self.decoder = SmpLineDecoder(max_frame=65535)
        self.seq = 0

    def send(self, raw: bytes) -> None:
        os.write(self.fd, encode_frame(raw))

    def answer(self, timeout: float = 5.0) -> tuple[smphdr.Header, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if not ready:
                continue
            for f in self.decoder.feed(os.read(self.fd, 65536)):
                head = smphdr.Header.loads(f[:8])
                if head.op in (smphdr.OP.READ_RSP, smphdr.OP.WRITE_RSP):
                    return head, cbor2.loads(f[8:])
        raise AssertionError("no answer from the device")

    def ask(self, raw: bytes) -> dict[str, Any]:
        self.send(raw)
        return self.answer()[1]

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def wire(serial_device: Make) -> Iterator[Callable[..., Wire]]:
    opened: list[Wire] = []

    def make(**kw: Any) -> Wire:
        w = Wire(serial_device(**kw).path)
        opened.append(w)
        return w

    yield make
    for w in opened:
        w.close()


def window(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (1, WINDOW)).astype(np.float32)


def local_score(x: np.ndarray) -> np.ndarray:
    model = DeviceModel(factory_image()[0])
    assert model.session is not None
    return np.asarray(model.session.run(None, {"window": x})[0])


def rc_of(answer: dict[str, Any]) -> int:
    assert answer["err"]["group"] == APP_GROUP_ID, answer
    return int(answer["err"]["rc"])


def test_one_frame_infer_matches_onnxruntime_on_the_same_bundle(wire: Callable[..., Wire]) -> None:
    w = wire()
    x = window(1)
    a = w.ask(req(off=0, len=x.nbytes, dtype="float32", shape=[1, WINDOW], data=x.tobytes()))
    assert a["off"] == x.nbytes and a["out_len"] == 4 and a["infer_us"] >= 0
    (out,) = a["outputs"]
    assert (out["name"], out["dtype"], out["shape"], out["len"]) == ("score", "float32", [1, 1], 4)
    got = np.frombuffer(out["data"], "<f4").reshape(1, 1)
    np.testing.assert_allclose(got, local_score(x), rtol=1e-6)


def test_chunked_input_with_offsets_and_a_lost_chunk(wire: Callable[..., Wire]) -> None:
    w = wire(buf_size=256)
    x = window(2)
    raw = x.tobytes()
    a = w.ask(req(off=0, len=len(raw), dtype="float32", shape=[1, WINDOW], data=raw[:100]))
    assert a == {"off": 100}
    # A chunk sent for the wrong offset (a lost frame): the device says where it is.
    assert w.ask(req(off=300, data=raw[300:400])) == {"off": 100}
    off = 100
    while "outputs" not in a:
        a = w.ask(req(off=off, data=raw[off : off + 150]))
        off = a["off"]
    assert off == len(raw)
    got = np.frombuffer(a["outputs"][0]["data"], "<f4").reshape(1, 1)
    np.testing.assert_allclose(got, local_score(x), rtol=1e-6)


def test_outputs_too_big_for_one_response_are_read_back(wire: Callable[..., Wire]) -> None:
    w = wire(buf_size=64)  # even the 4-byte score does not fit a response with its description
    x = window(3)
    raw = x.tobytes()
    first = {"len": len(raw), "dtype": "float32", "shape": [1, WINDOW]}
    a = w.ask(req(off=0, data=raw[:8], **first))
    off = a["off"]
    assert off == 8
    while "outputs" not in a:
        a = w.ask(req(off=off, data=raw[off : off + 24]))
        assert "err" not in a, a
        off = a["off"]
    assert "data" not in a["outputs"][0] and a["out_len"] == 4
    part = w.ask(req(smphdr.OP.READ, off=0))
    assert part["off"] == 0 and part["len"] == 4
    np.testing.assert_allclose(np.frombuffer(part["data"], "<f4"), local_score(x).ravel())
    assert rc_of(w.ask(req(smphdr.OP.READ, off=5))) == AppErr.INVALID  # beyond the result


GOOD = {"off": 0, "len": WINDOW * 4, "dtype": "float32", "shape": [1, WINDOW], "data": b""}


@pytest.mark.parametrize(
    ("fields", "rc", "reason"),
    [
        ({**GOOD, "len": None}, AppErr.INVALID, "len"),
        ({**GOOD, "len": -4}, AppErr.INVALID, "len"),
        ({**GOOD, "len": "768"}, AppErr.INVALID, "len"),
        ({**GOOD, "len": MAX_INFER_BYTES + 4}, AppErr.TOO_LARGE, "limit"),
        ({**GOOD, "len": 2**40}, AppErr.TOO_LARGE, "limit"),
        ({**GOOD, "dtype": "object"}, AppErr.INVALID, "dtype"),
        ({**GOOD, "dtype": 7}, AppErr.INVALID, "dtype"),
        ({**GOOD, "dtype": "uint8", "len": WINDOW}, AppErr.INVALID, "is float32"),
        ({**GOOD, "shape": "1x192"}, AppErr.INVALID, "shape"),
        ({**GOOD, "shape": []}, AppErr.INVALID, "shape"),
        ({**GOOD, "shape": [1, -192]}, AppErr.INVALID, "shape"),
        ({**GOOD, "shape": [True, WINDOW]}, AppErr.INVALID, "shape"),
        ({**GOOD, "shape": [1] * 9 + [WINDOW]}, AppErr.INVALID, "shape"),
        ({**GOOD, "shape": [2, WINDOW]}, AppErr.INVALID, "len"),  # len says 1 row
        ({**GOOD, "shape": [1, 64], "len": 256}, AppErr.INVALID, "has shape"),
        ({**GOOD, "shape": [1, 1, WINDOW]}, AppErr.INVALID, "has shape"),
        ({**GOOD, "name": "input"}, AppErr.INVALID, "'window'"),
        ({**GOOD, "name": "x" * 500}, AppErr.INVALID, "name"),
        ({**GOOD, "data": "text"}, AppErr.INVALID, "bytes"),
        ({**GOOD, "data": b"\0" * 800}, AppErr.INVALID, "beyond len"),
        ({**GOOD, "off": -1}, AppErr.INVALID, "off"),
        ({**GOOD, "off": None}, AppErr.INVALID, "off"),
        ({"off": 8, "data": b"\0" * 8}, AppErr.INVALID, "no inference in progress"),
    ],
)
def test_hostile_requests_get_an_error_with_a_reason(
    wire: Callable[..., Wire], fields: dict[str, Any], rc: int, reason: str
) -> None:
    w = wire()
    body = {k: v for k, v in fields.items() if v is not None}
    a = w.ask(req(**body))
    assert rc_of(a) == rc and reason in a["rsn"], a
    # ... and the device keeps serving.
    x = window(4)
    ok = w.ask(req(off=0, len=x.nbytes, dtype="float32", shape=[1, WINDOW], data=x.tobytes()))
    assert ok["outputs"][0]["name"] == "score"


def test_malformed_and_truncated_frames(wire: Callable[..., Wire]) -> None:
    w = wire()
    body = cbor2.dumps(GOOD)
    # Not CBOR, CBOR cut short, CBOR that is not a map: the general MCUmgr EINVAL, in
    # the top-level rc (inside "err" it would read as the app group's own rc 3).
    for raw in (frame(b"\xff\xfe"), frame(body[:-3]), frame(cbor2.dumps([1, 2]))):
        a = w.ask(raw)
        assert a["rc"] == MGMT_ERR.EINVAL and "err" not in a, a
    # The header says more bytes than the frame holds.
    a = w.ask(frame(body, length=len(body) + 50))
    assert a["rc"] == MGMT_ERR.EINVAL
    # A frame cut mid-line on the wire never arrives: the next good one is answered.
    line = encode_frame(req(**GOOD))
    os.write(w.fd, line[: len(line) // 2] + b"\n")
    x = window(5)
    ok = w.ask(req(off=0, len=x.nbytes, dtype="float32", shape=[1, WINDOW], data=x.tobytes()))
    assert "outputs" in ok


def test_a_frame_larger_than_the_device_buffer_is_dropped(wire: Callable[..., Wire]) -> None:
    w = wire(buf_size=256)
    x = window(6)
    w.send(req(off=0, len=x.nbytes, dtype="float32", shape=[1, WINDOW], data=x.tobytes()))
    with pytest.raises(AssertionError, match="no answer"):
        w.answer(timeout=0.5)  # the device's line decoder refuses what its buffer cannot hold
    a = w.ask(req(off=0, len=x.nbytes, dtype="float32", shape=[1, WINDOW], data=x[0, :8].tobytes()))
    assert a == {"off": 32}


def test_no_model_running_is_refused(tmp_path: Path) -> None:
    factory, fid = factory_image()
    storage = DeviceStorage(tmp_path)
    storage.boot(factory, fid)
    server = SmpServer(storage, buf_size=1024, hooks=DeviceHooks())  # runs nothing
    answer = cbor2.loads(server.handle(req(**GOOD))[8:])  # type: ignore[index]
    assert rc_of(answer) == AppErr.NO_MODEL and "no slot" in answer["rsn"]
    opaque = DeviceModel(b"firmware bytes, not a bundle")
    with pytest.raises(InferError) as err:
        opaque.check_input(None, "float32", (1, WINDOW))
    assert err.value.kind == "no_model" and "no model in payload" in err.value.reason


def test_model_failure_is_reported_not_raised(tmp_path: Path) -> None:
    class Broken(DeviceHooks):
        def running_model(self) -> DeviceModel:
            model = DeviceModel(factory_image()[0])
            model.session.run = _raise  # type: ignore[union-attr]
            return model

    def _raise(*a: Any, **k: Any) -> Any:
        raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : boom\nstack")

    factory, fid = factory_image()
    storage = DeviceStorage(tmp_path)
    storage.boot(factory, fid)
    server = SmpServer(storage, buf_size=2048, hooks=Broken())
    x = window(7)
    body = dict(GOOD, data=x.tobytes())
    answer = cbor2.loads(server.handle(req(**body))[8:])  # type: ignore[index]
    assert rc_of(answer) == AppErr.INFER_FAILED and "boom" in answer["rsn"]
    assert "\n" not in answer["rsn"]
