"""What the session keeps and shows of its targets: the record of each (``_Managed``),
its view, one progress report per device job, and the batch ``TargetManager.poll()``
returns (no Qt here)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from edgeconsole.devices.target import SlotInfo, TargetInfo
from edgeconsole.session.device_telemetry import StreamSummary, TelemetryBatch, TelemetryStream
from edgeconsole.session.stock_jobs import StockView
from edgeconsole.session.update import Event

if TYPE_CHECKING:
    from edgeconsole.devices.driver import TargetDriver
    from edgeconsole.session.target_jobs import _Job

ConnState = Literal["connecting", "connected", "disconnected", "reconnecting", "error", "closed"]
JobState = Literal["running", "done", "failed", "cancelled"]
#: Device log lines a view keeps.
LOG_LINES = 300


@dataclass(frozen=True)
class TargetView:
    """What the window shows of one target."""

    url: str
    kind: str
    state: ConnState
    name: str = ""
    serial: str = ""
    hw_id: str = ""
    firmware: str = ""
    smp: bool = True
    slots: tuple[SlotInfo, ...] = ()
    error: str = ""
    disconnects: int = 0
    log: tuple[str, ...] = ()  # the newest device log lines
    log_total: int = 0  # lines ever logged (tells a viewer how many of ``log`` are new)
    shadow: str = ""
    busy: str = ""  # the kind of job running on it ("flash", ...), "" when idle
    #: Gateways: "live, ready" (or what is not), the server's name and version, the
    #: models it serves ("name vX (STATE)") and its cameras ("0: source · state · fps").
    health: str = ""
    server: str = ""
    models: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    #: A stock Zephyr/MCUboot device (no EdgeConsole firmware): what it can do, its
    #: MCUboot images, statistics and shell (session/stock_jobs.py); None otherwise.
    stock: StockView | None = None

    @property
    def running(self) -> SlotInfo | None:
        return next((s for s in self.slots if s.running), None)

    @property
    def trial(self) -> SlotInfo | None:
        return next((s for s in self.slots if s.state == "trial"), None)

    @property
    def label(self) -> str:
        who = self.name or self.url
        return f"{who} ({self.serial})" if self.serial else who

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "kind": self.kind,
            "state": self.state,
            "name": self.name,
            "serial": self.serial,
            "hw_id": self.hw_id,
            "firmware": self.firmware,
            "smp": self.smp,
            "slots": [s.to_json() for s in self.slots],
            "error": self.error,
            "disconnects": self.disconnects,
            "health": self.health,
            "server": self.server,
            "models": list(self.models),
            "cameras": list(self.cameras),
            "stock": self.stock.to_json() if self.stock is not None else None,
        }


@dataclass(frozen=True)
class JobProgress:
    """One report of a device job (flash, confirm, rollback) for a progress bar."""

    job_id: int
    url: str
    kind: str
    state: JobState
    phase: str = ""
    sent: int = 0
    total: int = 0
    bytes_per_s: float = 0.0
    eta_s: float | None = None
    resumes: int = 0
    message: str = ""
    bundle: str = ""
    cancellable: bool = False

    @property
    def fraction(self) -> float:
        return self.sent / self.total if self.total else (1.0 if self.state == "done" else 0.0)

    @property
    def finished(self) -> bool:
        return self.state != "running"


@dataclass
class TargetsUpdate:
    targets: list[TargetView] | None
    telemetry: list[TelemetryBatch]
    jobs: list[JobProgress]
    events: list[Event]


def summary(v: TargetView, stream: TelemetryStream | None) -> dict[str, Any]:
    """One target in the headless demo's JSON: state, health and what it streamed."""
    running = v.running
    d: dict[str, Any] = {
        "url": v.url,
        "state": v.state,
        "name": v.name,
        "kind": v.kind,
        "health": v.health,
        "server": v.server,
        "models": list(v.models),
        "running": f"{running.bundle_id} v{running.version}" if running else None,
        "disconnects": v.disconnects,
    }
    if stream is not None:
        d.update(StreamSummary.of(stream).__dict__)
    return d


def record_seen(
    fleet: Any, url: str, kind: str, info: TargetInfo, slots: tuple[SlotInfo, ...]
) -> None:
    """A target's identity and slots into the journal's fleet record."""
    from edgeconsole.journal.fleet import SlotRecord

    records = [
        SlotRecord(str(s.index), s.state.upper(), s.bundle_id or None, s.version, s.sha256 or None)
        for s in slots
    ]
    fleet.seen(
        info.serial or url,
        hardware_id=info.hw_id,
        kind=kind,
        firmware=info.firmware,
        slots=records if slots else None,
    )


class _Managed:
    """One target and everything the manager keeps about it."""

    def __init__(self, url: str, trust_dir: Path | None) -> None:
        self.url = url
        self.trust_dir = trust_dir
        self.driver: TargetDriver | None = None
        self.state: ConnState = "connecting"
        self.info: Any = None
        self.slots: tuple[SlotInfo, ...] = ()
        self.health = ""
        self.server = ""
        self.models: tuple[str, ...] = ()
        self.cameras: tuple[str, ...] = ()
        self.error = ""
        self.log: deque[str] = deque(maxlen=LOG_LINES)
        self.log_total = 0
        self.want = True  # the person wants it connected
        self.io_lock = threading.Lock()  # one exchange at a time
        self.job: _Job | None = None
        self.stream: TelemetryStream | None = None
        self.shadow_sha = ""
        self.shadow_text = ""
        self.trigger_edges = 0  # photo-eye edges the device reported
        self.token: str | None = None
        self.token_file: Path | None = None
        self.remember = True  # keep a token that worked for the next time
        self.watching = False  # a watch is in flight
        self.next_watch = 0.0

    @property
    def kind(self) -> str:
        return self.driver.kind if self.driver is not None else ""
