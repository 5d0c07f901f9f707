"""A cv2.VideoCapture that another thread may release while a read is pending.

OpenCV's capture objects are not thread-safe: releasing one while another
thread is inside ``read`` can crash. Here ``release`` only marks the capture
when a read is in progress, and the reading thread releases it as soon as that
read returns.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np


class CaptureHandle:
    def __init__(self, cap: cv2.VideoCapture) -> None:
        self._cap = cap
        self._lock = threading.Lock()
        self._release_requested = False
        self._released = False

    def get(self, prop: int) -> float:
        with self._lock:
            if self._released:
                return 0.0
            return float(self._cap.get(prop))

    def read(self) -> tuple[bool, np.ndarray | None]:
        try:
            with self._lock:
                if self._release_requested or self._released:
                    return False, None
                ok, image = self._cap.read()
                return bool(ok), (image if ok else None)
        finally:
            # Checked after unlocking: a release requested while we held the
            # lock could not take it, so it is carried out here.
            if self._release_requested and not self._released:
                self.release()

    def release(self) -> None:
        self._release_requested = True
        if self._lock.acquire(blocking=False):
            try:
                if not self._released:
                    self._released = True
                    self._cap.release()
            finally:
                self._lock.release()
