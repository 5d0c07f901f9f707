"""An Open Inference Protocol server as a target (oip://) and "infer on frames sent from
the laptop": the agent on 127.0.0.1 serves as the OIP v2 server (tritonclient checks it
speaks the protocol in tests/agent/test_oip_peer.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeconsole.core.errors import DeviceError
from edgeconsole.core.frames import Frame
from edgeconsole.session.session import DEMO_SOURCE, Session
from edgeconsole.session.targets import wait_for

DIGITS = Path(__file__).resolve().parents[2] / "sample_models" / "digits"


@pytest.fixture(autouse=True)
def _config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGECONSOLE_CONFIG_DIR", str(tmp_path / "config"))


def test_oip_server_connects_with_metadata_health_and_models_but_no_slots(
    gateway_agent: Any,
) -> None:
    session = Session()
    try:
        url = session.targets.connect(
            f"oip://127.0.0.1:{gateway_agent.port}", token=gateway_agent.token
        )
        assert wait_for(lambda: session.targets.view(url).state in ("connected", "error"), 20)  # type: ignore[union-attr]
        v = session.targets.view(url)
        assert v is not None and v.state == "connected", v
        assert v.kind == "oip" and not v.smp and v.slots == ()
        assert v.health == "live, ready" and v.server.startswith("edgeconsole")
        assert any(m.startswith("digits") for m in v.models)
        with pytest.raises(DeviceError, match="no slots"):
            session.targets.flash(url, DIGITS / "model.onnx")
    finally:
        session.close()


def test_frames_from_the_laptop_inferred_on_the_server(gateway_agent: Any) -> None:
    from edgeconsole.devices.gateway.oip import OipClient
    from edgeconsole.inference.engine import InferenceEngine
    from edgeconsole.inference.loader import load_model
    from edgeconsole.session.gateway_stream import RemoteOipRunner

    # Same frame, local engine vs remote inference: the same answer.
    spec = load_model(DIGITS)
    client = OipClient(gateway_agent.url, gateway_agent.token)
    remote = RemoteOipRunner(spec, client, "digits")
    local = InferenceEngine.load(spec, threads=1)
    try:
        client.load("digits")  # the repository extension: load it on the server first
        meta = remote.check()
        assert meta["name"] == "digits"
        rng = np.random.default_rng(1)
        for i in range(3):
            image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
            a = remote.process(Frame(i, image.copy(), 0, "test"))
            b = local.process(Frame(i, image.copy(), 0, "test"))
            assert a.classification is not None and b.classification is not None
            assert a.classification.label == b.classification.label
            assert abs(a.classification.score - b.classification.score) < 1e-5
        with pytest.raises(DeviceError):
            RemoteOipRunner(spec, client, "no-such-model").check()
    finally:
        local.close()
        remote.close()

    session = Session()
    try:
        server = f"oip://127.0.0.1:{gateway_agent.port}"
        session.targets.connect(server, token=gateway_agent.token)
        session.start_local(DEMO_SOURCE, DIGITS, remote=(server, "digits"))
        samples: list[Any] = []

        def step() -> bool:
            u = session.poll()
            samples.extend(u.latency)
            assert u.status.state != "error", u.status.error
            return len(samples) >= 10

        assert wait_for(step, 30)
        status = session.poll().status
        assert "infer (remote) digits on oip://" in status.model
        assert all("infer" in s.stages and "preprocess" in s.stages for s in samples)
        session.stop(wait=True)
        session.start_local(DEMO_SOURCE, DIGITS, remote=(server, "no-such-model"))
        assert wait_for(lambda: session.poll().status.state == "error", 20)
    finally:
        session.close()
