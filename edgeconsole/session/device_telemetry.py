"""A device's telemetry lines, turned into what the window plots (no Qt here).

One :class:`TelemetryStream` per connected device. The target manager's pump
thread feeds it the raw bytes the serial link collected (``SerialTarget.text``);
the stream parses them with :class:`~edgeconsole.sources.telemetry_lines.TelemetryParser`,
gives every sample a time, keeps bounded buffers (newest kept, drops counted),
per-channel statistics over the last seconds, the line rate, and the device's
own model output. ``take()`` (called from ``Session.poll()``) hands over
everything new since the last call as one :class:`TelemetryBatch`.

**Shadow inference.** When the bundle the device runs is known and verified,
:class:`ShadowRunner` runs the same model on the laptop over the same windows
of readings the device used, and compares its output with the device's. A
difference beyond the bundle's golden tolerance is counted and flagged: it
catches wrong preprocessing or quantization damage on the device.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeconsole.sources.telemetry_lines import TelemetryParser, TelemetrySample

#: Samples held for the window between two polls; older ones are dropped (counted).
PENDING_LIMIT = 50_000
#: Samples the statistics look back over (about 10 s at 1 kHz).
HISTORY_LIMIT = 10_000
#: Rate estimate window.
RATE_WINDOW_NS = 2_000_000_000
#: Channels the device's model output may be called.
MODEL_OUTPUT_NAMES = ("score", "anomaly_score", "model_out", "model_output", "output")
#: Comparisons remembered for the divergence flag.
RECENT_COMPARISONS = 20
#: Shadow comparisons kept between two polls.
SHADOW_PENDING_LIMIT = 2_000


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
class ShadowPoint:
    t_s: float
    device: float
    laptop: float

    @property
    def diff(self) -> float:
        return self.device - self.laptop


@dataclass(frozen=True)
class ShadowStatus:
    """Where the laptop's run of the device's bundle stands."""

    available: bool = False
    reason: str = "no bundle known for this device"
    bundle: str = ""
    tolerance: float | None = None
    compared: int = 0
    divergent: int = 0
    max_abs_diff: float | None = None
    last_diff: float | None = None
    #: A recent comparison was beyond the tolerance.
    diverging: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


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


class ShadowRunner:
    """Runs the device's bundle on the laptop over the device's own windows.

    ``engine`` has ``process_array(window)`` returning an InferenceResult whose
    ``anomaly.score`` (or ``classification.score``) is the model output the
    device prints. ``window`` readings of ``inputs`` channels make one input.
    """

    def __init__(
        self,
        engine: Any,
        *,
        window: int,
        tolerance: float,
        threshold: float | None,
        bundle: str,
        input_channels: tuple[str, ...] = (),
    ) -> None:
        self.engine = engine
        self.window = window
        self.tolerance = tolerance
        self.threshold = threshold
        self.bundle = bundle
        self.input_channels = input_channels

    @staticmethod
    def input_window(input_size: int, n_inputs: int) -> int:
        """Readings per model input, or 0 when the channels cannot fill it."""
        if n_inputs <= 0 or input_size <= 0 or input_size % n_inputs:
            return 0
        return input_size // n_inputs

    def run(self, window: np.ndarray) -> float:
        result = self.engine.process_array(window.astype(np.float32))
        if result.anomaly is not None:
            return float(result.anomaly.score)
        if result.classification is not None:
            return float(result.classification.score)
        raise ValueError("the shadow model gives no score")

    def close(self) -> None:
        close = getattr(self.engine, "close", None)
        if close is not None:
            close()


def input_channels_of(channels: tuple[str, ...]) -> tuple[int, ...]:
    """Indices of the channels a vibration-style model reads (the accelerometer)."""
    picked = tuple(i for i, n in enumerate(channels) if n.lower().startswith(("accel", "acc_")))
    if picked:
        return picked
    axes = ("ax", "ay", "az")
    return tuple(i for i, n in enumerate(channels) if n.lower() in axes)


def model_channel_of(channels: tuple[str, ...]) -> int | None:
    for i, n in enumerate(channels):
        if n.lower() in MODEL_OUTPUT_NAMES:
            return i
    return None


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
        # shadow
        self.shadow: ShadowRunner | None = None
        self._shadow_reason = "no bundle known for this device"
        self._shadow_pending: deque[ShadowPoint] = deque(maxlen=SHADOW_PENDING_LIMIT)
        self._shadow_lost = 0
        self._compared = 0
        self._divergent = 0
        self._max_abs = 0.0
        self._last_diff: float | None = None
        self._recent: deque[bool] = deque(maxlen=RECENT_COMPARISONS)
        self._last_score: float | None = None
        self._win = np.zeros((0, 0))  # rolling input readings for the shadow

    # ------------------------------------------------------------------ shadow
    def set_shadow(self, runner: ShadowRunner | None, reason: str = "") -> None:
        with self._lock:
            old, self.shadow = self.shadow, runner
            self._shadow_reason = reason
            self._compared = self._divergent = 0
            self._max_abs = 0.0
            self._last_diff = None
            self._recent.clear()
            self._last_score = None
            self._win = np.zeros((0, 0))
        if old is not None and old is not runner:
            old.close()

    def shadow_status(self) -> ShadowStatus:
        with self._lock:
            return self._shadow_status_locked()

    def _shadow_status_locked(self) -> ShadowStatus:
        s = self.shadow
        if s is None:
            return ShadowStatus(reason=self._shadow_reason)
        return ShadowStatus(
            available=True,
            reason="",
            bundle=s.bundle,
            tolerance=s.tolerance,
            compared=self._compared,
            divergent=self._divergent,
            max_abs_diff=self._max_abs if self._compared else None,
            last_diff=self._last_diff,
            diverging=any(self._recent),
        )

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
                    self._win = np.zeros((0, 0))
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
            shadow = self.shadow
        if shadow is not None:
            self._run_shadow(shadow, t_s, values)
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

    def _run_shadow(self, shadow: ShadowRunner, t_s: np.ndarray, values: np.ndarray) -> None:
        channels = self.parser.channel_names(values.shape[1])
        score_i = model_channel_of(channels)
        inputs = input_channels_of(channels)
        if score_i is None or not inputs:
            return
        win = shadow.window
        buf = self._win
        if buf.shape[1:] != (len(inputs),):
            buf = np.zeros((0, len(inputs)))
        full = np.concatenate([buf, values[:, inputs]])
        offset = len(buf)
        scores = values[:, score_i]
        prev = np.concatenate(
            [[np.nan if self._last_score is None else self._last_score], scores[:-1]]
        )
        self._last_score = float(scores[-1])
        # The device prints a new score once per window hop: a change in the printed
        # value marks the reading its window ended with.
        changed = np.flatnonzero(np.isfinite(scores) & np.isfinite(prev) & (scores != prev))
        points: list[ShadowPoint] = []
        for i in changed:
            end = offset + int(i) + 1
            window = full[end - win : end] if end >= win else None
            if window is None or not np.all(np.isfinite(window)):
                continue
            try:
                laptop = shadow.run(window.reshape(-1))
            except Exception as exc:  # a model that fails on the laptop: say so, stop comparing
                self.set_shadow(None, f"shadow model failed: {exc}")
                return
            points.append(ShadowPoint(float(t_s[i]), float(scores[i]), laptop))
        buf = full[-win:]
        self._win = buf
        if not points:
            return
        with self._lock:
            for p in points:
                d = abs(p.diff)
                self._compared += 1
                self._last_diff = p.diff
                self._max_abs = max(self._max_abs, d)
                bad = not d <= shadow.tolerance
                self._divergent += bad
                self._recent.append(bad)
                if len(self._shadow_pending) == self._shadow_pending.maxlen:
                    self._shadow_lost += 1
                self._shadow_pending.append(p)

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
            if not self._t and not self._header_changed and not self._shadow_pending:
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
            shadow_points = tuple(self._shadow_pending)
            self._shadow_pending.clear()
            status = self._shadow_status_locked()
            shadow = self.shadow
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
