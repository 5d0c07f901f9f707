"""Deterministic synthetic vibration of a rotating machine: 3-axis accelerometer + temperature.

One generator serves two users: the vibration sample model's build script (batch:
windows for training and evaluation) and the virtual serial device (streaming: the
next N readings, printed one line per reading at a fixed rate).

The machine: a motor whose shaft turns at ``shaft_hz`` (12.5 Hz = 750 rpm by
default) with a slow speed drift of a few percent; an accelerometer on the bearing
housing, z vertical (so z carries +1 g of gravity), sampled at ``sample_rate_hz``
(200 Hz by default: enough for 1x..6x shaft harmonics and a 70 Hz housing
resonance below the 100 Hz Nyquist limit of an MCU-class sensor loop).
Units: acceleration in g, temperature in degrees Celsius.

Modes (``FAULT_MODES``), each scaled by ``severity`` in [0, 2] (1 = clearly developed):

- ``normal``: 1x, 2x, 3x shaft components per axis (fixed per machine), slow speed and
  amplitude drift, white sensor noise.
- ``imbalance``: a large rotating 1x force (radial x/y in quadrature), a little warmer.
- ``bearing``: an outer-race defect; impacts at 3.58x shaft speed (the BPFO of a
  typical deep-groove bearing) with jitter and load-zone modulation, each ringing
  the housing resonance and decaying in ~10 ms; the bearing runs hotter.
- ``looseness``: a loose foot: many shaft harmonics and a 0.5x subharmonic, and the
  downward z motion truncated where the foot hits its base (one-sided clipping).

Determinism: everything follows from ``seed`` (numpy ``Generator``). Samples are made
in fixed blocks of ``BLOCK`` readings, so the stream does not depend on how it is read
(``read(10)`` twice equals ``read(20)``). A fault change applies from the next block
(at most ``BLOCK`` samples later), like a fault that develops between two readings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgeconsole.core.errors import ConfigError

FAULT_MODES: tuple[str, ...] = ("normal", "imbalance", "bearing", "looseness")
CHANNELS: tuple[str, ...] = ("accel_x_g", "accel_y_g", "accel_z_g", "temp_c")
ACCEL_AXES = 3
DEFAULT_SAMPLE_RATE_HZ = 200.0
BLOCK = 64  # samples generated at a time (0.32 s at 200 Hz)
MAX_READ_SAMPLES = 1_000_000  # per call; keeps a typo from allocating gigabytes
MAX_WINDOW = 65_536
MAX_SEVERITY = 2.0
MAX_SEED = 2**63 - 1

# Highest shaft harmonic any mode puts in the signal; it must stay below Nyquist.
_HIGHEST_HARMONIC = 6
# Ball-pass frequency of the outer race / shaft frequency (typical 6205 bearing).
_BPFO_RATIO = 3.58
_BEARING_DECAY_S = 0.010
_BEARING_TAIL_S = 8 * _BEARING_DECAY_S  # contributions beyond this are below 1e-3 of peak


@dataclass(frozen=True)
class MachineProfile:
    """The simulated machine and sensor. Defaults are what the sample model is trained on."""

    sample_rate_hz: float = DEFAULT_SAMPLE_RATE_HZ
    shaft_hz: float = 12.5
    speed_drift: float = 0.03  # peak fractional speed change over the slow drift
    drift_period_s: float = 40.0
    noise_g: float = 0.01  # sensor noise (standard deviation) per axis
    gravity_g: tuple[float, float, float] = (0.0, 0.0, 1.0)
    ambient_c: float = 38.0
    resonance_hz: float = 70.0  # housing resonance rung by bearing impacts

    def validate(self) -> None:
        """Raise ConfigError when the machine cannot be sampled as described."""
        for name in ("sample_rate_hz", "shaft_hz", "drift_period_s"):
            value = getattr(self, name)
            if not _finite_number(value) or value <= 0:
                raise ConfigError(
                    f"vibration profile {name} must be a positive number, got {value!r}"
                )
        for name in ("speed_drift", "noise_g"):
            value = getattr(self, name)
            if not _finite_number(value) or value < 0:
                raise ConfigError(
                    f"vibration profile {name} must be zero or positive, got {value!r}"
                )
        if self.speed_drift >= 0.5:
            raise ConfigError(
                "vibration profile speed_drift must be below 0.5",
                hint="it is a fraction of the shaft speed",
            )
        if len(self.gravity_g) != ACCEL_AXES or not all(_finite_number(g) for g in self.gravity_g):
            raise ConfigError("vibration profile gravity_g must be three numbers")
        if not _finite_number(self.ambient_c):
            raise ConfigError("vibration profile ambient_c must be a number")
        nyquist = self.sample_rate_hz / 2
        top = self.shaft_hz * (1 + self.speed_drift) * _HIGHEST_HARMONIC
        if top >= nyquist:
            raise ConfigError(
                f"shaft {self.shaft_hz} Hz needs a sample rate above {2 * top:.1f} Hz, "
                f"got {self.sample_rate_hz} Hz",
                hint=f"its {_HIGHEST_HARMONIC}th harmonic must stay below Nyquist",
            )
        if not (_finite_number(self.resonance_hz) and 0 < self.resonance_hz < nyquist):
            raise ConfigError(
                f"vibration profile resonance_hz must be between 0 and "
                f"{nyquist} Hz (Nyquist), got {self.resonance_hz!r}"
            )


def _finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_int(value: object, what: str, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{what} must be an integer, got {value!r}")
    v = int(value)
    if not minimum <= v <= maximum:
        raise ConfigError(f"{what} must be between {minimum} and {maximum}, got {v}")
    return v


def check_fault(fault: object, severity: object) -> tuple[str, float]:
    """Validate a fault mode and severity; return them normalised."""
    if not isinstance(fault, str) or fault not in FAULT_MODES:
        raise ConfigError(
            f"unknown vibration fault mode {fault!r}", hint=f"one of {', '.join(FAULT_MODES)}"
        )
    if not (
        isinstance(severity, int | float)
        and _finite_number(severity)
        and 0.0 <= float(severity) <= MAX_SEVERITY
    ):
        raise ConfigError(
            f"vibration fault severity must be a number from 0 to {MAX_SEVERITY}, got {severity!r}"
        )
    return fault, float(severity)


# Degrees Celsius a fully developed fault adds at the sensor, reached with _HEAT_TAU_S.
_FAULT_HEAT_C = {"normal": 0.0, "imbalance": 2.0, "bearing": 6.0, "looseness": 1.0}
_HEAT_TAU_S = 30.0


class VibrationSource:
    """A stream of readings ``[accel_x_g, accel_y_g, accel_z_g, temp_c]`` at a fixed rate.

    ``read(n)`` returns the next ``n`` readings as a float64 array ``(n, 4)``; sample
    ``i`` is taken at ``i / sample_rate_hz`` seconds.
    """

    def __init__(
        self,
        seed: int = 0,
        fault: str = "normal",
        severity: float = 1.0,
        profile: MachineProfile | None = None,
    ) -> None:
        self._seed = _check_int(seed, "vibration seed", 0, MAX_SEED)
        self._profile = profile if profile is not None else MachineProfile()
        self._profile.validate()
        self._fault, self._severity = check_fault(fault, severity)
        # Separate streams so the machine's constants do not shift when the noise is drawn
        # differently, and the bearing impacts do not shift the sensor noise.
        machine_seq, noise_seq, impact_seq = np.random.SeedSequence(self._seed).spawn(3)
        self._noise_rng = np.random.default_rng(noise_seq)
        self._impact_rng = np.random.default_rng(impact_seq)
        m = np.random.default_rng(machine_seq)
        # Per-axis amplitude (g) and phase of the 1x, 2x, 3x components: this machine's
        # healthy signature, varied a little per seed as between two units of one model.
        base_amp = np.array([[0.050, 0.020, 0.010], [0.040, 0.016, 0.008], [0.020, 0.010, 0.006]])
        self._amp = base_amp * m.uniform(0.85, 1.15, size=base_amp.shape)
        self._phase = m.uniform(0, 2 * np.pi, size=base_amp.shape)
        self._drift_phase = float(m.uniform(0, 2 * np.pi))
        self._wobble_phase = float(m.uniform(0, 2 * np.pi))
        self._temp_phase = float(m.uniform(0, 2 * np.pi))
        self._loose_phase = m.uniform(0, 2 * np.pi, size=_HIGHEST_HARMONIC + 1)
        # Streaming state, carried from block to block.
        self._index = 0  # index of the next sample to generate
        self._theta = 0.0  # shaft angle (rad) at the next sample
        self._heat = 0.0  # fault heating (deg C) reached so far
        self._impacts: list[tuple[float, float]] = []  # (time s, amplitude g) still ringing
        self._next_impact_s = 0.0
        self._buffer = np.empty((0, len(CHANNELS)))

    @property
    def sample_rate_hz(self) -> float:
        return self._profile.sample_rate_hz

    @property
    def profile(self) -> MachineProfile:
        return self._profile

    @property
    def fault(self) -> str:
        return self._fault

    @property
    def severity(self) -> float:
        return self._severity

    @property
    def samples_read(self) -> int:
        return self._index - len(self._buffer)

    def set_fault(self, fault: str, severity: float = 1.0) -> None:
        """Switch mode; takes effect from the next generated block (at most BLOCK samples)."""
        self._fault, self._severity = check_fault(fault, severity)

    def read(self, n: int) -> np.ndarray:
        """The next ``n`` readings, float64 ``(n, 4)``: x, y, z in g, temperature in C."""
        n = _check_int(n, "number of vibration samples", 0, MAX_READ_SAMPLES)
        if len(self._buffer) < n:
            # Collect whole blocks, join once: joining per block would copy O(n^2) samples.
            parts = [self._buffer]
            have = len(self._buffer)
            while have < n:
                parts.append(self._block())
                have += BLOCK
            self._buffer = np.concatenate(parts)
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out.copy()

    # -- generation ---------------------------------------------------------------------

    def _block(self) -> np.ndarray:
        p = self._profile
        fs = p.sample_rate_hz
        k = self._index + np.arange(BLOCK)
        t = k / fs
        fault, sev = self._fault, self._severity

        # Speed: a slow drift plus a faster small wobble (load changes); the shaft angle is
        # integrated so the phase stays continuous across blocks and speed changes.
        speed = p.shaft_hz * (
            1.0
            + p.speed_drift * np.sin(2 * np.pi * t / p.drift_period_s + self._drift_phase)
            + 0.2 * p.speed_drift * np.sin(2 * np.pi * t / 7.3 + self._wobble_phase)
        )
        theta = self._theta + np.cumsum(2 * np.pi * speed / fs) - 2 * np.pi * speed[0] / fs
        self._theta = float(theta[-1] + 2 * np.pi * speed[-1] / fs)

        harmonics = np.stack(
            [np.sin(h * theta[:, None] + self._phase[:, h - 1][None, :]) for h in (1, 2, 3)],
            axis=-1,
        )  # (BLOCK, axis, harmonic)
        accel = np.einsum("tah,ah->ta", harmonics, self._amp)
        accel *= 1.0 + 0.05 * np.sin(2 * np.pi * t / 11.0 + self._wobble_phase)[:, None]

        if fault == "imbalance" and sev > 0:
            # A heavy spot turns with the shaft: a radial 1x force, x and y in quadrature.
            accel[:, 0] += sev * 0.16 * np.sin(theta + 0.3)
            accel[:, 1] += sev * 0.16 * np.cos(theta + 0.3)
            accel[:, 2] += sev * 0.03 * np.sin(theta + 1.1)
        elif fault == "looseness" and sev > 0:
            loose = sev * 0.03 * np.sin(0.5 * theta + self._loose_phase[0])
            for h in range(1, _HIGHEST_HARMONIC + 1):
                loose = loose + sev * (0.06 / math.sqrt(h)) * np.sin(
                    h * theta + self._loose_phase[h]
                )
            accel[:, 1] += 0.6 * loose
            accel[:, 2] += loose
            # The foot lifts and lands on its base: z cannot move further down than the
            # gap allows. Clipping starts at a gap of 0.08 g at severity 1.
            floor = -(0.08 + max(0.0, 1.0 - sev) * 1.0)
            accel[:, 2] = np.maximum(accel[:, 2], floor)
        if fault == "bearing" and sev > 0:
            self._schedule_impacts(t[-1], speed, theta, sev)
        accel += self._ringing(t)

        accel += self._noise_rng.normal(0.0, p.noise_g, size=accel.shape) if p.noise_g else 0.0
        accel += np.asarray(p.gravity_g)[None, :]

        # Temperature: ambient with a slow swing, fault heating through a first-order lag
        # (exact per sample), and a sensor noise of 0.02 C.
        target = _FAULT_HEAT_C[fault] * sev
        decay = np.exp(-(np.arange(1, BLOCK + 1)) / (_HEAT_TAU_S * fs))
        heat = target + (self._heat - target) * decay
        self._heat = float(heat[-1])
        temp = (
            p.ambient_c
            + 0.4 * np.sin(2 * np.pi * t / 300.0 + self._temp_phase)
            + heat
            + self._noise_rng.normal(0.0, 0.02, size=BLOCK)
        )

        self._index += BLOCK
        return np.column_stack([accel, temp])

    def _schedule_impacts(
        self, t_end: float, speed: np.ndarray, theta: np.ndarray, sev: float
    ) -> None:
        """Add the outer-race impacts that fall in this block (jittered, load-modulated)."""
        p = self._profile
        t0 = self._index / p.sample_rate_hz
        self._next_impact_s = max(self._next_impact_s, t0)
        while self._next_impact_s <= t_end:
            i = min(round((self._next_impact_s - t0) * p.sample_rate_hz), BLOCK - 1)
            load_zone = 0.6 + 0.4 * math.cos(float(theta[i]))
            amplitude = sev * 0.35 * load_zone * float(self._impact_rng.uniform(0.7, 1.3))
            self._impacts.append((self._next_impact_s, amplitude))
            period = 1.0 / (_BPFO_RATIO * float(speed[i]))
            self._next_impact_s += period * float(self._impact_rng.uniform(0.95, 1.05))

    def _ringing(self, t: np.ndarray) -> np.ndarray:
        """Sum of decaying housing-resonance responses of the impacts still ringing."""
        out = np.zeros((len(t), ACCEL_AXES))
        self._impacts = [imp for imp in self._impacts if imp[0] > t[0] - _BEARING_TAIL_S]
        if not self._impacts:
            return out
        times = np.array([imp[0] for imp in self._impacts])[:, None]
        amps = np.array([imp[1] for imp in self._impacts])[:, None]
        dt = t[None, :] - times
        wave = np.where(
            dt >= 0,
            amps
            * np.exp(-np.maximum(dt, 0) / _BEARING_DECAY_S)
            * np.sin(2 * np.pi * self._profile.resonance_hz * dt),
            0.0,
        ).sum(axis=0)
        # The defect is in the load zone under the shaft: mostly vertical and radial-y.
        out += wave[:, None] * np.array([0.5, 0.8, 1.0])[None, :]
        return out


def make_windows(
    seed: int,
    fault: str,
    count: int,
    window: int,
    *,
    hop: int | None = None,
    severity: float = 1.0,
    profile: MachineProfile | None = None,
) -> np.ndarray:
    """``count`` accelerometer windows ``(count, window, 3)`` (g, float64) from one stream.

    Windows start every ``hop`` samples (default ``window``: back to back), so a long
    run covers the slow speed drift the way a device's buffer would see it.
    """
    window = _check_int(window, "vibration window length", 1, MAX_WINDOW)
    count = _check_int(count, "number of vibration windows", 1, MAX_READ_SAMPLES)
    step = window if hop is None else _check_int(hop, "vibration window hop", 1, MAX_WINDOW)
    total = (count - 1) * step + window
    if total > 20 * MAX_READ_SAMPLES:
        raise ConfigError(
            f"{count} windows of {window} samples need {total} samples, more "
            f"than {20 * MAX_READ_SAMPLES}",
            hint="ask for fewer windows",
        )
    source = VibrationSource(seed, fault, severity, profile)
    chunks = []
    remaining = total
    while remaining:
        n = min(remaining, MAX_READ_SAMPLES)
        chunks.append(source.read(n)[:, :ACCEL_AXES])
        remaining -= n
    stream = np.concatenate(chunks)
    starts = np.arange(count) * step
    return np.stack([stream[s : s + window] for s in starts])
