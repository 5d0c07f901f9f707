"""A gateway's stream in the session's live outputs: a real agent with a camera on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edgeconsole.core.errors import ConfigError
from edgeconsole.session.gateway_stream import (
    StreamMonitor,
    decode_jpeg,
    describe_stream,
    parse_stream_spec,
    stream_spec,
)
from edgeconsole.session.session import Session
from edgeconsole.session.targets import wait_for

CAMERA = "synthetic:conveyor?seed=3&fps=20"


@pytest.fixture(autouse=True)
def _config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGECONSOLE_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture
def running_gateway(start_gateway_agent: Any, gateway_kit: Any) -> Iterator[tuple[Session, Any]]:
    """A session connected to an agent whose camera runs the digits bundle."""
    agent = start_gateway_agent(cameras=[CAMERA])
    session = Session(trust_dir=gateway_kit.trust_dir)
    try:
        url = session.targets.connect(agent.gateway_url, token=agent.token)
        assert wait_for(lambda: session.targets.view(url).state == "connected", 30)  # type: ignore[union-attr]
        job = session.targets.flash(url, gateway_kit.bundle(1), mode="confirm")
        assert wait_for(lambda: (p := session.targets.job(job)) is not None and p.finished, 60)
        assert session.targets.job(job).state == "done"  # type: ignore[union-attr]
        yield session, agent
    finally:
        session.close()


def test_stream_specs() -> None:
    assert stream_spec("gateway://10.0.0.5:8470", 2) == "gateway://10.0.0.5:8470?camera=2"
    assert parse_stream_spec("gateway://10.0.0.5:8470?camera=2") == ("gateway://10.0.0.5:8470", 2)
    assert parse_stream_spec("gateway://gw") == ("gateway://gw:8470", 0)
    assert describe_stream("gateway://h:1?camera=0") == "h:1 camera 0"
    for bad in (
        "gateway://h:1?camera=x",
        "gateway://h:1?camera=-1",
        "gateway://h:1?camera=99999",
        "gateway://:1",
        "gateway://h:99999999",
    ):
        with pytest.raises(ConfigError):
            parse_stream_spec(bad)


def test_decode_jpeg_refuses_garbage_and_truncation() -> None:
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = 200
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    good = decode_jpeg(buf.tobytes())
    assert good is not None and good.shape == (48, 64, 3)
    assert decode_jpeg(b"") is None
    assert decode_jpeg(b"\xff\xd8 not a jpeg at all") is None
    assert decode_jpeg(buf.tobytes()[:20]) is None


def test_stream_feeds_live_frames_and_network_latency(running_gateway: Any) -> None:
    session, agent = running_gateway
    session.start_local(stream_spec(agent.gateway_url, 0), "ignored: the gateway runs its own")
    got: dict[str, Any] = {"frames": [], "samples": [], "stats": None, "status": None}

    def step() -> bool:
        u = session.poll()
        got["status"] = u.status
        if u.live is not None:
            got["frames"].append(u.live)
        got["samples"].extend(u.latency)
        if u.stats is not None:
            got["stats"] = u.stats
        return len(got["frames"]) >= 5 and len(got["samples"]) >= 30

    assert wait_for(step, 30), (got["status"], len(got["frames"]), len(got["samples"]))
    status = got["status"]
    assert status.state == "running" and status.source == f"127.0.0.1:{agent.port} camera 0"
    assert "digits-mlp v1" in status.model and status.fps > 1
    live = got["frames"][-1]
    assert live.frame.image.shape[2] == 3 and live.frame.image.shape[0] > 100
    assert live.result is not None and live.result.classification is not None
    assert live.result.overlay, "the gateway's overlay primitives arrive with the frame"
    sample = got["samples"][-1]
    assert sample.stages["network"] >= 0 and "infer" in sample.stages
    assert sample.e2e_ms >= sample.stages["network"] + sample.stages["infer"]
    stats = session.stats_snapshot()
    assert stats.rolling["network"].count >= 20 and stats.rolling["network"].p99 is not None
    assert stats.rolling["e2e"].p50 is not None
    session.mark_shown(live.frame.index, live.frame.stamps["decoded"] + 1_000_000)
    assert session.stats_snapshot().rolling["shown"].count == 1
    session.stop(wait=True)
    assert session.poll().status.state == "stopped"


def test_stream_of_an_unknown_camera_or_gateway_fails_clearly(running_gateway: Any) -> None:
    session, agent = running_gateway
    session.start_local(stream_spec(agent.gateway_url, 7), "-")
    assert wait_for(lambda: session.poll().status.state == "error", 20)
    assert "no such camera" in (session.poll().status.error or "")
    session.start_local("gateway://127.0.0.1:1?camera=0", "-")
    assert wait_for(lambda: session.poll().status.state == "error", 20)
    assert "no token" in (session.poll().status.error or "")


def test_monitor_summarises_fps_and_network(running_gateway: Any) -> None:
    _session, agent = running_gateway
    mon = StreamMonitor(agent.gateway_url, 0, agent.token)
    try:
        assert wait_for(lambda: mon.results >= 20, 30)
        s = mon.summary()
    finally:
        mon.close()
    assert s["connected"] and s["fps"] > 5 and s["model"] == "digits-mlp v1"
    assert s["network_ms"]["p50"] is not None and s["network_ms"]["p99"] >= s["network_ms"]["p50"]


def test_gateway_stream_is_recorded(running_gateway: Any, tmp_path: Path) -> None:
    from mcap.reader import make_reader

    session, agent = running_gateway
    session.start_local(stream_spec(agent.gateway_url, 0), "ignored: the gateway runs its own")
    assert wait_for(lambda: session.poll().status.state == "running", 30)
    path = session.start_recording(tmp_path / "gw.mcap")
    seen = {"frames": 0}

    def step() -> bool:
        if session.poll().live is not None:
            seen["frames"] += 1
        return seen["frames"] >= 3

    assert wait_for(step, 30)
    session.stop_recording()
    session.stop(wait=True)
    with path.open("rb") as fh:
        topics = [ch.topic for _, ch, _ in make_reader(fh).iter_messages()]
    assert topics.count("/latency") >= 3
    assert "/camera" in topics
