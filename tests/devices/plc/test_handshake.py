"""The camera's handshake against the virtual PLC (pymodbus's server) over loopback.

Each misbehaviour the issue names is a test: late ack, no ack, dropped trigger,
wrong unit id, a register map mismatch, an unreachable PLC and one going away,
a decider that fails, triggers faster than decisions.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from edgeconsole.core.errors import PlcDisconnected, PlcError
from edgeconsole.devices.plc.handshake import GateResult, GateTrigger
from edgeconsole.devices.plc.plcmap import PlcMap
from edgeconsole.devices.plc.service import HandshakeService
from edgeconsole.sim.plc import Misbehaviour, VirtualPlc
from tests.fixtures.plc import AlternatingDecider, memory_camera, wait_for

# Loopback timing tests: kept off each other's cores.
pytestmark = pytest.mark.xdist_group("plc")


@pytest.mark.slow
def test_every_part_is_triggered_answered_and_acknowledged(virtual_plc, plc_camera) -> None:
    # The PLC waits one part period for results-ready, then counts the part missed (as a
    # line does). This test is about the handshake, not speed: 60 parts/min leaves 1 s a
    # part (at 300/min, 200 ms, a CI run at load 10 missed 2 of 7). Speed: bench_plc.py.
    plc: VirtualPlc = virtual_plc(ppm=60, max_parts=7)
    decider = AlternatingDecider()
    cam: HandshakeService = plc_camera(plc, decider)
    wait_for(plc.done.is_set)
    wait_for(lambda: cam.runner.status().counters.acked >= plc.stats.acks)
    s = plc.summary(parts=True)
    # The first part may pass before the camera said trigger_ready; after that, none.
    assert s["not_ready"] <= 1
    assert s["triggers"] == s["answered"] == s["acks"] >= 7
    assert s["counter_gaps"] == 0
    # The PLC read the verdict the camera decided, part by part.
    seen = [p for p in s["part_log"] if p["outcome"] == "answered"]
    for p in seen:
        seq = p["counter"]
        assert p["verdict"] == ("OK" if seq % 3 else "NG"), p
        assert p["class_id"] == seq % 3
        assert p["trigger_to_result_ms"] is not None and p["result_to_ack_ms"] is not None
    st = cam.runner.status()
    assert st.counters.missing_acks == 0 and st.counters.not_handed_over == 0
    assert [t.seq for t in decider.calls] == list(range(1, len(decider.calls) + 1))
    assert all(t.sub_config == 0 for t in decider.calls)


class _Plain:
    """A decider that does not switch recipes."""

    def __init__(self) -> None:
        self.calls: list[GateTrigger] = []

    def decide(self, trigger: GateTrigger) -> GateResult:
        self.calls.append(trigger)
        return GateResult(ok=True)


def test_sub_config_is_read_only_for_a_decider_that_wants_it(virtual_plc, plc_camera) -> None:
    plc: VirtualPlc = virtual_plc(ppm=300)
    assert plc._loop is not None
    asyncio.run_coroutine_threadsafe(plc.memory.set("sub_config", 5), plc._loop).result(10)
    wants, plain = AlternatingDecider(), _Plain()
    cam = plc_camera(plc, wants)
    wait_for(lambda: len(wants.calls) >= 2)
    cam.stop()
    cam = plc_camera(plc, plain)
    wait_for(lambda: len(plain.calls) >= 2)
    assert {t.sub_config for t in wants.calls} == {5}
    # No recipe switching: no round trip for it between the trigger and the decision.
    assert {t.sub_config for t in plain.calls} == {None}


def test_late_ack_is_measured_and_no_ack_is_counted(virtual_plc, plc_camera) -> None:
    plc = virtual_plc(ppm=600, max_parts=8, misbehave=Misbehaviour(late_ack_ms=40))
    cam = plc_camera(plc)
    wait_for(plc.done.is_set)
    r2a = plc.summary()["result_to_ack_ms"]
    assert r2a["p50"] >= 40
    recs = [r for r in cam.runner.status().records if r.acked]
    assert recs and all(r.result_to_ack_ms >= 40 for r in recs)


def test_withheld_acks_are_missing_acks_and_the_line_goes_on(
    virtual_plc, plc_camera, sample_map: PlcMap
) -> None:
    fast = PlcMap(**_with_timing(sample_map, 150))
    plc = virtual_plc(ppm=240, max_parts=8, plc_map=fast, misbehave=Misbehaviour(no_ack_every=2))
    cam = plc_camera(plc, plc_map=fast)
    wait_for(plc.done.is_set)
    wait_for(lambda: cam.runner.status().counters.missing_acks >= plc.stats.withheld_acks)
    c = cam.runner.status().counters
    assert plc.stats.withheld_acks >= 3
    assert c.missing_acks == plc.stats.withheld_acks
    # A missing ack costs nothing else: every later part was still answered.
    assert plc.stats.answered == plc.stats.triggers
    assert c.acked == plc.stats.acks


def _with_timing(m: PlcMap, ack_timeout_ms: float) -> dict:
    from dataclasses import replace

    return {
        "protocol": m.protocol,
        "signals": m.signals,
        "name": m.name,
        "unit_id": m.unit_id,
        "timing": replace(m.timing, ack_timeout_ms=ack_timeout_ms),
        "source": m.source,
    }


def test_dropped_triggers_are_parts_the_camera_never_saw(virtual_plc, plc_camera) -> None:
    plc = virtual_plc(ppm=300, max_parts=12, misbehave=Misbehaviour(drop_trigger_every=3))
    cam = plc_camera(plc)
    wait_for(plc.done.is_set)
    wait_for(lambda: cam.runner.status().counters.acked >= plc.stats.acks)
    assert plc.stats.dropped_triggers == 4
    assert cam.runner.status().counters.triggers == plc.stats.triggers
    s = plc.stats
    assert s.triggers + s.dropped_triggers + s.not_ready == 12
    assert s.answered + s.no_result == s.triggers


def test_wrong_unit_id_is_a_sentence(virtual_plc) -> None:
    plc = virtual_plc(misbehave=Misbehaviour(unit_id=7))
    svc = HandshakeService(f"modbus://127.0.0.1:{plc.port}", plc.map, AlternatingDecider())
    with pytest.raises(PlcError) as info:
        svc.start()
    msg = str(info.value)
    assert "unit id 1" in msg and "unit_id" in msg, msg
    assert "Traceback" not in msg


def test_map_naming_registers_the_plc_lacks(virtual_plc) -> None:
    plc = virtual_plc(misbehave=Misbehaviour(missing_outputs=True))
    svc = HandshakeService(f"modbus://127.0.0.1:{plc.port}", plc.map, AlternatingDecider())
    with pytest.raises(PlcError) as info:
        svc.start()
    msg = str(info.value)
    assert "Modbus exception 2" in msg and "illegal data address" in msg, msg
    assert "trigger_ready" in msg and "register table" in msg, msg


def test_unreachable_plc(sample_map: PlcMap) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    svc = HandshakeService(f"modbus://127.0.0.1:{port}", sample_map, AlternatingDecider())
    with pytest.raises(PlcDisconnected, match="cannot reach the PLC"):
        svc.start()


def test_plc_going_away_and_coming_back(virtual_plc, plc_camera, sample_map: PlcMap) -> None:
    plc = virtual_plc(ppm=900)
    cam = plc_camera(plc)
    wait_for(lambda: cam.runner.status().counters.acked >= 3)
    port = plc.port
    plc.stop()
    wait_for(lambda: cam.runner.status().state == "down")
    assert "PLC" in cam.runner.status().last_error
    again = virtual_plc(ppm=900, port=port)
    wait_for(lambda: cam.runner.status().state != "down")
    before = cam.runner.status().counters.acked
    wait_for(lambda: cam.runner.status().counters.acked >= before + 3)
    assert cam.runner.status().counters.disconnects >= 1
    assert again.stats.counter_gaps == 0


class _Failing:
    def decide(self, trigger: GateTrigger) -> GateResult:
        if trigger.seq == 2:
            raise RuntimeError("model exploded")
        return GateResult(ok=True)


def test_a_failing_decision_is_an_error_the_plc_sees(virtual_plc, plc_camera) -> None:
    plc = virtual_plc(ppm=300, max_parts=6)  # 200 ms a part: answered on a busy machine
    cam = plc_camera(plc, _Failing())
    wait_for(plc.done.is_set)
    wait_for(lambda: cam.runner.status().counters.decided >= plc.stats.answered)
    verdicts = [p.verdict for p in plc.stats.history if p.outcome == "answered"]
    assert "ERROR" in verdicts and verdicts.count("OK") >= 3
    st = cam.runner.status()
    assert st.counters.decide_errors == 1
    assert any("model exploded" in r.error for r in st.records)


class _SlowerThanTheLine:
    """A decision that ends only once the PLC has given up on its part and the next
    part has passed the camera: slower than the line by construction, whatever the
    machine's load (the waits are on the PLC's own bookkeeping, not on a clock)."""

    def __init__(self, plc: VirtualPlc) -> None:
        self.plc = plc

    def decide(self, trigger: GateTrigger) -> GateResult:
        plc = self.plc
        # The PLC's trigger number ``seq``: the part this decision is about.
        wait_for(lambda: plc.stats.triggers >= trigger.seq)
        with plc._lock:
            hist = list(plc.stats.history)
        i = [n for n, p in enumerate(hist) if p.trigger_ns is not None][trigger.seq - 1]
        part = hist[i]

        def line_moved_on() -> bool:
            with plc._lock:
                later = len(plc.stats.history) > plc.stats.history.index(part) + 1
            return part.outcome == "no_result" and (later or plc.done.is_set())

        wait_for(line_moved_on)
        return GateResult(ok=True)


def test_triggers_faster_than_decisions(virtual_plc, plc_camera) -> None:
    plc = virtual_plc(ppm=150, max_parts=10)  # 400 ms between parts
    cam = plc_camera(plc, _SlowerThanTheLine(plc))
    wait_for(plc.done.is_set)
    wait_for(lambda: cam.runner.status().counters.decided >= plc.stats.triggers)
    wait_for(lambda: cam.runner.status().state == "idle")
    s = plc.stats
    # Every part is accounted for on the PLC's side: triggered or passed uninspected.
    assert s.triggers + s.not_ready == 10 and s.dropped_triggers == 0
    assert s.triggers >= 2
    # Each decision outlasted the next part, which passed uninspected (the camera was
    # busy); the PLC took no result: each came after it had given up on its part.
    assert s.not_ready >= s.triggers - 1
    assert s.answered == 0 and s.no_result == s.triggers
    c = cam.runner.status().counters
    # The camera decided every part it was asked about and counts what it could not
    # hand over; nothing vanished.
    assert c.triggers == c.decided == s.triggers
    assert c.not_handed_over == s.triggers and c.handed_over == 0
    records = cam.runner.status().records
    assert len(records) == s.triggers
    assert all("withdrew the trigger" in r.error for r in records)


def test_a_trigger_raised_the_instant_the_camera_is_ready_again_is_a_part(
    sample_map: PlcMap,
) -> None:
    """The PLC withdraws part 1's trigger (the result is late) and raises part 2's in
    the same breath as the camera's trigger_ready: the camera never reads the trigger
    low between the two, yet part 2 is a part."""
    from edgeconsole.sim.plc_memory import ModbusMemory

    ready_addr = sample_map.signals["trigger_ready"].address
    retrigger = threading.Event()
    reads: list[int] = []

    class Plc(ModbusMemory):
        async def _on_access(
            self, fc: int, start: int, address: int, count: int, regs: Any, set_values: Any
        ) -> None:
            await super()._on_access(fc, start, address, count, regs, set_values)
            if set_values is None:
                reads.append(fc)
            assert ready_addr is not None
            off = ready_addr - address
            writes_ready = fc in (5, 15) and set_values and 0 <= off < len(set_values)
            if writes_ready and set_values[off] and retrigger.is_set():
                retrigger.clear()
                await self.set("trigger", 1)  # applied before the camera's next read

    with memory_camera(Plc(sample_map), sample_map) as (mem, on_plc, decider, svc):
        # The camera is ready and has read the trigger low (a trigger already up when
        # it connects is not a part).
        wait_for(lambda: mem.get("trigger_ready") == 1 and len(reads) >= 3)
        on_plc(mem.set("trigger", 1))  # part 1
        wait_for(lambda: decider.seqs == [1] and mem.get("trigger_ready") == 0)
        on_plc(mem.set("trigger", 0))  # the PLC gives up on part 1
        retrigger.set()
        decider.release.set()
        # Part 2 is decided and its result handed over (nobody acknowledges it here).
        wait_for(lambda: svc.runner.status(records=0).counters.decided >= 2)
        assert decider.seqs == [1, 2] and mem.get("part_counter") == 2
        c = svc.runner.status(records=0).counters
        assert (c.triggers, c.not_handed_over, c.handed_over) == (2, 1, 1)


def test_a_plc_gone_while_deciding_costs_that_result_and_it_is_counted(
    sample_map: PlcMap,
) -> None:
    """The PLC goes away while the camera decides a part: the decision is made, its
    result cannot be handed over, and it is counted and recorded, not lost."""
    from edgeconsole.sim.plc_memory import ModbusMemory

    reads: list[int] = []

    class Plc(ModbusMemory):
        async def _on_access(
            self, fc: int, start: int, address: int, count: int, regs: Any, set_values: Any
        ) -> None:
            if set_values is None:
                reads.append(fc)

    with memory_camera(Plc(sample_map), sample_map) as (mem, on_plc, decider, svc):
        wait_for(lambda: mem.get("trigger_ready") == 1 and len(reads) >= 3)
        on_plc(mem.set("trigger", 1))
        wait_for(lambda: decider.seqs == [1] and mem.get("trigger_ready") == 0)
        on_plc(mem.close())  # the PLC is gone
        decider.release.set()
        wait_for(lambda: svc.runner.status(records=0).counters.decided >= 1)
        st = svc.runner.status()
        c = st.counters
        assert (c.triggers, c.decided, c.handed_over, c.not_handed_over) == (1, 1, 0, 1)
        rec = st.records[-1]
        assert rec.verdict == "OK" and not rec.handed_over
        assert "could not hand the result over" in rec.error
        wait_for(lambda: svc.runner.status(records=0).state == "down")
        assert "PLC" in svc.runner.status(records=0).last_error


def test_the_decision_runs_on_the_handshakes_own_thread(virtual_plc, plc_camera) -> None:
    """No hand-off to a worker thread and back (two wake-ups per part that each wait for
    a CPU on a busy machine): the part is decided on the handshake's thread, after its
    trigger_ready=0 request went out, and every part is still answered."""
    plc: VirtualPlc = virtual_plc(ppm=300, max_parts=4)
    threads: list[str] = []

    class Decider:
        def decide(self, trigger: GateTrigger) -> GateResult:
            threads.append(threading.current_thread().name)
            return GateResult(ok=True)

    cam: HandshakeService = plc_camera(plc, Decider())
    wait_for(plc.done.is_set)
    wait_for(lambda: cam.runner.status().counters.acked >= plc.stats.acks)
    assert threads and set(threads) == {"edgeconsole-plc-handshake"}
    assert cam.runner.status().counters.not_handed_over == 0


def test_a_short_poll_wait_is_never_rounded_up_to_a_millisecond(monkeypatch: Any) -> None:
    """asyncio's timers wake through epoll (whole milliseconds, rounded up): a wait of
    less than one would make a 1 ms poll run every round trip + 1 ms. Short waits are
    slept precisely; long ones still go to the loop's timer."""
    from edgeconsole.core.clock import now_ns
    from edgeconsole.devices.plc import handshake

    asked: list[float] = []
    real_sleep = asyncio.sleep

    async def spy(delay: float, *args: Any, **kwargs: Any) -> None:
        asked.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(handshake.asyncio, "sleep", spy)

    async def waits() -> None:
        for wait_ns in (200_000, 700_000, 1_500_000, 10_000_000, -1_000):
            await handshake._pause(now_ns() + wait_ns)

    asyncio.run(waits())
    assert asked and all(d == 0 or d >= 1e-3 for d in asked), asked
    assert any(d >= 5e-3 for d in asked)  # the 10 ms wait went to the loop's timer


