"""A Modbus TCP link lost in the middle of the handshake costs no part (issue 16).

The PLC's memory outlives the TCP connection: the camera reconnects at once and takes
the part up where it was. Real pymodbus server (the virtual PLC, or a scripted PLC
memory) and client over loopback; the server closes every client connection.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from edgeconsole.core.errors import PlcDisconnected
from edgeconsole.devices.plc.link import parse_plc_url
from edgeconsole.devices.plc.modbus_link import ModbusLink
from edgeconsole.devices.plc.plcmap import PlcMap
from edgeconsole.sim.plc import Misbehaviour, VirtualPlc
from edgeconsole.sim.plc_memory import ModbusMemory
from tests.fixtures.plc import AlternatingDecider, memory_camera, wait_for

pytestmark = pytest.mark.xdist_group("plc")


@pytest.mark.slow
def test_links_dropped_mid_part_cost_no_part(virtual_plc, plc_camera) -> None:
    """Every other part the PLC closes the connection: right after raising the trigger
    (the camera has not seen it: it answers it after the reconnect) or as results-ready
    rises (the PLC acknowledges while the link is down: the camera sees that ack after
    the reconnect). Every part is answered with its own verdict."""
    # 120 parts/min: a part's window is 500 ms, so a loaded CI machine answers in time.
    plc: VirtualPlc = virtual_plc(
        ppm=120, max_parts=9, misbehave=Misbehaviour(drop_link_every=2, drop_link_at="both")
    )
    cam = plc_camera(plc, AlternatingDecider())
    wait_for(plc.done.is_set)
    wait_for(lambda: cam.runner.status(records=0).counters.acked >= plc.stats.acks)
    s = plc.summary(parts=True)
    # The first part may pass before the camera said trigger_ready; after that, none.
    assert [p for p in s["part_log"][1:] if p["outcome"] != "answered"] == []
    assert s["not_ready"] <= 1 and s["no_result"] == 0
    assert s["triggers"] == s["answered"] == s["acks"] >= 8
    assert s["dropped_links"] >= 4
    assert s["counter_gaps"] == 0
    for p in s["part_log"]:
        if p["outcome"] == "answered":
            assert p["verdict"] == ("OK" if p["counter"] % 3 else "NG"), p
    c = cam.runner.status(records=0).counters
    assert c.disconnects >= 4
    # The parts dropped at results-ready were taken up after the reconnect.
    assert c.resumed >= 2
    assert c.not_handed_over == 0 and c.missing_acks == 0


class _Counting(ModbusMemory):
    """Counts the camera's reads (to know it has read the trigger low)."""

    def __init__(self, plc_map: PlcMap) -> None:
        super().__init__(plc_map)
        self.reads = 0

    async def _on_access(self, fc: int, *args: Any) -> None:
        await super()._on_access(fc, *args)
        self.reads += args[-1] is None


def _ready(mem: _Counting) -> bool:
    """The camera is ready and has read the trigger low since (a trigger up when it
    connects is not a part)."""
    if mem.get("trigger_ready") != 1:
        mem.reads = 0
        return False
    return mem.reads >= 3


class _Unanswering(ModbusMemory):
    """A PLC that takes requests and answers none until released."""

    def __init__(self, plc_map: PlcMap) -> None:
        super().__init__(plc_map)
        self.hold = False
        self.held = threading.Event()
        self.release: asyncio.Event | None = None

    async def _on_access(self, *args: Any) -> None:
        if self.hold:
            self.held.set()
            self.release = self.release or asyncio.Event()
            await self.release.wait()


def test_a_connection_closed_under_a_request_fails_it_at_once(sample_map: PlcMap) -> None:
    """pymodbus's client leaves a request whose connection closed waiting out its whole
    timeout; the link fails it as the connection goes (here the timeout is 60 s: the
    read fails with the PLC's closing, not with 'no answer')."""
    mem = _Unanswering(sample_map)
    loop = asyncio.new_event_loop()
    th = threading.Thread(target=loop.run_forever, daemon=True)
    th.start()

    def on_plc(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    async def drop_when_held() -> int:
        while not mem.held.is_set():
            await asyncio.sleep(0.005)
        return mem.drop_clients()

    async def camera() -> str:
        link = ModbusLink(parse_plc_url(f"modbus://127.0.0.1:{mem.port}"), sample_map, timeout_s=60)
        await link.connect()
        mem.hold = True
        dropper = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(drop_when_held(), loop))
        try:
            with pytest.raises(PlcDisconnected) as err:
                await link.read(["trigger", "results_ack"])
            assert await dropper == 1
            return str(err.value)
        finally:
            await link.close()

    try:
        on_plc(mem.open("127.0.0.1", 0, lambda v, t: None))
        text = asyncio.run(asyncio.wait_for(camera(), 50))
        assert "closed the connection" in text and "no answer" not in text
    finally:
        if mem.release is not None:
            loop.call_soon_threadsafe(mem.release.set)
        on_plc(mem.close())
        loop.call_soon_threadsafe(loop.stop)
        th.join(10)


