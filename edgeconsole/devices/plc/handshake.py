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
from typing import Any, Literal, Protocol

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import EdgeConsoleError, PlcDisconnected, PlcError
from edgeconsole.devices.plc.link import PlcLink
from edgeconsole.devices.plc.plcmap import PlcMap

#: error_code values the camera writes (docs/PLC.md).
ERROR_NONE = 0
ERROR_DECIDE_FAILED = 1  # the model/pipeline raised while deciding
ERROR_NO_PART = 2  # the decider found no part at the trigger
ERROR_LATE = 3  # decided, but later than result_budget_ms (the verdict is still written)


@dataclass(frozen=True, slots=True)
class GateTrigger:
    """What the decider is asked: decide the part the PLC triggered on."""

    seq: int  # handshake sequence number, 1, 2, ...
    stamp_ns: int  # when the camera saw the trigger edge (core.clock.now_ns)
    sub_config: int | None = None


@dataclass(frozen=True, slots=True)
class GateResult:
    """The decider's answer. ``ok`` False with ``error_code`` 0 means NG."""

    ok: bool
    class_id: int = 0
    label: str = ""
    part_id: int | None = None
    # From the trigger stamp; None: the decider's own time, measured around its call
    # (so the handshake's reads, writes and thread hand-offs are never counted in it).
    decision_ms: float | None = None
    error_code: int = ERROR_NONE
    error: str = ""


class GateDecider(Protocol):
    """The one boundary between the handshake and the per-part pipeline.

    Called on the handshake's own thread (its event loop's: the loop waits for it),
    one call at a time, in trigger order. A decider that
    switches recipes by the PLC's ``sub_config`` says so with a class attribute
    ``wants_sub_config = True``: only then is it read (one more round trip to the PLC
    between the trigger and the decision); otherwise ``GateTrigger.sub_config`` is None.
    """

    def decide(self, trigger: GateTrigger) -> GateResult: ...


@dataclass(slots=True)
class HandshakeRecord:
    """One trigger and what became of it."""

    seq: int
    trigger_ns: int
    counter: int | None = None  # part_counter written with the result
    verdict: Literal["OK", "NG", "ERROR"] | None = None
    class_id: int | None = None
    label: str = ""
    part_id: int | None = None
    decision_ms: float | None = None
    trigger_to_result_ms: float | None = None
    result_to_ack_ms: float | None = None
    late: bool = False
    acked: bool = False
    handed_over: bool = False
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("decision_ms", "trigger_to_result_ms", "result_to_ack_ms"):
            if d[k] is not None:
                d[k] = round(d[k], 3)
        return d


@dataclass(slots=True)
class HandshakeCounters:
    triggers: int = 0
    decided: int = 0
    handed_over: int = 0
    acked: int = 0
    missing_acks: int = 0
    late_results: int = 0
    not_handed_over: int = 0
    decide_errors: int = 0
    disconnects: int = 0


@dataclass(slots=True)
class PlcEvent:
    """A change worth a line in the journal and a mark on the timeline."""

    t_ns: int
    kind: str  # "signal" | "link" | "part" | "error"
    name: str
    value: Any = None
    text: str = ""


@dataclass
class HandshakeStatus:
    state: str
    link: str
    counters: HandshakeCounters
    records: list[HandshakeRecord]
    trigger_to_result_ms: dict[str, float | None] = field(default_factory=dict)
    decision_ms: dict[str, float | None] = field(default_factory=dict)
    last_error: str = ""


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


