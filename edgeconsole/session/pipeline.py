"""The local live pipeline: a capture thread and an inference thread.

Capture reads the source and puts each frame into a newest-wins slot; the
inference thread takes the newest frame, runs the engine (which stamps each
stage) and publishes the result. A frame replaced in the slot before the
inference thread took it is a dropped frame: counted, never hidden.
"""

from __future__ import annotations

import threading
from typing import Protocol

from edgeconsole.core.buffers import LatestSlot
from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.core.frames import Frame, InferenceResult, LatencySample
from edgeconsole.core.source import FrameSource
from edgeconsole.session.capture_loop import capture_frames
from edgeconsole.session.runner import RunnerBase, RunnerOutput, RunnerSink


class FrameProcessor(Protocol):
    def process(self, frame: Frame) -> InferenceResult: ...


class LocalPipelineRunner(RunnerBase):
    """Each processed frame is one :class:`RunnerOutput` (frame, result, sample)."""

    def __init__(
        self,
        source: FrameSource,
        processor: FrameProcessor,
        output: RunnerSink,
        *,
        max_frames: int | None = None,
        lossless: bool = False,
    ) -> None:
        """``lossless``: offline work (a file read as fast as the model allows). Every
        frame is processed, and the next frame is read only once the previous one is
        done, so a frame's latency is its own work, not a queue behind the one before
        (live sources: False, newest frame wins and drops are counted)."""
        self.source = source
        self.lossless = lossless
        self.processor = processor
        self.output = output
        self.max_frames = max_frames
        self.slot: LatestSlot[Frame] = LatestSlot()
        self.captured = 0
        self.processed = 0
        self._stop = threading.Event()
        self._turn = threading.Semaphore(1)  # lossless: one frame in flight at a time
        self._capture_done = threading.Event()
        self._capture_reason = "stopped"
        self._ended = threading.Event()
        self._capture_thread = threading.Thread(
            target=self._capture_loop, name="edgeconsole-capture", daemon=True
        )
        self._infer_thread = threading.Thread(
            target=self._infer_loop, name="edgeconsole-inference", daemon=True
        )

    @property
    def dropped(self) -> int:
        return self.slot.dropped

    def start(self) -> None:
        self._capture_thread.start()
        self._infer_thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.source.close()
        self.slot.close()

    def join(self, timeout: float | None = None) -> bool:
        self._capture_thread.join(timeout)
        self._infer_thread.join(timeout)
        return not (self._capture_thread.is_alive() or self._infer_thread.is_alive())

    def wait_ended(self, timeout: float | None = None) -> bool:
        return self._ended.wait(timeout)

    def _end(self, reason: str) -> None:
        if not self._ended.is_set():
            self._ended.set()
            self.output.end(reason)

    def _capture_loop(self) -> None:
        try:
            self._capture_reason = capture_frames(self, self.slot)
        finally:
            self._capture_done.set()
            self.slot.close()

    def _infer_loop(self) -> None:
        first = True
        try:
            while not self._stop.is_set():
                frame = self.slot.take(timeout=0.25)
                if frame is None:
                    if self._capture_done.is_set() and self.slot.closed:
                        # Closed and drained: take() returns None only when empty.
                        self._end(self._capture_reason)
                        return
                    continue
                try:
                    result = self.processor.process(frame)
                finally:
                    if self.lossless:
                        self._turn.release()  # the capture may read the next frame
                sample = LatencySample.from_stamps(frame.index, frame.stamps, first=first)
                first = False
                self.processed += 1
                self.output.output(
                    RunnerOutput(sample=sample, result=result, frame=frame, done_ns=now_ns())
                )
                if self.max_frames is not None and self.processed >= self.max_frames:
                    self._stop.set()
                    self.source.close()
                    self._end("frame limit reached")
                    return
        except EdgeConsoleError as exc:
            self.output.error("inference", exc)
            self._stop.set()
            self.source.close()
            self._end("inference error")
        except Exception as exc:
            self.output.error("inference", exc)
            self._stop.set()
            self.source.close()
            self._end("inference error")
        finally:
            if self._stop.is_set():
                self._end("stopped")
