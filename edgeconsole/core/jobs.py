"""What a long piece of work looks like to whoever runs it (no threads here).

A *job* is an object with a ``name`` and ``run(progress, cancel)``: it reports how far
along it is with ``progress(fraction, text)`` (fraction 0..1, or negative when it
cannot say) and stops at its next safe point, raising :class:`Cancelled`, once
``cancel()`` answers True. Use cases (bundle build, INT8 comparison, bench,
commissioning, evidence export, recording) are jobs; the session's job runner
(``session/jobs.py``) owns the threads that run them, and the window and the CLI
only watch and cancel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from edgeconsole.core.errors import Cancelled

#: ``progress(fraction 0..1, what is happening)``; a negative fraction keeps the last one.
ProgressFn = Callable[[float, str], None]
#: ``cancel()`` -> True once the person asked to stop.
CancelFn = Callable[[], bool]

T_co = TypeVar("T_co", covariant=True)


class Job(Protocol[T_co]):
    """Anything the session's job runner can run."""

    @property
    def name(self) -> str: ...

    def run(self, progress: ProgressFn, cancel: CancelFn) -> T_co: ...


def no_progress(_fraction: float, _text: str) -> None:
    return None


def never() -> bool:
    return False


def check_cancel(cancel: CancelFn, what: str, subject: str | None = None) -> None:
    """Raise :class:`Cancelled` ("WHAT cancelled") when the person asked to stop."""
    if cancel():
        raise Cancelled(f"{what} cancelled", subject=subject)