def percentiles(values: Any) -> dict[str, float | None]:
    """p50/p99/max of a sequence of ms (None when empty); the tail is never averaged."""
    xs = sorted(values)
    if not xs:
        return {"p50": None, "p99": None, "max": None, "n": 0}

    def q(p: float) -> float:
        return round(float(xs[min(len(xs) - 1, max(0, round(p * (len(xs) - 1))))]), 3)

    return {"p50": q(0.50), "p99": q(0.99), "max": round(xs[-1], 3), "n": len(xs)}


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

    # ---- status, from any thread -------------------------------------------------
    def status(self, *, records: int = 200, stats: bool = True) -> HandshakeStatus:
        """``stats``: also the percentiles (sorting the windows: done outside the lock the
        handshake takes per part, and skipped by callers that poll only the counters)."""
        with self._lock:
            st = HandshakeStatus(
                state=self.state,
                link=self.link.url,
                counters=HandshakeCounters(**asdict(self.counters)),
                records=list(self._records)[-records:] if records else [],
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
        backoff = 0.2
        first = True
        try:
            while not stop.is_set():
                try:
                    await self.link.connect()
                    reset = self._reset_values()
                    await self.link.write(reset, last="trigger_ready")
                    self._edges(reset)
                    self._set_state("idle")
                    backoff = 0.2
                    first = False
                    await self._serve(stop)
                    await self._leave()
                except PlcError as exc:
                    if first and fail_fast:
                        raise
                    first = False
                    with self._lock:
                        self.counters.disconnects += isinstance(exc, PlcDisconnected)
                    self._set_state("down", str(exc))
                    await self.link.close()
                    try:
                        await asyncio.wait_for(stop.wait(), timeout=backoff)
                    except TimeoutError:
                        pass
                    backoff = min(backoff * 2, 2.0)
        finally:
            await self.link.close()
            self._set_state("stopped")

    async def _leave(self) -> None:
        """Stopping: trigger_ready goes low, so the PLC lets the next parts pass
        uninspected (on its count) instead of triggering a camera that is gone."""
        try:
            await self.link.write({"trigger_ready": 0})
        except PlcError:
            return  # the link went at the same moment: the PLC sees the camera gone
        self._edges({"trigger_ready": 0})

    async def _serve(self, stop: asyncio.Event) -> None:
        poll_ns = int(self.map.timing.poll_ms * 1e6)
        armed = False  # a rising edge needs the trigger seen low first
        while not stop.is_set():
            ready = self._is_ready()
            if ready != self._levels.get("trigger_ready"):
                await self.link.write({"trigger_ready": ready})
                self._edges({"trigger_ready": ready})
            t_read = now_ns()
            vals = await self.link.read(self._poll)
            self._edges(vals)
            if not vals["trigger"]:
                armed = True
            elif armed:
                # Re-armed at once when the part ended with the trigger seen low: the
                # PLC may raise the next one the moment trigger_ready is back, before
                # this loop reads again.
                armed = await self._part(vals, stop)
                continue  # the part took its time: read again at once
            # A read every poll_ms (not poll_ms after each read): the round trip is
            # part of the interval, so a trigger waits at most poll_ms to be seen.
            await _pause(t_read + poll_ns)

    async def _part(self, first_vals: dict[str, int], stop: asyncio.Event) -> bool:
        """One part, trigger to reset; True when the trigger was last read low."""
        t_trig = now_ns()
        with self._lock:
            self.counters.triggers += 1
            seq = self.counters.triggers
        rec = HandshakeRecord(seq=seq, trigger_ns=t_trig)
        sub = None
        if self._wants_sub:
            sub = (await self.link.read(["sub_config"]))["sub_config"]
        trigger = GateTrigger(seq=seq, stamp_ns=t_trig, sub_config=sub)
        # Busy while deciding: the request goes out first, its answer is taken after the
        # decision, which runs here on the loop's thread. Nothing else waits on this loop
        # meanwhile (the part is in progress), and deciding here spares two thread
        # hand-offs per part (to a worker and back: each a wake-up that waits for a CPU
        # on a busy machine).
        busy = asyncio.ensure_future(self.link.write({"trigger_ready": 0}))
        await asyncio.sleep(0)  # the write's request is on the wire before we decide
        try:
            decision = self._decide(trigger)
        finally:
            await busy
        self._edges({"trigger_ready": 0})
        self._counter = (self._counter + 1) & 0xFFFF
        rec.counter = self._counter
        rec.part_id, rec.label, rec.class_id = decision.part_id, decision.label, decision.class_id
        rec.decision_ms = decision.decision_ms
        failed = decision.error_code not in (ERROR_NONE, ERROR_LATE)
        rec.verdict = "ERROR" if failed else ("OK" if decision.ok else "NG")
        rec.error = decision.error
        out = self._result_values(decision, failed)
        try:
            await self.link.write(out, last="results_ready")
        except PlcError:
            rec.error = rec.error or "could not hand the result over: the PLC link failed"
            self._finish(rec, handed_over=False)
            raise
        t_rr = now_ns()
        rec.trigger_to_result_ms = (t_rr - t_trig) / 1e6
        rec.late = rec.trigger_to_result_ms > self.map.timing.result_budget_ms
        self._edges(out, t_rr)
        # Wait for the ack, polling as fast as for triggers.
        deadline = t_rr + int(self.map.timing.ack_timeout_ms * 1e6)
        poll_ns = int(self.map.timing.poll_ms * 1e6)
        acked = withdrawn = trigger_low = False
        while not stop.is_set():
            t_read = now_ns()
            vals = await self.link.read(self._poll)
            now = now_ns()
            self._edges(vals, now)
            trigger_low = not vals["trigger"]
            if vals["results_ack"]:
                rec.result_to_ack_ms = (now - t_rr) / 1e6
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
        try:
            reset = self._reset_values()
            await self.link.write(reset, last="trigger_ready")
            self._edges(reset)
        finally:
            self._finish(rec, handed_over=not withdrawn)
        return trigger_low

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

    def _finish(self, rec: HandshakeRecord, *, handed_over: bool) -> None:
        rec.handed_over = handed_over
        with self._lock:
            c = self.counters
            c.decided += 1
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
