"""Frames from a folder of still images, in file-name order."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import ConfigError, SourceOpenError
from edgeconsole.core.frames import Frame
from edgeconsole.sources._base import Pacer, SourceBase, ensure_bgr

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
#: Larger images are refused rather than risking memory on a hostile file.
MAX_IMAGE_BYTES = 256 * 1024 * 1024


class ImageFolderSource(SourceBase):
    """Each readable image in the folder becomes a frame, sorted by file name.

    Images that cannot be decoded are skipped; their paths collect in
    ``skipped`` and a warning is logged. Images may differ in size.
    """

    kind = "folder"

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float = 10.0,
        realtime: bool = True,
        loop: bool = False,
        name: str | None = None,
    ) -> None:
        self.path = Path(path)
        super().__init__(name or (self.path.name or str(self.path)))
        if not (0 < fps <= 1000):
            raise ConfigError(
                f"image folder fps {fps} is out of range",
                subject=str(self.path),
                hint="use an fps between 0 and 1000",
            )
        self.fps = float(fps)
        self.realtime = realtime
        self.loop = loop
        self.files: list[Path] = []
        self.skipped: list[str] = []
        self._pos = 0
        self._delivered_this_pass = 0
        self._pacer = Pacer(self.fps)

    @property
    def nominal_fps(self) -> float | None:
        return self.fps

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": str(self.path),
            "width": None,  # images may differ in size
            "height": None,
            "fps": self.fps,
            "frames": len(self.files) - len(self.skipped) if self.files else None,
            "images": len(self.files),
            "skipped": len(self.skipped),
            "realtime": self.realtime,
            "loop": self.loop,
        }

    def _open(self) -> None:
        subject = str(self.path)
        if not self.path.exists():
            raise SourceOpenError("image folder not found", subject=subject, hint="check the path")
        if not self.path.is_dir():
            raise SourceOpenError(
                "is a file, not a folder",
                subject=subject,
                hint="open a video file as a file source, or pick the folder holding the images",
            )
        try:
            entries = sorted(self.path.iterdir())
        except OSError as exc:
            raise SourceOpenError(
                f"cannot list the folder: {exc.strerror or exc}",
                subject=subject,
                hint="check the folder's permissions",
            ) from exc
        self.files = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        if not self.files:
            raise SourceOpenError(
                "folder holds no images",
                subject=subject,
                hint=f"put {', '.join(IMAGE_SUFFIXES)} files in it",
            )
        # Find the first readable image now so a folder of only broken files
        # fails at open, with the reason, instead of yielding nothing.
        first = self._advance_to_readable()
        if first is None:
            raise SourceOpenError(
                f"none of the {len(self.files)} images can be decoded",
                subject=subject,
                hint="check the files are real PNG/JPEG/BMP images",
            )
        self._first: tuple[np.ndarray, int] | None = first

    def _load(self, path: Path) -> np.ndarray | None:
        try:
            if path.stat().st_size > MAX_IMAGE_BYTES:
                return None
            data = np.fromfile(path, dtype=np.uint8)
        except OSError:
            return None
        if data.size == 0:
            return None
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        if image is None or image.size == 0:
            return None
        return ensure_bgr(image)

    def _advance_to_readable(self) -> tuple[np.ndarray, int] | None:
        """Decode the next readable image: (image, decode time in ns); skip broken ones."""
        while self._pos < len(self.files):
            path = self.files[self._pos]
            self._pos += 1
            started = now_ns()
            image = self._load(path)
            if image is not None:
                return image, now_ns() - started
            if str(path) not in self.skipped:
                self.skipped.append(str(path))
                log.warning(
                    "%s: skipped unreadable image %s (%d skipped so far)",
                    self.path,
                    path.name,
                    len(self.skipped),
                )
        return None

    def _read_frame(self) -> Frame | None:
        if self.realtime and self._wait(self._pacer.delay_s()):
            return None
        if self._first is not None:
            image, decode_ns = self._first
            self._first = None
        else:
            got = self._advance_to_readable()
            if got is None and self.loop and self._delivered_this_pass > 0:
                self._pos = 0
                self._delivered_this_pass = 0
                got = self._advance_to_readable()
            if got is None:
                self.state = "ended"
                return None
            image, decode_ns = got
        self._delivered_this_pass += 1
        now = now_ns()
        return self._make_frame(image, started_ns=now - decode_ns, captured_ns=now)
