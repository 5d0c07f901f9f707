"""A FrameReader over cv2.VideoCapture (cameras, RTSP, video URLs)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from edgeconsole.sources._capture import CaptureHandle
from edgeconsole.sources._live import Dropped


class OpenCvReader:
    """Reads a capture; a failed read is a drop unless a finite file is done.

    ``frame_count`` > 0 marks finite media (a video file behind a URL): reading
    past it is the natural end, not a drop.
    """

    def __init__(self, cap: cv2.VideoCapture, what: str) -> None:
        self._handle = CaptureHandle(cap)
        self._what = what
        self.delivered = 0
        count = self._handle.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count = int(count) if math.isfinite(count) and count > 0 else None
        fps = self._handle.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if math.isfinite(fps) and 0 < fps <= 1000 else None
        self._first: np.ndarray | None = None

    def prime(self) -> bool:
        """Read one frame now (to prove the connection works); False if none came."""
        ok, image = self._handle.read()
        if not ok or image is None:
            return False
        self._first = image
        return True

    def read(self) -> np.ndarray | None:
        first = self._first
        if first is not None:
            self._first = None
            self.delivered += 1
            return first
        ok, image = self._handle.read()
        if ok and image is not None:
            self.delivered += 1
            return image
        if self.frame_count is not None and self.delivered >= self.frame_count:
            return None
        raise Dropped(f"{self._what} stopped delivering frames")

    def close(self) -> None:
        self._handle.release()
