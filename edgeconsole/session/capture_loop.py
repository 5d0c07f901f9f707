"""The capture thread's loop, one for every local runner (the frame pipeline and the
per-part line): read the source, stamp each frame, hand it over.

Live sources hand over newest-wins (the hand-off counts what it drops); offline work
(``lossless``) reads the next frame only once the previous one is done (``turn``), so
a frame's latency is its own work, not a queue behind a file read as fast as the disk
allows.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import SourceDisconnected
from edgeconsole.core.frames import Frame

#: How often a waiting capture thread looks at its stop flag.
POLL_S = 0.5


class Handoff(Protocol):
    @property
    def closed(self) -> bool: ...

    def put(self, item: Frame) -> Any: ...

    def put_when_free(self, item: Frame, timeout: float | None = None) -> bool: ...


class Capturing(Protocol):
    """What the loop needs of its runner."""

    source: Any
    output: Any
    lossless: bool
    captured: int
    _stop: threading.Event
    _turn: threading.Semaphore


def capture_frames(runner: Capturing, handoff: Handoff) -> str:
    """Run until the source ends, fails or the runner stops; the reason it ended. A
    source error goes to ``runner.output.error`` (a decoder bug must not end the run
    silently); nothing is reported once the runner was told to stop."""
    stop = runner._stop
    try:
        while not stop.is_set():
            if runner.lossless:
                while not runner._turn.acquire(timeout=POLL_S):
                    if stop.is_set():
                        break
                if stop.is_set() or handoff.closed:
                    break
            started = now_ns()
            frame = runner.source.read()
            if frame is None:
                return "end of source"
            frame.stamps.setdefault(
                "capture_start",
                frame.capture_started_ns if frame.capture_started_ns is not None else started,
            )
            frame.stamps["captured"] = frame.captured_ns
            runner.captured += 1
            if runner.lossless:
                while not handoff.put_when_free(frame, timeout=POLL_S):
                    if stop.is_set() or handoff.closed:
                        break
            else:
                handoff.put(frame)
    except SourceDisconnected as exc:
        if not stop.is_set():
            runner.output.error("source", exc)
            return "source disconnected"
    except Exception as exc:
        if not stop.is_set():
            runner.output.error("source", exc)
            return "source error"
    return "stopped"
