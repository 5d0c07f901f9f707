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

Every target is held as its driver (``devices.driver.TargetDriver``: a serial link,
a gateway agent, an OIP server), and nothing here asks which kind it is: connecting,
watching and reconnecting are ``session/target_links.py``, flash/confirm/rollback
``session/target_jobs.py`` (whatever way a job ends, the target is read again, so
its slot view is never stale), the shadow model ``session/target_shadow.py``, the
views ``session/target_views.py``. Network targets take a token (given, read from a
token file, or the one remembered for that host:port; one that worked is
remembered) and are watched by asking their health every second.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from edgeconsole.core.clock import now_ns, wall_iso
from edgeconsole.core.errors import ConfigError, EdgeConsoleError
from edgeconsole.core.parts import TriggerEvent
from edgeconsole.devices.driver import Reading, drivable
from edgeconsole.devices.ref import TargetRef
from edgeconsole.devices.target import SlotInfo
from edgeconsole.session.device_telemetry import TelemetryStream
from edgeconsole.session.stock_jobs import StockJobs
from edgeconsole.session.target_jobs import DeviceJobs, verified_payload
from edgeconsole.session.target_links import TargetLinks
from edgeconsole.session.target_shadow import ShadowBundles, sample_bundles_dir
from edgeconsole.session.target_views import (
    ConnState,
    JobProgress,
    JobState,
    TargetsUpdate,
    TargetView,
    _Managed,
    record_seen,
    summary,
)
from edgeconsole.session.update import Event, Level

__all__ = [
    "ConnState",
    "JobProgress",
    "JobState",
    "TargetManager",
    "TargetView",
    "TargetsUpdate",
    "sample_bundles_dir",
    "verified_payload",
    "wait_for",
]

