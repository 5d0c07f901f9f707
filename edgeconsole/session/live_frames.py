"""The live outputs between two polls: the newest frame, latency samples, rate, shown times.

Every method is called with the session's lock held (session/run_state.py): the
runner's thread adds, ``poll()`` takes, the window's paint reports what it showed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgeconsole.core.buffers import RingBuffer
from edgeconsole.core.frames import Frame, InferenceResult, LatencySample
from edgeconsole.inference.latency import LatencyStats

if TYPE_CHECKING:
    import numpy as np

    from edgeconsole.inference.line import LineStep
    from edgeconsole.session.display import DisplayPrep

#: Latency samples kept between two polls; a window that stalls for minutes loses
#: the oldest samples from the graphs (counted), never the pipeline's own stats.
SAMPLE_BUFFER = 20_000

#: Frames handed to the window whose paint time is still awaited (older ones forgotten).
SHOWN_PENDING = 64


@dataclass
class Live:
    frame: Frame
    result: InferenceResult | None
    step: LineStep | None = None  # per-part mode: the overlay is built when shown
    #: The frame as the window shows it (session/display.py), when a window asked.
    display: np.ndarray | None = None


class LiveFrames:
    """The newest frame, samples not yet polled, the frame rate and the latency stats."""

    def __init__(self, stats_window: int) -> None:
        self.stats_window = stats_window
        self.stats = LatencyStats(window=stats_window)
        self.samples: RingBuffer[LatencySample] = RingBuffer(SAMPLE_BUFFER)
        self.live: Live | None = None
        self.live_new = False
        self.fps_times: deque[int] = deque(maxlen=120)
        self.shown_pending: dict[int, int] = {}
        #: Prepares frames for the window's screen on its own thread (session/display.py);
        #: set by the session's state. ``epoch`` tells a run's frames from the last one's.
        self.prep: DisplayPrep | None = None
        self.epoch = 0

    def reset(self, budget_ms: float | None) -> None:
        """A new run: fresh stats with its budget, nothing left of the last one."""
        self.stats = LatencyStats(window=self.stats_window, budget_ms=budget_ms)
        self.samples.drain()
        self.live = None
        self.epoch += 1
        self.fps_times.clear()
        self.shown_pending.clear()

    def add_sample(self, sample: LatencySample, done_ns: int) -> None:
        self.samples.append(sample)
        self.fps_times.append(done_ns)

    def show(self, frame: Frame, result: InferenceResult | None, step: LineStep | None) -> None:
        live = Live(frame, result, step)
        if self.prep is not None and self.prep.offer(live, frame.image, self.epoch):
            return  # ``publish`` hands it on once its display pixels are made
        self.live = live
        self.live_new = True

    def publish(self, live: Any, epoch: int, pixels: np.ndarray | None) -> None:
        """A frame prepared for the window (``prep``'s thread, the session's lock held);
        one of a run that has ended since is dropped."""
        if epoch != self.epoch:
            return
        live.display = pixels
        self.live = live
        self.live_new = True

    def drain_samples(self) -> list[LatencySample]:
        """The samples since the last poll, now counted in the stats."""
        samples = self.samples.drain()
        for s in samples:
            self.stats.add(s)
        return samples

    def take_new(self) -> Live | None:
        """The newest frame if the window has not had it yet."""
        if self.live is None or not self.live_new:
            return None
        self.live_new = False
        return self.live

    def await_shown(self, frame: Frame) -> None:
        """``frame`` goes to the window: its paint (``mark_shown``) closes end-to-end."""
        self.shown_pending[frame.index] = frame.stamps.get("capture_start", frame.captured_ns)
        if len(self.shown_pending) > SHOWN_PENDING:
            for k in sorted(self.shown_pending)[:-SHOWN_PENDING]:
                del self.shown_pending[k]

    def mark_shown(self, frame_index: int, shown_ns: int) -> None:
        start = self.shown_pending.pop(frame_index, None)
        if start is not None:
            self.stats.add_shown((shown_ns - start) / 1e6)

    def fps(self) -> float:
        if len(self.fps_times) < 2:
            return 0.0
        span = (self.fps_times[-1] - self.fps_times[0]) / 1e9
        return 0.0 if span <= 0 else (len(self.fps_times) - 1) / span
