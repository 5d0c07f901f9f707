"""Camera setup for the CLI and the window: discover, read, set, save, load.

A feature is read or set on the device the live pipeline already has open when
it runs this camera (opening it a second time would be refused: a GigE camera
has one controller), else on a connection opened for the one operation and
closed after it. The window calls these from a worker thread (``CameraSetupJob``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import CameraFeatureError, ConfigError, EdgeConsoleError
from edgeconsole.sources.factory import parse_spec
from edgeconsole.sources.genicam.device import CameraDevice
from edgeconsole.sources.genicam.features import STANDARD_FEATURES, FeatureInfo, Value

#: Finds an open device for (backend, device id) in the running pipeline, or None.
LiveDeviceLookup = Callable[[str, str], CameraDevice | None]


def camera_target(spec: str) -> tuple[str, str]:
    """(backend, device id) of an ``aravis://`` or ``pylon://`` spec; ConfigError otherwise."""
    parsed = parse_spec(spec)
    if parsed.kind != "industrial":
        raise ConfigError(
            f"{spec!r} is not an industrial camera",
            subject="camera setup",
            hint="use aravis://DEVICE_ID or pylon://SERIAL (`edgeconsole cameras` lists them)",
        )
    backend, _, ident = parsed.target.partition("://")
    return backend, ident


def live_camera_device(source: Any, backend: str, ident: str) -> CameraDevice | None:
    """The open device of a running industrial source when it is the camera asked for."""
    from edgeconsole.sources.genicam.source import IndustrialCameraSource

    if not isinstance(source, IndustrialCameraSource) or source.backend != backend:
        return None
    info = source.camera_info or {}
    names = {source.device_id, info.get("device_id"), info.get("serial"), info.get("address")}
    if ident and ident not in names:
        return None
    return source.device


@contextlib.contextmanager
def camera_device(spec: str, live: LiveDeviceLookup | None = None) -> Iterator[CameraDevice]:
    backend, ident = camera_target(spec)
    shared = live(backend, ident) if live is not None else None
    if shared is not None:
        yield shared
        return
    from edgeconsole.sources.genicam.source import open_device

    device = open_device("pylon" if backend == "pylon" else "aravis", ident)
    try:
        yield device
    finally:
        device.close()


def discover_cameras(*, emulators: bool = False) -> dict[str, Any]:
    from edgeconsole.sources.genicam.discovery import discover

    return discover(emulators=emulators)


def read_features(
    spec: str, names: tuple[str, ...] = STANDARD_FEATURES, live: LiveDeviceLookup | None = None
) -> tuple[dict[str, Any], list[FeatureInfo]]:
    """(camera identity, features); a single missing name raises CameraFeatureError."""
    with camera_device(spec, live) as dev:
        infos = [dev.feature(names[0])] if len(names) == 1 else dev.features(names)
        return dev.info.to_json(), infos


def set_feature(
    spec: str, name: str, value: Value | None, live: LiveDeviceLookup | None = None
) -> FeatureInfo:
    """Set ``name`` to ``value``, or run it when it is a command and ``value`` is None."""
    with camera_device(spec, live) as dev:
        if value is None:
            info = dev.feature(name)
            if info.kind != "command":
                raise ConfigError(
                    f"{info.name} needs a value",
                    subject=dev.info.label,
                    hint=f"it accepts {info.range_text()}" if info.range_text() else None,
                )
            dev.execute(name)
            return info
        return dev.set_feature(name, value)


def write_emulator_frames(spec: str, folder: Path, frames: int) -> Path:
    """``frames`` frames of ``spec`` as the folder of images the pylon emulator plays
    (``pylon://0815-0000?images=FOLDER``)."""
    from edgeconsole.sources.genicam.pylon_emu import write_frames

    return write_frames(spec, folder, frames)


