"""Shadow inference loads the real vibration model and refuses channels that cannot feed it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeconsole.core.errors import ConfigError
from edgeconsole.inference.shadow import ShadowComparer, load_shadow_runner
from edgeconsole.inference.spec import load_model_spec

VIBRATION = Path(__file__).resolve().parents[2] / "sample_models" / "vibration"
CHANNELS = ("accel_x_g", "accel_y_g", "accel_z_g", "score")


def test_the_real_model_scores_a_window_like_its_golden_output() -> None:
    spec = load_model_spec(VIBRATION)
    runner = load_shadow_runner(spec, None, CHANNELS, "vibration-anomaly v1")
    try:
        golden = np.load(VIBRATION / "golden_input.npy")
        assert runner.window * 3 == golden.size
        score = runner.run(golden.reshape(-1))
        expected = runner.engine.process_array(golden.astype(np.float32)).anomaly.score
        assert score == pytest.approx(expected)
        assert runner.tolerance == float((spec.golden or {}).get("tolerance", 0.0))
    finally:
        runner.close()


def test_channels_that_cannot_fill_the_input_are_refused_in_words() -> None:
    spec = load_model_spec(VIBRATION)
    with pytest.raises(ConfigError, match="does not match 7 telemetry channels"):
        load_shadow_runner(spec, None, tuple(f"accel_{i}" for i in range(7)), "v")


def test_a_comparer_without_a_runner_says_why_and_compares_nothing() -> None:
    cmp = ShadowComparer()
    cmp.set_runner(None, "the device reports no running bundle")
    cmp.compare(CHANNELS, np.zeros(3), np.ones((3, 4)))
    st = cmp.status()
    assert not st.available and st.reason == "the device reports no running bundle"
    assert cmp.take_points() == ()
