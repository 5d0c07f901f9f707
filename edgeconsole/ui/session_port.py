"""The part of ``edgeconsole.session.Session`` the window uses.

Typed as protocols so the widgets depend on the calls, not on how the session is
built: ``MainWindow`` is typed against :class:`SessionPort`, the device widgets
against :class:`TargetsPort`, and mypy checks at ``ui/app.py`` that the real
``Session`` (and its ``TargetManager``) satisfy them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from edgeconsole.session.update import Update

if TYPE_CHECKING:
    from edgeconsole.session.api import Journal, PlcMonitor, TriggerConfig
    from edgeconsole.session.cameras import CameraSetupJob
    from edgeconsole.session.jobs import JobRunner


class StockPort(Protocol):
    """Stock Zephyr/MCUboot devices' jobs (``session.stock_jobs.StockJobs``): each call
    starts a job and returns its id; progress and results arrive through ``poll()``."""

    def upgrade(
        self,
        url: str,
        path: str | Path,
        *,
        mode: str = "confirm",
        permanent: bool = False,
        keys: tuple[str, ...] = (),
        allow_unsigned: bool = False,
        allow_downgrade: bool = False,
        reset_timeout_s: float = 60.0,
    ) -> int: ...

    def confirm_image(self, url: str) -> int: ...

    def revert(self, url: str) -> int: ...

    def erase(self, url: str) -> int: ...

    def put_file(self, url: str, local: str | Path, remote: str) -> int: ...

    def get_file(self, url: str, remote: str, dest: str | Path) -> int: ...

    def place_model(self, url: str, bundle: str | Path, remote: str) -> int: ...

    def shell(self, url: str, command: str | list[str], timeout_s: float = 10.0) -> int: ...

    def watch_stats(self, url: str, on: bool) -> None: ...


class TargetsPort(Protocol):
    """The calls the device widgets make on ``session.targets`` (a TargetManager)."""

    @property
    def stock(self) -> StockPort: ...

    def connect(
        self,
        url: str,
        *,
        trust_dir: Path | None = None,
        token: str | None = None,
        token_file: Path | str | None = None,
        remember: bool = True,
    ) -> str: ...

    def disconnect(self, url: str, *, forget: bool = False) -> None: ...

    def flash(
        self, url: str, bundle_path: str | Path, *, mode: Literal["trial", "confirm"] = "trial"
    ) -> int: ...

    def confirm(self, url: str, *, health_check: bool = True) -> int: ...

    def rollback(self, url: str) -> int: ...

    def refresh(self, url: str) -> None: ...

    def cancel(self, job_id: int) -> bool: ...

    def discover(self) -> list[dict[str, Any]]: ...

    def discover_gateways(
        self, timeout_s: float = 2.0, *, interfaces: list[str] | None = None
    ) -> list[dict[str, Any]]: ...


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
        remote: tuple[str, str] | None = None,
    ) -> None: ...

    def cancel(self) -> None: ...

    def stop(self) -> None: ...

    def set_budget(self, ms: float | None) -> None: ...

    def set_trigger(self, trigger: TriggerConfig) -> None: ...

    def mark_shown(self, frame_index: int, shown_ns: int) -> None: ...

    def set_display_area(self, width: int, height: int) -> None: ...

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

    def start_recording(
        self, path: str | Path | None = None, *, manifest: bytes | None = None
    ) -> Path: ...

    def stop_recording(self) -> Path | None: ...

    @property
    def recording_path(self) -> Path | None: ...

    #: Serial devices and gateways (session/targets.py TargetManager).
    @property
    def targets(self) -> TargetsPort: ...

    #: Where audit entries, results and recordings go (None: the journal is not open).
    @property
    def journal(self) -> Journal | None: ...

    #: The line PLC watched or answered, or None.
    @property
    def plc(self) -> PlcMonitor | None: ...

    #: Why the last PLC could not connect ("" when it did).
    @property
    def plc_error(self) -> str: ...

    #: Industrial camera setup.
    @property
    def camera_setup(self) -> CameraSetupJob: ...

    #: Runs the use cases the widgets start (ui/jobs.py adapts it to Qt signals).
    @property
    def jobs(self) -> JobRunner: ...
