"""Shadow inference: the device's own bundle, run on the laptop, compared with the device.

When the bundle a device runs is known and verified, :class:`ShadowRunner` runs the
same model on the laptop over the same windows of readings the device used, and
:class:`ShadowComparer` compares its output with the score the device printed. A
difference beyond the bundle's golden tolerance is counted and flagged: it catches
wrong preprocessing or quantization damage on the device.

The device prints a new score once per window hop, so a change in the printed value
marks the reading its window ended with; the comparer keeps the last window of input
readings between two chunks of telemetry.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeconsole.core.errors import ConfigError
from edgeconsole.inference.spec import ModelSpec

#: Channels the device's model output may be called.
MODEL_OUTPUT_NAMES = ("score", "anomaly_score", "model_out", "model_output", "output")
#: Comparisons remembered for the divergence flag.
RECENT_COMPARISONS = 20
#: Shadow comparisons kept between two polls.
SHADOW_PENDING_LIMIT = 2_000
#: The channels assumed before a device has named its own.
DEFAULT_INPUT_CHANNELS = ("accel_x_g", "accel_y_g", "accel_z_g")


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


def load_shadow_runner(
    spec: ModelSpec,
    model_bytes: dict[str, bytes] | None,
    channels: tuple[str, ...],
    bundle: str,
) -> ShadowRunner:
    """Load ``spec`` (a verified bundle's description and files) to shadow a device whose
    telemetry has ``channels``; raises ConfigError when its input cannot be filled from
    them, or what onnxruntime says about the model."""
    from edgeconsole.inference.engine import InferenceEngine

    size = 1
    for d in spec.inputs[0].shape[1:]:
        size *= max(1, int(d))
    n_in = len(input_channels_of(channels or DEFAULT_INPUT_CHANNELS)) or 3
    window = ShadowRunner.input_window(size, n_in)
    if not window:
        raise ConfigError(f"model input of {size} values does not match {n_in} telemetry channels")
    golden = spec.golden or {}
    tolerance = float(golden.get("tolerance", 0.0)) if golden else 0.0
    engine = InferenceEngine.load(spec, threads=1, model_bytes=model_bytes)
    return ShadowRunner(
        engine,
        window=window,
        tolerance=tolerance,
        threshold=_float_or_none(spec.head.params.get("threshold")),
        bundle=bundle,
    )


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


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


class ShadowComparer:
    """One device's comparisons: fed every chunk of readings, thread-safe to read.

    ``compare`` runs on the one thread that feeds the telemetry (the model runs there,
    outside the lock); ``set_runner``, ``status`` and ``take_points`` from any thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.runner: ShadowRunner | None = None
        self._reason = "no bundle known for this device"
        self._pending: deque[ShadowPoint] = deque(maxlen=SHADOW_PENDING_LIMIT)
        self.lost = 0
        self._compared = 0
        self._divergent = 0
        self._max_abs = 0.0
        self._last_diff: float | None = None
        self._recent: deque[bool] = deque(maxlen=RECENT_COMPARISONS)
        self._last_score: float | None = None
        self._win = np.zeros((0, 0))  # rolling input readings between two chunks

    def set_runner(self, runner: ShadowRunner | None, reason: str = "") -> None:
        """Shadow with ``runner`` from now on (None: stop, saying ``reason``)."""
        with self._lock:
            old, self.runner = self.runner, runner
            self._reason = reason
            self._compared = self._divergent = 0
            self._max_abs = 0.0
            self._last_diff = None
            self._recent.clear()
            self._last_score = None
            self._win = np.zeros((0, 0))
        if old is not None and old is not runner:
            old.close()

    def restart_window(self) -> None:
        """The device named other channels: readings before it do not continue a window."""
        with self._lock:
            self._win = np.zeros((0, 0))

    @property
    def has_points(self) -> bool:
        return bool(self._pending)

    def status(self) -> ShadowStatus:
        with self._lock:
            s = self.runner
            if s is None:
                return ShadowStatus(reason=self._reason)
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

    def take_points(self) -> tuple[ShadowPoint, ...]:
        with self._lock:
            points = tuple(self._pending)
            self._pending.clear()
        return points

    def compare(self, channels: tuple[str, ...], t_s: np.ndarray, values: np.ndarray) -> None:
        """Compare the device's scores in this chunk with the laptop's run of its windows."""
        shadow = self.runner
        if shadow is None:
            return
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
                self.set_runner(None, f"shadow model failed: {exc}")
                return
            points.append(ShadowPoint(float(t_s[i]), float(scores[i]), laptop))
        self._win = full[-win:]
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
                if len(self._pending) == self._pending.maxlen:
                    self.lost += 1
                self._pending.append(p)