#: Stats in telemetry batches are recomputed at most this often.
STATS_EVERY_NS = 250_000_000
#: What a view's watcher looks at to tell a change (not the log: it has its own count).
READING_FIELDS = ("info", "slots", "health", "server", "models", "cameras")


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
        self.shadows = ShadowBundles(
            library_dirs if library_dirs is not None else [sample_bundles_dir()]
        )
        self.shadow_enabled = shadow
        self.auto_reconnect = reconnect
        self._lock = threading.RLock()
        self._targets: dict[str, _Managed] = {}
        self._changed = True
        self._events: deque[Event] = deque(maxlen=500)
        self._closing = threading.Event()
        self._io: Any = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pump: threading.Thread | None = None
        #: Photo-eye edges from any device (the reader thread calls it; quick): the
        #: session hands them to the running per-part line.
        self.on_trigger: Callable[[TriggerEvent], object] | None = None
        self.jobs = DeviceJobs(self)
        self.links = TargetLinks(self)
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
                    target=self.links.pump, name="edgeconsole-target-pump", daemon=True
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
        key = drivable(url).url
        with self._lock:
            m = self._targets.get(key)
            if m is not None and m.state in ("connecting", "connected", "reconnecting"):
                if token is None and token_file is None:
                    return key
                m.want = False  # new credentials: reconnect with them
                self._close_target(m)
            if m is None:
                m = _Managed(key, trust_dir)
                self._targets[key] = m
            elif trust_dir is not None:
                m.trust_dir = trust_dir
            if token is not None or token_file is not None:
                m.token = token
                m.token_file = Path(token_file) if token_file is not None else None
            m.remember = remember
            m.driver = self.links.driver_for(m)
            m.state, m.error, m.want = "connecting", "", True
            self._changed = True
        self._submit(self.links.connect, m)
        return key

    def token_for(self, url: str) -> str | None:
        """The token a gateway was connected with (or the one remembered for it)."""
        from edgeconsole.devices.gateway.tokens import resolve

        ref = TargetRef.parse(url)
        with self._lock:
            m = self._targets.get(ref.url)
            if m is not None and m.token is not None:
                return m.token
        return resolve(ref.hostport)

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
        job = self.jobs.new(m, "flash", bundle=Path(bundle_path).name, cancellable=True)
        self._submit(self.jobs.flash, m, job, Path(bundle_path), mode)
        return job.progress.job_id

    def confirm(self, url: str, *, health_check: bool = True) -> int:
        """Confirm the bundle on trial, after its health check (``health_check=False``
        confirms without one: the window warns the person first)."""
        m = self._require(url)
        job = self.jobs.new(m, "confirm")
        self._submit(self.jobs.confirm, m, job, health_check)
        return job.progress.job_id

    def rollback(self, url: str) -> int:
        m = self._require(url)
        job = self.jobs.new(m, "rollback")
        self._submit(self.jobs.rollback, m, job)
        return job.progress.job_id

    def refresh(self, url: str) -> None:
        """Read identity and slots again (a gateway: its health and models too)."""
        self._submit(self._refresh, self._require(url))

    def cancel(self, job_id: int) -> bool:
        """Ask a job to stop; a flash stops before the new bundle runs, never after."""
        return self.jobs.cancel(job_id)

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
        with self._lock:
            m = self._targets.get(self.normalise(url))
            return self._view(m) if m is not None else None

    def job(self, job_id: int) -> JobProgress | None:
        with self._lock:
            job = self.jobs.jobs.get(job_id)
            return job.progress if job is not None else None

    def stream(self, url: str) -> TelemetryStream | None:
        with self._lock:
            m = self._targets.get(self.normalise(url))
            return m.stream if m is not None else None

    def summaries(self) -> list[dict[str, Any]]:
        """Per target: state, health and what it streamed (the headless demo's JSON)."""
        with self._lock:
            views = [(self._view(m), m.stream) for m in self._targets.values()]
        return [summary(v, stream) for v, stream in views]

    # ------------------------------------------------------------------- poll
    def poll(self) -> TargetsUpdate:
        with self._lock:
            items = list(self._targets.values())
            changed, self._changed = self._changed, False
            views = [self._view(m) for m in items] if changed else None
            jobs = list(self.jobs.updates.values())
            self.jobs.updates.clear()
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
        info, d = m.info, m.driver
        assert d is not None  # a target has its driver from connect() on
        return TargetView(
            url=m.url,
            kind=d.kind,
            state=m.state,
            name=info.name if info else "",
            serial=info.serial if info else "",
            hw_id=info.hw_id if info else "",
            firmware=info.firmware if info else "",
            smp=d.has_slots,
            slots=m.slots,
            error=m.error,
            disconnects=d.disconnects,
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

    def _apply(self, m: _Managed, r: Reading, *fields: str, **changes: Any) -> bool:
        """Take a reading's ``fields`` (all of them by default); True when the slots
        changed (the fleet and the shadow model follow them)."""
        before = {(s.index, s.state, s.sha256) for s in m.slots}
        self._set(m, **{f: getattr(r, f) for f in fields or READING_FIELDS}, **changes)
        return {(s.index, s.state, s.sha256) for s in m.slots} != before

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
        """The target's identity and slots in the fleet record."""
        if self.journal is not None and m.info is not None:
            try:
                record_seen(self.journal.fleet, m.url, m.kind, m.info, m.slots)
            except Exception as exc:  # the journal tells the person itself; keep working
                self._event("warning", f"journal: {exc}", "journal")

    def _close_target(self, m: _Managed, wait_s: float = 2.0) -> None:
        driver = m.driver
        if driver is None:
            return
        # Wait briefly for an exchange in flight; a job still busy after that is ended
        # by closing its link under it (it fails at once instead of timing out).
        locked = m.io_lock.acquire(timeout=wait_s)
        try:
            driver.close()
        except Exception as exc:  # closing a dead port may fail; it is closed either way
            with self._lock:
                m.log.append(f"close: {exc}")
                m.log_total += 1
        finally:
            if locked:
                m.io_lock.release()

    # ---------------------------------------------------------------- slots
    def _refresh(self, m: _Managed) -> None:
        """Read the target again: Refresh, and whatever way a job ended."""
        driver = m.driver
        if driver is None or m.state != "connected":
            return
        try:
            with m.io_lock:
                reading = driver.read()
        except EdgeConsoleError as exc:
            self._event("warning", f"{m.url}: could not read it again: {exc}")
            return
        if self._apply(m, reading):
            self._seen(m)
            self._submit(self._load_shadow, m)
        self.stock.attach(m)  # Refresh: a stock device's capabilities and images again

    def _slot_change(self, m: _Managed, slots: list[SlotInfo], message: str, **fields: Any) -> None:
        self._set(m, slots=tuple(slots))
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
        self._submit(self._refresh, m)  # what else changed with them (the model it serves)
        self._submit(self._load_shadow, m)

    def _load_shadow(self, m: _Managed) -> None:
        """Load the running bundle's model for the laptop-side run (worker thread; a
        stock device runs firmware images, not bundles: no shadow model)."""
        stream = m.stream
        if stream is None or not self.shadow_enabled or self.stock.owns(m):
            return
        trust = m.trust_dir if m.trust_dir is not None else self.trust_dir
        loaded = self.shadows.load_for(stream, m.slots, m.shadow_sha, trust)
        if loaded is not None:
            self._set(m, shadow_sha=loaded[0], shadow_text=loaded[1])


def wait_for(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.02) -> bool:
    """Poll ``predicate`` until true or ``timeout_s`` (for the CLI and headless runs)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()
