"""The synthetic vibration generator: deterministic, stream-chunking invariant, physically
plausible per mode, and strict about its arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeconsole.core.errors import ConfigError
from edgeconsole.sim.vibration import (
    BLOCK,
    CHANNELS,
    FAULT_MODES,
    MAX_READ_SAMPLES,
    MachineProfile,
    VibrationSource,
    make_windows,
)

FS = 200.0


def spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Amplitude spectrum (g) of one axis, mean removed, and its frequencies."""
    x = x - x.mean()
    amp = np.abs(np.fft.rfft(x * np.hanning(len(x)))) * 2 / np.hanning(len(x)).sum()
    return np.fft.rfftfreq(len(x), 1 / FS), amp


def band(freqs: np.ndarray, amp: np.ndarray, lo: float, hi: float) -> float:
    return float(amp[(freqs >= lo) & (freqs <= hi)].max())


def test_same_seed_same_stream_and_different_seed_differs() -> None:
    a = VibrationSource(seed=7).read(1000)
    b = VibrationSource(seed=7).read(1000)
    c = VibrationSource(seed=8).read(1000)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == (1000, len(CHANNELS)) and a.dtype == np.float64
    assert np.isfinite(a).all()


@pytest.mark.parametrize("fault", FAULT_MODES)
def test_stream_does_not_depend_on_how_it_is_read(fault: str) -> None:
    whole = VibrationSource(seed=3, fault=fault).read(700)
    src = VibrationSource(seed=3, fault=fault)
    parts = [src.read(n) for n in (1, 0, 63, 64, 65, 200, 307)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert src.samples_read == 700


def test_normal_operation_looks_like_a_healthy_machine() -> None:
    data = VibrationSource(seed=0).read(int(60 * FS))
    x, y, z, temp = data.T
    # Sensor z is vertical: gravity on z only.
    assert abs(z.mean() - 1.0) < 0.01 and abs(x.mean()) < 0.01 and abs(y.mean()) < 0.01
    for axis in (x, y, z):
        rms = float(np.std(axis))
        assert 0.01 < rms < 0.08
    # Over 4 s the speed drift is small, so the 1x shaft line stays sharp and stands out
    # from the noise floor around 60 Hz.
    freqs, amp = spectrum(x[: int(4 * FS)])
    one_x = band(freqs, amp, 11.5, 13.5)
    assert one_x > 0.03 and one_x > 10 * np.median(amp[(freqs > 55) & (freqs < 65)])
    assert temp.min() > 37.0 and temp.max() < 39.0


def test_imbalance_raises_the_radial_1x_component() -> None:
    n = int(30 * FS)
    normal = VibrationSource(seed=1).read(n)
    faulty = VibrationSource(seed=1, fault="imbalance").read(n)
    for axis in (0, 1):
        f, a_n = spectrum(normal[:, axis])
        _, a_f = spectrum(faulty[:, axis])
        assert band(f, a_f, 11.5, 13.5) > 2.5 * band(f, a_n, 11.5, 13.5)


def test_bearing_fault_rings_the_housing_resonance_with_impacts() -> None:
    n = int(30 * FS)
    normal = VibrationSource(seed=2).read(n)
    faulty = VibrationSource(seed=2, fault="bearing").read(n)
    f, a_n = spectrum(normal[:, 2])
    _, a_f = spectrum(faulty[:, 2])
    assert band(f, a_f, 60, 80) > 5 * band(f, a_n, 60, 80)

    # Impulsive: high crest factor compared with the healthy signal.
    def crest(v: np.ndarray) -> float:
        v = v - v.mean()
        return float(np.abs(v).max() / v.std())

    assert np.abs(faulty[:, 2] - 1).max() > 2 * np.abs(normal[:, 2] - 1).max()
    assert crest(faulty[:, 2]) > 3


def test_looseness_adds_harmonics_and_clips_downward_motion() -> None:
    n = int(30 * FS)
    normal = VibrationSource(seed=4).read(n)
    faulty = VibrationSource(seed=4, fault="looseness").read(n)
    f, a_n = spectrum(normal[:, 2])
    _, a_f = spectrum(faulty[:, 2])
    for h in (4, 5, 6):
        lo, hi = 12.5 * h * 0.95, 12.5 * h * 1.05
        assert band(f, a_f, lo, hi) > 5 * band(f, a_n, lo, hi)
    dyn = faulty[:, 2] - 1.0
    # One-sided: the foot stops at the base (-0.08 g plus sensor noise), upward swing free.
    assert dyn.min() > -0.08 - 5 * 0.01
    assert dyn.max() > 0.2


def test_faults_heat_the_machine_through_a_lag() -> None:
    src = VibrationSource(seed=5, fault="bearing")
    first = src.read(int(2 * FS))[:, 3]
    src.read(int(90 * FS))
    later = src.read(int(2 * FS))[:, 3]
    normal = VibrationSource(seed=5).read(int(94 * FS))[-int(2 * FS) :, 3]
    assert later.mean() - normal.mean() > 4.5  # 6 C at full severity, 3 time constants
    assert first.mean() - normal.mean() < 1.0  # not instantly: about 0.4 C after 2 s


@pytest.mark.parametrize("fault", FAULT_MODES[1:])
def test_severity_zero_is_normal_operation(fault: str) -> None:
    np.testing.assert_array_equal(
        VibrationSource(seed=6, fault=fault, severity=0.0).read(500),
        VibrationSource(seed=6).read(500),
    )


def test_set_fault_applies_within_one_block_and_keeps_the_stream_continuous() -> None:
    src = VibrationSource(seed=9)
    before = src.read(1000)
    src.set_fault("imbalance", 1.0)
    assert src.fault == "imbalance" and src.severity == 1.0
    after = src.read(2000)
    reference = VibrationSource(seed=9).read(3000)
    np.testing.assert_array_equal(before, reference[:1000])
    # Samples already generated (up to one block) are delivered unchanged, then it differs.
    changed = np.flatnonzero(np.any(after != reference[1000:], axis=1))
    assert changed.size and changed[0] <= BLOCK
    # No jump at the seam: the step between consecutive readings stays physical.
    seam = np.concatenate([before[-1:], after[: BLOCK + 2]])
    assert np.abs(np.diff(seam[:, :3], axis=0)).max() < 0.5


def test_other_sample_rates_work() -> None:
    profile = MachineProfile(sample_rate_hz=1000.0)
    src = VibrationSource(seed=0, profile=profile)
    assert src.sample_rate_hz == 1000.0
    data = src.read(5000)
    assert data.shape == (5000, 4) and np.isfinite(data).all()


def test_make_windows_shapes_and_hop() -> None:
    w = make_windows(11, "normal", 5, 64)
    assert w.shape == (5, 64, 3)
    stream = VibrationSource(seed=11).read(5 * 64)[:, :3]
    np.testing.assert_array_equal(w.reshape(-1, 3), stream)
    overlapped = make_windows(11, "normal", 3, 64, hop=16)
    np.testing.assert_array_equal(overlapped[1], stream[16:80])


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: VibrationSource(seed=0).read(-1), "number of vibration samples"),
        (lambda: VibrationSource(seed=0).read(MAX_READ_SAMPLES + 1), "between 0 and"),
        (lambda: VibrationSource(seed=0).read(2.5), "must be an integer"),  # type: ignore[arg-type]
        (lambda: VibrationSource(seed=0).read(True), "must be an integer"),
        (lambda: VibrationSource(seed=-1), "vibration seed"),
        (lambda: VibrationSource(seed="1"), "vibration seed"),  # type: ignore[arg-type]
        (lambda: VibrationSource(fault="misalignment"), "unknown vibration fault mode"),
        (lambda: VibrationSource(fault=None), "unknown vibration fault mode"),  # type: ignore[arg-type]
        (lambda: VibrationSource(fault="bearing", severity=-0.1), "severity"),
        (lambda: VibrationSource(fault="bearing", severity=math.nan), "severity"),
        (lambda: VibrationSource(fault="bearing", severity=3), "severity"),
        (lambda: VibrationSource(fault="bearing", severity="high"), "severity"),  # type: ignore[arg-type]
        (lambda: VibrationSource(seed=0).set_fault("rust"), "unknown vibration fault mode"),
        (lambda: VibrationSource(profile=MachineProfile(sample_rate_hz=0)), "sample_rate_hz"),
        (
            lambda: VibrationSource(profile=MachineProfile(sample_rate_hz=math.inf)),
            "sample_rate_hz",
        ),
        (lambda: VibrationSource(profile=MachineProfile(sample_rate_hz=100.0)), "Nyquist"),
        (lambda: VibrationSource(profile=MachineProfile(noise_g=-0.1)), "noise_g"),
        (lambda: VibrationSource(profile=MachineProfile(resonance_hz=150.0)), "resonance_hz"),
        (lambda: VibrationSource(profile=MachineProfile(speed_drift=0.9)), "speed_drift"),
        (lambda: make_windows(0, "normal", 0, 64), "number of vibration windows"),
        (lambda: make_windows(0, "normal", -3, 64), "number of vibration windows"),
        (lambda: make_windows(0, "normal", 3, -64), "window length"),
        (lambda: make_windows(0, "normal", 3, 64, hop=0), "hop"),
        (lambda: make_windows(0, "normal", MAX_READ_SAMPLES, 65536), "ask for fewer"),
        (lambda: make_windows(0, "wobble", 3, 64), "unknown vibration fault mode"),
    ],
)
def test_malformed_arguments_give_a_clear_config_error(call, fragment: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        call()
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_unknown_fault_error_lists_the_modes() -> None:
    with pytest.raises(ConfigError) as info:
        VibrationSource(fault="misalignment")
    assert all(mode in str(info.value) for mode in FAULT_MODES)


def test_a_failed_call_leaves_the_stream_intact() -> None:
    src = VibrationSource(seed=12)
    first = src.read(10)
    with pytest.raises(ConfigError):
        src.read(-5)
    with pytest.raises(ConfigError):
        src.set_fault("nope")
    rest = src.read(90)
    np.testing.assert_array_equal(np.concatenate([first, rest]), VibrationSource(seed=12).read(100))
    assert src.fault == "normal"
