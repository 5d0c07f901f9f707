"""The camera's own timestamps on our monotonic clock.

A camera stamps each frame with its clock (ticks since it powered up, or PTP
time): that stamp says when the exposure happened, which is where a decision's
latency really starts. To compare it with our stage stamps we need the offset
between the two clocks:

- ``latched``: the camera offers a timestamp latch (SFNC ``TimestampLatch`` /
  GigE ``GevTimestampControlLatch``): we read its clock between two of our own
  stamps; the offset is exact to half that round trip, and it is renewed every
  ``relatch_s`` to follow the drift between the two oscillators.
- ``estimated``: no latch. The smallest (arrival - camera stamp) seen over the
  last frames is taken as the offset, which assumes the fastest frame left the
  camera instantly: exposure-to-arrival is then a lower bound (it can hide the
  link's fixed delay, never add to it), and the latency panel says so.
- ``host``: the camera gave no timestamp (0): we only know when the frame arrived.

A latch is a round trip on the camera's control channel (a command and a register
read: a millisecond or more on a real GigE link), so it never runs on the frame
path: the source latches once when the camera is connected (``relatch``), and
``to_host`` only asks for a renewal when one is due, which ``relatch`` then does on
the clock's own thread. Until the first latch succeeds frames are placed by the
estimate.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Literal

from edgeconsole.core.clock import now_ns

ClockMethod = Literal["latched", "estimated", "host"]

#: Frames the arrival-based estimate looks back over (drift over this span is tiny).
WINDOW = 600
RELATCH_S = 10.0


class CameraClock:
    def __init__(
        self, latch: Callable[[], int | None] | None = None, *, relatch_s: float = RELATCH_S
    ) -> None:
        self._latch = latch
        self._relatch_ns = int(relatch_s * 1e9)
        self._offset: int | None = None  # host_ns - camera_ns
        self._latched_at: int | None = None
        self._latch_ok = latch is not None
        self.uncertainty_ns: int | None = None
        self._diffs: deque[int] = deque(maxlen=WINDOW)
        self.method: ClockMethod = "host"
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.latches = 0

    def relatch(self) -> bool:
        """Read the camera clock now (a control-channel round trip: call it where no
        frame waits on it). False: the camera offers no latch, or it failed."""
        if not self._latch_ok or self._latch is None:
            return False
        before = now_ns()
        cam = self._latch()
        after = now_ns()
        if cam is None or cam <= 0:
            self._latch_ok = False  # the camera does not offer it: stop asking
            return False
        # One assignment, so the frame path never pairs an offset with another's stamp.
        self._offset, self.uncertainty_ns = (before + after) // 2 - cam, (after - before) // 2
        self._latched_at = after
        self.latches += 1
        return True

    def _request_relatch(self) -> None:
        if self._stop.is_set():
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="camera-clock", daemon=True)
            self._thread.start()
        self._kick.set()

    def _run(self) -> None:
        while True:
            self._kick.wait()
            if self._stop.is_set():
                return
            self._kick.clear()
            try:
                self.relatch()
            except Exception:  # a camera gone mid-latch: the grab thread notices and reconnects
                self._latched_at = now_ns()  # and is not asked again at once

    def close(self) -> None:
        """Stop the clock's thread (the source is closing)."""
        self._stop.set()
        self._kick.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)

    def to_host(self, camera_ns: int | None, arrived_ns: int) -> int | None:
        """``camera_ns`` on our clock, or None when it cannot be placed. Never later
        than the arrival (a frame cannot be exposed after it arrived)."""
        if not camera_ns:
            self.method = "host"
            return None
        offset = self._offset
        if self._latch_ok and (
            self._latched_at is None or arrived_ns - self._latched_at > self._relatch_ns
        ):
            self._request_relatch()  # on the clock's thread: this frame does not wait
        if self._latch_ok and offset is not None:
            self.method = "latched"
            return min(camera_ns + offset, arrived_ns)
        self.method = "estimated"
        diff = arrived_ns - camera_ns
        if len(self._diffs) == self._diffs.maxlen:
            self._diffs.popleft()
        self._diffs.append(diff)
        self.uncertainty_ns = None
        return min(camera_ns + min(self._diffs), arrived_ns)

    def reset(self) -> None:
        """A reconnected camera may have restarted its clock."""
        self._offset = None
        self._latched_at = None
        self._diffs.clear()

    def describe(self) -> dict[str, object]:
        return {
            "method": self.method,
            "uncertainty_us": None
            if self.uncertainty_ns is None
            else round(self.uncertainty_ns / 1000, 1),
        }
