"""The INT8 recommendation follows the measurement; bench refuses nonsense;
verification can be cancelled and reports progress."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeconsole.core.errors import Cancelled, ConfigError
from edgeconsole.inference.quantize import VariantReport, recommend
from tests.fixtures.bundles import BundleKit


def _v(name: str, p50: float, agree: float = 1.0, size: int = 1000) -> VariantReport:
    return VariantReport(name, size, p50, p50 * 2, max_abs_diff=0.01, top1_agreement=agree)


def test_recommendation_follows_the_numbers() -> None:
    fp32 = _v("fp32", 10.0, size=4000)
    assert recommend(fp32, [_v("int8-static", 5.0)]).startswith("use INT8 (int8-static)")
    assert recommend(fp32, [_v("int8-static", 17.0)]).startswith("keep FP32: INT8 is slower")
    assert recommend(fp32, [_v("int8-static", 10.1)]).startswith("keep FP32 unless size")
    # Fast but wrong loses to slow but right.
    assert "changes the outputs" in recommend(fp32, [_v("int8-static", 2.0, agree=0.9)])
    assert recommend(fp32, [_v("a", 2.0, agree=0.9), _v("b", 6.0)]).startswith("use INT8 (b)")
    failed = VariantReport("int8-dynamic", 0, float("nan"), float("nan"), error="boom")
    assert recommend(fp32, [failed]) == "keep FP32: no INT8 variant could be measured"


def test_bench_argument_checks() -> None:
    import numpy as np
    import onnxruntime as ort

    from edgeconsole.inference.bench import bench_session
    from tests.fixtures.bundles import tiny_model

    sess = ort.InferenceSession(
        tiny_model().SerializeToString(), providers=["CPUExecutionProvider"]
    )
    feeds = {"x": np.zeros((1, 4), np.float32)}
    with pytest.raises(ConfigError, match="--runs"):
        bench_session(sess, feeds, model="t", runs=0)
    with pytest.raises(ConfigError, match="--seconds"):
        bench_session(sess, feeds, model="t", seconds=-1)
    with pytest.raises(Cancelled):
        bench_session(sess, feeds, model="t", runs=1000, cancel=lambda: True)


def test_verify_progress_and_cancel(bundle_kit: BundleKit, tmp_path: Path) -> None:
    p = bundle_kit.good(tmp_path / "g.ecb", extra={"weights.data": bytes(3 << 20)})
    seen: list[tuple[int, int]] = []
    bundle_kit.verify(p, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] and len(seen) >= 3
    dest = tmp_path / "out"
    with pytest.raises(Cancelled):
        bundle_kit.verify(p, mode="extract", dest=dest, cancel=lambda: True)
    assert not dest.exists()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["g.ecb", "kit"]
