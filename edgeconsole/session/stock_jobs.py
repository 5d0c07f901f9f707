"""Stock Zephyr/MCUboot devices in the session: their jobs, statistics watch and shell.

A serial device that speaks MCUmgr but not EdgeConsole's group 65 is driven by
:class:`~edgeconsole.devices.serial.stock.StockTarget`; this part of the
session gives the window what it can do with it, each a job of the
:class:`~edgeconsole.session.targets.TargetManager` (one at a time per
device, progress and the outcome through ``poll()``, every step in the audit
journal through :class:`~edgeconsole.session.stock_actions.StockActions`):
firmware upgrade (check → upload → test → reset → check → confirm), confirm,
revert, erase, files (put, get, a bundle's model placed at a path), shell
commands (their output kept as a transcript and journaled), and a statistics
watch that reads every group once a second while the window shows it.

What the device can do is read once at connect (``StockTarget.capabilities``)
and shown as :class:`StockView` in the target's view, with the reason for
every feature it lacks.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeconsole.core.clock import wall_iso
from edgeconsole.core.errors import Cancelled, ConfigError, DeviceError, EdgeConsoleError
from edgeconsole.devices.target import FlashProgress

if TYPE_CHECKING:
    # The serial stack (smpclient, pyserial) is imported when a device is connected,
    # not when the window starts.
    from edgeconsole.devices.serial.caps import Capability
    from edgeconsole.devices.serial.images import ImageSlot
    from edgeconsole.devices.serial.stock import StockTarget
    from edgeconsole.session.stock_actions import StockActions
    from edgeconsole.session.target_jobs import _Job
    from edgeconsole.session.target_views import _Managed
    from edgeconsole.session.targets import TargetManager

#: How often a watched device's statistics are read.
STATS_EVERY_S = 1.0
STATS_HISTORY = 300
SHELL_HISTORY = 200
#: Upgrade phases during which Cancel is honoured (the device's running image is untouched).
CANCELLABLE = frozenset({"check-image", "upload", "verify"})


@dataclass(frozen=True)
class ShellEntry:
    command: str
    output: str
    ret: int | None  # None: it failed (see ``error``)
    error: str = ""
    at: str = ""


@dataclass(frozen=True)
class StockView:
    """What the window shows of a stock device beside the common fields."""

    capabilities: tuple[Capability, ...] = ()
    board: str = ""
    os_info: str = ""
    bootloader: str = ""
    mode: str = ""
    can_revert: bool | None = None
    no_downgrade: bool | None = None
    groups: tuple[str, ...] = ()
    source: str = ""
    images: tuple[ImageSlot, ...] = ()
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    #: (seconds since the watch began, {"group.field": value}) newest last.
    stats_history: tuple[tuple[float, dict[str, float]], ...] = ()
    stats_error: str = ""
    watching: bool = False
    shell: tuple[ShellEntry, ...] = ()

    def has(self, key: str) -> bool:
        return any(c.key == key and c.available for c in self.capabilities)

    def why_not(self, key: str) -> str:
        cap = next((c for c in self.capabilities if c.key == key), None)
        return "" if cap is None or cap.available else cap.reason

    @property
    def running(self) -> ImageSlot | None:
        return next((s for s in self.images if s.active), None)

    @property
    def spare(self) -> ImageSlot | None:
        return next((s for s in self.images if s.slot == 1), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "capabilities": [c.to_json() for c in self.capabilities],
            "board": self.board,
            "bootloader": self.bootloader,
            "mode": self.mode,
            "images": [s.to_json() for s in self.images],
            "stats": self.stats,
        }


class _State:
    """The mutable per-device part (guarded by the manager's lock)."""

    def __init__(self) -> None:
        self.view = StockView()
        self.history: deque[tuple[float, dict[str, float]]] = deque(maxlen=STATS_HISTORY)
        self.shell: deque[ShellEntry] = deque(maxlen=SHELL_HISTORY)
        self.watching = False
        self.watch_t0 = 0.0
        self.next_stats = 0.0
        self.reading = False


class StockJobs:
    def __init__(self, manager: TargetManager) -> None:
        self.mgr = manager
        self._states: dict[str, _State] = {}

    # -- hooks the manager calls ----------------------------------------------------------
    def owns(self, m: _Managed) -> bool:
        return _device(m) is not None

    def attach(self, m: _Managed) -> None:
        """After a connect or reconnect (worker thread, io_lock not held)."""
        target = _device(m)
        if target is None:
            self._states.pop(m.url, None)
            return
        state = self._states.setdefault(m.url, _State())
        caps = target.capabilities()
        with m.io_lock:
            images = tuple(target.images()) if caps.has("image.list") else ()
        state.view = StockView(
            capabilities=caps.items,
            board=caps.board,
            os_info=caps.os_info,
            bootloader=caps.bootloader,
            mode=caps.mode_name,
            can_revert=caps.can_revert,
            no_downgrade=caps.no_downgrade,
            groups=tuple(caps.to_json()["groups"].values()),
            source=caps.source,
            images=images,
        )
        self.mgr._set(m)

    def view(self, m: _Managed) -> StockView | None:
        state = self._states.get(m.url)
        if state is None or not self.owns(m):
            return None
        v = state.view
        return StockView(
            **{
                **v.__dict__,
                "stats_history": tuple(state.history),
                "watching": state.watching,
                "shell": tuple(state.shell),
            }
        )

    def tick(self, m: _Managed, now: float) -> None:
        """From the pump: read the statistics of a watched device when they are due."""
        state = self._states.get(m.url)
        if (
            state is None
            or not state.watching
            or state.reading
            or now < state.next_stats
            or m.job is not None
            or m.state != "connected"
            or not self.owns(m)
        ):
            return
        state.reading = True
        state.next_stats = now + STATS_EVERY_S
        try:
            self.mgr._submit(self._read_stats, m, state)
        except ConfigError:
            state.reading = False

    # -- commands (each returns at once; a job id where there is a job) --------------------
    def _stock(self, url: str) -> _Managed:
        m = self.mgr._require(url)
        if not self.owns(m):
            raise DeviceError(
                "not a stock MCUmgr device (it runs EdgeConsole's firmware, or is not connected)",
                subject=m.url,
                hint="flash bundles to it with Flash…",
            )
        return m

    def _start(
        self, url: str, kind: str, work: Any, *, label: str = "", cancellable: bool = False
    ) -> int:
        m = self._stock(url)
        job = self.mgr.jobs.new(m, kind, bundle=label, cancellable=cancellable)
        self.mgr._submit(self._run, m, job, work)
        return job.progress.job_id

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
    ) -> int:
        """Check, upload, test, reset, check and (``mode="confirm"``) confirm an image.
        ``permanent`` installs it without a revert: the window asks the person first."""
        from edgeconsole.session.stock_actions import image_policy

        image = Path(path)
        if mode not in ("test", "confirm"):
            raise ConfigError(f"unknown firmware mode {mode!r}", hint="test or confirm")
        policy = image_policy(
            [Path(k) for k in keys], allow_unsigned=allow_unsigned, allow_downgrade=allow_downgrade
        )

        def work(act: StockActions, progress: Any) -> str:
            r = act.upgrade(
                image,
                policy,
                mode=mode,  # type: ignore[arg-type]
                permanent=permanent,
                progress=progress,
                reset_timeout_s=reset_timeout_s,
            )
            what = {"confirmed": "confirmed", "on-test": "on test", "permanent": "permanent"}
            return f"{r.previous} → {r.version}: {what[r.outcome]}"

        return self._start(url, "firmware", work, label=image.name, cancellable=True)

    def confirm_image(self, url: str) -> int:
        def work(act: StockActions, progress: Any) -> str:
            images = act.confirm()
            running = next((s for s in images if s.active), None)
            return f"{running.version if running else '?'} confirmed"

        return self._start(url, "confirm", work)

    def revert(self, url: str) -> int:
        def work(act: StockActions, progress: Any) -> str:
            images = act.revert()
            running = next((s for s in images if s.active), None)
            return f"reverted: {running.version if running else '?'} runs"

        return self._start(url, "revert", work)

    def erase(self, url: str) -> int:
        def work(act: StockActions, progress: Any) -> str:
            act.erase()
            return "slot 1 erased"

        return self._start(url, "erase", work)

    def put_file(self, url: str, local: str | Path, remote: str) -> int:
        src = Path(local)

        def work(act: StockActions, progress: Any) -> str:
            r = act.put(src, remote, progress)
            proof = f"{r.device_hash.kind} matches" if r.device_hash else "read back"
            return f"{src.name} → {remote} ({r.size} B, {proof})"

        return self._start(url, "file", work, label=src.name, cancellable=True)

    def get_file(self, url: str, remote: str, dest: str | Path) -> int:
        out = Path(dest)

        def work(act: StockActions, progress: Any) -> str:
            r = act.get(remote, out, progress)
            return f"{remote} → {out} ({r.size} B)"

        return self._start(url, "file", work, label=Path(remote).name, cancellable=True)

    def place_model(self, url: str, bundle: str | Path, remote: str) -> int:
        src = Path(bundle)
        trust = self.mgr.trust_dir

        def work(act: StockActions, progress: Any) -> str:
            p = act.place_model(src, remote, trust_dir=trust, progress=progress)
            return f"{p.bundle} model → {remote} (before {p.before[:20]}, after {p.after[:20]})"

        return self._start(url, "file", work, label=src.name, cancellable=True)

    def shell(self, url: str, command: str | list[str], timeout_s: float = 10.0) -> int:
        argv = command.split() if isinstance(command, str) else list(command)
        if not argv:
            raise ConfigError("type a command first")
        m = self._stock(url)
        text = " ".join(argv)

        def work(act: StockActions, progress: Any) -> str:
            state = self._states[m.url]
            try:
                out, ret = act.shell(argv, timeout_s)
            except EdgeConsoleError as exc:
                state.shell.append(ShellEntry(text, "", None, exc.one_line(), wall_iso()))
                raise
            state.shell.append(ShellEntry(text, out, ret, "", wall_iso()))
            return f"$ {text} → {ret}"

        job = self.mgr.jobs.new(m, "shell", bundle=text)
        self.mgr._submit(self._run, m, job, work)
        return job.progress.job_id

    def watch_stats(self, url: str, on: bool) -> None:
        m = self._stock(url)
        state = self._states.setdefault(m.url, _State())
        if on and not state.watching:
            state.history.clear()
            state.watch_t0 = time.monotonic()
            state.next_stats = 0.0
        state.watching = on
        self.mgr._set(m)

    def refresh(self, url: str) -> None:
        m = self._stock(url)
        self.mgr._submit(self.attach, m)

    # -- workers --------------------------------------------------------------------------
    def _run(self, m: _Managed, job: _Job, work: Any) -> None:
        from edgeconsole.session.stock_actions import StockActions

        mgr = self.mgr

        def audit(kind: str, level: str, message: str, **fields: Any) -> None:
            mgr._audit(kind, level, m, message, **fields)  # type: ignore[arg-type]

        def progress(p: FlashProgress) -> None:
            if job.cancel.is_set() and job.progress.cancellable:
                raise Cancelled(f"{job.progress.kind} cancelled", subject=m.url)
            cancellable = job.progress.cancellable and p.phase in CANCELLABLE | {"verify"}
            mgr.jobs.report(job, p, cancellable=cancellable)

        try:
            with m.io_lock:
                target = _device(m)
                if target is None:
                    raise DeviceError("not a stock MCUmgr device any more", subject=m.url)
                message = work(StockActions(target, audit), progress)
        except Cancelled:
            mgr.jobs.end(m, job, "cancelled", "cancelled: the device's running image is unchanged")
        except EdgeConsoleError as exc:
            mgr.jobs.end(m, job, "failed", str(exc))
        else:
            mgr.jobs.end(m, job, "done", message)
        if m.state == "connected":
            self.reread(m)

    def reread(self, m: _Managed) -> None:
        """Images and slots after a job: the view shows what the device says now."""
        target = _device(m)
        state = self._states.get(m.url)
        if target is None or state is None:
            return
        try:
            with m.io_lock:
                images = tuple(target.images())
                slots = tuple(target.slots())
        except EdgeConsoleError:
            return
        state.view = StockView(**{**state.view.__dict__, "images": images})
        running = next((s for s in images if s.active), None)
        info = m.info
        if info is not None and running is not None and info.firmware != running.version:
            from dataclasses import replace

            info = replace(info, firmware=running.version)
        self.mgr._set(m, slots=slots, info=info)
        self.mgr._seen(m)

    def _read_stats(self, m: _Managed, state: _State) -> None:
        target = _device(m)
        try:
            if target is None or not m.io_lock.acquire(timeout=0.5):
                return
            try:
                stats = target.stats()
                error = ""
            except EdgeConsoleError as exc:
                stats, error = state.view.stats, exc.one_line()
            finally:
                m.io_lock.release()
            t = time.monotonic() - state.watch_t0
            flat = {f"{g}.{k}": float(v) for g, fields in stats.items() for k, v in fields.items()}
            if not error:
                state.history.append((t, flat))
            state.view = StockView(**{**state.view.__dict__, "stats": stats, "stats_error": error})
            self.mgr._set(m)
        finally:
            state.reading = False


def _device(m: _Managed) -> StockTarget | None:
    """The stock MCUmgr device behind a serial driver (None for any other target)."""
    from edgeconsole.devices.serial.driver import SerialDriver

    return m.driver.stock if isinstance(m.driver, SerialDriver) else None
