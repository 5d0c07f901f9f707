"""``run --annotate DIR``: the frames parts were decided on, with the overlay, as PNG.

A QC engineer checks verdicts by eye: every frame on which at least one part was
decided is drawn (boxes, IDs, verdicts, decision times, the trigger line) and
written as ``frame-NNNNNNNN.png``, and ``index.csv`` lists which parts each file
shows. Encoding runs on its own thread behind a bounded queue, so the decision
path never waits for a disk: a live run that outpaces the disk skips frames
(counted in the summary); an offline run (``lossless``) waits instead, so every
decision frame is written.
"""

from __future__ import annotations

import csv
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2

from edgeconsole.core.errors import ConfigError, JournalError
from edgeconsole.core.frames import Frame, InferenceResult
from edgeconsole.inference.line import LineStep
from edgeconsole.inference.overlay_render import render_overlay

QUEUE = 32


class FrameAnnotator:
    def __init__(
        self,
        folder: Path,
        render: Callable[[LineStep], InferenceResult],
        *,
        lossless: bool = False,
    ) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ConfigError(
                "--annotate must name a folder", subject=str(folder), hint="give a folder path"
            )
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._index = (self.folder / "index.csv").open("a", newline="", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot write annotated frames: {exc.strerror or exc}",
                subject=str(folder),
                hint="choose a folder you can write to",
            ) from exc
        self._csv = csv.writer(self._index)
        if self._index.tell() == 0:
            self._csv.writerow(["file", "frame", "part_id", "verdict", "decision_ms", "late"])
        self._render = render
        self.lossless = lossless
        self._q: queue.Queue[tuple[Frame, LineStep] | None] = queue.Queue(QUEUE)
        self.written = 0
        self.skipped = 0
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="edgeconsole-annotate", daemon=True)
        self._thread.start()

    def put(self, frame: Frame, step: LineStep) -> None:
        """From the decision thread: quick (drops when behind, unless lossless)."""
        if self.error is not None:
            self.skipped += 1
            return
        try:
            if self.lossless:
                self._q.put((frame, step), timeout=30.0)
            else:
                self._q.put_nowait((frame, step))
        except queue.Full:
            self.skipped += 1

    def close(self, timeout: float = 60.0) -> None:
        """Write what is queued, then stop."""
        try:
            self._q.put(None, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        self._index.close()

    def summary(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "written": self.written,
            "skipped": self.skipped,
            "error": self.error,
        }

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            if self.error is not None:
                self.skipped += 1
                continue
            frame, step = item
            name = f"frame-{frame.index:08d}.png"
            try:
                image = render_overlay(frame.image, self._render(step))
                ok, buf = cv2.imencode(".png", image)
                if not ok:
                    raise JournalError("the PNG encoder refused the frame")
                (self.folder / name).write_bytes(buf.tobytes())
                for d in step.decisions:
                    self._csv.writerow(
                        [
                            name,
                            frame.index,
                            d.part_id,
                            d.verdict,
                            "" if d.missed else round(d.decision_ms, 3),
                            int(d.late),
                        ]
                    )
                self._index.flush()
                self.written += 1
            except (OSError, JournalError) as exc:
                # A full disk stops the pictures, never the run; the summary says why.
                self.error = f"{name}: {getattr(exc, 'strerror', None) or exc}"
                self.skipped += 1
