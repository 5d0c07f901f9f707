"""The newest frame made ready for the window's screen, off the window's thread.

Painting a 720p BGR frame into a ~1000 px live view cost the window's thread ~4 ms
per frame (a format conversion and a smooth scale; issue 15). The window tells the
session the size of its view in device pixels (``Session.set_display_area``); from
then on this thread scales each frame the window will see to the size it is shown
at and lays it out as the window's 32-bit pixels (B, G, R, 255: Qt's RGB32 on a
little-endian machine), so the window only copies it onto the screen.

Newest wins: while one frame is being prepared, a newer one replaces any that waits,
so the runners never wait for it and at most one frame is in hand. A prepared frame
reaches ``poll()`` with its result (``publish``), so frame and overlay stay together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edgeconsole.core.sched import lower_thread_priority

if TYPE_CHECKING:
    import numpy as np

#: Called with the session's lock held: (what was offered, its epoch, the pixels, or
#: None when they could not be made: the window then scales the frame itself).
Publish = Callable[[Any, int, "np.ndarray | None"], None]


def fit_size(image_w: int, image_h: int, area_w: int, area_h: int) -> tuple[int, int]:
    """The size (whole pixels) of an image fitted into the area with its aspect kept;
    (0, 0) when either is empty. The window compares its view with the same numbers."""
    if image_w <= 0 or image_h <= 0 or area_w <= 0 or area_h <= 0:
        return (0, 0)
    scale = min(area_w / image_w, area_h / image_h)
    return (max(1, round(image_w * scale)), max(1, round(image_h * scale)))


def to_display(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` (H x W x 3 BGR, H x W x 4 BGRA or H x W grey, uint8) scaled to ``size``
    (w, h) as H x W x 4 uint8 B, G, R, 255."""
    import cv2
    import numpy as np

    arr = image
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    w, h = size
    if (arr.shape[1], arr.shape[0]) != (w, h):
        # Bilinear, as the window's smooth scaling was (a 720p frame into ~1000 px:
        # 1.4 ms here; area averaging at such a ratio took 13-18 ms).
        arr = cv2.resize(arr, (w, h), interpolation=cv2.INTER_LINEAR)
    if arr.ndim == 2:
        out = cv2.cvtColor(arr, cv2.COLOR_GRAY2BGRA)
    elif arr.shape[2] == 4:
        # A copy when nothing above made one: the frame itself is not written to.
        out = arr.copy() if arr is image else np.ascontiguousarray(arr)
        out[..., 3] = 255
    else:
        out = cv2.cvtColor(arr, cv2.COLOR_BGR2BGRA)
    return out


class DisplayPrep:
    """A thread of its own that prepares the newest offered frame for the window."""

    def __init__(self, lock: threading.Lock, publish: Publish) -> None:
        self._lock = lock  # the session's: ``publish`` runs under it
        self._publish = publish
        self._cond = threading.Condition()
        self._area: tuple[int, int] | None = None
        self._pending: tuple[Any, Any, int] | None = None  # (live, image, epoch)
        self._thread: threading.Thread | None = None
        self._closed = False
        #: Frames prepared and frames replaced before their turn (for tests).
        self.prepared = 0
        self.skipped = 0

    @property
    def area(self) -> tuple[int, int] | None:
        return self._area

    def set_area(self, area: tuple[int, int] | None) -> None:
        """The window's view in device pixels; None: no window wants frames prepared."""
        with self._cond:
            self._area = area if area is not None and area[0] > 0 and area[1] > 0 else None
            if self._area is not None and self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="display-prep", daemon=True)
                self._thread.start()

    def offer(self, live: Any, image: np.ndarray, epoch: int) -> bool:
        """Prepare ``image`` for ``live``; False (nothing taken) when no window asked."""
        with self._cond:
            if self._area is None or self._closed:
                return False
            if self._pending is not None:
                self.skipped += 1
            self._pending = (live, image, epoch)
            self._cond.notify()
            return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(5.0)

    def _run(self) -> None:
        # Display work, never a result: the window's event loop comes first (issue 15).
        # Started from the window's thread, it would otherwise share its priority.
        lower_thread_priority()
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                assert self._pending is not None
                live, image, epoch = self._pending
                self._pending = None
                area = self._area
            pixels = None
            size = (0, 0) if area is None else fit_size(image.shape[1], image.shape[0], *area)
            if size != (0, 0):
                try:
                    pixels = to_display(image, size)
                except Exception:  # the window falls back to scaling the frame itself
                    pixels = None
            with self._lock:
                self._publish(live, epoch, pixels)
            self.prepared += 1