def default_setup_path(spec: str) -> Path:
    """reports/camera-setup-<camera>-<UTC time>.json: evidence packs take the reports
    folder's JSON files, so the setup travels with the commissioning reports."""
    import re
    import time as _time

    from edgeconsole.journal.paths import reports_dir

    _, ident = camera_target(spec)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", ident or "first")[:64].strip("-.") or "camera"
    stamp = _time.strftime("%Y%m%dT%H%M%SZ", _time.gmtime())
    return reports_dir() / f"camera-setup-{name}-{stamp}.json"


def save_camera_setup(spec: str, path: Path, live: LiveDeviceLookup | None = None) -> Path:
    from edgeconsole.sources.genicam.setup_file import read_setup, save_setup

    with camera_device(spec, live) as dev:
        return save_setup(read_setup(dev), path)


def load_camera_setup(
    spec: str, path: Path, live: LiveDeviceLookup | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Apply a setup file; (one result per feature, a note when it came from another model)."""
    from edgeconsole.sources.genicam.setup_file import apply_setup, camera_mismatch, load_setup

    setup = load_setup(path)
    with camera_device(spec, live) as dev:
        return apply_setup(dev, setup, strict=False), camera_mismatch(setup, dev)


@dataclass
class CameraSetupResult:
    op: str
    ok: bool
    camera: dict[str, Any] | None = None
    features: list[FeatureInfo] = field(default_factory=list)
    applied: list[dict[str, Any]] = field(default_factory=list)
    found: dict[str, Any] | None = None  # discover: cameras, searched, notes
    message: str = ""
    done: list[str] = field(default_factory=list)  # what the camera took ("Width = 640 px")
    refused: list[str] = field(default_factory=list)  # one sentence per refusal
    #: The operation has not ended yet: this only says how long it has been waiting.
    waiting: bool = False


class CameraSetupJob:
    """Runs one setup operation at a time on a worker thread; ``poll`` hands results back
    (the window never blocks on a camera that takes a second to answer).

    Between operations the job keeps its connection to the camera (opening one costs a
    discovery, and pylon's emulator forgets its settings when closed); ``release`` lets
    go of it (the session does before the pipeline opens a camera), and so does an
    operation on another camera or ``HOLD_S`` without one.
    """

    HOLD_S = 60.0
    #: An operation still running after this long is reported (once) as waiting: a
    #: camera that stopped answering, or a driver call that hangs, must not leave the
    #: person looking at "Reading..." with no word.
    STALL_S = 20.0

    def __init__(self, live: LiveDeviceLookup | None = None) -> None:
        self._pipeline = live
        self._lock = threading.Lock()
        self._results: list[CameraSetupResult] = []
        self._thread: threading.Thread | None = None
        self._held: tuple[str, str, CameraDevice] | None = None  # backend, id, device
        self._held_at = 0.0
        self._hold_lock = threading.Lock()
        self._op = ""
        self._op_started = 0.0
        self._stall_told = False

    def _live(self, backend: str, ident: str) -> CameraDevice | None:
        """The pipeline's device for this camera, else the one this job holds (opened
        here on first use and kept)."""
        shared = self._pipeline(backend, ident) if self._pipeline is not None else None
        if shared is not None:
            return shared
        from edgeconsole.sources.genicam.source import open_device

        with self._hold_lock:
            held = self._held
            if (
                held is not None
                and (held[0], held[1]) == (backend, ident)
                and (time.monotonic() - self._held_at < self.HOLD_S)
            ):
                self._held_at = time.monotonic()
                return held[2]
            self._release_locked()
            device = open_device("pylon" if backend == "pylon" else "aravis", ident)
            self._held = (backend, ident, device)
            self._held_at = time.monotonic()
            return device

    def _release_locked(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held[2].close()

    def release(self) -> None:
        """Close the job's own connection to a camera (not the pipeline's)."""
        with self._hold_lock:
            self._release_locked()

    @property
    def busy(self) -> bool:
        t = self._thread
        return t is not None and t.is_alive()

    def _run(self, op: str, work: Callable[[], CameraSetupResult]) -> bool:
        if self.busy:
            return False

        def body() -> None:
            try:
                result = work()
            except CameraFeatureError as exc:  # a refusal: the connection is fine
                result = CameraSetupResult(op, False, message=str(exc))
            except EdgeConsoleError as exc:
                result = CameraSetupResult(op, False, message=str(exc))
                self.release()  # the camera may be gone: reopen it next time
            except Exception as exc:  # a driver bug must reach the person, not vanish
                result = CameraSetupResult(op, False, message=f"{type(exc).__name__}: {exc}")
                self.release()
            with self._lock:
                self._results.append(result)

        self._op, self._op_started, self._stall_told = op, time.monotonic(), False
        self._thread = threading.Thread(target=body, name=f"camera-{op}", daemon=True)
        self._thread.start()
        return True

    def discover(self, *, emulators: bool = False) -> bool:
        def work() -> CameraSetupResult:
            found = discover_cameras(emulators=emulators)
            n = len(found["cameras"])
            return CameraSetupResult("discover", True, found=found, message=f"found {n} camera(s)")

        return self._run("discover", work)

    def read(self, spec: str) -> bool:
        def work() -> CameraSetupResult:
            camera, infos = read_features(spec, live=self._live)
            return CameraSetupResult("read", True, camera=camera, features=infos)

        return self._run("read", work)

    def set(self, spec: str, items: list[tuple[str, Value | None]]) -> bool:
        """Set (or run, value None) each feature in order; every refusal is reported,
        the rest still applied, then the features are read back."""

        def work() -> CameraSetupResult:
            done: list[str] = []
            refused: list[str] = []
            for name, value in items:
                try:
                    info = set_feature(spec, name, value, live=self._live)
                    done.append(
                        f"{info.name} ran"
                        if value is None
                        else f"{info.name} = {info.value_text()}"
                    )
                except EdgeConsoleError as exc:
                    refused.append(exc.what)
            camera, infos = read_features(spec, live=self._live)
            text = "; ".join(done)
            if refused:
                text = (text + "; " if text else "") + "refused: " + "; ".join(refused)
            return CameraSetupResult(
                "set",
                not refused,
                camera=camera,
                features=infos,
                message=text,
                done=done,
                refused=refused,
            )

        return self._run("set", work)

    def save(self, spec: str, path: Path) -> bool:
        def work() -> CameraSetupResult:
            saved = save_camera_setup(spec, path, live=self._live)
            return CameraSetupResult("save", True, message=f"camera setup saved to {saved}")

        return self._run("save", work)

    def load(self, spec: str, path: Path) -> bool:
        def work() -> CameraSetupResult:
            applied, note = load_camera_setup(spec, path, live=self._live)
            camera, infos = read_features(spec, live=self._live)
            bad = [a for a in applied if not a["applied"]]
            text = f"applied {len(applied) - len(bad)} of {len(applied)} features from {path}"
            if bad:
                text += "; refused: " + "; ".join(a["error"] for a in bad)
            if note:
                text += f" ({note})"
            return CameraSetupResult(
                "load", not bad, camera=camera, features=infos, applied=applied, message=text
            )

        return self._run("load", work)

    def wait(self, timeout: float | None = None) -> bool:
        t = self._thread
        if t is not None:
            t.join(timeout)
        return not self.busy

    def poll(self) -> list[CameraSetupResult]:
        with self._lock:
            out, self._results = self._results, []
        waited = time.monotonic() - self._op_started
        if not out and self.busy and not self._stall_told and waited >= self.STALL_S:
            self._stall_told = True
            out.append(
                CameraSetupResult(
                    self._op,
                    False,
                    waiting=True,
                    message=f"The camera has not answered for {waited:.0f} s; still waiting. "
                    "Check its cable and power, and that no other program (a vendor viewer, "
                    "another EdgeConsole) holds it.",
                )
            )
        return out
