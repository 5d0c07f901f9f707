"""The handshake and the watcher on a thread of their own, for the session and the CLI.

Each service owns one asyncio loop on a daemon thread; ``start`` returns once
the first connect has succeeded (or raises its error, so a wrong address, map
or unit id is reported at once), ``stop`` ends the loop and joins the thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from typing import Any

from edgeconsole.core import sched
from edgeconsole.core.errors import PlcError
from edgeconsole.devices.plc.handshake import (
    GateDecider,
    HandshakeRunner,
    PlcEvent,
    percentiles,
)
from edgeconsole.devices.plc.link import open_link
from edgeconsole.devices.plc.plcmap import PlcMap
from edgeconsole.devices.plc.watch import CameraVerdict, PlcWatcher, WatchedPart


class _LoopThread:
    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.error: BaseException | None = None

    def _start(
        self,
        body: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
        timeout_s: float,
        *,
        wait: bool = True,
    ) -> None:
        def main() -> None:
            async def run() -> None:
                self._loop = asyncio.get_running_loop()
                self._stop = asyncio.Event()
                await body(self._stop)

            try:
                asyncio.run(run())
            except BaseException as exc:  # surfaced by start() or status
                self.error = exc
            finally:
                self._ready.set()

        self._thread = threading.Thread(target=main, name=self._name, daemon=True)
        self._thread.start()
        if not wait:
            return
        if not self._ready.wait(timeout_s):
            self.stop()
            raise PlcError(f"no answer within {timeout_s:.0f} s", subject=self._name)
        if self.error is not None:
            raise self.error

    def stop(self, timeout_s: float = 5.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass  # the loop ended on its own
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


class HandshakeService(_LoopThread):
    """Speaks the handshake with the PLC at ``url`` until stopped."""

    def __init__(
        self,
        url: str,
        plc_map: PlcMap,
        decider: GateDecider,
        *,
        on_event: Callable[[PlcEvent], None] | None = None,
        timeout_s: float = 1.0,
        ready: Callable[[], bool] | None = None,
        realtime: bool | None = None,
    ) -> None:
        """``realtime``: run the handshake's thread under SCHED_FIFO (None: as the line's
        decision threads do, ``core/sched.py``: unless EDGECONSOLE_RT_PRIORITY=0). A part's
        window is one part period (100 ms at 600 parts/min): at normal priority a
        trigger seen late or a result written late on a busy machine is a missed part.
        ``scheduling`` says what the thread got."""
        super().__init__("edgeconsole-plc-handshake")
        self.url = url
        self.plc_map = plc_map
        self.realtime = sched.wanted() if realtime is None else realtime
        self.scheduling = ""
        self.runner = HandshakeRunner(
            open_link(url, plc_map, timeout_s=timeout_s),
            plc_map,
            decider,
            on_event=on_event,
            ready=ready,
        )

    def start(self, timeout_s: float = 30.0, *, wait: bool = True) -> None:
        """``wait``: return once connected and raise the first connect's error; without
        it return at once and keep retrying (a service that boots before its PLC)."""
        connected = threading.Event()

        def event(ev: PlcEvent) -> None:
            if ev.kind == "link" and ev.name == "state" and ev.value == "idle":
                connected.set()
                self._ready.set()

        outer = self.runner.on_event

        def tee(ev: PlcEvent) -> None:
            event(ev)
            if outer is not None:
                outer(ev)

        self.runner.on_event = tee

        async def body(stop: asyncio.Event) -> None:
            # The loop's thread polls and decides: that is the thread to raise. It
            # sleeps between polls (1 ms), so it never holds a core to itself.
            self.scheduling = (
                sched.realtime_thread(sched.DECISION_PRIORITY) if self.realtime else "normal"
            )
            await self.runner.run(stop, fail_fast=wait)

        self._start(body, timeout_s, wait=wait)

    def summary(self, parts: int) -> dict[str, Any]:
        """The handshake as the agent's API and the session's run summary show it:
        state, counters, the p50/p99/max of each latency and the last ``parts`` parts."""
        st = self.runner.status(records=parts)
        r2a = percentiles(r.result_to_ack_ms for r in st.records if r.result_to_ack_ms is not None)
        return {
            "plc": self.url,
            "map": self.plc_map.source,
            "scheduling": self.scheduling,
            "state": st.state,
            "error": st.last_error or None,
            "counters": asdict(st.counters),
            "trigger_to_result_ms": {
                k: st.trigger_to_result_ms.get(k) for k in ("p50", "p99", "max")
            },
            "decision_ms": {k: st.decision_ms.get(k) for k in ("p50", "p99", "max")},
            "result_to_ack_ms": {k: r2a[k] for k in ("p50", "p99", "max")},
            "result_budget_ms": self.plc_map.timing.result_budget_ms,
            "parts": [r.to_json() for r in st.records],
        }


class WatchService(_LoopThread):
    """Watches the handshake at ``url`` read-only until stopped."""

    def __init__(
        self,
        url: str,
        plc_map: PlcMap,
        *,
        poll_ms: float | None = None,
        camera_verdict: CameraVerdict | None = None,
        timeout_s: float = 1.0,
        on_edge: Callable[[int, str, int], None] | None = None,
        on_part: Callable[[WatchedPart], None] | None = None,
    ) -> None:
        super().__init__("edgeconsole-plc-watch")
        self.url = url
        self.watcher = PlcWatcher(
            open_link(url, plc_map, timeout_s=timeout_s),
            plc_map,
            poll_ms=poll_ms,
            camera_verdict=camera_verdict,
            on_edge=on_edge,
            on_part=on_part,
        )

    def start(self, timeout_s: float = 30.0) -> None:
        async def body(stop: asyncio.Event) -> None:
            async def mark_ready() -> None:
                while self.watcher.state == "connecting" and not stop.is_set():
                    await asyncio.sleep(0.01)
                self._ready.set()

            marker = asyncio.create_task(mark_ready())
            try:
                await self.watcher.run(stop, fail_fast=True)
            finally:
                marker.cancel()

        self._start(body, timeout_s)
