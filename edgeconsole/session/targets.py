"""Devices in the session: connect, watch, flash, confirm, roll back (no Qt here).

:class:`TargetManager` owns one I/O loop thread for every target (the serial
links' reads and writes run there), a small pool of worker threads for the
blocking commands (connect, flash, confirm, rollback, loading the shadow
model), and one pump thread that moves each device's telemetry bytes into its
:class:`~edgeconsole.session.device_telemetry.TelemetryStream` and notices unplugs.
Every command returns at once; its outcome arrives through :meth:`poll` as
target views, job progress, telemetry batches and events, which
``Session.poll()`` hands to the window and the CLI.

States of a connection: ``connecting`` → ``connected``; an unplug makes it
``disconnected`` (the device is gone; it is watched for), then
``reconnecting`` when its port is back, then ``connected`` again. ``error``
means the first connect failed (the view says why and what to do).

Bundles reach a device only through ``workshop.access.open_verified``
(signatures, hardware id, version, expiry, payload hashes) against the app's
trust store unless the caller names another (the demo names the DEMO key's).

Gateways plug into the same place: ``gateway://HOST:PORT`` is the EdgeConsole
agent (a ``GatewayTarget``: info, slots, health, resumable upload through
``GatewayFlashJob``), ``oip://HOST:PORT`` any Open Inference Protocol v2 server
(Triton, KServe, MLServer: metadata, health and models; no slots). Both take a
token (given, read from a token file, or the one remembered for that host:port;
a token that worked is remembered). A gateway is watched by asking its health
every ``GATEWAY_WATCH_S``: no answer makes it ``disconnected``, the first answer
after that ``reconnecting`` then ``connected`` again. Same views, jobs, journal
and fleet entries as a serial device.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

from edgeconsole.core.clock import now_ns, wall_iso
from edgeconsole.core.errors import Cancelled, ConfigError, DeviceError, EdgeConsoleError
from edgeconsole.core.parts import TriggerEvent
from edgeconsole.devices.ref import TargetRef
from edgeconsole.devices.target import FlashProgress, Payload, SlotInfo
from edgeconsole.inference.shadow import ShadowRunner
from edgeconsole.journal.timebase import mono_to_wall_ns
from edgeconsole.session.device_telemetry import StreamSummary, TelemetryBatch, TelemetryStream
from edgeconsole.session.stock_jobs import StockJobs, StockView
from edgeconsole.session.update import Event, Level
from edgeconsole.sources.telemetry_lines import DeviceEvent, EventTap

ConnState = Literal["connecting", "connected", "disconnected", "reconnecting", "error", "closed"]
JobState = Literal["running", "done", "failed", "cancelled"]

PUMP_INTERVAL_S = 0.02
LOG_LINES = 300
#: Stats in telemetry batches are recomputed at most this often.
STATS_EVERY_NS = 250_000_000
#: Phases during which a flash can still be cancelled (nothing runs the new bundle yet).
CANCELLABLE_PHASES = frozenset({"verify-bundle", "upload", "verify", "trial"})
MAX_LIBRARY_HASH = 64 * 1024 * 1024
#: How often a connected gateway's health is asked (and a lost one retried).
GATEWAY_WATCH_S = 1.0
NETWORK_KINDS = frozenset({"gateway", "oip"})


def sample_bundles_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "sample_models" / "bundles"


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


@dataclass
class _Job:
    progress: JobProgress
    cancel: threading.Event = field(default_factory=threading.Event)


class _Managed:
    """One target and everything the manager keeps about it."""

    def __init__(self, url: str, kind: str, trust_dir: Path | None) -> None:
        self.url = url
        self.kind = kind
        self.trust_dir = trust_dir
        self.target: Any = None
        self.state: ConnState = "connecting"
        self.info: Any = None
        self.slots: tuple[SlotInfo, ...] = ()
        self.error = ""
        self.log: deque[str] = deque(maxlen=LOG_LINES)
        self.log_total = 0
        self.lost = threading.Event()  # set by the link when it goes away
        self.want = True  # the person wants it connected
        self.io_lock = threading.Lock()  # one SMP exchange at a time
        self.job: _Job | None = None
        self.reconnecting = False
        self.stream: TelemetryStream | None = None
        self.shadow_sha = ""
        self.shadow_text = ""
        self.trigger_edges = 0  # photo-eye edges the device reported
        # Gateways only.
        self.token: str | None = None
        self.token_file: Path | None = None
        self.remember = True  # keep a token that worked for the next time
        self.health = ""
        self.server = ""
        self.models: tuple[str, ...] = ()
        self.cameras: tuple[str, ...] = ()
        self.camera_count = 0
        self.watching = False  # a health check is in flight
        self.next_watch = 0.0
        self.disconnects = 0


class TargetManager:
    """All targets of a session. Thread-safe; every command returns at once."""

    def __init__(
        self,
        *,
        journal: Any = None,
        trust_dir: Path | None = None,
        recorder: Callable[[], Any] | None = None,
        library_dirs: list[Path] | None = None,
        shadow: bool = True,
        reconnect: bool = True,
    ) -> None:
        self.journal = journal
        self.trust_dir = trust_dir
        self._recorder = recorder or (lambda: None)
        self.library_dirs = library_dirs if library_dirs is not None else [sample_bundles_dir()]
        self.shadow_enabled = shadow
        self.auto_reconnect = reconnect
        self._lock = threading.RLock()
        self._targets: dict[str, _Managed] = {}
        self._changed = True
        self._events: deque[Event] = deque(maxlen=500)
        self._jobs: dict[int, _Job] = {}
        self._job_updates: dict[int, JobProgress] = {}
        self._job_ids = itertools.count(1)
        self._bundle_paths: dict[str, Path] = {}  # sha256 of a bundle file -> where it is
        self._hash_cache: dict[tuple[str, int, int], str] = {}
        self._closing = threading.Event()
        self._io: Any = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pump: threading.Thread | None = None
        #: Photo-eye edges from any device (the reader thread calls it; quick): the
        #: session hands them to the running per-part line.
        self.on_trigger: Callable[[TriggerEvent], object] | None = None
        #: Stock MCUmgr devices' jobs, statistics watch and shell (the window's Stock tabs).
        self.stock = StockJobs(self)

    # ----------------------------------------------------------------- threads
    @property
    def io(self) -> Any:
        """The one I/O loop thread of every target (started on first use)."""
        with self._lock:
            if self._io is None:
                from edgeconsole.devices.loop import LoopThread

                self._io = LoopThread("edgeconsole-io")
            return self._io

    def _submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        with self._lock:
            if self._closing.is_set():
                raise ConfigError("the session is closing")
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=4, thread_name_prefix="edgeconsole-target"
                )
            if self._pump is None:
                self._pump = threading.Thread(
                    target=self._pump_loop, name="edgeconsole-target-pump", daemon=True
                )
                self._pump.start()
            return self._pool.submit(self._guard, fn, *args)

    def _guard(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # a bug must reach the person, not vanish in a future
            self._event("error", f"unexpected error: {exc!r}", "device")
            raise

    # ---------------------------------------------------------------- commands
    @staticmethod
    def normalise(url: str) -> str:
        """The canonical URL of a target (a bare port path becomes ``serial://...``)."""
        return TargetRef.parse(url).url

    def connect(
        self,
        url: str,
        *,
        trust_dir: Path | None = None,
        token: str | None = None,
        token_file: Path | str | None = None,
        remember: bool = True,
    ) -> str:
        """Start connecting to ``url``; returns its canonical URL at once.

        Gateways take ``token`` or ``token_file`` (else the token remembered for
        that host:port); the token is remembered once the gateway accepted it
        (unless ``remember`` is False: the demo's throw-away agent)."""
        ref = TargetRef.parse(url)
        if ref.kind not in ("serial", "gateway", "oip"):
            raise ConfigError(
                f"{ref.kind}:// is not a device",
                subject=ref.url,
                hint="connect a device or gateway",
            )
        key, kind = ref.url, ref.kind
        with self._lock:
            m = self._targets.get(key)
            if m is not None and m.state in ("connecting", "connected", "reconnecting"):
                if token is None and token_file is None:
                    return key
                m.want = False  # new credentials: reconnect with them
                self._close_target(m)
                m.target = None
            if m is None:
                m = _Managed(key, kind, trust_dir)
                self._targets[key] = m
            elif trust_dir is not None:
                m.trust_dir = trust_dir
            if token is not None or token_file is not None:
                m.token = token
                m.token_file = Path(token_file) if token_file is not None else None
            m.remember = remember
            m.state, m.error, m.want = "connecting", "", True
            self._changed = True
        self._submit(self._connect_gateway if kind in NETWORK_KINDS else self._connect, m)
        return key

    def token_for(self, url: str) -> str | None:
        """The token a gateway was connected with (or the one remembered for it)."""
        from edgeconsole.devices.gateway.tokens import lookup

        ref = TargetRef.parse(url)
        with self._lock:
            m = self._targets.get(ref.url)
            if m is not None and m.token is not None:
                return m.token
        return lookup(ref.hostport)

    def discover_gateways(
        self, timeout_s: float = 2.0, *, interfaces: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Agents advertising ``_edgeconsole._tcp`` on mDNS (blocks ``timeout_s``;
        ``interfaces`` limits where the query goes, e.g. ``["127.0.0.1"]``)."""
        from edgeconsole.devices.gateway.discovery import discover

        return [
            {"name": g.name, "url": g.url, "host": g.host, "port": g.port, **g.properties}
            for g in discover(timeout_s, interfaces=interfaces)
        ]

    def disconnect(self, url: str, *, forget: bool = False) -> None:
        """Close the link (no reconnect); ``forget`` also removes it from the list."""
        key = self.normalise(url)
        with self._lock:
            m = self._targets.get(key)
            if m is None:
                return
            m.want = False
            self._changed = True
        self._close_target(m)
        with self._lock:
            m.state = "closed"
            if forget:
                self._targets.pop(key, None)
        self._audit("connection", "info", m, "disconnected by the technician")

    def flash(
        self, url: str, bundle_path: str | Path, *, mode: Literal["trial", "confirm"] = "trial"
    ) -> int:
        """Verify ``bundle_path`` and flash it (upload, trial, health check; ``confirm``
        also confirms). Returns the job id; progress arrives through poll()."""
        m = self._require(url)
        if self.stock.owns(m):
            raise DeviceError(
                "a stock Zephyr/MCUboot device takes firmware images, not bundles",
                subject=m.url,
                hint="upload an MCUboot image (Firmware), or place the bundle's model in its "
                "file system (Files)",
            )
        job = self._new_job(m, "flash", bundle=Path(bundle_path).name, cancellable=True)
        self._submit(self._flash, m, job, Path(bundle_path), mode)
        return job.progress.job_id

    def confirm(self, url: str, *, health_check: bool = True) -> int:
        """Confirm the bundle on trial, after its health check (``health_check=False``
        confirms without one: the window warns the person first)."""
        m = self._require(url)
        job = self._new_job(m, "confirm")
        self._submit(self._confirm, m, job, health_check)
        return job.progress.job_id

    def rollback(self, url: str) -> int:
        m = self._require(url)
        job = self._new_job(m, "rollback")
        self._submit(self._rollback, m, job)
        return job.progress.job_id

    def refresh(self, url: str) -> None:
        """Read identity and slots again (a gateway: its health and models too)."""
        m = self._require(url)
        self._submit(self._refresh_gateway if m.kind in NETWORK_KINDS else self._refresh_slots, m)

    def cancel(self, job_id: int) -> bool:
        """Ask a job to stop; a flash stops before the new bundle runs, never after."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.progress.finished or not job.progress.cancellable:
            return False
        job.cancel.set()
        return True

    def report(self, level: Level, text: str) -> None:
        """Tell the person something about devices (shown through poll())."""
        self._event(level, text, "device")

    def discover(self) -> list[dict[str, Any]]:
        """Serial ports the OS knows (for a port picker)."""
        from edgeconsole.devices.serial.ports import discover

        return [p.to_json() for p in discover()]

    def views(self) -> list[TargetView]:
        with self._lock:
            return [self._view(m) for m in self._targets.values()]

    def view(self, url: str) -> TargetView | None:
        key = self.normalise(url)
        with self._lock:
            m = self._targets.get(key)
            return self._view(m) if m is not None else None

    def job(self, job_id: int) -> JobProgress | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.progress if job is not None else None

    def stream(self, url: str) -> TelemetryStream | None:
        with self._lock:
            m = self._targets.get(self.normalise(url))
            return m.stream if m is not None else None

    def summaries(self) -> list[dict[str, Any]]:
        """Per device: state and what it streamed (the headless demo's JSON)."""
        out = []
        with self._lock:
            items = list(self._targets.values())
        for m in items:
            d: dict[str, Any] = {
                "url": m.url,
                "state": m.state,
                "name": m.info.name if m.info else "",
            }
            if m.kind in NETWORK_KINDS:
                running = next((s for s in m.slots if s.running), None)
                d.update(
                    kind=m.kind,
                    health=m.health,
                    server=m.server,
                    models=list(m.models),
                    running=f"{running.bundle_id} v{running.version}" if running else None,
                    disconnects=m.disconnects,
                )
            if m.stream is not None:
                d.update(StreamSummary.of(m.stream).__dict__)
            out.append(d)
        return out

    # ------------------------------------------------------------------- poll
    def poll(self) -> TargetsUpdate:
        with self._lock:
            items = list(self._targets.values())
            changed, self._changed = self._changed, False
            views = [self._view(m) for m in items] if changed else None
            jobs = list(self._job_updates.values())
            self._job_updates.clear()
            events = list(self._events)
            self._events.clear()
        batches = []
        t = now_ns()
        for m in items:
            if m.stream is not None:
                batch = m.stream.take(stats_every_ns=STATS_EVERY_NS, now_ns=t)
                if batch is not None:
                    batches.append(batch)
        return TargetsUpdate(views, batches, jobs, events)

    def close(self) -> None:
        """Close every link and stop the threads (the session is ending)."""
        self._closing.set()
        with self._lock:
            items = list(self._targets.values())
            for m in items:
                m.want = False
                if m.job is not None:
                    m.job.cancel.set()
        for m in items:
            self._close_target(m, wait_s=0.5 if m.job is not None else 2.0)
            if m.stream is not None:
                m.stream.set_shadow(None, "closed")
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if self._pump is not None:
            self._pump.join(timeout=5)
            self._pump = None
        io, self._io = self._io, None
        if io is not None:
            io.stop()

    # ------------------------------------------------------------ internals
    def _require(self, url: str) -> _Managed:
        key = self.normalise(url)
        with self._lock:
            m = self._targets.get(key)
        if m is None:
            raise ConfigError("not connected", subject=key, hint="connect to the device first")
        return m

    def _view(self, m: _Managed) -> TargetView:
        info = m.info
        return TargetView(
            url=m.url,
            kind=m.kind,
            state=m.state,
            name=info.name if info else "",
            serial=info.serial if info else "",
            hw_id=info.hw_id if info else "",
            firmware=info.firmware if info else "",
            smp=m.kind == "gateway" or bool(getattr(m.target, "smp", m.kind == "serial")),
            slots=m.slots,
            error=m.error,
            disconnects=m.disconnects
            if m.kind in NETWORK_KINDS
            else len(getattr(m.target, "disconnects", ()) or ()),
            log=tuple(m.log),
            log_total=m.log_total,
            shadow=m.shadow_text,
            busy=m.job.progress.kind if m.job is not None else "",
            health=m.health,
            server=m.server,
            models=m.models,
            cameras=m.cameras,
            stock=self.stock.view(m),
        )

    def _set(self, m: _Managed, **changes: Any) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(m, k, v)
            self._changed = True

    def _event(self, level: Level, text: str, kind: str = "device") -> None:
        with self._lock:
            self._events.append(Event(level=level, text=text, kind=kind, wall_time=wall_iso()))

    def _audit(self, kind: str, level: Level, m: _Managed, message: str, **fields: Any) -> None:
        self._event(level, f"{m.url}: {message}", "device")
        journal = self.journal
        if journal is not None:
            try:
                journal.audit.log(kind, level, m.url, message, **fields)
            except Exception as exc:  # the journal tells the person itself; keep working
                self._event("warning", f"journal: {exc}", "journal")

    def _seen(self, m: _Managed) -> None:
        journal = self.journal
        if journal is None or m.info is None:
            return
        from edgeconsole.journal.fleet import SlotRecord

        slots = [
            SlotRecord(
                str(s.index), s.state.upper(), s.bundle_id or None, s.version, s.sha256 or None
            )
            for s in m.slots
        ]
        try:
            journal.fleet.seen(
                m.info.serial or m.url,
                hardware_id=m.info.hw_id,
                kind=m.kind,
                firmware=m.info.firmware,
                slots=slots if m.slots else None,
            )
        except Exception as exc:
            self._event("warning", f"journal: {exc}", "journal")

    # ------------------------------------------------------------ connecting
    def _open(self, m: _Managed) -> Any:
        if m.kind == "gateway":
            from edgeconsole.devices.targets import open_target

            return open_target(m.url)
        from edgeconsole.devices.serial.client import SerialTarget

        target = SerialTarget(m.url, timeout_s=2.5, loop=self.io)
        target.on_disconnect = lambda why, m=m: self._on_lost(m, why)
        target.text_tap = EventTap(partial(self._device_event, m)).feed
        return target

    def _device_event(self, m: _Managed, ev: DeviceEvent) -> None:
        """An ``@`` line from a device (reader thread): a photo-eye edge goes to the
        per-part line at once, stamped when its bytes arrived."""
        if ev.name != "trigger":
            return
        seq = int(ev.fields[0]) if ev.fields and ev.fields[0].isdigit() else None
        m.trigger_edges += 1
        on_trigger = self.on_trigger
        if on_trigger is not None:
            on_trigger(TriggerEvent(ev.t_ns, m.url, seq))

    def _connect(self, m: _Managed) -> None:
        target = self._open(m)
        try:
            with m.io_lock:
                target.connect(probe=True)
                # The driver for what answered: EdgeConsole firmware, or stock MCUmgr.
                from edgeconsole.devices.serial.stock import adopt

                target = adopt(target)
                slots = tuple(target.slots()) if getattr(target, "smp", False) else ()
        except EdgeConsoleError as exc:
            target.close()
            self._set(m, state="error", error=str(exc))
            self._audit("connection", "error", m, f"could not connect: {exc}")
            return
        if not m.want or self._closing.is_set():
            target.close()
            return
        stream = m.stream or self._new_stream(m)
        self._set(m, target=target, info=target.info(), slots=slots, stream=stream)
        self._seen(m)  # in the fleet before anyone sees it connected
        self._set(m, state="connected", error="")
        m.lost.clear()
        info = m.info
        self._audit(
            "connection",
            "info",
            m,
            f"connected: {info.name} {info.serial} fw {info.firmware}".strip(),
            hw_id=info.hw_id,
            firmware=info.firmware,
            smp=target.smp,
        )
        self.stock.attach(m)
        self._load_shadow(m)

    def _new_stream(self, m: _Managed) -> TelemetryStream:
        journal = self.journal
        on_rows = journal.telemetry.add_telemetry_rows if journal is not None else None

        def on_record(ts_ns: int, values: dict[str, float]) -> None:
            rec = self._recorder()
            if rec is not None:
                rec.write_telemetry(m.url, values, ts_ns)

        return TelemetryStream(
            m.url, on_rows=on_rows, on_record=on_record, mono_to_wall=mono_to_wall_ns
        )

    def _on_lost(self, m: _Managed, why: str) -> None:
        """Called on the I/O thread when the link goes away: note it, never block."""
        m.lost.set()
        with self._lock:
            self._changed = True

    def _close_target(self, m: _Managed, wait_s: float = 2.0) -> None:
        target = m.target
        if target is None:
            return
        # Wait briefly for an exchange in flight; a job still busy after that is ended
        # by closing its port under it (it fails at once instead of timing out).
        locked = m.io_lock.acquire(timeout=wait_s)
        try:
            target.close()
        except Exception as exc:  # closing a dead port may fail; it is closed either way
            with self._lock:
                m.log.append(f"close: {exc}")
                m.log_total += 1
        finally:
            if locked:
                m.io_lock.release()

    def _reconnect(self, m: _Managed) -> None:
        """Wait for the device to come back and reopen it (until it does or is dropped)."""
        from edgeconsole.devices.serial.ports import refind

        target = m.target
        try:
            while m.want and not self._closing.is_set():
                if refind(target.address) is None:
                    self._closing.wait(0.2)
                    continue
                self._set(m, state="reconnecting")
                try:
                    with m.io_lock:
                        info = target.reconnect(timeout_s=3.0)
                        slots = tuple(target.slots()) if target.smp else ()
                except (DeviceError, TimeoutError) as exc:
                    self._set(m, state="disconnected", error=f"device not back yet: {exc}")
                    self._closing.wait(0.5)
                    continue
                m.lost.clear()
                self._set(m, info=info or m.info, slots=slots, state="connected", error="")
                self.stock.attach(m)
                self._audit(
                    "connection", "info", m, "reconnected", disconnects=len(target.disconnects)
                )
                self._seen(m)
                self._load_shadow(m)
                return
        finally:
            with self._lock:
                m.reconnecting = False

    def _pump_loop(self) -> None:
        while not self._closing.is_set():
            with self._lock:
                items = list(self._targets.values())
            now = time.monotonic()
            for m in items:
                target = m.target
                if target is None:
                    continue
                if m.kind in NETWORK_KINDS:
                    if (
                        m.want
                        and not m.watching
                        and m.job is None
                        and now >= m.next_watch
                        and m.state in ("connected", "disconnected", "reconnecting")
                    ):
                        m.watching = True
                        m.next_watch = now + GATEWAY_WATCH_S
                        try:
                            self._submit(self._watch_gateway, m)
                        except ConfigError:
                            m.watching = False
                    continue
                self.stock.tick(m, now)
                text = getattr(target, "text", None)
                if text is not None and m.stream is not None:
                    chunks = text.drain()
                    if chunks:
                        m.stream.feed(chunks)
                        logs = m.stream.take_logs()
                        if logs:
                            with self._lock:
                                m.log.extend(logs)
                                m.log_total += len(logs)
                                self._changed = True
                if m.lost.is_set() and m.state == "connected" and m.job is None:
                    if _link_up(target):
                        m.lost.clear()
                    else:
                        self._lost(m)
            self._closing.wait(PUMP_INTERVAL_S)

    def _lost(self, m: _Managed) -> None:
        why = m.target.disconnects[-1] if getattr(m.target, "disconnects", None) else "link lost"
        self._set(m, state="disconnected", error=f"disconnected ({why})")
        self._audit("connection", "warning", m, "disconnected: the device went away", reason=why)
        with self._lock:
            if not (m.want and self.auto_reconnect) or m.reconnecting:
                return
            m.reconnecting = True
        try:
            self._submit(self._reconnect, m)
        except ConfigError:
            m.reconnecting = False

    # ------------------------------------------------------------- gateways
    def _open_gateway(self, m: _Managed) -> tuple[Any, str | None]:
        """A client for ``m`` and the token it uses (given, from a file, remembered)."""
        from edgeconsole.devices.gateway.tokens import resolve

        hostport = TargetRef.parse(m.url).hostport
        token = resolve(hostport, token=m.token, token_file=m.token_file)
        if m.kind == "gateway":
            from edgeconsole.devices.gateway.target import GatewayTarget

            if token is None:
                raise ConfigError(
                    f"no token for gateway {hostport}",
                    subject=m.url,
                    hint="give the agent's token or its token file (the agent's DATA/token)",
                )
            return GatewayTarget(m.url, token, timeout_s=10.0, loop=self.io), token
        from edgeconsole.devices.gateway.oip import OipClient

        return OipClient(f"http://{hostport}", token, timeout_s=10.0, loop=self.io), token

    def _read_gateway(self, m: _Managed, target: Any) -> dict[str, Any]:
        """Identity, slots, health, models and cameras (worker thread)."""
        from edgeconsole.devices.gateway.http import AuthError, GatewayHTTPError
        from edgeconsole.devices.target import TargetInfo

        if m.kind == "gateway":
            info = target.info()
            slots = tuple(target.slots())
            client = target.client
            server = info.firmware
        else:
            client = target
            meta = client.server_metadata()
            name = str(meta.get("name") or "OIP server")
            server = f"{name} {meta.get('version') or ''}".strip()
            info = TargetInfo(
                url=m.url,
                name=name,
                firmware=server,
                extra={"extensions": list(meta.get("extensions") or [])},
            )
            slots = ()
        health = _health_text(client.is_live(), client.is_ready())
        models: list[str] = []
        try:
            for row in client.repository_index():
                if isinstance(row, dict) and row.get("name"):
                    version = f" v{row['version']}" if row.get("version") else ""
                    state = f" ({row['state']})" if row.get("state") else ""
                    models.append(f"{row['name']}{version}{state}")
        except AuthError:
            raise
        except GatewayHTTPError:
            pass  # no repository extension (KServe, MLServer without it): no list
        cameras = _cameras_of(info)
        return {
            "info": info,
            "slots": slots,
            "health": health,
            "server": server,
            "models": tuple(models),
            "cameras": cameras,
            "camera_count": len(cameras),
        }

    def _connect_gateway(self, m: _Managed) -> None:
        from edgeconsole.devices.gateway.tokens import remember

        target = None
        try:
            target, token = self._open_gateway(m)
            data = self._read_gateway(m, target)
        except EdgeConsoleError as exc:
            if target is not None:
                _close_quietly(target)
            self._set(m, state="error", error=str(exc), health="")
            self._audit("connection", "error", m, f"could not connect: {exc}")
            return
        if not m.want or self._closing.is_set():
            _close_quietly(target)
            return
        if token is not None and m.remember and (m.token is not None or m.token_file is not None):
            try:
                remember(TargetRef.parse(m.url).hostport, token)
            except OSError as exc:
                self._event("warning", f"{m.url}: could not remember its token: {exc}")
        m.token = token
        self._set(m, target=target, state="connected", error="", next_watch=0.0, **data)
        info = m.info
        self._audit(
            "connection",
            "info",
            m,
            f"connected: {info.name} {info.firmware} ({m.health})".strip(),
            hw_id=info.hw_id,
            firmware=info.firmware,
            target_kind=m.kind,
        )
        self._seen(m)

    def _refresh_gateway(self, m: _Managed) -> None:
        target = m.target
        if target is None or m.state != "connected":
            return
        try:
            data = self._read_gateway(m, target)
        except EdgeConsoleError as exc:
            self._event("warning", f"{m.url}: could not read it again: {exc}")
            return
        before = {(s.index, s.state, s.sha256) for s in m.slots}
        self._set(m, **data)
        if {(s.index, s.state, s.sha256) for s in m.slots} != before:
            self._seen(m)

    def _watch_gateway(self, m: _Managed) -> None:
        """Ask a gateway how it is; notice it going away and coming back."""
        from edgeconsole.devices.gateway.http import AuthError

        try:
            target = m.target
            if target is None or not m.want:
                return
            if m.state == "connected":
                client = target.client if m.kind == "gateway" else target
                try:
                    health = _health_text(client.is_live(), client.is_ready())
                    changes: dict[str, Any] = {"health": health}
                    if m.kind == "gateway":
                        info = target.info()
                        changes.update(info=info, cameras=_cameras_of(info))
                except AuthError as exc:
                    self._set(m, state="error", error=str(exc), health="token refused")
                    self._audit("connection", "error", m, f"the gateway refused the token: {exc}")
                    return
                except EdgeConsoleError as exc:
                    with self._lock:
                        m.disconnects += 1
                    self._set(m, state="disconnected", error=f"disconnected ({exc})", health="")
                    self._audit(
                        "connection",
                        "warning",
                        m,
                        "disconnected: the gateway does not answer",
                        reason=str(exc),
                    )
                    return
                if any(getattr(m, k) != v for k, v in changes.items()):
                    self._set(m, **changes)
                return
            try:
                data = self._read_gateway(m, target)
            except EdgeConsoleError as exc:
                if m.state != "disconnected" or m.error != f"disconnected ({exc})":
                    self._set(m, state="disconnected", error=f"disconnected ({exc})")
                return
            if not m.want:
                return
            self._set(m, state="connected", error="", **data)
            self._audit("connection", "info", m, "reconnected", disconnects=m.disconnects)
            self._seen(m)
        finally:
            m.watching = False

    # ---------------------------------------------------------------- slots
    def _refresh_slots(self, m: _Managed) -> None:
        target = m.target
        if target is None or not getattr(target, "smp", False):
            return
        with m.io_lock:
            slots = tuple(target.slots())
        before = {(s.index, s.state, s.sha256) for s in m.slots}
        self._set(m, slots=slots)
        if {(s.index, s.state, s.sha256) for s in slots} != before:
            self._seen(m)
            self._submit(self._load_shadow, m)
        if self.stock.owns(m):
            self.stock.attach(m)  # Refresh: capabilities and images read again

    def _slot_change(self, m: _Managed, slots: list[SlotInfo], message: str, **fields: Any) -> None:
        self._set(m, slots=tuple(slots))
        if m.kind in NETWORK_KINDS:
            self._submit(self._refresh_gateway, m)  # the model it serves changed
        running = next((s for s in slots if s.running), None)
        self._audit(
            "slot",
            "info",
            m,
            message,
            running=running.index if running else None,
            bundle_id=running.bundle_id if running else None,
            version=running.version if running else None,
            **fields,
        )
        self._seen(m)
        self._submit(self._load_shadow, m)

    # ----------------------------------------------------------------- jobs
    def _new_job(
        self, m: _Managed, kind: str, *, bundle: str = "", cancellable: bool = False
    ) -> _Job:
        with self._lock:
            if m.job is not None:
                raise DeviceError(
                    f"{m.job.progress.kind} is still running on this device",
                    subject=m.url,
                    hint="wait for it to finish or cancel it",
                )
            if m.state != "connected":
                raise DeviceError(
                    f"device is {m.state}", subject=m.url, hint="wait until it is connected"
                )
            if m.kind == "oip":
                raise DeviceError(
                    f"{kind}: an Open Inference Protocol server has no slots",
                    subject=m.url,
                    hint="bundles are flashed to EdgeConsole agents (gateway://)",
                )
            job = _Job(
                JobProgress(
                    next(self._job_ids),
                    m.url,
                    kind,
                    "running",
                    "starting",
                    bundle=bundle,
                    cancellable=cancellable,
                )
            )
            m.job = job
            self._jobs[job.progress.job_id] = job
            self._job_updates[job.progress.job_id] = job.progress
            self._changed = True
            return job

    def _job_update(self, job: _Job, **changes: Any) -> None:
        with self._lock:
            job.progress = replace(job.progress, **changes)
            self._job_updates[job.progress.job_id] = job.progress

    def _job_end(self, m: _Managed, job: _Job, state: JobState, message: str) -> None:
        with self._lock:
            job.progress = replace(
                job.progress,
                state=state,
                message=message,
                cancellable=False,
                eta_s=0.0 if state == "done" else job.progress.eta_s,
            )
            self._job_updates[job.progress.job_id] = job.progress
            m.job = None
            self._changed = True
        if m.lost.is_set() and m.state == "connected":
            if _link_up(m.target):
                m.lost.clear()  # the job's own resume reconnected it
            else:
                self._lost(m)  # the link went away during the job and did not come back

    def _flash(self, m: _Managed, job: _Job, path: Path, mode: Literal["trial", "confirm"]) -> None:
        from edgeconsole.devices.serial.flash import SerialFlashJob

        target = m.target

        def progress(p: FlashProgress) -> None:
            cancellable = p.phase in CANCELLABLE_PHASES
            if job.cancel.is_set() and cancellable:
                raise Cancelled("flash cancelled", subject=m.url)
            self._job_update(
                job,
                phase=p.phase,
                sent=p.sent,
                total=p.total,
                bytes_per_s=p.bytes_per_s,
                eta_s=p.eta_s,
                resumes=p.resumes,
                cancellable=cancellable,
            )

        try:
            self._job_update(job, phase="verify-bundle", message=f"verifying {path.name}")
            running = next((s for s in m.slots if s.running), None)
            payload = verified_payload(
                path,
                m.trust_dir if m.trust_dir is not None else self.trust_dir,
                hardware_id=m.info.hw_id if m.info else None,
                installed_version=running.version if running else None,
            )
            if job.cancel.is_set():
                raise Cancelled("flash cancelled", subject=m.url)
            self._bundle_paths[payload.sha256] = path
            self._job_update(
                job, bundle=f"{payload.bundle_id} v{payload.version}", total=len(payload.data)
            )
            self._audit(
                "flash",
                "info",
                m,
                f"flash started: {payload.bundle_id} v{payload.version} ({len(payload.data)} B)",
                bundle=str(path),
                sha256=payload.sha256,
                mode=mode,
            )
            with m.io_lock:
                if m.kind == "gateway":
                    from edgeconsole.devices.gateway.flash import GatewayFlashJob

                    result = GatewayFlashJob(
                        target, payload, mode=mode, progress=progress, cancel=job.cancel
                    ).run()
                else:
                    result = SerialFlashJob(target, payload, mode=mode, progress=progress).run()
        except Cancelled:
            self._audit(
                "flash",
                "warning",
                m,
                "flash cancelled before the new bundle ran; the running bundle is unchanged",
            )
            self._job_end(m, job, "cancelled", "cancelled: the running bundle is unchanged")
            self._submit(self._refresh_slots, m)
            return
        except EdgeConsoleError as exc:
            self._audit("flash", "error", m, f"flash failed: {exc}", bundle=str(path))
            self._job_end(m, job, "failed", str(exc))
            if not m.lost.is_set():
                self._submit(self._refresh_slots, m)
            return
        test = result.self_test
        state = "confirmed" if result.confirmed else "on trial: confirm or roll back"
        message = (
            f"slot {result.slot}: health check passed ({test.detail if test else '-'}); {state}"
        )
        for note in result.notes:
            # What the job found and fixed on the way (a trial left by an interrupted flash).
            self._audit("flash", "warning", m, f"flash: {note}")
        self._slot_change(
            m,
            result.slots,
            f"flash done: {payload.bundle_id} v{payload.version} in slot {result.slot}, {state}",
            seconds=round(result.seconds, 3),
            bytes_per_s=round(result.bytes_per_s, 1),
            resumes=result.resumes,
            sha256=payload.sha256,
        )
        self._job_end(m, job, "done", message)

    def _confirm(self, m: _Managed, job: _Job, health_check: bool) -> None:
        target = m.target
        try:
            with m.io_lock:
                slots = target.slots()
                trial = next((s for s in slots if s.state == "trial"), None)
                if trial is None:
                    self._set(m, slots=tuple(slots))
                    self._job_end(
                        m, job, "done", "nothing on trial: the running bundle is already confirmed"
                    )
                    return
                if health_check:
                    self._job_update(job, phase="selftest", message="running the health check")
                    test = target.self_test(trial.index)
                    if not test.passed:
                        slots = target.slots()
                        raise DeviceError(
                            f"health check failed: {test.detail}"
                            + ("; the device rolled back" if test.rolled_back else ""),
                            subject=m.url,
                            hint="not confirmed; roll back if still on trial",
                        )
                else:
                    self._audit(
                        "slot",
                        "warning",
                        m,
                        f"confirming slot {trial.index} "
                        f"({trial.bundle_id} v{trial.version}) WITHOUT a health check",
                    )
                self._job_update(job, phase="confirm")
                slots = target.confirm(trial.index)
        except EdgeConsoleError as exc:
            self._audit("slot", "error", m, f"confirm failed: {exc}")
            self._job_end(m, job, "failed", str(exc))
            self._submit(self._refresh_slots, m)
            return
        self._slot_change(
            m,
            slots,
            f"slot {trial.index} confirmed: {trial.bundle_id} v{trial.version}",
            health_check=health_check,
        )
        self._job_end(m, job, "done", f"slot {trial.index} confirmed")

    def _rollback(self, m: _Managed, job: _Job) -> None:
        try:
            with m.io_lock:
                self._job_update(job, phase="rollback")
                slots = m.target.rollback()
        except EdgeConsoleError as exc:
            self._audit("slot", "error", m, f"rollback failed: {exc}")
            self._job_end(m, job, "failed", str(exc))
            return
        running = next((s for s in slots if s.running), None)
        text = (
            f"rolled back: slot {running.index} {running.bundle_id} v{running.version} runs"
            if running
            else "rolled back"
        )
        self._slot_change(m, slots, text)
        self._job_end(m, job, "done", text)

    # --------------------------------------------------------------- shadow
    def _find_bundle(self, sha256: str) -> Path | None:
        known = self._bundle_paths.get(sha256)
        if known is not None and known.is_file():
            return known
        for d in self.library_dirs:
            if not d.is_dir():
                continue
            for p in sorted(d.glob("*.ecb")):
                try:
                    st = p.stat()
                except OSError:
                    continue
                if st.st_size > MAX_LIBRARY_HASH:
                    continue
                key = (str(p), st.st_size, st.st_mtime_ns)
                digest = self._hash_cache.get(key)
                if digest is None:
                    digest = hashlib.sha256(p.read_bytes()).hexdigest()
                    self._hash_cache[key] = digest
                if digest == sha256:
                    return p
        return None

    def _load_shadow(self, m: _Managed) -> None:
        """Load the running bundle's model for the laptop-side run (worker thread)."""
        stream = m.stream
        running = next((s for s in m.slots if s.running), None)
        if stream is None or not self.shadow_enabled or self.stock.owns(m):
            return  # (a stock device runs firmware images, not bundles: no shadow model)
        if running is None or not running.sha256:
            self._shadow(m, None, "the device reports no running bundle", "")
            return
        if running.sha256 == m.shadow_sha:
            return
        path = self._find_bundle(running.sha256)
        if path is None:
            self._shadow(
                m,
                None,
                f"bundle {running.bundle_id} v{running.version} is not in the "
                "library: no shadow run",
                running.sha256,
            )
            return
        try:
            from edgeconsole.inference.shadow import load_shadow_runner
            from edgeconsole.workshop.access import open_verified

            trust = m.trust_dir if m.trust_dir is not None else self.trust_dir
            bundle = open_verified(path, trust, mode="memory")
            runner = load_shadow_runner(
                bundle.description,
                bundle.files,
                stream.parser.channels,
                f"{bundle.manifest.bundle_id} v{bundle.manifest.version}",
            )
        except EdgeConsoleError as exc:
            self._shadow(m, None, f"no shadow run: {exc}", running.sha256)
            return
        except Exception as exc:  # onnxruntime's own errors
            self._shadow(m, None, f"no shadow run: {exc!r}", running.sha256)
            return
        self._shadow(m, runner, "", running.sha256)

    def _shadow(self, m: _Managed, runner: ShadowRunner | None, reason: str, sha: str) -> None:
        if m.stream is not None:
            m.stream.set_shadow(runner, reason)
        text = (
            f"shadow: {runner.bundle} on the laptop, tolerance {runner.tolerance:g}"
            if runner is not None
            else reason
        )
        self._set(m, shadow_sha=sha, shadow_text=text)


def verified_payload(
    path: Path,
    trust_dir: Path | None,
    *,
    hardware_id: str | None,
    installed_version: int | None,
) -> Payload:
    """Verify a bundle through the one door (``workshop.access.open_verified``) and
    return the exact bytes that were checked, ready for a target's upload."""
    from edgeconsole.workshop.access import open_verified

    if not path.is_file():
        raise ConfigError("no such bundle file", subject=str(path))
    vb = open_verified(
        path,
        trust_dir,
        hardware_id=hardware_id or None,
        installed_version=installed_version,
        mode="verify",
    )
    # A bundle whose preprocessing does not produce what its model takes (or an image
    # model with none) never reaches a device: refused here, naming both shapes.
    from edgeconsole.inference.input_check import check_input_fit
    from edgeconsole.inference.spec import ModelSpec

    if isinstance(vb.description, ModelSpec):
        check_input_fit(vb.description, subject=str(path))
    # Read the file once more and check it is the one verified (same size and
    # manifest bytes): the upload must be exactly what was checked. Never more than
    # one byte beyond the verified size is read, whatever the file grew to.
    with path.open("rb") as fh:
        data = fh.read(vb.size + 1)
    if len(data) != vb.size or vb.manifest_bytes not in data[: len(vb.manifest_bytes) + 4096]:
        raise DeviceError(
            "bundle changed while it was being verified", subject=str(path), hint="flash it again"
        )
    return Payload(
        data, hashlib.sha256(data).hexdigest(), vb.manifest.bundle_id, vb.manifest.version
    )


def _health_text(live: bool, ready: bool) -> str:
    return f"{'live' if live else 'NOT live'}, {'ready' if ready else 'NOT ready'}"


def _cameras_of(info: Any) -> tuple[str, ...]:
    out: list[str] = []
    for c in (info.extra or {}).get("cameras") or []:
        if isinstance(c, dict):
            fps = c.get("fps")
            # The source without its options: "synthetic:conveyor", "rtsp://cam1/stream".
            source = str(c.get("source", "?")).split("?", 1)[0]
            state = str(c.get("state", "?"))
            out.append(
                f"{c.get('index', len(out))}: {source}"
                + ("" if state == "running" else f" · {state}")
                + (f" · {fps:g} fps" if isinstance(fps, int | float) else "")
            )
    return tuple(out)


def _close_quietly(target: Any) -> None:
    try:
        target.close()
    except Exception:  # closing a link that never worked: nothing to keep
        pass


def _link_up(target: Any) -> bool:
    transport = getattr(target, "transport", None)
    return bool(getattr(transport, "connected", False))


def wait_for(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.02) -> bool:
    """Poll ``predicate`` until true or ``timeout_s`` (for the CLI and headless runs)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()
