"""The per-part live pipeline: a capture thread and a decision thread.

Decisions have priority over display (issue 12, item 5). Capture puts every frame
into a first-in-first-out queue (not the newest-wins slot of the frame pipeline):
the decision thread must see each frame a part may cross the line on, so a burst
of slow frames is worked off, not skipped. Only when the decision path falls a
whole queue behind (``QUEUE_FRAMES``, about a second of video) does the oldest
frame go; that is counted (``dropped``) and the tracker bridges the gap or
counts the parts it could not see as missed. Offline sources (files, folders)
wait for room instead: nothing is ever dropped there.

The decision thread does only the decision path: locate, track, decide, and
hand the step to the session as an output (the session stores references; the
overlay is built at display time, for the frames the window actually shows). External
trigger edges wake it between frames, so an edge nearest the last frame is
decided at once. Between frames, when a part will cross the line on the next one,
the decision thread warms the decision path up (``WARM_LEAD_NS`` before the frame is
due, ``WARM_LEAD_RT_NS`` on a real-time thread; ``PartLine.warm_up``): between two
parts other work evicts the judge from the caches.

``rt_priority``: on a live source the capture and decision threads run under
``SCHED_FIFO`` where the system permits it (``core/sched.py``: what it measured, and
why both threads); ``scheduling`` says what each thread got.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from edgeconsole.core.buffers import BoundedQueue
from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.core.frames import Frame, LatencySample
from edgeconsole.core.parts import LineCounters, TriggerEvent
from edgeconsole.core.sched import CAPTURE_PRIORITY, DECISION_PRIORITY, current, realtime_thread
from edgeconsole.core.source import FrameSource
from edgeconsole.inference.line import TriggerConfig
from edgeconsole.session.capture_loop import capture_frames
from edgeconsole.session.runner import RunnerBase, RunnerOutput, RunnerSink

if TYPE_CHECKING:  # the decision path (numpy) loads with the line, not the window
    from edgeconsole.inference.line import LineStep, PartLine

#: Frames the decision path may fall behind before the oldest is dropped (counted).
QUEUE_FRAMES = 32
#: How long before a frame on which a part will cross the line the decision thread
#: warms the decision path up (``PartLine.warm_up``). A cold warm-up takes 2-4 ms; 5 ms
#: before, its CPU use still counted against the thread when the frame came (it waited
#: longer for a core with a busy process beside it: docs/RELIABILITY.md), 12 ms did not.
WARM_LEAD_NS = 12_000_000
#: The lead when the decision thread runs real-time (nobody else takes its core, so its
#: CPU time is not held against it): the closer the warm-up ends to the frame, the
#: warmer the caches the decision finds. After 3 ms idle one inference of the fast
#: bundle took 0.9 ms, after 12 ms 1.0-1.1, after 30 ms 1.3 (0.65 back to back).
WARM_LEAD_RT_NS = 4_000_000
#: A warm-up that could not start this long before the frame is skipped (it would
#: delay the frame instead).
WARM_MIN_NS = 1_500_000


class LineRunner(RunnerBase):
    """Outputs: every frame tracked (frame, step, sample: display and latency); parts
    judged on a frame (decisions and ``judged``: now, or later when the inspector was
    behind, or counted missed while tracking it); parts settled at the end of the run
    (decisions only)."""

    per_part = True

    def __init__(
        self,
        source: FrameSource,
        line: PartLine,
        output: RunnerSink,
        *,
        max_frames: int | None = None,
        lossless: bool = False,
        queue_frames: int = QUEUE_FRAMES,
        decision_priority: Callable[[], None] | None = None,
        capture_priority: Callable[[], None] | None = None,
        rt_priority: bool = False,
        warm_up: bool = True,
    ) -> None:
        """``decision_priority`` / ``capture_priority`` run first on each thread (the
        session lowers the capture thread's priority, never the decision thread's).
        ``rt_priority``: both threads under SCHED_FIFO instead (live sources only; not
        with ``lossless``), where permitted; the capture thread is then not lowered.
        ``warm_up``: on a live source, warm the decision path up shortly before a frame
        on which a part will cross the line (``PartLine.warm_up``)."""
        self.source = source
        self.line = line
        self.output = output
        self.max_frames = max_frames
        self.lossless = lossless
        self.queue: BoundedQueue[Frame] = BoundedQueue(queue_frames)
        self.captured = 0
        self.processed = 0
        self._decision_priority = decision_priority
        self._capture_priority = capture_priority
        self.rt_priority = rt_priority and not lossless
        self.warm = warm_up and not lossless
        #: Warm-ups a frame arrived during (that frame waited for the warm-up to end).
        self.warm_overlaps = 0
        self._warm_lead_ns = WARM_LEAD_NS
        #: What each thread runs at ("SCHED_FIFO 10", "normal", "nice 10", ...), once started.
        self.scheduling: dict[str, str] = {}
        self._stop = threading.Event()
        # Offline: one frame in flight. The next frame is read only once the last one
        # is decided, so a part's decision time is its own work, not a queue behind a
        # file read as fast as the disk allows.
        self._turn = threading.Semaphore(1)
        self._capture_done = threading.Event()
        self._capture_reason = "stopped"
        self._ended = threading.Event()
        self._end_lock = threading.Lock()
        self._capture_thread = threading.Thread(
            target=self._capture_loop, name="edgeconsole-capture", daemon=True
        )
        self._decide_thread = threading.Thread(
            target=self._decide_loop, name="edgeconsole-decisions", daemon=True
        )

    @property
    def dropped(self) -> int:
        """Frames the decision path never saw (it fell a whole queue behind)."""
        return self.queue.dropped

    def start(self) -> None:
        self._capture_thread.start()
        self._decide_thread.start()

    def trigger(self, event: TriggerEvent) -> bool:
        """An external edge (any thread): queued on the line, the decision thread woken."""
        self.line.trigger(event)
        return True

    def set_trigger(self, trigger: TriggerConfig) -> None:
        self.line.set_trigger(trigger)

    def set_budget(self, ms: float | None) -> None:
        self.line.budget_ms = ms

    def line_counters(self) -> LineCounters:
        return self.line.counters

    def wake(self) -> None:
        self.queue.wake()

    def stop(self) -> None:
        self._stop.set()
        self.source.close()
        self.queue.close()

    def join(self, timeout: float | None = None) -> bool:
        self._capture_thread.join(timeout)
        self._decide_thread.join(timeout)
        return not (self._capture_thread.is_alive() or self._decide_thread.is_alive())

    def wait_ended(self, timeout: float | None = None) -> bool:
        return self._ended.wait(timeout)

    def _end(self, reason: str) -> None:
        with self._end_lock:
            if self._ended.is_set():
                return
            self._ended.set()
        self.output.end(reason)

    # ------------------------------------------------------------------ threads
    def _capture_loop(self) -> None:
        got = realtime_thread(CAPTURE_PRIORITY) if self.rt_priority else ""
        if not self.rt_priority and self._capture_priority is not None:
            self._capture_priority()
        self.scheduling["capture"] = got if got.startswith("normal (") else current()
        try:
            self._capture_reason = capture_frames(self, self.queue)
        finally:
            self._capture_done.set()
            self.queue.close()

    def _decide_loop(self) -> None:
        got = realtime_thread(DECISION_PRIORITY) if self.rt_priority else ""
        if self._decision_priority is not None:
            self._decision_priority()
        self.scheduling["decision"] = got if got.startswith("normal (") else current()
        if self.scheduling["decision"].startswith("SCHED_FIFO"):
            self._warm_lead_ns = WARM_LEAD_RT_NS
        reason = "stopped"
        try:
            while not self._stop.is_set():
                frame, woken = self.queue.take(timeout=self._until_warm_up(0.25))
                if frame is None:
                    if woken:
                        self.line.poll_triggers(decide=False)
                    elif self._capture_done.is_set() and self.queue.closed and not len(self.queue):
                        reason = self._capture_reason
                        break
                else:
                    # Tracking first, on every frame; the inspector only once tracking
                    # has caught up with the camera, one frame's parts at a time. A slow
                    # inspector makes decisions late; it never blinds tracking.
                    step = self.line.step(frame, decide=False)
                    if self.lossless:
                        decided = self.line.decide_pending()
                        self._turn.release()
                    else:
                        decided = [] if len(self.queue) else self.line.decide_pending(limit=1)
                    self.line.refresh(step)
                    # The frame's own stages: the inspector stamps locate / crop /
                    # preprocess / infer / postprocess pairs on it.
                    sample = LatencySample.from_stamps(frame.index, frame.stamps)
                    self.processed += 1
                    self.output.output(
                        RunnerOutput(sample=sample, frame=frame, step=step, done_ns=now_ns())
                    )
                    if step.decisions:  # parts counted missed while tracking
                        self._decided(frame, step)
                    for f, s in decided:
                        self._decided(f, s)
                    if self.max_frames is not None and self.processed >= self.max_frames:
                        reason = "frame limit reached"
                        break
                    continue
                if not len(self.queue):
                    for f, s in self.line.decide_pending(limit=1):
                        self._decided(f, s)
        except Exception as exc:  # EdgeConsoleError or a bug: reported, the run ends
            self.output.error("inference", exc)
            reason = "inference error"
        finally:
            self._stop.set()
            self.source.close()
            self.queue.close()
            try:
                # Parts still queued for the inspector are judged (late), not dropped.
                while self.line.pending_frames:
                    try:
                        for f, s in self.line.decide_pending(limit=1):
                            self._decided(f, s)
                    except EdgeConsoleError as exc:
                        self.output.error("inference", exc)
                finished = self.line.finish()
                if finished:
                    self.output.output(RunnerOutput(decisions=finished, done_ns=now_ns()))
            except Exception as exc:
                self.output.error("inference", exc)
            finally:
                self._end(reason)

    def _until_warm_up(self, longest: float) -> float:
        """How long to wait for the next frame (s): at most ``longest``, or until the
        decision path is due to be warmed up; warms it up when that time has come and
        the frame is not about to arrive."""
        if not self.warm or len(self.queue):
            return longest
        lead = self._warm_lead_ns
        due = self.line.warm_up_due(lead)
        if due is None:
            return longest
        left = due - now_ns()
        if left > 0:
            return min(longest, left / 1e9)
        if left <= WARM_MIN_NS - lead:  # too late: the frame is nearly here
            self.line.skip_warm_up()
        elif self.line.warm_up() and len(self.queue):
            self.warm_overlaps += 1  # the frame came while warming up: it waited
        return longest

    def _decided(self, frame: Frame, step: LineStep) -> None:
        self.output.output(
            RunnerOutput(decisions=list(step.decisions), judged=(frame, step), done_ns=now_ns())
        )
