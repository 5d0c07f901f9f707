"""The line PLC the session watches or answers: start, stop, snapshot, and its records.

The monitor itself (session/plc_monitor.py) talks to the PLC; this object owns the
one monitor of a session, says why the last one could not start, and files the
handshake records and signal edges into the journal and the recording.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.session.run_state import SessionState

if TYPE_CHECKING:
    from edgeconsole.session.plc_monitor import PlcMonitor
    from edgeconsole.session.session import Session


class PlcControl:
    """One line PLC per session; ``monitor`` None when none runs."""

    def __init__(self, owner: Session, state: SessionState) -> None:
        self._owner = owner  # the monitor answers through the session's public doors
        self._s = state
        #: The line PLC watched or answered (session/plc_monitor.py PlcMonitor), and why
        #: the last one could not start (a connect on a thread: the window shows it).
        self.monitor: PlcMonitor | None = None
        self.error = ""

    def start(
        self,
        url: str,
        map_path: str | Path,
        role: str,
        *,
        test_pattern: str,
        poll_ms: float | None,
        wait: bool,
    ) -> None:
        """See ``Session.start_plc``."""
        from edgeconsole.session.plc_monitor import PlcMonitor

        s = self._s
        self.stop()
        self.error = ""
        monitor = PlcMonitor(
            self._owner,
            url,
            str(map_path),
            role,  # type: ignore[arg-type]  # checked by PlcMonitor
            test_pattern=test_pattern,
            poll_ms=poll_ms,
        )

        def connect() -> None:
            try:
                monitor.start()
            except EdgeConsoleError as exc:
                with s.lock:
                    if self.monitor is monitor:
                        self.monitor = None
                        self.error = str(exc)
                if not wait:
                    s.event("error", str(exc), "plc")
                    return
                raise
            if not wait:
                s.event("info", f"PLC {url}: {role} ({monitor.map.source})", "plc")

        with s.lock:
            self.monitor = monitor
        if wait:
            connect()
        else:
            threading.Thread(target=connect, name="edgeconsole-plc-connect", daemon=True).start()

    def stop(self) -> None:
        with self._s.lock:
            monitor, self.monitor = self.monitor, None
        if monitor is not None:
            monitor.stop()

    def snapshot(self) -> Any:
        monitor = self.monitor
        return None if monitor is None else monitor.snapshot()

    def record_part(self, plc: str, record: dict[str, Any], target: str) -> None:
        """See ``Session.record_plc_part``."""
        from edgeconsole.journal.timebase import mono_to_wall_ns

        trig = record.get("trigger_ns")
        ts = mono_to_wall_ns(trig) if isinstance(trig, int) else None
        with self._s.lock:
            recorder = self._s.recorder
            journal = self._s.journal
        if recorder is not None:
            recorder.write_plc_part(plc, record, ts)
        if journal is not None:
            journal.telemetry.add_plc_part(target, plc, record, ts)

    def record_signal(self, plc: str, signal: str, value: int, t_ns: int) -> None:
        from edgeconsole.journal.timebase import mono_to_wall_ns

        with self._s.lock:
            recorder = self._s.recorder
        if recorder is not None:
            recorder.write_plc_signal(plc, signal, value, mono_to_wall_ns(t_ns))
