"""A device's telemetry lines, turned into what the window plots (no Qt here).

One :class:`TelemetryStream` per connected device. The target manager's pump
thread feeds it the raw bytes the serial link collected (``SerialTarget.text``);
the stream parses them with :class:`~edgeconsole.sources.telemetry_lines.TelemetryParser`,
gives every sample a time, keeps bounded buffers (newest kept, drops counted),
per-channel statistics over the last seconds, the line rate, and the device's
own model output. ``take()`` (called from ``Session.poll()``) hands over
everything new since the last call as one :class:`TelemetryBatch`.

**Shadow inference** (``inference/shadow.py``): when the bundle the device runs is
known and verified, the stream hands every chunk of readings to its
:class:`~edgeconsole.inference.shadow.ShadowComparer`, which runs the same model on
the laptop over the device's windows and flags a difference beyond the tolerance.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeconsole.inference.shadow import (
    ShadowComparer,
    ShadowPoint,
    ShadowRunner,
    ShadowStatus,
    model_channel_of,
)
from edgeconsole.sources.telemetry_lines import TelemetryParser, TelemetrySample

#: Samples held for the window between two polls; older ones are dropped (counted).
PENDING_LIMIT = 50_000
#: Samples the statistics look back over (about 10 s at 1 kHz).
HISTORY_LIMIT = 10_000
#: Rate estimate window.
RATE_WINDOW_NS = 2_000_000_000


@dataclass(frozen=True)
class ChannelStats:
    name: str
    min: float | None
    max: float | None
    mean: float | None
    last: float | None

    def to_json(self) -> dict[str, Any]:
        return {"min": self.min, "max": self.max, "mean": self.mean, "last": self.last}


@dataclass(frozen=True)
class TelemetryBatch:
    """New telemetry of one device since the last poll, plus its running statistics."""

    url: str
    channels: tuple[str, ...]
    t: np.ndarray  # (n,) seconds since the stream started
    values: np.ndarray  # (n, len(channels)) float64; nan where a line had fewer values
    stats: tuple[ChannelStats, ...]
    rate_hz: float
    samples: int  # parsed since the stream started
    dropped_lines: int  # malformed, oversized or of the wrong width
    lost: int  # samples dropped because nobody took them in time (bounded buffers)
    log_lines: int
    model_channel: str | None
    threshold: float | None
    shadow: tuple[ShadowPoint, ...]
    shadow_status: ShadowStatus
    header_changed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "channels": list(self.channels),
            "rate_hz": round(self.rate_hz, 2),
            "samples": self.samples,
            "dropped_lines": self.dropped_lines,
            "lost": self.lost,
            "stats": {s.name: s.to_json() for s in self.stats},
            "model_channel": self.model_channel,
            "threshold": self.threshold,
            "shadow": self.shadow_status.to_json(),
        }


class TelemetryStream:
    """Parse, time, buffer and summarise one device's telemetry (thread-safe)."""

    def __init__(
        self,
        url: str,
        *,
        pending_limit: int = PENDING_LIMIT,
        history_limit: int = HISTORY_LIMIT,
        on_rows: Callable[[list[tuple[int, str, str, float]]], None] | None = None,
        on_record: Callable[[int, dict[str, float]], None] | None = None,
        mono_to_wall: Callable[[int], int] = lambda ns: ns,
    ) -> None:
        self.url = url
        self.parser = TelemetryParser()
        self._lock = threading.Lock()
        self._pending_limit = pending_limit
        self._history_limit = history_limit
        self._t: deque[np.ndarray] = deque()
        self._v: deque[np.ndarray] = deque()
        self._pending_n = 0
        self.lost = 0
        self._hist = np.full((0, 0), np.nan)
        self._hist_t = np.zeros(0)
        self._origin_ns: int | None = None
        self._last_t_ns = 0
        self._rate_points: deque[tuple[int, int]] = deque()
        self.rate_hz = 0.0
        self.samples = 0
        self._header_changed = False
        self._stats: tuple[ChannelStats, ...] = ()
        self._stats_due = 0
        self.logs: deque[str] = deque(maxlen=500)
        self._new_logs: list[str] = []
        self.on_rows = on_rows
        self.on_record = on_record
        self._mono_to_wall = mono_to_wall
        self._shadow = ShadowComparer()

    # ------------------------------------------------------------------ shadow
    @property
    def shadow(self) -> ShadowRunner | None:
        return self._shadow.runner

    def set_shadow(self, runner: ShadowRunner | None, reason: str = "") -> None:
        self._shadow.set_runner(runner, reason)

    def shadow_status(self) -> ShadowStatus:
        return self._shadow.status()

    # ------------------------------------------------------------------ feeding
    def feed(self, chunks: list[tuple[int, bytes]]) -> None:
        """Parse ``(arrival ns, bytes)`` chunks (the pump thread calls this)."""
        for stamp, data in chunks:
            out = self.parser.feed(data, stamp)
            if out.logs:
                with self._lock:
                    self.logs.extend(out.logs)
                    self._new_logs.extend(out.logs)
            if out.header_changed:
                with self._lock:
                    self._header_changed = True
                    self._hist = np.full((0, len(self.parser.channels)), np.nan)
                    self._hist_t = np.zeros(0)
                self._shadow.restart_window()
            if out.samples:
                self._add(stamp, out.samples)

    def _add(self, stamp: int, samples: list[TelemetrySample]) -> None:
        width = len(self.parser.channels) or max(len(s.values) for s in samples)
        n = len(samples)
        values = np.full((n, width), np.nan)
        for i, s in enumerate(samples):
            row = s.values[:width]
            values[i, : len(row)] = row
        with self._lock:
            if self._origin_ns is None:
                self._origin_ns = stamp
            self.samples += n
            self._update_rate(stamp)
            # Lines of one chunk arrived together; spread them back at the line rate
            # so the plot shows a steady signal, never before the previous sample.
            step = 1e9 / self.rate_hz if self.rate_hz > 0 else 0.0
            t_ns = stamp - step * np.arange(n - 1, -1, -1, dtype=np.float64)
            t_ns = np.maximum(t_ns, float(self._last_t_ns))
            self._last_t_ns = int(t_ns[-1])
            t_s = (t_ns - self._origin_ns) / 1e9
            self._t.append(t_s)
            self._v.append(values)
            self._pending_n += n
            while self._pending_n > self._pending_limit and len(self._t) > 1:
                self._pending_n -= len(self._t.popleft())
                self.lost += len(self._v.popleft())
            if self._pending_n > self._pending_limit:  # one huge chunk: keep its newest
                cut = self._pending_n - self._pending_limit
                self._t[0], self._v[0] = self._t[0][cut:], self._v[0][cut:]
                self._pending_n -= cut
                self.lost += cut
            self._append_history(t_s, values)
        if self._shadow.runner is not None:
            self._shadow.compare(self.parser.channel_names(values.shape[1]), t_s, values)
        self._journal(t_ns, values)

    def _append_history(self, t_s: np.ndarray, values: np.ndarray) -> None:
        if self._hist.shape[1] != values.shape[1]:
            self._hist = np.full((0, values.shape[1]), np.nan)
            self._hist_t = np.zeros(0)
        self._hist = np.concatenate([self._hist, values])[-self._history_limit :]
        self._hist_t = np.concatenate([self._hist_t, t_s])[-self._history_limit :]

    def _update_rate(self, stamp: int) -> None:
        pts = self._rate_points
        pts.append((stamp, self.samples))
        while len(pts) > 2 and stamp - pts[1][0] >= RATE_WINDOW_NS:
            pts.popleft()
        t0, c0 = pts[0]
        if stamp > t0 and len(pts) > 1:
            # Samples after the first point, over the time since it.
            self.rate_hz = (self.samples - c0) / ((stamp - t0) / 1e9)

    def _journal(self, t_ns: np.ndarray, values: np.ndarray) -> None:
        if self.on_rows is None and self.on_record is None:
            return
        names = self.parser.channel_names(values.shape[1])
        wall = [self._mono_to_wall(int(t)) for t in t_ns]
        if self.on_rows is not None:
            rows = [
                (w, self.url, name, float(v))
                for w, row in zip(wall, values, strict=True)
                for name, v in zip(names, row, strict=True)
                if v == v
            ]
            self.on_rows(rows)
        if self.on_record is not None:
            for w, row in zip(wall, values, strict=True):
                self.on_record(w, {n: float(v) for n, v in zip(names, row, strict=True) if v == v})

    # ------------------------------------------------------------------ taking
    def statistics(self) -> tuple[ChannelStats, ...]:
        with self._lock:
            hist = self._hist
        names = self.parser.channel_names(hist.shape[1]) if hist.shape[1] else ()
        if not len(hist):
            return tuple(ChannelStats(n, None, None, None, None) for n in names)
        finite = np.isfinite(hist)
        out = []
        for j, name in enumerate(names):
            col = hist[finite[:, j], j]
            if not len(col):
                out.append(ChannelStats(name, None, None, None, None))
                continue
            out.append(
                ChannelStats(
                    name, float(col.min()), float(col.max()), float(col.mean()), float(col[-1])
                )
            )
        return tuple(out)

    def dropped_lines(self) -> int:
        st = self.parser.stats
        return st.malformed + st.oversized + st.mismatched

    def take_logs(self) -> list[str]:
        with self._lock:
            out, self._new_logs = self._new_logs, []
        return out

    def take(
        self, threshold: float | None = None, *, stats_every_ns: int = 0, now_ns: int = 0
    ) -> TelemetryBatch | None:
        """Everything new since the last call (None when nothing changed)."""
        with self._lock:
            if not self._t and not self._header_changed and not self._shadow.has_points:
                return None
            t = np.concatenate(list(self._t)) if self._t else np.zeros(0)
            v = (
                np.concatenate(list(self._v))
                if self._v
                else np.zeros((0, len(self.parser.channels)))
            )
            self._t.clear()
            self._v.clear()
            self._pending_n = 0
            header_changed, self._header_changed = self._header_changed, False
        shadow_points = self._shadow.take_points()
        status = self._shadow.status()
        shadow = self._shadow.runner
        if stats_every_ns <= 0 or now_ns >= self._stats_due or not self._stats:
            self._stats = self.statistics()
            self._stats_due = now_ns + stats_every_ns
        channels = self.parser.channel_names(v.shape[1]) if v.shape[1] else self.parser.channels
        model_i = model_channel_of(channels)
        if threshold is None and shadow is not None:
            threshold = shadow.threshold
        return TelemetryBatch(
            url=self.url,
            channels=channels,
            t=t,
            values=v,
            stats=self._stats,
            rate_hz=self.rate_hz,
            samples=self.samples,
            dropped_lines=self.dropped_lines(),
            lost=self.lost,
            log_lines=self.parser.stats.log_lines,
            model_channel=channels[model_i] if model_i is not None else None,
            threshold=threshold,
            shadow=shadow_points,
            shadow_status=status,
            header_changed=header_changed,
        )


@dataclass
class StreamSummary:
    """For the headless demo's JSON: what one device streamed."""

    url: str
    samples: int
    rate_hz: float
    dropped_lines: int
    lost: int
    channels: list[str] = field(default_factory=list)
    shadow: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, stream: TelemetryStream) -> StreamSummary:
        return cls(
            stream.url,
            stream.samples,
            round(stream.rate_hz, 2),
            stream.dropped_lines(),
            stream.lost,
            list(stream.parser.channels),
            stream.shadow_status().to_json(),
        )
