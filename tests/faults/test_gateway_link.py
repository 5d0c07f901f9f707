"""Gateway faults through the harness: the TCP proxy sits between the console's
client and the real agent on 127.0.0.1 (the gateway's own fault tests in
tests/agent/test_faults.py cover cuts and half-open links with their proxy; these
add seeded cuts in both directions, bit flips, duplicated runs, delay)."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.devices.gateway.client import GatewayClient
from edgeconsole.devices.gateway.oip import OipClient
from edgeconsole.devices.gateway.stream_receiver import StreamReceiver
from tests.faults.proxy import TcpFaultProxy
from tests.fixtures.gateway import GatewayKit, RunningAgent, StartAgent

Proxy = Callable[..., TcpFaultProxy]


@pytest.fixture
def client() -> Iterator[Callable[..., GatewayClient]]:
    made: list[GatewayClient] = []

    def make(port: int, token: str, **kw: Any) -> GatewayClient:
        c = GatewayClient(f"http://127.0.0.1:{port}", token, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def _staged_sha(agent: RunningAgent) -> str:
    return hashlib.sha256((agent.data_dir / "slots" / "0" / "bundle.ecb").read_bytes()).hexdigest()


def test_seeded_cuts_both_directions_mid_upload_resume(
    gateway_agent: RunningAgent, gateway_kit: GatewayKit, tcp_fault_proxy: Proxy, client: Any
) -> None:
    bundle = gateway_kit.bundle(version=1, padding=2_000_000)
    size = bundle.stat().st_size
    proxy = tcp_fault_proxy(gateway_agent.port, seed=19)
    rng = random.Random(proxy.plan.seed)  # EDGECONSOLE_FAULT_SEED moves the cuts too
    proxy.plan.cut_at(sorted(rng.sample(range(10_000, size), 3)), "up")
    proxy.plan.cut_at([proxy.plan.offset("down") + 300], "down")  # an answer cut short
    result = client(proxy.port, gateway_agent.token, timeout_s=5).upload(bundle, stall_s=3)
    assert proxy.plan.count("cut") == 4
    assert result["state"] == "staged" and result["resumes"] >= 3
    assert _staged_sha(gateway_agent) == hashlib.sha256(bundle.read_bytes()).hexdigest()


def test_bit_flips_and_duplicates_on_the_upload_never_stage_corrupt_data(
    gateway_agent: RunningAgent, gateway_kit: GatewayKit, tcp_fault_proxy: Proxy, client: Any
) -> None:
    bundle = gateway_kit.bundle(version=1, padding=1_000_000)
    proxy = tcp_fault_proxy(gateway_agent.port, seed=23)
    # One flip at a seeded offset inside the payload for sure, more at a rate.
    at = random.Random(proxy.plan.seed).randrange(10_000, bundle.stat().st_size)
    proxy.plan.flip("up", rate=1 / 400_000, at=[at])
    proxy.plan.duplicate("up", rate=1 / 800_000, max_len=32)
    c = client(proxy.port, gateway_agent.token, timeout_s=5)
    try:
        result = c.upload(bundle, stall_s=3, deadline_s=120)
    except EdgeConsoleError as exc:
        # A flip in a header can make a request unanswerable; then the person is told.
        assert str(exc)
        result = None
    assert proxy.plan.count("flip") + proxy.plan.count("duplicate") >= 1
    if result is not None:
        assert result["state"] == "staged"
        assert _staged_sha(gateway_agent) == hashlib.sha256(bundle.read_bytes()).hexdigest()
    # Whatever happened, a clean link afterwards finishes it, and nothing corrupt was kept.
    proxy.plan.clear()
    result = c.upload(bundle, stall_s=3)
    assert result["state"] == "staged"
    assert _staged_sha(gateway_agent) == hashlib.sha256(bundle.read_bytes()).hexdigest()


def test_infer_over_a_delayed_link_and_a_stream_cut_reconnects(
    start_gateway_agent: StartAgent, tcp_fault_proxy: Proxy
) -> None:
    agent = start_gateway_agent(cameras=["synthetic:conveyor?fps=20"])
    proxy = tcp_fault_proxy(agent.port, seed=29)
    proxy.plan.delay(0.02)
    oip = OipClient(proxy.url, agent.token)
    try:
        oip.load("digits")
        x = np.zeros((1, 64), np.float32)
        t0 = time.monotonic()
        out = oip.infer("digits", {"input": x})
        assert next(iter(out.values())).shape == (1, 10)
        assert time.monotonic() - t0 >= 0.02  # the delay was on the path
    finally:
        oip.close()
    proxy.plan.clear()
    rx = StreamReceiver(proxy.url, agent.token, heartbeat_s=0.5).start()
    try:
        assert rx.wait_for(lambda s: s.connects >= 1 and s.results >= 3, 30), rx.stats
        proxy.cut_after(100, "down")  # the stream's TCP connection dies mid-message
        assert rx.wait_for(lambda s: s.connects >= 2 and s.results >= 10, 30), rx.stats
    finally:
        rx.stop()
    assert proxy.cuts >= 1
