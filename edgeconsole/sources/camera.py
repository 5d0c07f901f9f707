"""USB cameras by index (OpenCV V4L2), and a probe of /dev/video* that holds nothing open."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import struct
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError, SourceOpenError
from edgeconsole.sources._live import FrameReader, LiveSourceBase, ReconnectPolicy

DEV_DIR = Path("/dev")
SYS_DIR = Path("/sys/class/video4linux")

# struct v4l2_capability: driver[16] card[32] bus_info[32] version capabilities
# device_caps reserved[3] -> 104 bytes; VIDIOC_QUERYCAP = _IOR('V', 0, 104).
_CAP_STRUCT = struct.Struct("=16s32s32sIII12s")
VIDIOC_QUERYCAP = (2 << 30) | (_CAP_STRUCT.size << 16) | (ord("V") << 8) | 0
V4L2_CAP_VIDEO_CAPTURE = 0x00000001
V4L2_CAP_VIDEO_CAPTURE_MPLANE = 0x00001000
V4L2_CAP_DEVICE_CAPS = 0x80000000


def parse_querycap(raw: bytes) -> dict[str, Any]:
    """Decode a VIDIOC_QUERYCAP answer into name, driver, bus and capture flag."""
    if len(raw) < _CAP_STRUCT.size:
        raise ValueError(f"v4l2_capability needs {_CAP_STRUCT.size} bytes, got {len(raw)}")
    driver, card, bus, _version, caps, device_caps, _ = _CAP_STRUCT.unpack_from(raw)
    # device_caps describes this node; capabilities the whole device (UVC
    # cameras expose a capture node and a metadata node).
    effective = device_caps if caps & V4L2_CAP_DEVICE_CAPS else caps
    return {
        "name": card.split(b"\0", 1)[0].decode("utf-8", "replace"),
        "driver": driver.split(b"\0", 1)[0].decode("utf-8", "replace"),
        "bus": bus.split(b"\0", 1)[0].decode("utf-8", "replace"),
        "capture": bool(effective & (V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_CAPTURE_MPLANE)),
    }


def _video_nodes(dev_dir: Path) -> list[tuple[int, Path]]:
    nodes = []
    for p in dev_dir.glob("video*"):
        m = re.fullmatch(r"video(\d+)", p.name)
        if m:
            nodes.append((int(m.group(1)), p))
    return sorted(nodes)


def list_cameras(dev_dir: Path = DEV_DIR, sys_dir: Path = SYS_DIR) -> list[dict[str, Any]]:
    """Every /dev/videoN with what V4L2 says about it; nothing stays open.

    Each entry: index, path, name, driver, bus, capture (True for a node that
    delivers frames; None when it could not be queried) and error (why not).
    """
    out: list[dict[str, Any]] = []
    for index, path in _video_nodes(dev_dir):
        entry: dict[str, Any] = {
            "index": index,
            "path": str(path),
            "name": None,
            "driver": None,
            "bus": None,
            "capture": None,
            "error": None,
        }
        try:
            entry["name"] = (sys_dir / path.name / "name").read_text().strip() or None
        except OSError:
            pass
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            entry["error"] = exc.strerror or str(exc)
            out.append(entry)
            continue
        try:
            buf = bytearray(_CAP_STRUCT.size)
            fcntl.ioctl(fd, VIDIOC_QUERYCAP, buf, True)
            info = parse_querycap(bytes(buf))
            entry.update({k: v for k, v in info.items() if v or k == "capture"})
        except OSError as exc:
            entry["error"] = (
                "not a V4L2 device" if exc.errno in (errno.ENOTTY, errno.EINVAL) else exc.strerror
            )
        finally:
            os.close(fd)
        out.append(entry)
    return out


class CameraSource(LiveSourceBase):
    """A USB camera by index; reconnects with back-off when it drops."""

    kind = "camera"

    def __init__(
        self,
        index: int,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        *,
        policy: ReconnectPolicy | None = None,
        name: str | None = None,
        dev_dir: Path = DEV_DIR,
    ) -> None:
        if index < 0 or index > 4095:
            raise ConfigError(f"camera index {index} out of range", hint="use 0..4095")
        for label, value in (("width", width), ("height", height)):
            if value is not None and not (1 <= value <= 16384):
                raise ConfigError(f"camera {label} {value} out of range", subject=f"camera {index}")
        if fps is not None and not (0 < fps <= 1000):
            raise ConfigError(f"camera fps {fps} out of range", subject=f"camera {index}")
        super().__init__(name or f"camera {index}", policy)
        self.index = index
        self.req_width, self.req_height, self.req_fps = width, height, fps
        self.dev_dir = dev_dir
        self._fps: float | None = fps

    @property
    def nominal_fps(self) -> float | None:
        return self._fps

    @property
    def device_path(self) -> Path:
        return self.dev_dir / f"video{self.index}"

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "index": self.index,
            "path": str(self.device_path),
            "width": self.width or self.req_width,
            "height": self.height or self.req_height,
            "fps": self._fps,
            "frames": None,
            "state": self.state,
            "reconnects": self.reconnects,
        }

    def _absent(self, what: str) -> SourceOpenError:
        present = [str(p) for _, p in _video_nodes(self.dev_dir)]
        listing = ", ".join(present) if present else "none"
        return SourceOpenError(
            what,
            subject=f"camera {self.index} ({self.device_path})",
            hint=f"video devices present: {listing}; plug the camera in or pick another index",
        )

    def _connect(self) -> FrameReader:
        # OpenCV loads with the first camera opened, not with the camera list (the
        # window lists cameras right after its first paint).
        import cv2

        from edgeconsole.sources._opencv_reader import OpenCvReader

        if not self.device_path.exists():
            raise self._absent(f"no camera at index {self.index}")
        cap = cv2.VideoCapture(self.index, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise self._absent(
                f"camera at index {self.index} cannot be opened (busy or not a camera)"
            )
        if self.req_width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.req_width)
        if self.req_height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.req_height)
        if self.req_fps:
            cap.set(cv2.CAP_PROP_FPS, self.req_fps)
        reader = OpenCvReader(cap, f"camera {self.index}")
        reader.frame_count = None  # a camera never ends by itself
        if not reader.prime():
            reader.close()
            raise self._absent(f"camera at index {self.index} opened but delivered no frame")
        self._fps = reader.fps or self.req_fps
        return reader
