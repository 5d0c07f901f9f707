"""Live sources (cameras, network streams): a reader that can drop, and reconnect."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import ConfigError, SourceDisconnected, SourceError
from edgeconsole.core.frames import Frame
from edgeconsole.sources._base import SourceBase, ensure_bgr

log = logging.getLogger(__name__)


class Dropped(Exception):
    """Internal: the connection to a live source went away (not a protocol error)."""


class FrameReader(Protocol):
    """One connection to a live source."""

    def read(self) -> np.ndarray | None:
        """Block for the next image; None at a natural end; raise Dropped on loss."""
        ...

    def close(self) -> None:
        """Unblock a pending read; safe from another thread; idempotent."""
        ...


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Back-off between reconnect attempts: initial, doubling, capped.

    ``max_attempts=None`` keeps trying until the source is closed.
    """

    initial_s: float = 0.2
    factor: float = 2.0
    max_delay_s: float = 5.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.initial_s < 0 or self.max_delay_s < self.initial_s or self.factor < 1:
            raise ConfigError(
                "reconnect back-off must satisfy 0 <= initial <= max delay and factor >= 1",
                subject="reconnect policy",
            )
        if self.max_attempts is not None and self.max_attempts < 0:
            raise ConfigError("max reconnect attempts must be >= 0", subject="reconnect policy")

    def delays(self) -> list[float]:
        """The first few delays, for display (``[0.2, 0.4, 0.8, ...]``)."""
        out, d = [], self.initial_s
        for _ in range(8 if self.max_attempts is None else min(8, self.max_attempts)):
            out.append(d)
            d = min(d * self.factor, self.max_delay_s)
        return out


class LiveSourceBase(SourceBase):
    """A source whose connection may drop. Subclasses implement ``_connect``.

    While reconnecting, ``read`` blocks (``state == "reconnecting"``) and waits
    on the close event between attempts, so ``close`` ends it at once. When
    ``policy.max_attempts`` runs out, ``read`` raises SourceDisconnected and the
    state becomes "ended".
    """

    def __init__(self, name: str, policy: ReconnectPolicy | None = None) -> None:
        super().__init__(name)
        self.policy = policy or ReconnectPolicy()
        self.last_error: str | None = None
        self.width = 0
        self.height = 0
        self._reader: FrameReader | None = None

    def _connect(self) -> FrameReader:
        """Open one connection; raise SourceOpenError (or SourceError) on failure."""
        raise NotImplementedError

    def _subject(self) -> str:
        return self.name

    def _open(self) -> None:
        self._reader = self._connect()

    def _close(self) -> None:
        reader = self._reader
        if reader is not None:
            reader.close()

    def _read_frame(self) -> Frame | None:
        while True:
            reader = self._reader
            if reader is None or self.closing:
                return None
            started = now_ns()
            try:
                image = reader.read()
            except Dropped as exc:
                if self.closing:
                    return None
                self.last_error = str(exc)
                log.warning("%s: dropped (%s); reconnecting", self._subject(), exc)
                self._reconnect(reader)
                continue
            except SourceError:
                self.state = "ended"
                raise
            if image is None:
                self.state = "ended"
                return None
            image = ensure_bgr(image)
            self.height, self.width = image.shape[:2]
            return self._make_frame(image, started_ns=started)

    def _reconnect(self, old: FrameReader) -> None:
        self.state = "reconnecting"
        old.close()
        self._reader = None
        delay = self.policy.initial_s
        attempts = 0
        while not self.closing:
            if self.policy.max_attempts is not None and attempts >= self.policy.max_attempts:
                self.state = "ended"
                raise SourceDisconnected(
                    f"stream dropped and {attempts} reconnect attempts failed"
                    + (f" (last: {self.last_error})" if self.last_error else ""),
                    subject=self._subject(),
                    hint="check the device or network, then start the source again",
                )
            if self._wait(delay):
                return
            attempts += 1
            try:
                reader = self._connect()
            except SourceError as exc:
                self.last_error = exc.what
                delay = min(delay * self.policy.factor, self.policy.max_delay_s)
                continue
            if self.closing:
                reader.close()
                return
            self._reader = reader
            if self.closing:  # close() ran between the check and the assignment
                reader.close()
                return
            self.reconnects += 1
            self.state = "open"
            log.info("%s: reconnected after %d attempt(s)", self._subject(), attempts)
            return
