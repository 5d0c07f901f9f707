"""SerialTarget.infer against the virtual device on a real pty, and the decoder of
the device's answer against hostile input."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from edgeconsole.core.errors import ConfigError, DeviceDisconnected, DeviceError
from edgeconsole.devices.serial.client import SerialTarget
from edgeconsole.devices.serial.infer import decode_outputs, encode_input
from edgeconsole.devices.target import Payload
from edgeconsole.sim.device import VirtualSerialDevice
from edgeconsole.sim.device_model import factory_image, pack_dir
from tests.fixtures.onnx_models import scale_model

Make = Callable[..., VirtualSerialDevice]
Connect = Callable[..., SerialTarget]


def factory_session() -> ort.InferenceSession:
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(factory_image()[0])) as tar:
        fh = tar.extractfile("model.onnx")
        assert fh is not None
        return ort.InferenceSession(fh.read(), providers=["CPUExecutionProvider"])


def test_round_trip_matches_local_onnxruntime(serial_device: Make, serial_target: Connect) -> None:
    target = serial_target(serial_device())
    local = factory_session()
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.normal(0, 1, (1, 192)).astype(np.float32)
        outputs, device_us = target.infer({"window": x})
        assert set(outputs) == {"score"} and outputs["score"].shape == (1, 1)
        np.testing.assert_allclose(outputs["score"], local.run(None, {"window": x})[0], rtol=1e-6)
        assert 0 <= device_us < 1_000_000
    # A bare array goes to the model's only input.
    outputs, _ = target.infer(x)
    assert outputs["score"].dtype == np.float32


def test_tensors_larger_than_the_buffer_go_in_chunks_both_ways(
    serial_device: Make, serial_target: Connect, tmp_path: Path
) -> None:
    """An 80 KB input (40x the device buffer) and an 80 KB output, on a model the
    console uploads and activates like any bundle."""
    n = 20_000
    folder = tmp_path / "scale"
    folder.mkdir()
    scale_model(folder / "model.onnx", n=n, factor=0.5)
    data = pack_dir(folder, ("model.onnx",))
    device = serial_device(buf_size=2048)
    target = serial_target(device)
    slot = target.upload(Payload(data, hashlib.sha256(data).hexdigest(), "scale", 1))
    target.activate(slot)
    x = np.random.default_rng(1).normal(0, 1, (1, n)).astype(np.float32)
    outputs, _ = target.infer({"x": x})
    np.testing.assert_array_equal(outputs["y"], x * np.float32(0.5))
    assert device.server.infer_out is not None  # the output came back through cmd 7 read


def test_device_refusals_are_device_errors_with_the_reason(
    serial_device: Make, serial_target: Connect
) -> None:
    target = serial_target(serial_device())
    with pytest.raises(
        DeviceError,
        match=r"inference refused: .* invalid.*has shape \[-1, 192\], got \[1, 64\]",
    ):
        target.infer(np.zeros((1, 64), np.float32))
    with pytest.raises(DeviceError, match=r"is float32, got float64"):
        target.infer(np.zeros((1, 192), np.float64))
    with pytest.raises(DeviceError, match=r"larger than the device accepts.*limit"):
        target.infer(np.zeros((1, 100_000), np.float32))  # 400 KB: refused at the first chunk
    outputs, _ = target.infer(np.zeros((1, 192), np.float32))  # still serving
    assert "score" in outputs


def test_console_refuses_what_it_cannot_send(serial_device: Make, serial_target: Connect) -> None:
    target = serial_target(serial_device())
    x = np.zeros((1, 192), np.float32)
    with pytest.raises(ConfigError, match="one input tensor"):
        target.infer({"a": x, "b": x})
    with pytest.raises(ConfigError, match="complex64"):
        target.infer(x.astype(np.complex64))
    with pytest.raises(ConfigError, match="cannot be sent"):
        target.infer(np.zeros((0, 192), np.float32))


def test_big_endian_input_is_sent_little_endian() -> None:
    x = np.arange(4, dtype=">f4")
    assert encode_input(x) == np.arange(4, dtype="<f4").tobytes()


def test_unplug_mid_infer_is_one_disconnect_then_reconnect_works(
    serial_device: Make, serial_target: Connect
) -> None:
    device = serial_device()
    target = serial_target(device)
    target.infer(np.zeros((1, 192), np.float32))
    device.faults.cut_at_rx = [device.rx_bytes + 300]  # inside the next request's frame
    with pytest.raises(DeviceDisconnected):
        target.infer(np.ones((1, 192), np.float32))
    target.reconnect(10.0)
    outputs, _ = target.infer(np.ones((1, 192), np.float32))
    assert outputs["score"].shape == (1, 1)


F4 = np.arange(6, dtype="<f4").tobytes()
GOOD = {"name": "y", "dtype": "float32", "shape": [2, 3], "len": 24}


@pytest.mark.parametrize(
    ("meta", "data", "match"),
    [
        ([], F4, "list of 1"),
        ("y", F4, "list of 1"),
        ([GOOD] * 65, F4, "list of 1"),
        ([7], F4, "not a map"),
        ([{**GOOD, "name": ""}], F4, "name"),
        ([{**GOOD, "name": 3}], F4, "name"),
        ([GOOD, GOOD], F4 + F4, "repeated"),
        ([{**GOOD, "dtype": "object"}], F4, "dtype"),
        ([{**GOOD, "dtype": None}], F4, "dtype"),
        ([{**GOOD, "shape": [2, -3]}], F4, "shape"),
        ([{**GOOD, "shape": [2.0, 3]}], F4, "shape"),
        ([{**GOOD, "shape": [1] * 9}], F4, "shape"),
        ([{**GOOD, "shape": "2x3"}], F4, "shape"),
        ([{**GOOD, "len": 20}], F4, "shape"),
        ([{**GOOD, "len": "24"}], F4, "shape"),
        ([GOOD], F4[:-1], "runs past"),
        ([GOOD], F4 + b"\0", "after the last output"),
        ([{**GOOD, "shape": [2**40, 2**40], "len": 2**82}], F4, "runs past"),
    ],
)
def test_decode_outputs_refuses_malformed_answers(meta: Any, data: bytes, match: str) -> None:
    with pytest.raises(DeviceError, match=match) as err:
        decode_outputs(meta, data)
    assert "malformed inference result" in str(err.value)


def test_decode_outputs_reads_little_endian_and_empty_outputs() -> None:
    meta = [GOOD, {"name": "boxes", "dtype": "int64", "shape": [0, 4], "len": 0}]
    out = decode_outputs(meta, F4)
    np.testing.assert_array_equal(out["y"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert out["boxes"].shape == (0, 4) and out["y"].flags.writeable