def test_a_result_decided_while_the_link_is_down_is_written_after_the_reconnect(
    sample_map: PlcMap,
) -> None:
    with memory_camera(_Counting(sample_map), sample_map) as (mem, on_plc, decider, svc):
        wait_for(lambda: _ready(mem))
        on_plc(mem.set("trigger", 1))
        wait_for(lambda: decider.seqs == [1] and mem.get("trigger_ready") == 0)

        async def drop() -> int:
            return mem.drop_clients()

        assert on_plc(drop()) == 1  # the link goes while the camera decides
        decider.release.set()
        # The PLC still holds the trigger: the result reaches it over the new link.
        wait_for(lambda: mem.get("results_ready") == 1)
        assert mem.get("ok") == 1 and mem.get("part_counter") == 1
        wait_for(lambda: svc.runner.status(records=0).in_flight is not None)

        async def ack() -> None:
            await mem.set("results_ack", 1)
            await mem.set("trigger", 0)

        on_plc(ack())
        wait_for(lambda: svc.runner.status(records=0).counters.handed_over == 1)
        st = svc.runner.status()
        c = st.counters
        assert (c.triggers, c.acked, c.resumed, c.not_handed_over) == (1, 1, 1, 0)
        assert c.disconnects == 1 and st.in_flight is None
        rec = st.records[-1]
        assert rec.acked and rec.verdict == "OK" and not rec.error
        wait_for(lambda: mem.get("results_ready") == 0 and mem.get("trigger_ready") == 1)


def test_a_trigger_withdrawn_while_the_link_is_down_is_counted_with_its_reason(
    sample_map: PlcMap,
) -> None:
    with memory_camera(_Counting(sample_map), sample_map) as (mem, on_plc, decider, svc):
        wait_for(lambda: _ready(mem))
        on_plc(mem.set("trigger", 1))
        wait_for(lambda: decider.seqs == [1] and mem.get("trigger_ready") == 0)

        async def drop_and_withdraw() -> None:
            mem.drop_clients()
            await mem.set("trigger", 0)  # the PLC gives the part up while the link is down

        on_plc(drop_and_withdraw())
        decider.release.set()
        wait_for(lambda: svc.runner.status(records=0).counters.not_handed_over == 1)
        st = svc.runner.status()
        rec = st.records[-1]
        assert not rec.handed_over and rec.verdict == "OK"
        assert "withdrew the trigger while the link was down" in rec.error
        assert st.counters.resumed == 1 and st.in_flight is None
        # Nothing was written for a part the PLC no longer holds; the camera is ready.
        wait_for(lambda: mem.get("trigger_ready") == 1)
        assert mem.get("results_ready") == 0
        # The next trigger is a part of its own.
        on_plc(mem.set("trigger", 1))
        wait_for(lambda: decider.seqs == [1, 2] and mem.get("results_ready") == 1)


def test_dropping_the_link_is_a_modbus_misbehaviour(sample_map: PlcMap) -> None:
    from edgeconsole.core.errors import ConfigError
    from edgeconsole.devices.plc.plcmap import load_map, sample_map_path

    with pytest.raises(ConfigError, match="unknown drop-link step"):
        VirtualPlc(sample_map, misbehave=Misbehaviour(drop_link_every=2, drop_link_at="ack"))
    with pytest.raises(ConfigError, match="Modbus TCP misbehaviour"):
        VirtualPlc(load_map(sample_map_path("opcua")), misbehave=Misbehaviour(drop_link_every=2))
    bad = Misbehaviour(drop_link_every=3, drop_link_at="both")
    steps = [(n, at) for n in range(1, 13) for at in ("trigger", "result") if bad.drops_link(n, at)]
    assert steps == [(3, "trigger"), (6, "result"), (9, "trigger"), (12, "result")]


def test_the_handshake_thread_asks_for_realtime_priority(virtual_plc, sample_map) -> None:
    """As the line's decision threads do (core/sched.py); the suite turns it off
    (EDGECONSOLE_RT_PRIORITY=0), a service asked explicitly says what it got."""
    from edgeconsole.devices.plc.service import HandshakeService

    plc = virtual_plc(ppm=60)
    url = f"modbus://127.0.0.1:{plc.port}"
    for realtime, want in ((None, "normal"), (True, ("SCHED_FIFO 10", "normal ("))):
        svc = HandshakeService(url, sample_map, AlternatingDecider(), realtime=realtime)
        svc.start()
        try:
            assert svc.scheduling.startswith(want), svc.scheduling
            assert svc.summary(0)["scheduling"] == svc.scheduling
        finally:
            svc.stop()


class _TakesAndDrops(_Counting):
    """Applies the camera's result, acknowledges it and closes the connection before
    answering the write (the camera's write fails although the PLC has the result)."""

    def __init__(self, plc_map: PlcMap) -> None:
        super().__init__(plc_map)
        self.armed = False

    async def _on_access(self, fc: int, *args: Any) -> None:
        await super()._on_access(fc, *args)
        values = args[-1]
        rr = self.map.signals["results_ready"].address
        assert rr is not None
        offset = rr - args[1]  # args: start, address, count, registers, values
        writes = fc in (5, 15) and values and 0 <= offset < len(values)
        if self.armed and writes and values[offset]:
            self.armed = False
            self.drop_clients()
            await self.set("results_ack", 1)
            await self.set("trigger", 0)


def test_a_result_taken_as_the_link_went_is_handed_over_not_given_up(
    sample_map: PlcMap,
) -> None:
    with memory_camera(_TakesAndDrops(sample_map), sample_map) as (mem, on_plc, decider, svc):
        wait_for(lambda: _ready(mem))
        mem.armed = True
        on_plc(mem.set("trigger", 1))
        decider.release.set()
        wait_for(lambda: svc.runner.status(records=0).counters.decided == 1)
        st = svc.runner.status()
        rec = st.records[-1]
        assert rec.handed_over and rec.acked and not rec.error, rec
        c = st.counters
        assert (c.acked, c.resumed, c.not_handed_over, c.disconnects) == (1, 1, 0, 1)
        wait_for(lambda: mem.get("results_ready") == 0 and mem.get("trigger_ready") == 1)
