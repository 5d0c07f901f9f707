"""The links of the session's targets: connect them, watch them, notice them going
away and bring them back (worker threads and the pump; no Qt here).

The pump thread runs every ``PUMP_INTERVAL_S``: it moves each target's telemetry text
into its stream, asks the driver whether its link went away (a serial transport says
so at once) and schedules a watch every ``driver.watch_every_s`` (a network target's
health; a lost target's "are you back?"). None of it asks what kind a target is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from edgeconsole.core.errors import ConfigError, EdgeConsoleError
from edgeconsole.core.parts import TriggerEvent
from edgeconsole.devices.driver import DriverHooks, TargetDriver, open_driver
from edgeconsole.journal.timebase import mono_to_wall_ns
from edgeconsole.session.device_telemetry import TelemetryStream
from edgeconsole.sources.telemetry_lines import DeviceEvent, EventTap

if TYPE_CHECKING:
    from edgeconsole.session.target_views import _Managed
    from edgeconsole.session.targets import TargetManager

PUMP_INTERVAL_S = 0.02


class TargetLinks:
    """Connecting, watching and reconnecting, for a :class:`TargetManager`."""

    def __init__(self, manager: TargetManager) -> None:
        self.mgr = manager

    def driver_for(self, m: _Managed) -> TargetDriver:
        """A driver for ``m`` (not connected yet: ``connect`` does that, on a worker)."""
        hooks = DriverHooks(on_lost=self._on_lost, on_text=EventTap(self._trigger(m)).feed)
        return open_driver(
            m.url,
            io=self.mgr.io,
            token=m.token,
            token_file=m.token_file,
            remember=m.remember,
            hooks=hooks,
        )

    def connect(self, m: _Managed) -> None:
        mgr = self.mgr
        driver = m.driver
        assert driver is not None
        try:
            with m.io_lock:
                reading = driver.connect()
        except EdgeConsoleError as exc:
            mgr._set(m, state="error", error=str(exc), health="")
            mgr._audit("connection", "error", m, f"could not connect: {exc}")
            return
        if not m.want or mgr._closing.is_set():
            driver.close()
            return
        stream = m.stream or (self._new_stream(m) if driver.streams_telemetry else None)
        mgr._apply(m, reading, token=driver.token, stream=stream, next_watch=0.0)
        mgr._seen(m)  # in the fleet, and a stock device's images read, before anyone
        mgr.stock.attach(m)  # sees it connected
        mgr._set(m, state="connected", error="")
        mgr._audit(
            "connection",
            "info",
            m,
            f"connected: {reading.summary}",
            hw_id=reading.info.hw_id,
            firmware=reading.info.firmware,
            smp=driver.has_slots,
            target_kind=m.kind,
        )
        mgr._load_shadow(m)

    def _trigger(self, m: _Managed) -> Callable[[DeviceEvent], None]:
        mgr = self.mgr

        def on_event(ev: DeviceEvent) -> None:
            """An ``@`` line from a device (reader thread): a photo-eye edge goes to the
            per-part line at once, stamped when its bytes arrived."""
            if ev.name != "trigger":
                return
            seq = int(ev.fields[0]) if ev.fields and ev.fields[0].isdigit() else None
            m.trigger_edges += 1
            on_trigger = mgr.on_trigger
            if on_trigger is not None:
                on_trigger(TriggerEvent(ev.t_ns, m.url, seq))

        return on_event

    def _new_stream(self, m: _Managed) -> TelemetryStream:
        mgr = self.mgr
        journal = mgr.journal
        on_rows = journal.telemetry.add_telemetry_rows if journal is not None else None

        def on_record(ts_ns: int, values: dict[str, float]) -> None:
            rec = mgr._recorder()
            if rec is not None:
                rec.write_telemetry(m.url, values, ts_ns)

        return TelemetryStream(
            m.url, on_rows=on_rows, on_record=on_record, mono_to_wall=mono_to_wall_ns
        )

    def _on_lost(self, why: str) -> None:
        """Called on the I/O thread when a link goes away: note it, never block (the
        pump asks the driver and decides)."""
        mgr = self.mgr
        with mgr._lock:
            mgr._changed = True

    # -------------------------------------------------------------- watching
    def pump(self) -> None:
        mgr = self.mgr
        while not mgr._closing.is_set():
            with mgr._lock:
                items = list(mgr._targets.values())
            now = time.monotonic()
            for m in items:
                driver = m.driver
                if driver is None:
                    continue
                mgr.stock.tick(m, now)
                chunks = driver.drain()
                if chunks and m.stream is not None:
                    m.stream.feed(chunks)
                    logs = m.stream.take_logs()
                    if logs:
                        with mgr._lock:
                            m.log.extend(logs)
                            m.log_total += len(logs)
                            mgr._changed = True
                if m.job is None:
                    self.check(m)
                    self._schedule_watch(m, driver, now)
            mgr._closing.wait(PUMP_INTERVAL_S)

    def check(self, m: _Managed) -> None:
        driver = m.driver
        why = driver.link_lost() if driver is not None and m.state == "connected" else None
        if why is not None:
            self._lost(m, why, "the device went away")

    def _schedule_watch(self, m: _Managed, driver: TargetDriver, now: float) -> None:
        mgr = self.mgr
        wanted = (m.state == "connected" and driver.watch_while_up) or (
            m.state in ("disconnected", "reconnecting") and mgr.auto_reconnect
        )
        if not wanted or not m.want or m.watching or now < m.next_watch:
            return
        m.watching, m.next_watch = True, now + driver.watch_every_s
        try:
            mgr._submit(self._watch, m)
        except ConfigError:
            m.watching = False

    def _lost(self, m: _Managed, why: str, what: str) -> None:
        mgr = self.mgr
        mgr._set(m, state="disconnected", error=f"disconnected ({why})", health="")
        mgr._audit("connection", "warning", m, f"disconnected: {what}", reason=why)

    def _watch(self, m: _Managed) -> None:
        """Look at a connected target; look for a lost one and reconnect it when back."""
        from edgeconsole.devices.gateway.http import AuthError  # (aiohttp: not at start-up)

        mgr = self.mgr
        try:
            driver = m.driver
            if driver is None or not m.want:
                return
            if m.state == "connected":
                try:
                    r = driver.watch()
                except AuthError as exc:
                    mgr._set(m, state="error", error=str(exc), health="token refused")
                    mgr._audit("connection", "error", m, f"the target refused the token: {exc}")
                    return
                except EdgeConsoleError as exc:
                    self._lost(m, str(exc), "it does not answer")
                    return
                if r is not None and any(
                    getattr(m, f) != getattr(r, f) for f in ("info", "health", "cameras")
                ):
                    mgr._apply(m, r, "info", "health", "cameras")
                return
            if not driver.back():
                return
            mgr._set(m, state="reconnecting")
            try:
                with m.io_lock:
                    reading = driver.reconnect()
            except (EdgeConsoleError, TimeoutError) as exc:
                mgr._set(m, state="disconnected", error=f"not back yet: {exc}")
                return
            if not m.want:
                return
            mgr._apply(m, reading)
            mgr.stock.attach(m)
            mgr._set(m, state="connected", error="")
            mgr._audit("connection", "info", m, "reconnected", disconnects=driver.disconnects)
            mgr._seen(m)
            mgr._load_shadow(m)
        finally:
            m.watching = False
