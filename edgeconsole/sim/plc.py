"""``edgeconsole sim plc``: a virtual line PLC on pymodbus's own Modbus TCP server.

The PLC's memory is a pymodbus ``SimDevice`` laid out from the map file. Its
program follows the simulated belt (``sources/belt.py``): when part ``k``'s
centre reaches the camera it raises ``trigger`` (if the camera says
``trigger_ready``), waits for ``results_ready``, reads the verdict, raises
``results_ack`` and drops ``trigger``, and drops the ack once the camera has
reset. Every step is stamped on the server side, where the PLC sees it, so the
figures are what the line would measure.

Misbehaviour on request (``Misbehaviour``): a late ack, no ack, a dropped
trigger, a wrong unit id, a register map that lacks the camera's outputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import ConfigError, PlcError
from edgeconsole.devices.plc.handshake import percentiles
from edgeconsole.devices.plc.plcmap import BIT_AREAS, PlcMap
from edgeconsole.sources.belt import BeltTiming

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

_AREA_INDEX = {"coil": 0, "discrete_input": 1, "holding_register": 2, "input_register": 3}
_BLOCK_ID = {"coil": "c", "discrete_input": "d", "holding_register": "h", "input_register": "i"}
_WRITE_FC = {5: "coil", 15: "coil", 6: "holding_register", 16: "holding_register"}


@dataclass
class Misbehaviour:
    """What the virtual PLC does wrong, on request (all off by default)."""

    late_ack_ms: float = 0.0  # wait this long before acknowledging
    no_ack_every: int = 0  # never acknowledge every Nth result (1: never at all)
    drop_trigger_every: int = 0  # do not raise the trigger for every Nth part
    unit_id: int | None = None  # serve this unit id instead of the map's
    missing_outputs: bool = False  # the PLC's memory lacks the camera's outputs

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v}


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
    history: list[PlcPart] = field(default_factory=list)


class VirtualPlc:
    """A Modbus TCP PLC that triggers on the simulated belt's parts."""

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
    ) -> None:
        """``scan_ms``: the PLC reacts to results-ready on its next scan, like a real
        one (its program runs every few ms), so results-ready and the ack stay up
        long enough for a watcher to see them."""
        if plc_map.protocol != "modbus":
            raise ConfigError(
                "the virtual PLC speaks Modbus TCP; this map describes OPC UA signals",
                subject=f"PLC map {plc_map.source}",
                hint="give it a Modbus map (the sample: edgeconsole/devices/plc/sample_map.toml)",
            )
        self.map = plc_map
        self.belt = belt or BeltTiming.for_frame(1280, 720)
        self.epoch_ns = epoch_ns
        self.host, self.port = host, port
        self.bad = misbehave or Misbehaviour()
        self.line_x = trigger_line_x
        self.max_parts = max_parts
        self.keep_history = keep_history
        self.scan_ms = scan_ms
        self.stats = PlcStats()
        self._lock = threading.Lock()
        self._server: ModbusTcpServer | None = None
        self._mem: dict[str, tuple[int, int, list[int], list[int]]] = {}
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

    # ---- memory --------------------------------------------------------------------
    def _device(self) -> SimDevice:
        unit = self.bad.unit_id if self.bad.unit_id is not None else self.map.unit_id
        top: dict[str, int] = {a: -1 for a in _AREA_INDEX}
        for sig in self.map.signals.values():
            if self.bad.missing_outputs and sig.direction == "output":
                continue
            assert sig.area is not None and sig.address is not None
            top[sig.area] = max(top[sig.area], sig.address)
        blocks: list[list[SimData]] = [[], [], [], []]
        for area, idx in _AREA_INDEX.items():
            count = max(16, top[area] + 1)
            if area in BIT_AREAS:
                count = (count + 15) // 16 * 16
                blocks[idx].append(SimData(0, count=count, values=False, datatype=DataType.BITS))
            else:
                blocks[idx].append(SimData(0, count=count, values=0, datatype=DataType.REGISTERS))
        return SimDevice(
            id=unit,
            simdata=(blocks[0], blocks[1], blocks[2], blocks[3]),
            action=self._on_access,
        )

    def _get(self, name: str) -> int:
        sig = self.map.signals[name]
        assert sig.area is not None and sig.address is not None
        start, count, regs, _ = self._mem[_BLOCK_ID[sig.area]]
        if sig.area in BIT_AREAS:
            reg, bit = divmod(sig.address, 16)
            off = reg - start
            return (regs[off] >> bit) & 1 if 0 <= off < count else 0
        off = sig.address - start
        return regs[off] if 0 <= off < count else 0

    def _set(self, name: str, value: int) -> None:
        if not self.map.has(name):
            return
        sig = self.map.signals[name]
        assert sig.area is not None and sig.address is not None
        start, count, regs, _ = self._mem[_BLOCK_ID[sig.area]]
        if sig.area in BIT_AREAS:
            reg, bit = divmod(sig.address, 16)
            off = reg - start
            if 0 <= off < count:
                regs[off] = (regs[off] | (1 << bit)) if value else (regs[off] & ~(1 << bit))
        else:
            off = sig.address - start
            if 0 <= off < count:
                regs[off] = value & 0xFFFF

    async def _on_access(
        self,
        func_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus calls this before it applies a request: watch the camera's writes."""
        if set_values is None:
            return None
        area = _WRITE_FC.get(func_code)
        rr = self.map.signals.get("results_ready")
        if area is None or rr is None or rr.area != area:
            return None
        assert rr.address is not None
        offset = rr.address - address
        if 0 <= offset < len(set_values):
            new = int(bool(set_values[offset]))
            old = self._get("results_ready")
            if new and not old:
                self._rr_rise_ns = now_ns()
                if self._rr_rise is not None:
                    self._rr_rise.set()
            elif old and not new and self._rr_fall is not None:
                self._rr_fall.set()
        return None

    # ---- lifecycle -----------------------------------------------------------------
    async def serve(self, stop: asyncio.Event) -> None:
        """Run the server and the PLC program until ``stop`` (or max_parts)."""
        self._stop = stop
        self._rr_rise, self._rr_fall = asyncio.Event(), asyncio.Event()
        device = self._device()
        server = ModbusTcpServer(device, address=(self.host, self.port))
        try:
            await server.serve_forever(background=True)
        except (OSError, RuntimeError) as exc:
            raise PlcError(
                f"cannot listen on {self.host}:{self.port} ({exc})",
                subject="virtual PLC",
                hint="pick another --port (0 picks a free one)",
            ) from None
        self._server = server
        if self.port == 0:
            listener: Any = server.transport  # an asyncio Server once listening
            self.port = int(listener.sockets[0].getsockname()[1])
        runtime = server.context.devices[device.id]  # type: ignore[union-attr]
        self._mem = runtime.block
        if self.epoch_ns is None:
            self.epoch_ns = now_ns()
        self._started.set()
        try:
            await self._program(stop)
        finally:
            await server.shutdown()

    def start(self) -> int:
        """Serve on a background thread; returns the port once listening."""
        self._thread = threading.Thread(target=self._thread_main, name="virtual-plc", daemon=True)
        self._thread.start()
        self._started.wait(10)
        if self._start_error is not None:
            raise self._start_error
        if not self._started.is_set():
            raise PlcError("did not start within 10 s", subject="virtual PLC")
        return self.port

    def _thread_main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
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
        self._set("trigger", 0)
        self._set("results_ack", 0)
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
        self._set("trigger", 1)
        part.trigger_ns = now_ns()
        with self._lock:
            self.stats.triggers += 1
        # The part is at the camera until the next one is due: that is the budget.
        window = max(0.05, 60.0 / self.belt.parts_per_min)
        try:
            await asyncio.wait_for(self._rr_rise.wait(), timeout=window)
        except TimeoutError:
            self._set("trigger", 0)
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
            self._set("trigger", 0)
            return
        delay_ms = self.scan_ms + self.bad.late_ack_ms
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        self._set("results_ack", 1)
        self._set("trigger", 0)
        part.ack_ns = now_ns()
        part.outcome = "answered"
        with self._lock:
            self.stats.acks += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._rr_fall.wait(), timeout=window + 1.0)
        if self.scan_ms > 0:
            await asyncio.sleep(self.scan_ms / 1000)
        self._set("results_ack", 0)

    # ---- reporting -----------------------------------------------------------------
    def summary(self, *, parts: bool = False) -> dict[str, Any]:
        with self._lock:
            s = self.stats
            hist = list(s.history)
            out: dict[str, Any] = {
                "address": f"modbus://{self.host}:{self.port}",
                "unit_id": self.bad.unit_id if self.bad.unit_id is not None else self.map.unit_id,
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
