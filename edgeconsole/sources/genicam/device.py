"""What a camera backend offers: identity, features, acquisition and stream statistics.

``CameraDevice`` is the contract the Aravis and pylon backends keep;
``FeatureAccess`` implements feature reading and setting once on top of the two
primitives a backend provides (``_facts`` and ``_write``), so both backends refuse
values with the same sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:  # annotations only: the window paints before numpy loads
    import numpy as np

from edgeconsole.core.errors import CameraFeatureError
from edgeconsole.sources.genicam.features import (
    STANDARD_FEATURES,
    FeatureInfo,
    NodeFacts,
    Value,
    candidates,
    check_name,
    missing,
    parse_value,
    refused,
)

Backend = Literal["aravis", "pylon"]


@dataclass(frozen=True, slots=True)
class CameraInfo:
    """One camera as discovery and the source name it."""

    backend: Backend
    device_id: str  # what the source URL takes: Aravis device id / pylon serial
    vendor: str
    model: str
    serial: str
    address: str  # IP address, USB bus id, "" when none
    interface: str  # "GigEVision", "USB3Vision", "BaslerGigE", "BaslerCamEmu", ...

    @property
    def source(self) -> str:
        return f"{self.backend}://{self.device_id}"

    @property
    def label(self) -> str:
        return f"{self.vendor} {self.model} ({self.serial})".strip()

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "source": self.source,
            "device_id": self.device_id,
            "vendor": self.vendor,
            "model": self.model,
            "serial": self.serial,
            "address": self.address,
            "interface": self.interface,
        }


@dataclass(slots=True)
class StreamStats:
    """The link's own counters since the source opened (never reset by a reconnect)."""

    completed: int = 0  # buffers delivered complete
    incomplete: int = 0  # buffers with missing packets: counted, never judged
    dropped_buffers: int = 0  # the driver had no free buffer (underrun) or gave up on one
    missing_packets: int = 0
    resent_packets: int = 0
    resend_requests: int = 0
    received_packets: int = 0
    timeouts: int = 0
    #: Frames the camera numbered but we never saw (gaps in the frame id).
    missing_frames: int = 0

    def add(self, other: StreamStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def copy(self) -> StreamStats:
        return StreamStats(**{k: getattr(self, k) for k in self.__dataclass_fields__})

    def to_json(self) -> dict[str, int]:
        return {k: int(getattr(self, k)) for k in self.__dataclass_fields__}


GrabStatus = Literal["ok", "incomplete", "failed"]


@dataclass(slots=True)
class RawFrame:
    """One buffer from the camera, before conversion to BGR."""

    data: np.ndarray  # as delivered: H x W (mono, bayer) or H x W x C (packed colour)
    pixel_format: str
    frame_id: int
    #: The camera's own timestamp in nanoseconds of its clock (None or 0: it gave none).
    camera_ns: int | None
    #: When the buffer was complete, on our monotonic clock (core.clock.now_ns).
    arrived_ns: int
    status: GrabStatus = "ok"
    detail: str = ""
    stats_delta: StreamStats = field(default_factory=StreamStats)


#: GigE Vision 1.x block ids are 16 bits and skip 0 when they wrap.
_ID16 = 0xFFFF
#: A jump larger than this is a restart of the camera's counter, not lost frames.
_MAX_GAP = 1000


def frame_gap(last: int | None, frame_id: int) -> int:
    """Frames the camera numbered between ``last`` and ``frame_id`` that never arrived.

    Id 0 means the camera (or a buffer whose leader packet was lost) gave none; a
    16-bit id wraps from 65535 to 1; a large jump is a counter restart, not a loss."""
    if last is None or frame_id == 0 or last == 0:
        return 0
    if frame_id > last:
        gap = frame_id - last - 1
        return gap if gap <= _MAX_GAP else 0
    if last > _ID16 - _MAX_GAP and frame_id < _MAX_GAP:
        return (_ID16 - last) + (frame_id - 1)
    return 0


class CameraDevice(Protocol):
    """One open camera. ``grab`` and ``close`` may be called from different threads."""

    info: CameraInfo

    def feature(self, name: str) -> FeatureInfo: ...

    def features(self, names: tuple[str, ...] = STANDARD_FEATURES) -> list[FeatureInfo]: ...

    def set_feature(self, name: str, value: Value) -> FeatureInfo: ...

    def execute(self, name: str) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def grab(self, timeout_s: float) -> RawFrame | None:
        """The next buffer; None after ``timeout_s`` without one; raises
        ``Dropped`` (sources._live) when the camera is gone."""
        ...

    def alive(self) -> bool:
        """The control channel still answers (a register read succeeds)."""
        ...

    def latch_timestamp(self) -> int | None:
        """The camera clock now (ns), latched through the node map; None: not offered."""
        ...

    def stats(self) -> StreamStats: ...

    def close(self) -> None: ...


class FeatureAccess:
    """Feature reading and setting on top of a backend's node facts and writes."""

    info: CameraInfo

    def _facts(self, node: str) -> NodeFacts | None:
        """What the node map says about ``node``; None when the camera lacks it."""
        raise NotImplementedError

    def _write(self, facts: NodeFacts, value: Value) -> None:
        """Write ``value`` (already checked and typed) or raise with the backend's reason."""
        raise NotImplementedError

    def _run_command(self, facts: NodeFacts) -> None:
        raise NotImplementedError

    @property
    def _camera(self) -> str:
        return self.info.label

    def feature(self, name: str) -> FeatureInfo:
        name = check_name(name)
        tried = candidates(name)
        for node in tried:
            facts = self._facts(node)
            if facts is not None:
                return FeatureInfo.of(name, facts)
        raise missing(name, self._camera, tried)

    def features(self, names: tuple[str, ...] = STANDARD_FEATURES) -> list[FeatureInfo]:
        """The named features the camera has (absent ones are left out)."""
        out = []
        for name in names:
            try:
                out.append(self.feature(name))
            except CameraFeatureError:
                continue
        return out

    def set_feature(self, name: str, value: Value) -> FeatureInfo:
        info = self.feature(name)
        typed = parse_value(info, value, self._camera)
        facts = self._facts(info.node)
        if facts is None:  # vanished between the two reads (camera unplugged)
            raise missing(info.name, self._camera, (info.node,))
        try:
            self._write(facts, typed)
        except CameraFeatureError:
            raise
        except Exception as exc:  # the backend's own refusal: say it in our words
            raise refused(info, typed, self._camera, _reason(exc)) from exc
        return self.feature(info.name)

    def execute(self, name: str) -> None:
        # A software trigger runs hundreds of times a minute: after the first look-up
        # the command goes straight to the node (the camera still refuses when it
        # cannot run it, and that refusal is reported the same way).
        cached = getattr(self, "_commands", {}).get(name)
        if cached is not None:
            try:
                self._run_command(cached)
            except Exception as exc:
                self._commands.pop(name, None)
                raise CameraFeatureError(
                    f"the camera refused to run {name}: {_reason(exc)}", subject=self._camera
                ) from exc
            return
        info = self.feature(name)
        if info.kind != "command":
            raise CameraFeatureError(
                f"{info.name} is not a command; give it a value",
                subject=self._camera,
                hint=f"it accepts {info.range_text()}" if info.range_text() else None,
            )
        facts = self._facts(info.node)
        if facts is None:
            raise missing(info.name, self._camera, (info.node,))
        if not facts.writable:
            raise CameraFeatureError(
                f"{info.name} cannot run now (the camera reports it unavailable)",
                subject=self._camera,
                hint="for TriggerSoftware: TriggerMode On, TriggerSource Software, "
                "and the acquisition started",
            )
        try:
            self._run_command(facts)
        except Exception as exc:
            raise CameraFeatureError(
                f"the camera refused to run {info.name}: {_reason(exc)}", subject=self._camera
            ) from exc
        if not hasattr(self, "_commands"):
            self._commands: dict[str, NodeFacts] = {}
        self._commands[name] = facts


def _reason(exc: BaseException) -> str:
    """The backend's message without its stack of prefixes and file names."""
    text = str(getattr(exc, "message", None) or exc).strip().splitlines()[0] if str(exc) else ""
    for cut in (" : RuntimeException", " (file '", "; in file"):
        if cut in text:
            text = text.split(cut)[0]
    return text[:200] or type(exc).__name__
