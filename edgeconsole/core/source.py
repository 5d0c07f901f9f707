"""The contract every frame source keeps (implementations live in edgeconsole.sources)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from edgeconsole.core.frames import Frame


@runtime_checkable
class FrameSource(Protocol):
    """A producer of frames. Used from one capture thread at a time.

    ``read`` blocks until the next frame and returns it stamped with
    ``captured_ns`` (and ``capture_started_ns`` when known). It returns None at
    the natural end of a finite source (end of file, last image), raises
    ``SourceDisconnected`` when a live source dropped and could not be brought
    back, and ``SourceError`` for anything else. ``close`` is safe to call from
    another thread to unblock a pending ``read`` and is idempotent.
    """

    name: str

    def open(self) -> None: ...

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...

    @property
    def nominal_fps(self) -> float | None: ...
