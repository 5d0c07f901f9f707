"""The camera's side of the reject-gate handshake (docs/PLC.md).

    idle:      trigger_ready=1
    PLC:       trigger 0 -> 1                      (a part is at the camera)
    camera:    trigger_ready=0, decide the part, write ok/ng/class_id/part_counter,
               then results_ready=1                (always in that order)
    PLC:       reads the verdict, results_ack=1, trigger=0
    camera:    results_ready=0, ok=ng=0, trigger_ready=1
    PLC:       results_ack=0

The runner polls the PLC's inputs every ``timing.poll_ms``. A part is decided on
the runner's own thread (``GateDecider.decide``, the only boundary to the
inference code), with the busy write (trigger_ready=0) already sent: nothing else
waits on the loop while a part is in progress, and a hand-off to a worker thread
and back cost two wake-ups per part. A link that goes away is retried with
back-off; a decision that could not be handed over is recorded and counted,
never dropped. The runner wants an event loop to itself (``service.py`` gives
it one): it sleeps its short poll waits on the loop's thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import EdgeConsoleError, PlcDisconnected, PlcError
from edgeconsole.devices.plc.link import PlcLink
from edgeconsole.devices.plc.plcmap import PlcMap
from edgeconsole.devices.plc.records import (
    ERROR_DECIDE_FAILED,
    ERROR_LATE,
    ERROR_NO_PART,
    ERROR_NONE,
    GateDecider,
    GateResult,
    GateTrigger,
    HandshakeCounters,
    HandshakeRecord,
    HandshakeStatus,
    PlcEvent,
    percentiles,
)

# The records moved to records.py; their users import them from here too.
__all__ = [
    "ERROR_DECIDE_FAILED",
    "ERROR_LATE",
    "ERROR_NONE",
    "ERROR_NO_PART",
    "GateDecider",
    "GateResult",
    "GateTrigger",
    "HandshakeCounters",
    "HandshakeRecord",
    "HandshakeRunner",
    "HandshakeStatus",
    "PlcEvent",
    "percentiles",
]

#: Signals drawn as edges on the timeline (the numbers are in the part records).
_BITS = frozenset({"trigger", "results_ack", "trigger_ready", "results_ready", "ok", "ng", "error"})

#: Latency windows kept for percentiles (a day at 600 parts/min would be 864,000).
WINDOW = 20_000


#: Waits shorter than this are slept on the loop's thread (below).
PRECISE_WAIT_NS = 2_000_000


async def _pause(until_ns: int) -> None:
    """Wait until ``until_ns`` (core.clock). asyncio's timers wake through epoll, whose
    timeout is whole milliseconds rounded up: a 0.7 ms wait before the next 1 ms poll
    became 1 ms, and the poll ran every round trip + 1 ms, not every 1 ms. A short wait
    is slept on this thread instead (the runner has its loop to itself: the service
    gives it one), then the loop runs what came meanwhile."""
    left = until_ns - now_ns()
    if left >= PRECISE_WAIT_NS:
        await asyncio.sleep(left / 1e9)
        return
    if left > 0:
        time.sleep(left / 1e9)
    await asyncio.sleep(0)


@dataclass(slots=True)
class _InFlight:
    """A part between its trigger edge and its reset: what a reconnect takes up again."""

    rec: HandshakeRecord
    # seen: not decided yet; decided: the result is not written yet; written: the
    # result and results_ready are in the PLC's memory, the ack is awaited.
    phase: Literal["seen", "decided", "written"] = "seen"
    out: dict[str, int] = field(default_factory=dict)
    t_rr: int = 0
    # The PLC has trigger_ready=0 for this part: it cannot have raised another trigger.
    busy_landed: bool = False
    down_ns: int = 0  # when the link went during this part (0: it has not)

    def down_after_ms(self) -> float:
        return (self.down_ns - self.rec.trigger_ns) / 1e6


class HandshakeRunner:
    """Speaks the handshake with one PLC until ``stop`` is set."""

    def __init__(
        self,
        link: PlcLink,
        plc_map: PlcMap,
        decider: GateDecider,
        *,
        on_event: Callable[[PlcEvent], None] | None = None,
        keep_records: int = 2000,
        ready: Callable[[], bool] | None = None,
    ) -> None:
        """``ready``: whether the camera can decide a part now (its pipeline runs);
        ``trigger_ready`` follows it, so the PLC does not trigger a camera that is
        still loading its model (the part passes uninspected, on the PLC's count)."""
        self.link = link
        self.ready = ready
        self.map = plc_map
        self.decider = decider
        self.on_event = on_event
        self.counters = HandshakeCounters()
        self.state = "connecting"
        self.last_error = ""
        self._records: deque[HandshakeRecord] = deque(maxlen=keep_records)
        self._t2r: deque[float] = deque(maxlen=WINDOW)
        self._dec: deque[float] = deque(maxlen=WINDOW)
        self._lock = threading.Lock()
        self._counter = 0
        self._poll = ["trigger", "results_ack"]
        self._wants_sub = plc_map.has("sub_config") and bool(
            getattr(decider, "wants_sub_config", False)
        )
        self._reset = {n: 0 for n in ("results_ready", "ok", "ng", "error") if plc_map.has(n)} | {
            "trigger_ready": 1
        }
        # Last known level of every bit signal, for the timeline's edges.
        self._levels: dict[str, int] = {}
        # A rising edge needs the trigger seen low first. Kept across reconnects: a
        # trigger the PLC raised while the link was down is a part; one already up
        # when the camera first connects is not (nobody told the PLC it was ready).
        self._armed = False
        self._inflight: _InFlight | None = None
        # How long after its trigger a part can still be handed over: the PLC holds
        # the trigger until it acknowledges, and the camera waits that long for an ack.
        timing = plc_map.timing
        self.hold_ms = max(timing.ack_timeout_ms, timing.result_budget_ms)

    # ---- status, from any thread -------------------------------------------------
    def status(self, *, records: int = 200, stats: bool = True) -> HandshakeStatus:
        """``stats``: also the percentiles (sorting the windows: done outside the lock the
        handshake takes per part, and skipped by callers that poll only the counters)."""
        with self._lock:
            p = self._inflight
            st = HandshakeStatus(
                state=self.state,
                link=self.link.url,
                counters=HandshakeCounters(**asdict(self.counters)),
                records=list(self._records)[-records:] if records else [],
                in_flight=(p.rec.seq, p.phase) if p is not None and p.down_ns else None,
                last_error=self.last_error,
            )
            t2r = list(self._t2r) if stats else []
            dec = list(self._dec) if stats else []
        if stats:
            st.trigger_to_result_ms = percentiles(t2r)
            st.decision_ms = percentiles(dec)
        return st

    def _emit(self, kind: str, name: str, value: Any = None, text: str = "") -> None:
        if self.on_event is not None:
            self.on_event(PlcEvent(now_ns(), kind, name, value, text))

    def _edges(self, values: dict[str, int], t_ns: int | None = None) -> None:
        """Signal edges (a change of a bit the camera read or wrote) for the timeline."""
        if self.on_event is None:
            return
        t = now_ns() if t_ns is None else t_ns
        for name, value in values.items():
            if name not in _BITS:
                continue
            v = int(bool(value))
            if self._levels.get(name) != v:
                self._levels[name] = v
                self.on_event(PlcEvent(t, "signal", name, v))

    def _set_state(self, state: str, text: str = "") -> None:
        with self._lock:
            self.state = state
            if text:
                self.last_error = text
        self._emit("link", "state", state, text)

    # ---- the loop ------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, *, fail_fast: bool = False) -> None:
        """Run until ``stop``; ``fail_fast``: raise if the very first connect fails."""
        backoff = 0.0
        first = True
        try:
            while not stop.is_set():
                try:
                    await self.link.connect()
                    if self._inflight is None:
                        await self._write_reset()
                    self._set_state("idle")
                    first = False
                    if self._inflight is not None:
                        await self._resume(stop)
                    backoff = 0.0  # this link works: the next loss is retried at once
                    await self._serve(stop)
                    await self._leave()
                except PlcError as exc:
                    if first and fail_fast:
                        raise
                    first = False
                    p = self._inflight
                    if p is not None and not p.down_ns:
                        p.down_ns = now_ns()
                    with self._lock:
                        # A working link lost (not each retry that finds the PLC away).
                        was_up = self.state == "idle"
                        self.counters.disconnects += was_up and isinstance(exc, PlcDisconnected)
                    self._set_state("down", str(exc))
                    await self.link.close()
                    await self._wait_to_retry(stop, backoff)
                    # The first retry is at once: a part may be waiting (its window is
                    # 100 ms at 600 parts/min); then 20 ms, doubling up to 2 s.
                    backoff = min(max(backoff * 2, 0.02), 2.0)
        finally:
            if self._inflight is not None:
                self._give_up(
                    self._inflight, "the handshake stopped before the link to the PLC came back"
                )
            await self.link.close()
            self._set_state("stopped")

    async def _wait_to_retry(self, stop: asyncio.Event, delay_s: float) -> None:
        self._expire_in_flight()
        if delay_s > 0:
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay_s)
            except TimeoutError:
                pass
        self._expire_in_flight()

    def _expire_in_flight(self) -> None:
        """A part whose link stays down past its hold time is given up (counted now,
        not when the PLC comes back, perhaps hours later)."""
        p = self._inflight
        if p is None or now_ns() - p.rec.trigger_ns <= self.hold_ms * 1e6:
            return
        self._give_up(
            p,
            f"the link to the PLC went down {p.down_after_ms():.0f} ms after the trigger "
            f"and was not back within the part's hold time ({self.hold_ms:g} ms)",
        )

    async def _leave(self) -> None:
        """Stopping: trigger_ready goes low, so the PLC lets the next parts pass
        uninspected (on its count) instead of triggering a camera that is gone."""
        try:
            await self.link.write({"trigger_ready": 0})
        except PlcError:
            return  # the link went at the same moment: the PLC sees the camera gone
        self._edges({"trigger_ready": 0})

    async def _write_reset(self) -> None:
        reset = self._reset_values()
        await self.link.write(reset, last="trigger_ready")
        self._edges(reset)

    async def _serve(self, stop: asyncio.Event) -> None:
        poll_ns = int(self.map.timing.poll_ms * 1e6)
        while not stop.is_set():
            ready = self._is_ready()
            if ready != self._levels.get("trigger_ready"):
                await self.link.write({"trigger_ready": ready})
                self._edges({"trigger_ready": ready})
            t_read = now_ns()
            vals = await self.link.read(self._poll)
            self._edges(vals)
            if not vals["trigger"]:
                self._armed = True
            elif self._armed:
                # Re-armed at once when the part ended with the trigger seen low: the
                # PLC may raise the next one the moment trigger_ready is back, before
                # this loop reads again.
                self._armed = False  # until the part says how it ended
                self._armed = await self._part(stop)
                continue  # the part took its time: read again at once
            # A read every poll_ms (not poll_ms after each read): the round trip is
            # part of the interval, so a trigger waits at most poll_ms to be seen.
            await _pause(t_read + poll_ns)

    # ---- one part ------------------------------------------------------------------
    async def _part(self, stop: asyncio.Event) -> bool:
        """One part, trigger to reset; True when the trigger was last read low. A
        PlcError leaves the part in ``_inflight`` for the reconnect to take up."""
        t_trig = now_ns()
        with self._lock:
            self.counters.triggers += 1
            seq = self.counters.triggers
        p = _InFlight(HandshakeRecord(seq=seq, trigger_ns=t_trig))
        self._inflight = p
        await self._decide_part(p)
        await self._write_result(p)
        return await self._await_ack(p, stop)

    async def _decide_part(self, p: _InFlight) -> None:
        sub = None
        if self._wants_sub:
            sub = (await self.link.read(["sub_config"]))["sub_config"]
        trigger = GateTrigger(seq=p.rec.seq, stamp_ns=p.rec.trigger_ns, sub_config=sub)
        # Busy while deciding: the request goes out first, its answer is taken after the
        # decision, which runs here on the loop's thread. Nothing else waits on this loop
        # meanwhile (the part is in progress), and deciding here spares two thread
        # hand-offs per part (to a worker and back: each a wake-up that waits for a CPU
        # on a busy machine).
        busy = asyncio.ensure_future(self.link.write({"trigger_ready": 0}))
        await asyncio.sleep(0)  # the write's request is on the wire before we decide
        try:
            decision = self._decide(trigger)
        except BaseException:
            busy.cancel()
            raise
        self._decided(p, decision)
        await busy  # a PlcError here: the part is decided, the reconnect hands it over
        p.busy_landed = True
        self._edges({"trigger_ready": 0})

    def _decided(self, p: _InFlight, decision: GateResult) -> None:
        self._counter = (self._counter + 1) & 0xFFFF
        rec = p.rec
        rec.counter = self._counter
        rec.part_id, rec.label, rec.class_id = decision.part_id, decision.label, decision.class_id
        rec.decision_ms = decision.decision_ms
        failed = decision.error_code not in (ERROR_NONE, ERROR_LATE)
        rec.verdict = "ERROR" if failed else ("OK" if decision.ok else "NG")
        rec.error = decision.error
        p.out = self._result_values(decision, failed)
        p.phase = "decided"

    async def _write_result(self, p: _InFlight) -> None:
        # A write that fails may or may not have been applied: it is written again
        # after the reconnect (the same values: writing them twice is harmless).
        await self.link.write(p.out, last="results_ready")
        self._written(p)

    def _written(self, p: _InFlight) -> None:
        p.phase = "written"
        p.t_rr = now_ns()
        rec = p.rec
        rec.trigger_to_result_ms = (p.t_rr - rec.trigger_ns) / 1e6
        rec.late = rec.trigger_to_result_ms > self.map.timing.result_budget_ms
        self._edges(p.out, p.t_rr)

    async def _await_ack(self, p: _InFlight, stop: asyncio.Event) -> bool:
        """Wait for the ack, polling as fast as for triggers; reset; count. True when
        the trigger was last read low."""
        rec = p.rec
        deadline = p.t_rr + int(self.map.timing.ack_timeout_ms * 1e6)
        poll_ns = int(self.map.timing.poll_ms * 1e6)
        acked = withdrawn = trigger_low = False
        while not stop.is_set():
            t_read = now_ns()
            vals = await self.link.read(self._poll)
            now = now_ns()
            self._edges(vals, now)
            trigger_low = not vals["trigger"]
            if vals["results_ack"]:
                rec.result_to_ack_ms = (now - p.t_rr) / 1e6
                acked = True
                break
            if not vals["trigger"]:
                # The PLC holds the trigger until it acknowledges: a trigger gone
                # without an ack means it gave up on this part (the result came too
                # late for the reject gate). Nobody will take this result.
                withdrawn = True
                break
            if now >= deadline:
                break
            await _pause(t_read + poll_ns)
        rec.acked = acked
        if withdrawn:
            rec.error = rec.error or (
                f"the PLC withdrew the trigger before the result "
                f"({rec.trigger_to_result_ms:.1f} ms after it): not handed over"
            )
        elif not acked and not stop.is_set():
            rec.error = rec.error or (
                f"no results_ack within {self.map.timing.ack_timeout_ms:g} ms"
            )
        self._armed = trigger_low
        try:
            await self._write_reset()
        finally:
            self._finish(p, handed_over=not withdrawn)
        return trigger_low

    async def _resume(self, stop: asyncio.Event) -> None:
        """The link is back with a part in flight: take it up where it was."""
        p = self._inflight
        assert p is not None
        if p.phase == "written":
            # Our result and results_ready are still up in the PLC's memory: wait for
            # the ack (or see the one given meanwhile) as if the link had not gone.
            self._armed = await self._await_ack(p, stop)
            return
        vals = await self.link.read(self._poll)
        self._edges(vals)
        back_ms = (now_ns() - p.rec.trigger_ns) / 1e6
        why = ""
        if p.phase == "decided" and vals["results_ack"]:
            # The result's write was applied, only its answer was lost with the link:
            # the PLC took the result (stamped now: when it was really written is not
            # known) and acknowledged it.
            self._written(p)
            self._armed = await self._await_ack(p, stop)
            return
        if not vals["trigger"]:
            why = f"the PLC withdrew the trigger while the link was down ({back_ms:.0f} ms)"
            self._armed = True
        elif back_ms > self.hold_ms:
            why = f"the link came back {back_ms:.0f} ms after the trigger, past the part's "
            why += f"hold time ({self.hold_ms:g} ms)"
            self._armed = False  # that trigger is this part's: wait for it to drop
        elif not p.busy_landed and not await self._plc_saw_busy():
            # trigger_ready stayed up at the PLC: it may have given this part up and
            # raised the next part's trigger meanwhile. This result is not written to
            # a trigger that may be another part's; that trigger is served as a part.
            why = "the link went before the PLC saw the camera busy; the trigger up after "
            why += "the reconnect is answered as a part of its own"
            self._armed = True
        if why:
            self._give_up(p, why)
            await self._write_reset()
            return
        if p.phase == "seen":
            await self._decide_part(p)
        await self._write_result(p)
        self._armed = await self._await_ack(p, stop)

    async def _plc_saw_busy(self) -> bool:
        """Whether the PLC's memory has trigger_ready=0 (our busy write landed)."""
        try:
            return (await self.link.read(["trigger_ready"]))["trigger_ready"] == 0
        except PlcDisconnected:
            raise
        except PlcError:
            return False  # the PLC does not let us read it back: assume the worst

    def _give_up(self, p: _InFlight, why: str) -> None:
        rec = p.rec
        if p.phase == "written":
            # The PLC had the result; whether it took it is unknown: handed over, no ack.
            text = f"the result was written but its ack was not seen: {why}"
            rec.error = f"{rec.error}; {text}" if rec.error else text
            self._finish(p, handed_over=True)
        else:
            text = f"could not hand the result over: {why}"
            rec.error = f"{rec.error}; {text}" if rec.error else text
            self._finish(p, handed_over=False)

    def _is_ready(self) -> int:
        if self.ready is None:
            return 1
        try:
            return int(bool(self.ready()))
        except Exception:  # a broken readiness probe must not stop the handshake
            return 0

    def _reset_values(self) -> dict[str, int]:
        return self._reset | {"trigger_ready": self._is_ready()}

    def _result_values(self, decision: GateResult, failed: bool) -> dict[str, int]:
        want = {
            "class_id": decision.class_id,
            "part_counter": self._counter,
            "error_code": decision.error_code,
            "ok": int(decision.ok and not failed),
            "ng": int(not decision.ok and not failed),
            "error": int(failed),
            "results_ready": 1,
        }
        return {k: v for k, v in want.items() if self.map.has(k)}

    def _decide(self, trigger: GateTrigger) -> GateResult:
        t0 = now_ns()
        try:
            result = self.decider.decide(trigger)
        except EdgeConsoleError as exc:
            result = GateResult(ok=False, error_code=ERROR_DECIDE_FAILED, error=str(exc))
        except Exception as exc:  # a model bug must not stop the handshake
            result = GateResult(
                ok=False, error_code=ERROR_DECIDE_FAILED, error=f"{type(exc).__name__}: {exc}"
            )
        if result.decision_ms is None:
            result = replace(result, decision_ms=(now_ns() - t0) / 1e6)
        return result

    def _finish(self, p: _InFlight, *, handed_over: bool) -> None:
        rec = p.rec
        rec.handed_over = handed_over
        if self._inflight is p:
            self._inflight = None
        with self._lock:
            c = self.counters
            c.decided += rec.verdict is not None
            c.resumed += bool(p.down_ns)
            if rec.verdict == "ERROR":
                c.decide_errors += 1
            if handed_over:
                c.handed_over += 1
                if rec.acked:
                    c.acked += 1
                elif rec.error:
                    c.missing_acks += 1
                if rec.late:
                    c.late_results += 1
                if rec.trigger_to_result_ms is not None:
                    self._t2r.append(rec.trigger_to_result_ms)
            else:
                c.not_handed_over += 1
            if rec.decision_ms is not None:
                self._dec.append(rec.decision_ms)
            self._records.append(rec)
        self._emit("part", "decided", rec.to_json())
