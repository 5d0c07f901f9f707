"""What every frame source shares: naming, state, frame numbering, pacing, closing."""

from __future__ import annotations

import threading
from typing import Any, Literal

import numpy as np

from edgeconsole.core.clock import now_ns
from edgeconsole.core.frames import Frame

SourceState = Literal["closed", "open", "reconnecting", "ended"]


class SourceBase:
    """Common state of a source. Subclasses implement ``_open`` and ``_read_frame``.

    ``read`` on a source that was never opened opens it first, so a caller may
    skip ``open``; ``read`` after ``close`` returns None. ``close`` sets an event
    that every wait inside a source watches, so it unblocks pacing and
    reconnect back-off at once.
    """

    kind: str = "source"

    def __init__(self, name: str) -> None:
        self.name = name
        self.state: SourceState = "closed"
        self.reconnects = 0
        self._next_index = 0
        self._closed = threading.Event()
        self._opened_once = False
        self._lifecycle = threading.Lock()

    # -- FrameSource -----------------------------------------------------
    def open(self) -> None:
        """Open the source; a second call on an open source does nothing."""
        with self._lifecycle:
            if self._opened_once:
                return
            self._closed.clear()
            self._open()
            self._opened_once = True
            self.state = "open"

    def read(self) -> Frame | None:
        if not self._opened_once and not self._closed.is_set():
            self.open()
        if self._closed.is_set() or self.state == "ended":
            return None
        return self._read_frame()

    def close(self) -> None:
        self._closed.set()
        self._close()
        self.state = "closed"

    @property
    def nominal_fps(self) -> float | None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name}

    def __enter__(self) -> SourceBase:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- for subclasses ----------------------------------------------------
    def _open(self) -> None:
        raise NotImplementedError

    def _read_frame(self) -> Frame | None:
        raise NotImplementedError

    def _close(self) -> None:
        """Release resources; must be safe from another thread and idempotent."""

    @property
    def closing(self) -> bool:
        return self._closed.is_set()

    def _wait(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True when the source was closed meanwhile."""
        if seconds <= 0:
            return self._closed.is_set()
        return self._closed.wait(seconds)

    def _make_frame(
        self,
        image: np.ndarray,
        *,
        started_ns: int | None,
        captured_ns: int | None = None,
        truth: dict[str, Any] | None = None,
    ) -> Frame:
        frame = Frame(
            index=self._next_index,
            image=image,
            captured_ns=now_ns() if captured_ns is None else captured_ns,
            source=self.name,
            capture_started_ns=started_ns,
            truth=truth,
        )
        self._next_index += 1
        return frame


class Pacer:
    """Hands out frame slots at a fixed rate on an absolute schedule.

    Scheduling against the start time (not the previous frame) keeps the
    average rate exact; when the consumer falls more than a frame behind, the
    schedule restarts instead of bursting to catch up, as a camera would drop.
    """

    def __init__(self, fps: float) -> None:
        self.period_ns = int(1e9 / fps) if fps > 0 else 0
        self._t0: int | None = None
        self._n = 0

    def reset(self) -> None:
        self._t0 = None
        self._n = 0

    def delay_s(self) -> float:
        """Seconds to wait before the next frame is due (0 when it is due)."""
        if self.period_ns == 0:
            return 0.0
        now = now_ns()
        if self._t0 is None:
            self._t0 = now
            self._n = 0
        due = self._t0 + self._n * self.period_ns
        if now - due > self.period_ns:
            self._t0 = now
            self._n = 0
            due = now
        self._n += 1
        return max(0.0, (due - now) / 1e9)


def ensure_bgr(image: np.ndarray) -> np.ndarray:
    """Make a decoded image H x W x 3 uint8 BGR (grey and BGRA inputs occur)."""
    import cv2

    if image.dtype != np.uint8:
        # 16-bit PNGs and the like: scale to 8 bits rather than wrap around.
        info_max = float(np.iinfo(image.dtype).max) if image.dtype.kind in "ui" else 1.0
        image = np.clip(image.astype(np.float32) * (255.0 / info_max), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return image