@pytest.mark.parametrize(
    ("map_name", "requests"), [("sample_map.toml", 2), ("sample_map_registers.toml", 1)]
)
def test_a_result_is_one_request_when_the_map_keeps_the_outputs_together(
    map_name: str, requests: int
) -> None:
    """Bits and registers are two Modbus areas: the sample map's result takes two
    requests (registers, then the coils with results_ready). With every output in
    consecutive registers (sample_map_registers.toml) it is one, applied whole."""
    from edgeconsole.devices.plc.link import parse_plc_url
    from edgeconsole.devices.plc.modbus_link import ModbusLink
    from edgeconsole.devices.plc.plcmap import load_map, sample_map_path
    from edgeconsole.sim.plc_memory import ModbusMemory

    plc_map = load_map(sample_map_path().with_name(map_name))
    seen: list[int] = []

    async def go() -> None:
        mem = ModbusMemory(plc_map)
        await mem.open("127.0.0.1", 0, lambda value, stamp: seen.append(value))
        link = ModbusLink(parse_plc_url(f"modbus://127.0.0.1:{mem.port}"), plc_map)
        try:
            await link.connect()
            before = link.requests
            result = {"class_id": 2, "part_counter": 7, "error_code": 0, "ok": 0, "ng": 1}
            await link.write(result | {"error": 0, "results_ready": 1}, last="results_ready")
            assert link.requests - before == requests
            assert {n: mem.get(n) for n in result} == result and mem.get("results_ready") == 1
        finally:
            await link.close()
            await mem.close()

    asyncio.run(go())
    assert seen == [1]  # the PLC saw results_ready rise once
