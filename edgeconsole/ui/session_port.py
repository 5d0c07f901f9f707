"""The part of ``edgeconsole.session.Session`` the window uses.

Typed as a protocol so the widgets depend on the calls, not on how the session
is built; the app always passes the real Session.
"""

from __future__ import annotations

from typing import Any, Protocol

from edgeconsole.inference.line.triggers import TriggerConfig
from edgeconsole.session.update import Update


class SessionPort(Protocol):
    def start_local(
        self,
        source: str,
        model: str,
        *,
        budget_ms: float | None = None,
        threads: int | None = None,
        realtime: bool = True,
        loop: bool = True,
    ) -> None: ...

    def cancel(self) -> None: ...

    def stop(self) -> None: ...

    def set_budget(self, ms: float | None) -> None: ...

    def set_trigger(self, trigger: TriggerConfig) -> None: ...

    def mark_shown(self, frame_index: int, shown_ns: int) -> None: ...

    def poll(self) -> Update: ...

    def list_cameras(self) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...

    def start_plc(
        self,
        url: str,
        map_path: str,
        role: str = "watch",
        *,
        test_pattern: str = "alternate",
        poll_ms: float | None = None,
        wait: bool = True,
    ) -> None: ...

    def stop_plc(self) -> None: ...

    #: The line PLC watched or answered (session/plc_monitor.py PlcMonitor), or None,
    #: and why the last one could not connect.
    plc: Any
    plc_error: str

    #: Industrial camera setup (session/cameras.py CameraSetupJob).
    camera_setup: Any
