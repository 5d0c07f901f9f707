"""``edgeconsole sim plc``: a virtual line PLC on pymodbus's own Modbus TCP server
(or asyncua's own OPC UA server, for an OPC UA map).

The PLC's memory (``sim/plc_memory.py``) is laid out from the map file. Its
program follows the simulated belt (``sources/belt.py``): when part ``k``'s
centre reaches the camera it raises ``trigger`` (if the camera says
``trigger_ready``), waits for ``results_ready``, reads the verdict, raises
``results_ack`` and drops ``trigger``, and drops the ack once the camera has
reset. Every step is stamped on the server side, where the PLC sees it, so the
figures are what the line would measure.

Misbehaviour on request (``Misbehaviour``): a late ack, no ack, a dropped
trigger, a wrong unit id, a register map that lacks the camera's outputs, a link
dropped (every client connection closed, server side) in the middle of a part.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import ConfigError, PlcError
from edgeconsole.devices.plc.handshake import percentiles
from edgeconsole.devices.plc.plcmap import PlcMap
from edgeconsole.sim.plc_memory import PlcMemory, memory_for
from edgeconsole.sources.belt import BeltTiming


@dataclass
class Misbehaviour:
    """What the virtual PLC does wrong, on request (all off by default)."""

    late_ack_ms: float = 0.0  # wait this long before acknowledging
    no_ack_every: int = 0  # never acknowledge every Nth result (1: never at all)
    drop_trigger_every: int = 0  # do not raise the trigger for every Nth part
    unit_id: int | None = None  # serve this unit id instead of the map's
    missing_outputs: bool = False  # the PLC's memory lacks the camera's outputs
    # Close every client connection (Modbus TCP) in the middle of every Nth part:
    # "trigger" right after raising its trigger (before any client can read it),
    # "result" when results-ready rises (before the ack), "both" alternately.
    drop_link_every: int = 0
    drop_link_at: str = "trigger"

    def describe(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v}
        if not self.drop_link_every:
            out.pop("drop_link_at", None)
        return out

    def drops_link(self, nth: int, at: str) -> bool:
        """Whether part ``nth`` loses its link at step ``at`` ("trigger" | "result")."""
        every = self.drop_link_every
        if not every or nth % every:
            return False
        if self.drop_link_at == "both":
            return at == ("trigger" if (nth // every) % 2 else "result")
        return at == self.drop_link_at


@dataclass
class PlcPart:
    """One part that passed the camera, as the PLC saw it."""

    part: int
    due_ns: int
    trigger_ns: int | None = None
    results_ready_ns: int | None = None
    ack_ns: int | None = None
    verdict: str | None = None  # "OK" | "NG" | "ERROR" | "NONE" (neither bit)
    class_id: int | None = None
    counter: int | None = None
    outcome: str = "pending"  # answered | no_result | not_ready | dropped | no_ack

    def to_json(self) -> dict[str, Any]:
        def ms(a: int | None, b: int | None) -> float | None:
            return None if a is None or b is None else round((b - a) / 1e6, 3)

        return {
            "part": self.part,
            "outcome": self.outcome,
            "verdict": self.verdict,
            "class_id": self.class_id,
            "counter": self.counter,
            "trigger_to_result_ms": ms(self.trigger_ns, self.results_ready_ns),
            "result_to_ack_ms": ms(self.results_ready_ns, self.ack_ns),
            # Monotonic stamps (core.clock.now_ns: one clock for every process on this
            # machine), so a camera on the same machine can split the time per step.
            "trigger_ns": self.trigger_ns,
            "results_ready_ns": self.results_ready_ns,
        }


@dataclass
class PlcStats:
    parts: int = 0
    triggers: int = 0
    answered: int = 0
    acks: int = 0
    dropped_triggers: int = 0
    not_ready: int = 0
    no_result: int = 0
    withheld_acks: int = 0
    counter_gaps: int = 0
    dropped_links: int = 0
    history: list[PlcPart] = field(default_factory=list)


class VirtualPlc:
    """A Modbus TCP (or OPC UA) PLC that triggers on the simulated belt's parts."""

    def __init__(
        self,
        plc_map: PlcMap,
        *,
        belt: BeltTiming | None = None,
        epoch_ns: int | None = None,
        host: str = "127.0.0.1",
        port: int = 5020,
        misbehave: Misbehaviour | None = None,
        trigger_line_x: float | None = None,
        max_parts: int | None = None,
        keep_history: int = 100_000,
        scan_ms: float = 4.0,
        realtime: bool = False,
    ) -> None:
        """``scan_ms``: the PLC reacts to results-ready on its next scan, like a real
        one (its program runs every few ms), so results-ready and the ack stay up
        long enough for a watcher to see them. ``realtime``: its thread (server and
        program) under SCHED_FIFO where permitted, as a real PLC's controller is, so a
        benchmark on a busy machine counts the camera's misses, not the PLC's own."""
        self.realtime = realtime
        self.scheduling = ""
        self.map = plc_map
        self.belt = belt or BeltTiming.for_frame(1280, 720)
        self.epoch_ns = epoch_ns
        self.host, self.port = host, port
        self.bad = misbehave or Misbehaviour()
        self.line_x = trigger_line_x
        self.max_parts = max_parts
        self.keep_history = keep_history
        self.scan_ms = scan_ms
        if self.bad.drop_link_at not in ("trigger", "result", "both"):
            raise ConfigError(
                f"unknown drop-link step {self.bad.drop_link_at!r}",
                subject="virtual PLC",
                hint="trigger, result or both",
            )
        if self.bad.drop_link_every and plc_map.protocol != "modbus":
            raise ConfigError(
                "dropping the link is a Modbus TCP misbehaviour", subject="virtual PLC"
            )
        self.stats = PlcStats()
        self._lock = threading.Lock()
        self.memory: PlcMemory = memory_for(
            plc_map, unit_id=self.bad.unit_id, missing_outputs=self.bad.missing_outputs
        )
        self._rr_rise: asyncio.Event | None = None
        self._rr_fall: asyncio.Event | None = None
        self._rr_rise_ns = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._last_counter: int | None = None
        self.done = threading.Event()  # set when max_parts have passed

    @property
    def address(self) -> str:
        """The URL a camera or watcher connects to."""
        path = getattr(self.memory, "path", "")
        return f"{self.memory.scheme}://{self.host}:{self.port}{path}"

    # ---- memory --------------------------------------------------------------------
    def _get(self, name: str) -> int:
        return self.memory.get(name)

    async def _set(self, name: str, value: int) -> None:
        await self.memory.set(name, value)

    def _on_results_ready(self, new: int, stamp_ns: int) -> None:
        """The camera writes results_ready (before the write is applied)."""
        old = self._get("results_ready")
        if new and not old:
            self._rr_rise_ns = stamp_ns
            if self._rr_rise is not None:
                self._rr_rise.set()
        elif old and not new and self._rr_fall is not None:
            self._rr_fall.set()

    # ---- lifecycle -----------------------------------------------------------------
    async def serve(self, stop: asyncio.Event) -> None:
        """Run the server and the PLC program until ``stop`` (or max_parts)."""
        self._stop = stop
        self._rr_rise, self._rr_fall = asyncio.Event(), asyncio.Event()
        await self.memory.open(self.host, self.port, self._on_results_ready)
        self.port = self.memory.port
        if self.epoch_ns is None:
            self.epoch_ns = now_ns()
        self._started.set()
        try:
            await self._program(stop)
        finally:
            await self.memory.close()

    def start(self, timeout_s: float = 60.0) -> int:
        """Serve on a background thread; returns the port once listening. (asyncua's
        server loads the whole standard address space first: seconds on a busy machine.)"""
        self._thread = threading.Thread(target=self._thread_main, name="virtual-plc", daemon=True)
        self._thread.start()
        self._started.wait(timeout_s)
        if self._start_error is not None:
            raise self._start_error
        if not self._started.is_set():
            self.stop()
            raise PlcError(f"did not start within {timeout_s:g} s", subject="virtual PLC")
        return self.port

    def _thread_main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            if self.realtime:
                from edgeconsole.core.sched import DECISION_PRIORITY, realtime_thread

                self.scheduling = realtime_thread(DECISION_PRIORITY)
            await self.serve(asyncio.Event())

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to start()
            self._start_error = exc
            self._started.set()

    def stop(self, timeout: float = 5.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    # ---- the PLC program -----------------------------------------------------------
    async def _program(self, stop: asyncio.Event) -> None:
        assert self.epoch_ns is not None
        await self._set("trigger", 0)
        await self._set("results_ack", 0)
        k = self.belt.first_part_after((now_ns() - self.epoch_ns) / 1e9, self.line_x)
        busy: asyncio.Task[None] | None = None
        passed = 0
        while not stop.is_set():
            due = self.epoch_ns + int(self.belt.crossing_s(k, self.line_x) * 1e9)
            delay = (due - now_ns()) / 1e9
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                if stop.is_set():
                    break
            part = PlcPart(part=k, due_ns=due)
            self._record(part)
            passed += 1
            k += 1
            if self.bad.drop_trigger_every and passed % self.bad.drop_trigger_every == 0:
                part.outcome = "dropped"
                with self._lock:
                    self.stats.dropped_triggers += 1
            elif (busy is not None and not busy.done()) or not self._get("trigger_ready"):
                # A real PLC lets the part pass uninspected: the camera was not ready.
                part.outcome = "not_ready"
                with self._lock:
                    self.stats.not_ready += 1
            else:
                busy = asyncio.create_task(self._handshake(part, passed))
            if self.max_parts is not None and passed >= self.max_parts:
                break
        if busy is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(busy, timeout=self.map.timing.ack_timeout_ms / 1000 + 2)
        self.done.set()
        if self.max_parts is not None:
            await stop.wait()

    def _record(self, part: PlcPart) -> None:
        with self._lock:
            self.stats.parts += 1
            self.stats.history.append(part)
            if len(self.stats.history) > self.keep_history:
                del self.stats.history[: len(self.stats.history) - self.keep_history]

    async def _handshake(self, part: PlcPart, nth: int) -> None:
        assert self._rr_rise is not None and self._rr_fall is not None
        self._rr_rise.clear()
        await self._set("trigger", 1)
        part.trigger_ns = now_ns()
        with self._lock:
            self.stats.triggers += 1
        if self.bad.drops_link(nth, "trigger"):
            self._drop_link()
        # The part is at the camera until the next one is due: that is the budget.
        window = max(0.05, 60.0 / self.belt.parts_per_min)
        try:
            await asyncio.wait_for(self._rr_rise.wait(), timeout=window)
        except TimeoutError:
            await self._set("trigger", 0)
            part.outcome = "no_result"
            with self._lock:
                self.stats.no_result += 1
            return
        part.results_ready_ns = self._rr_rise_ns
        ok, ng = self._get("ok"), self._get("ng")
        err = self._get("error") if self.map.has("error") else 0
        part.verdict = (
            "ERROR" if err else "OK" if ok and not ng else "NG" if ng and not ok else "NONE"
        )
        part.class_id = self._get("class_id") if self.map.has("class_id") else None
        if self.map.has("part_counter"):
            part.counter = self._get("part_counter")
            if self._last_counter is not None and part.counter != (self._last_counter + 1) & 0xFFFF:
                with self._lock:
                    self.stats.counter_gaps += 1
            self._last_counter = part.counter
        with self._lock:
            self.stats.answered += 1
        self._rr_fall.clear()
        if self.bad.drops_link(nth, "result"):
            self._drop_link()
        if self.bad.no_ack_every and nth % self.bad.no_ack_every == 0:
            # Reads the result and never acknowledges; the trigger stays up until the
            # camera gives up and resets.
            part.outcome = "no_ack"
            with self._lock:
                self.stats.withheld_acks += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._rr_fall.wait(), timeout=self.map.timing.ack_timeout_ms / 1000 + 2
                )
            await self._set("trigger", 0)
            return
        delay_ms = self.scan_ms + self.bad.late_ack_ms
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        await self._set("results_ack", 1)
        await self._set("trigger", 0)
        part.ack_ns = now_ns()
        part.outcome = "answered"
        with self._lock:
            self.stats.acks += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._rr_fall.wait(), timeout=window + 1.0)
        if self.scan_ms > 0:
            await asyncio.sleep(self.scan_ms / 1000)
        await self._set("results_ack", 0)

    def _drop_link(self) -> None:
        """Every client connection closed, the PLC's memory kept (as a switch or a
        PLC's communication module restarting does)."""
        dropped = self.memory.drop_clients()
        with self._lock:
            self.stats.dropped_links += dropped

    def drop_clients(self) -> None:
        """Close every client connection now (from any thread; Modbus TCP)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise PlcError("not running", subject="virtual PLC")
        asyncio.run_coroutine_threadsafe(self._drop_soon(), loop).result(10)

    async def _drop_soon(self) -> None:
        self._drop_link()

    # ---- reporting -----------------------------------------------------------------
    def summary(self, *, parts: bool = False) -> dict[str, Any]:
        with self._lock:
            s = self.stats
            hist = list(s.history)
            out: dict[str, Any] = {
                "address": self.address,
                "protocol": self.map.protocol,
                "unit_id": (self.bad.unit_id if self.bad.unit_id is not None else self.map.unit_id)
                if self.map.protocol == "modbus"
                else None,
                "parts_per_min": round(self.belt.parts_per_min, 2),
                "misbehaviour": self.bad.describe(),
                "parts": s.parts,
                "triggers": s.triggers,
                "answered": s.answered,
                "acks": s.acks,
                "dropped_triggers": s.dropped_triggers,
                "not_ready": s.not_ready,
                "no_result": s.no_result,
                "withheld_acks": s.withheld_acks,
                "counter_gaps": s.counter_gaps,
                "dropped_links": s.dropped_links,
            }
        t2r = [
            (p.results_ready_ns - p.trigger_ns) / 1e6
            for p in hist
            if p.results_ready_ns is not None and p.trigger_ns is not None
        ]
        r2a = [
            (p.ack_ns - p.results_ready_ns) / 1e6
            for p in hist
            if p.ack_ns is not None and p.results_ready_ns is not None
        ]
        out["trigger_to_result_ms"] = percentiles(t2r)
        out["result_to_ack_ms"] = percentiles(r2a)
        if parts:
            out["part_log"] = [p.to_json() for p in hist]
        return out


def wait_listening(host: str, port: int, timeout_s: float = 10.0) -> None:
    """Block until something accepts TCP connections on host:port (for scripts)."""
    import socket

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise PlcError(f"nothing listens on {host}:{port}", subject="virtual PLC") from None
            time.sleep(0.05)
