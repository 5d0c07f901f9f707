"""The console's gateway client against the real agent on 127.0.0.1, plus hostile input."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edgeconsole.core.errors import ConfigError, DeviceError
from edgeconsole.devices.gateway.flash import GatewayFlashJob
from edgeconsole.devices.gateway.http import AuthError
from edgeconsole.devices.gateway.oip import OipClient, decode_infer, encode_infer
from edgeconsole.devices.gateway.stream_receiver import StreamReceiver
from edgeconsole.devices.gateway.target import GatewayTarget
from edgeconsole.devices.gateway.wire import result_from_json, unpack_jpeg
from edgeconsole.devices.target import Payload, Target
from edgeconsole.devices.targets import open_target
from tests.fixtures.gateway import DIGITS, GatewayKit, RunningAgent, StartAgent


@pytest.fixture
def oip(gateway_agent: RunningAgent) -> Any:
    c = OipClient(gateway_agent.url, gateway_agent.token)
    yield c
    c.close()


def test_oip_client_metadata_health_infer(oip: OipClient) -> None:
    assert oip.server_metadata()["name"] == "edgeconsole-agent"
    assert oip.is_live() and oip.is_ready()
    oip.load("digits")
    assert oip.model_ready("digits")
    assert oip.model_metadata("digits")["platform"] == "onnxruntime_onnx"
    x = np.load(DIGITS / "golden_input.npy").astype(np.float32)
    y = np.load(DIGITS / "golden_output.npy")
    for binary in (True, False):
        out = oip.infer("digits", {"input": x}, binary=binary)
        np.testing.assert_allclose(out["probabilities"], y, atol=1e-5)
    rows = {r["name"]: r["state"] for r in oip.repository_index()}
    assert rows["digits"] == "READY"
    oip.unload("digits")
    assert not oip.model_ready("digits")


def test_wrong_token_raises_auth_error(gateway_agent: RunningAgent) -> None:
    c = OipClient(gateway_agent.url, "not-the-token-at-all")
    try:
        assert c.is_live()
        with pytest.raises(AuthError, match="refused the token"):
            c.server_metadata()
    finally:
        c.close()


def test_unreachable_gateway_is_a_clear_disconnect() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    c = OipClient(f"http://127.0.0.1:{port}", "t", timeout_s=2)
    try:
        with pytest.raises(DeviceError, match="no answer from the gateway"):
            c.server_metadata()
    finally:
        c.close()


def test_infer_codec_round_trip_and_hostile_responses() -> None:
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    body, headers = encode_infer({"x": arr}, binary=True)
    n = int(headers["Inference-Header-Content-Length"])
    assert json.loads(body[:n])["inputs"][0]["parameters"]["binary_data_size"] == 48
    resp = json.dumps(
        {
            "outputs": [
                {
                    "name": "y",
                    "shape": [3, 4],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 48},
                }
            ]
        }
    ).encode()
    out = decode_infer(resp + arr.tobytes(), str(len(resp)))
    np.testing.assert_array_equal(out["y"], arr)
    with pytest.raises(DeviceError, match="truncated"):
        decode_infer(resp + arr.tobytes()[:40], str(len(resp)))
    with pytest.raises(DeviceError, match="out of range"):
        decode_infer(resp, "999999")
    with pytest.raises(DeviceError, match="not JSON"):
        decode_infer(b"\xff\xfe", None)
    with pytest.raises(DeviceError, match="no outputs"):
        decode_infer(b'{"outputs": 3}', None)
    with pytest.raises(DeviceError, match="malformed output"):
        decode_infer(b'{"outputs": [{"name": "y", "shape": [2], "datatype": "FP99"}]}', None)
    with pytest.raises(DeviceError, match="does not fit"):
        decode_infer(
            b'{"outputs": [{"name": "y", "shape": [5], "datatype": "FP32", "data": [1, 2]}]}', None
        )
    with pytest.raises(DeviceError, match="cannot carry"):
        encode_infer({"s": np.array(["a"])}, binary=False)


@pytest.mark.parametrize(
    "msg",
    [
        b"",
        b"\x00\x00",
        b"\x00\x01\x00\x00{}",
        struct.pack(">I", 10**6) + b"{}",
        struct.pack(">I", 2) + b"[]",
        struct.pack(">I", 3) + b"\xff\xfe\xfd",
    ],
)
def test_hostile_frame_messages(msg: bytes) -> None:
    with pytest.raises(DeviceError):
        unpack_jpeg(msg)


@pytest.mark.parametrize(
    "res",
    [
        None,
        [],
        {"detections": [{"box": [1, 2]}]},
        {"classification": {"label": "x"}},
        {"parts": [{"box": [0, 0, 1, 1]}]},
        {"overlay": [{"type": "box", "box": "abcd"}]},
    ],
)
def test_hostile_results(res: Any) -> None:
    with pytest.raises(DeviceError):
        result_from_json(res)


def test_gateway_urls() -> None:
    assert GatewayTarget("gateway://10.0.0.5:8470", "t").url == "gateway://10.0.0.5:8470"
    assert GatewayTarget("gateway://gw.local", "t").hostport == "gw.local:8470"
    for bad in ("serial:///dev/tty", "oip://h:1", "gateway://", "gateway://h:99999"):
        with pytest.raises(ConfigError):
            GatewayTarget(bad, "t")


def test_gateway_target_flash_confirm_rollback(
    gateway_agent: RunningAgent,
    gateway_kit: GatewayKit,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EDGECONSOLE_CONFIG_DIR", str(tmp_path / "cfg"))
    token_file = tmp_path / "token"
    token_file.write_text(gateway_agent.token)
    t = open_target(gateway_agent.gateway_url, token_file=token_file)
    try:
        assert isinstance(t, Target)
        info = t.info()
        assert info.hw_id == "gw-x86" and info.extra["model"] is None
        phases: list[str] = []
        for version in (1, 2):
            data = gateway_kit.bundle(version=version).read_bytes()
            import hashlib

            payload = Payload(data, hashlib.sha256(data).hexdigest(), "digits-mlp", version)
            result = GatewayFlashJob(t, payload, progress=lambda p: phases.append(p.phase)).run()
            assert result.confirmed and result.self_test is not None
            assert result.self_test.passed and result.self_test.p95_ms is not None
        assert {"trial", "confirm", "done"} <= set(phases)
        slots = t.slots()
        assert [s.state for s in slots] == ["confirmed", "confirmed"]
        assert next(s for s in slots if s.running).version == 2
        slots = t.rollback()
        assert next(s for s in slots if s.running).version == 1
        assert t.info().extra["model_version"] == "1"
    finally:
        t.close()
    # The token was remembered for that host:port: no token needed the second time.
    t2 = open_target(gateway_agent.gateway_url)
    try:
        assert t2.info().hw_id == "gw-x86"
    finally:
        t2.close()


def test_flash_of_a_failing_bundle_reports_the_rollback(
    gateway_agent: RunningAgent, gateway_kit: GatewayKit
) -> None:
    import hashlib

    t = GatewayTarget(gateway_agent.gateway_url, gateway_agent.token)
    try:
        data = gateway_kit.bundle(version=3, budget_ms=1e-6).read_bytes()
        payload = Payload(data, hashlib.sha256(data).hexdigest(), "digits-mlp", 3)
        with pytest.raises(DeviceError, match="rolled back"):
            GatewayFlashJob(t, payload).run()
        assert all(s.state in ("bad", "empty") for s in t.slots())
    finally:
        t.close()


def test_stream_results_frames_telemetry_and_network_stage(
    start_gateway_agent: StartAgent, gateway_kit: GatewayKit
) -> None:
    agent = start_gateway_agent(cameras=["synthetic:conveyor?fps=25"])
    t = GatewayTarget(agent.gateway_url, agent.token)
    import hashlib

    data = gateway_kit.bundle(version=1).read_bytes()
    GatewayFlashJob(t, Payload(data, hashlib.sha256(data).hexdigest(), "digits-mlp", 1)).run()
    t.close()
    rx = StreamReceiver(agent.url, agent.token, max_fps=10).start()
    try:
        assert rx.wait_for(
            lambda s: (
                s.results >= 20 and s.frames >= 3 and s.telemetry and s.clock_offset_ns is not None
            ),
            30,
        ), rx.stats
        items = rx.take_results()
        with_model = [i for i in items if i.result is not None]
        assert with_model, "the running bundle's results reach the console"
        item = with_model[-1]
        assert item.model == {"name": "digits-mlp", "version": "1"}
        assert item.result.classification is not None
        assert {"preprocess", "infer", "network", "agent_queue"} <= set(item.stages)
        # Same host, same monotonic clock: the offset is near zero and network is small.
        assert abs(rx.stats.clock_offset_ns) < 50_000_000
        assert 0 <= item.stages["network"] < 1000
        assert item.e2e_ms >= item.stages["infer"]
        frame = rx.take_frame()
        assert frame is not None
        img = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.ndim == 3
        tel = rx.stats.telemetry
        assert tel["camera"]["state"] == "running" and tel["camera"]["frames"] > 0
    finally:
        rx.stop()


def test_stream_refuses_a_wrong_token(start_gateway_agent: StartAgent) -> None:
    agent = start_gateway_agent(cameras=["synthetic:conveyor?fps=10"])
    rx = StreamReceiver(agent.url, "wrong-token-123456789", heartbeat_s=0.5).start()
    try:
        assert rx.wait_for(lambda s: s.last_error is not None, 10)
        assert "401" in str(rx.stats.last_error)
        assert rx.stats.connects == 0
    finally:
        rx.stop()
