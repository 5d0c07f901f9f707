"""Watching a reject-gate handshake from the laptop, read-only.

The watcher reads every mapped signal of the PLC at a fixed interval (it never
writes: ``PlcWatcher`` only calls ``link.read``) and turns what it sees into a
logic-analyser timeline (edges with timestamps) and, per part, the time from
trigger to results-ready and from results-ready to ack, the verdict as the PLC
saw it, and counters of missed triggers, late results, missing acks and
mismatches. Times are as seen from the laptop: each edge is known to within
one poll interval (reported as ``resolution_ms``).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import PlcError
from edgeconsole.devices.plc.handshake import percentiles
from edgeconsole.devices.plc.link import PlcLink
from edgeconsole.devices.plc.plcmap import PlcMap

#: Signals drawn on the timeline, top to bottom.
TIMELINE_SIGNALS = ("trigger", "trigger_ready", "results_ready", "ok", "ng", "error", "results_ack")


@dataclass(slots=True)
class WatchedPart:
    seq: int
    trigger_ns: int
    results_ready_ns: int | None = None
    ack_ns: int | None = None
    counter: int | None = None
    class_id: int | None = None
    plc_verdict: str | None = None
    camera_verdict: str | None = None
    late: bool = False
    #: answered | answered_unseen | ack_unseen | missed | no_ack | open
    outcome: str = "open"
    mismatch: str = ""

    def to_json(self) -> dict[str, Any]:
        def ms(a: int | None, b: int | None) -> float | None:
            return None if a is None or b is None else round((b - a) / 1e6, 3)

        return {
            "seq": self.seq,
            "counter": self.counter,
            "trigger_to_result_ms": ms(self.trigger_ns, self.results_ready_ns),
            "result_to_ack_ms": ms(self.results_ready_ns, self.ack_ns),
            "plc_verdict": self.plc_verdict,
            "camera_verdict": self.camera_verdict,
            "class_id": self.class_id,
            "late": self.late,
            "outcome": self.outcome,
            "mismatch": self.mismatch,
        }


@dataclass(slots=True)
class WatchCounters:
    triggers: int = 0
    answered: int = 0
    missed_triggers: int = 0
    late_results: int = 0
    missing_acks: int = 0
    acks_unseen: int = 0  # the PLC took the result; its ack fell between two reads
    #: Whole handshakes that fell into a pause of our reads: the part counter moved on
    #: by them, so the camera answered them, but no time or verdict of theirs was seen.
    parts_unseen: int = 0
    mismatches: int = 0
    polls: int = 0
    link_errors: int = 0


#: Camera's own verdict for a part the PLC saw: (part) -> "OK" | "NG" | None (unknown).
CameraVerdict = Callable[[WatchedPart], str | None]


class PlcWatcher:
    """Reads the handshake signals and measures every part; never writes."""

    def __init__(
        self,
        link: PlcLink,
        plc_map: PlcMap,
        *,
        poll_ms: float | None = None,
        camera_verdict: CameraVerdict | None = None,
        keep_edges: int = 20_000,
        keep_parts: int = 10_000,
        on_edge: Callable[[int, str, int], None] | None = None,
        on_part: Callable[[WatchedPart], None] | None = None,
    ) -> None:
        """``on_edge(t_ns, signal, value)`` and ``on_part(part)`` are called (on the
        watcher's loop, quickly) for each edge seen and each part closed."""
        self.on_edge = on_edge
        self.on_part = on_part
        self.link = link
        self.map = plc_map
        self.poll_ms = poll_ms if poll_ms is not None else max(1.0, plc_map.timing.poll_ms)
        self.camera_verdict = camera_verdict
        self.names = list(plc_map.signals)
        self.counters = WatchCounters()
        self.edges: deque[tuple[int, str, int]] = deque(maxlen=keep_edges)
        self.parts: deque[WatchedPart] = deque(maxlen=keep_parts)
        self._t2r: deque[float] = deque(maxlen=keep_parts)
        self._r2a: deque[float] = deque(maxlen=keep_parts)
        self._prev: dict[str, int] | None = None
        self._open: WatchedPart | None = None
        self._last_counter: int | None = None
        self._last_read_ns: int | None = None
        #: The longest pause between two of our reads since the counter was last read.
        self._pause_ns = 0
        #: The shortest whole handshake (trigger -> ack) seen: a pause at least that
        #: long can hide a part.
        self._shortest_ns: int | None = None
        self._lock = threading.Lock()
        self.state = "connecting"
        self.last_error = ""
        self.started_ns = now_ns()

    @property
    def in_flight(self) -> bool:
        """A trigger was seen whose handshake has not ended yet."""
        return self._open is not None

    async def run(self, stop: asyncio.Event, *, fail_fast: bool = True) -> None:
        """Poll until ``stop``; ``fail_fast``: the first connect error is raised."""
        first = True
        while not stop.is_set():
            try:
                await self.link.connect()
                self.state, first = "watching", False
                while not stop.is_set():
                    values = await self.link.read(self.names)
                    self.observe(now_ns(), values)
                    await asyncio.sleep(self.poll_ms / 1000)
            except PlcError as exc:
                if first and fail_fast:
                    raise
                first = False
                with self._lock:
                    self.counters.link_errors += 1
                    self.state, self.last_error = "down", str(exc)
                await self.link.close()
                try:
                    await asyncio.wait_for(stop.wait(), timeout=0.5)
                except TimeoutError:
                    pass
        await self.link.close()
        self.state = "stopped"

    # ---- pure bookkeeping (tested without a PLC) -----------------------------------
    def observe(self, t: int, v: dict[str, int]) -> None:
        with self._lock:
            self.counters.polls += 1
            gap = 0 if self._last_read_ns is None else t - self._last_read_ns
            self._pause_ns = max(self._pause_ns, gap)
            self._last_read_ns = t
            # With reads flowing (1-2 polls apart) an ack pulse, at least one PLC scan
            # long, is seen; across a longer pause of ours it may have come and gone.
            blind = gap > 3 * self.poll_ms * 1e6
            prev = self._prev
            self._prev = dict(v)
            if prev is None:
                for n in TIMELINE_SIGNALS:
                    if n in v:
                        self._edge(t, n, int(bool(v[n])))
                return
            for n in TIMELINE_SIGNALS:
                if n in v and bool(v[n]) != bool(prev.get(n, 0)):
                    self._edge(t, n, int(bool(v[n])))

            def rose(n: str) -> bool:
                return bool(v.get(n)) and not prev.get(n)

            def fell(n: str) -> bool:
                return not v.get(n) and bool(prev.get(n))

            p = self._open
            unanswered = p is not None and p.results_ready_ns is None
            if unanswered and (rose("trigger") or fell("trigger")) and not rose("results_ready"):
                assert p is not None
                counter = v.get("part_counter")
                if counter is not None and counter != self._last_counter:
                    # The camera answered and was acknowledged between two polls: the
                    # counter moved, so the part was handed over; its times were not seen.
                    p.counter, self._last_counter, self._pause_ns = counter, counter, 0
                    self._close(p, "answered_unseen")
                else:
                    # The trigger went away (or came again) and the camera never answered.
                    self._close(p, "missed")
                p = None
            if rose("trigger"):
                if p is not None:
                    unseen = "ack_unseen" if blind and p.results_ready_ns is not None else "no_ack"
                    self._close(p, unseen if p.ack_ns is None else "answered")
                self.counters.triggers += 1
                p = self._open = WatchedPart(seq=self.counters.triggers, trigger_ns=t)
            if p is None:
                return
            if rose("results_ready") and p.results_ready_ns is None:
                p.results_ready_ns = t
                self._read_verdict(p, v)
                t2r = (t - p.trigger_ns) / 1e6
                p.late = t2r > self.map.timing.result_budget_ms
            if rose("results_ack") and p.results_ready_ns is not None and p.ack_ns is None:
                p.ack_ns = t
                self._close(p, "answered")
                return
            if p.results_ready_ns is not None and p.ack_ns is None:
                waited = (t - p.results_ready_ns) / 1e6
                if fell("results_ready"):
                    if v.get("results_ack"):
                        p.ack_ns = t  # seen with the reset it caused
                        self._close(p, "answered")
                    elif not prev.get("trigger"):
                        # The PLC dropped its trigger after results-ready and the camera
                        # then reset: the PLC took the result; its ack pulse was shorter
                        # than one of our reads (a busy laptop). Not a missing ack.
                        self._close(p, "ack_unseen")
                    else:
                        self._close(p, "ack_unseen" if blind else "no_ack")
                elif waited > self.map.timing.ack_timeout_ms:
                    self._close(p, "no_ack")

    def _edge(self, t: int, name: str, value: int) -> None:
        self.edges.append((t, name, value))
        if self.on_edge is not None:
            self.on_edge(t, name, value)

    def _read_verdict(self, p: WatchedPart, v: dict[str, int]) -> None:
        ok, ng, err = bool(v.get("ok")), bool(v.get("ng")), bool(v.get("error"))
        if err:
            p.plc_verdict = "ERROR"
        elif ok and ng:
            p.plc_verdict, p.mismatch = "BOTH", "ok and ng both set"
        elif not ok and not ng and (self.map.has("ok") and self.map.has("ng")):
            p.plc_verdict, p.mismatch = "NONE", "neither ok nor ng set"
        elif self.map.has("ok"):
            p.plc_verdict = "OK" if ok else "NG"
        else:
            p.plc_verdict = "NG" if ng else "OK"
        p.class_id = v.get("class_id")
        if "part_counter" in v:
            p.counter = v["part_counter"]
            last = self._last_counter
            skipped = 0 if last is None else (p.counter - last - 1) & 0xFFFF
            if skipped and self._pause_could_hide_a_part():
                # A busy laptop paused our reads for longer than a whole handshake: the
                # parts in between were answered (the counter says so) but not seen.
                self.counters.parts_unseen += skipped
            elif skipped:
                p.mismatch = p.mismatch or f"part counter jumped from {last} to {p.counter}"
            self._last_counter, self._pause_ns = p.counter, 0

    def _pause_could_hide_a_part(self) -> bool:
        shortest = self._shortest_ns
        if shortest is None:  # no whole handshake seen yet: assume one takes a few polls
            shortest = int(3 * self.poll_ms * 1e6)
        return self._pause_ns >= shortest

    def _close(self, p: WatchedPart, outcome: str) -> None:
        p.outcome = outcome
        if p.ack_ns is not None:
            took = p.ack_ns - p.trigger_ns
            self._shortest_ns = took if self._shortest_ns is None else min(self._shortest_ns, took)
        c = self.counters
        if outcome == "missed":
            c.missed_triggers += 1
        else:
            c.answered += 1
            if outcome == "no_ack":
                c.missing_acks += 1
            elif outcome == "ack_unseen":
                c.acks_unseen += 1
            if p.late:
                c.late_results += 1
            if p.results_ready_ns is not None:
                self._t2r.append((p.results_ready_ns - p.trigger_ns) / 1e6)
            if p.ack_ns is not None and p.results_ready_ns is not None:
                self._r2a.append((p.ack_ns - p.results_ready_ns) / 1e6)
            if self.camera_verdict is not None:
                p.camera_verdict = self.camera_verdict(p)
                if (
                    p.camera_verdict is not None
                    and p.plc_verdict in ("OK", "NG")
                    and p.camera_verdict != p.plc_verdict
                ):
                    p.mismatch = p.mismatch or (
                        f"PLC saw {p.plc_verdict}, the camera decided {p.camera_verdict}"
                    )
        if p.mismatch:
            c.mismatches += 1
        self.parts.append(p)
        if self.on_part is not None:
            self.on_part(p)
        if self._open is p:
            self._open = None

    # ---- reporting -----------------------------------------------------------------
    def summary(self, *, parts: int | None = None) -> dict[str, Any]:
        with self._lock:
            done = list(self.parts)
            counters = asdict(self.counters)
            t2r = percentiles(self._t2r)
            r2a = percentiles(self._r2a)
        shown = done if parts is None else done[-parts:]
        return {
            "plc": self.link.url,
            "map": self.map.source,
            "state": self.state,
            "error": self.last_error or None,
            "resolution_ms": self.poll_ms,
            "elapsed_s": round((now_ns() - self.started_ns) / 1e9, 3),
            "counters": counters,
            "parts": [p.to_json() for p in shown],
            "trigger_to_result_ms": {k: t2r[k] for k in ("p50", "p99", "max")},
            "result_to_ack_ms": {k: r2a[k] for k in ("p50", "p99", "max")},
            "budget_ms": self.map.timing.result_budget_ms,
        }

    def timeline(self, since_ns: int = 0) -> list[tuple[int, str, int]]:
        with self._lock:
            return [e for e in self.edges if e[0] >= since_ns]
