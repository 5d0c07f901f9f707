"""Frames from a video file on disk, decoded by OpenCV's FFmpeg backend."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import SourceOpenError
from edgeconsole.core.frames import Frame
from edgeconsole.sources._base import Pacer, SourceBase, ensure_bgr
from edgeconsole.sources._capture import CaptureHandle

log = logging.getLogger(__name__)

#: Used when a container does not say its frame rate (or says nonsense).
FALLBACK_FPS = 30.0

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


class VideoFileSource(SourceBase):
    """Reads a video file.

    ``realtime=True`` delivers frames at the file's frame rate, as a camera
    would; ``realtime=False`` decodes as fast as possible (benchmarks, batch
    runs). ``loop=True`` starts again at the first frame after the last one.
    A file that ends before its header's frame count (truncated) ends cleanly
    and leaves a note in ``warnings``.
    """

    kind = "file"

    def __init__(
        self,
        path: str | Path,
        *,
        realtime: bool = True,
        loop: bool = False,
        name: str | None = None,
    ) -> None:
        self.path = Path(path)
        super().__init__(name or self.path.name)
        self.realtime = realtime
        self.loop = loop
        self.width = 0
        self.height = 0
        self.frame_count: int | None = None
        self.warnings: list[str] = []
        #: The file ended before the frames it announced: the run saw only part of it.
        self.incomplete = False
        self._fps = FALLBACK_FPS
        self._cap: CaptureHandle | None = None
        self._pending: tuple[np.ndarray, int] | None = None
        self._pass_frames = 0
        self._pacer = Pacer(FALLBACK_FPS)

    @property
    def nominal_fps(self) -> float | None:
        return self._fps

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": str(self.path),
            "width": self.width,
            "height": self.height,
            "fps": self._fps,
            "frames": self.frame_count,
            "realtime": self.realtime,
            "loop": self.loop,
        }

    def _open(self) -> None:
        subject = str(self.path)
        if not self.path.exists():
            raise SourceOpenError(
                "video file not found",
                subject=subject,
                hint="check the path, or pick an existing .mp4/.avi/.mkv file",
            )
        if self.path.is_dir():
            raise SourceOpenError(
                "is a folder, not a video file",
                subject=subject,
                hint="open it as an image folder source instead",
            )
        self._cap = self._open_capture()
        meta = self._cap
        fps = meta.get(cv2.CAP_PROP_FPS)
        if not math.isfinite(fps) or fps <= 0 or fps > 1000:
            self.warnings.append(f"file does not state a usable frame rate; using {FALLBACK_FPS:g}")
            fps = FALLBACK_FPS
        self._fps = float(fps)
        count = int(meta.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 else None
        self._pacer = Pacer(self._fps)
        first = self._decode_first()
        self.height, self.width = first[0].shape[:2]
        self._pending = first

    def _open_capture(self) -> CaptureHandle:
        subject = str(self.path)
        try:
            # FFmpeg explicitly: the default order would let the image-sequence
            # backend "open" a lone PNG or a printf-style pattern as a video.
            cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        except cv2.error as exc:  # pragma: no cover - OpenCV rarely throws here
            raise SourceOpenError(
                f"OpenCV failed to open the file: {exc}", subject=subject
            ) from exc
        if not cap.isOpened():
            raise SourceOpenError(
                "not a video file OpenCV can decode (unknown format or corrupt header)",
                subject=subject,
                hint="re-export it as MJPG .avi or mp4v .mp4, or check the file is complete",
            )
        return CaptureHandle(cap)

    def _decode_first(self) -> tuple[np.ndarray, int]:
        assert self._cap is not None
        started = now_ns()
        ok, image = self._cap.read()
        if not ok or image is None:
            self._cap.release()
            raise SourceOpenError(
                "the file opened but no frame could be decoded (corrupt or truncated)",
                subject=str(self.path),
                hint="check the file plays in a media player, or re-export it",
            )
        return ensure_bgr(image), now_ns() - started

    def _read_frame(self) -> Frame | None:
        if self.realtime and self._wait(self._pacer.delay_s()):
            return None
        if self._pending is not None:
            first, decode_ns = self._pending
            self._pending = None
            self._pass_frames += 1
            now = now_ns()
            return self._make_frame(first, started_ns=now - decode_ns, captured_ns=now)
        started = now_ns()
        image = self._next_image()
        if image is None:
            return None
        return self._make_frame(image, started_ns=started)

    def _next_image(self) -> np.ndarray | None:
        cap = self._cap
        if cap is None or self.closing:
            return None
        ok, image = cap.read()
        if ok and image is not None:
            self._pass_frames += 1
            return ensure_bgr(image)
        if self.closing:
            return None
        self._note_short_file()
        if self.loop and self._pass_frames > 0:
            cap.release()
            self._pass_frames = 0
            self._cap = self._open_capture()
            ok, image = self._cap.read()
            if ok and image is not None:
                self._pass_frames += 1
                return ensure_bgr(image)
        self.state = "ended"
        return None

    def _note_short_file(self) -> None:
        if self.frame_count is not None and self._pass_frames < self.frame_count:
            note = (
                f"ended after {self._pass_frames} of {self.frame_count} frames "
                "(file truncated or damaged)"
            )
            self.incomplete = True
            if note not in self.warnings:
                self.warnings.append(note)
                log.warning("%s: %s", self.path, note)

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
