"""Real Update objects for widget tests (built with the real LatencyStats)."""

from __future__ import annotations

import numpy as np

from edgeconsole.core.frames import (
    STAGES,
    Frame,
    InferenceResult,
    LatencySample,
    OverlayBanner,
    OverlayBox,
)
from edgeconsole.inference.latency import LatencySnapshot, LatencyStats
from edgeconsole.session.update import Event, LiveFrame, PipelineStatus, Update


def frame(index: int = 1, w: int = 640, h: int = 360) -> Frame:
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[:, :, 1] = 60  # dark green background, so "image painted" is detectable
    img[h // 4 : h // 2, w // 4 : w // 2] = (200, 200, 200)
    return Frame(index=index, image=img, captured_ns=0, source="test")


def result(index: int = 1, passed: bool = False) -> InferenceResult:
    return InferenceResult(
        frame_index=index,
        overlay=[
            OverlayBox(box=(160, 90, 320, 180), role="ok", label="LOT 42  0.97"),
            OverlayBox(
                box=(400, 100, 560, 300),
                role="fail",
                label="rotated 180  0.88",
                polygon=((400, 100), (560, 110), (550, 300), (410, 290)),
                thick=True,
            ),
            OverlayBanner(
                text="PASS" if passed else "FAIL: rotated 180", role="ok" if passed else "fail"
            ),
        ],
    )


def live(index: int = 1, passed: bool = False) -> LiveFrame:
    return LiveFrame(frame=frame(index), result=result(index, passed))


def samples(start: int, n: int, e2e: float = 40.0) -> list[LatencySample]:
    out = []
    for i in range(start, start + n):
        stages = {s: 2.0 + k + (i % 5) * 0.1 for k, s in enumerate(STAGES)}
        e = e2e + (i % 10)
        out.append(LatencySample(frame_index=i, stages=stages, e2e_ms=e))
    return out


def stats(
    sample_list: list[LatencySample], budget: float | None = 45.0, first_ms: float | None = 321.0
) -> LatencySnapshot:
    s = LatencyStats(window=300, budget_ms=budget)
    if first_ms is not None:
        s.add(
            LatencySample(
                frame_index=0,
                stages={"infer": first_ms},
                e2e_ms=first_ms,
                first_inference=True,
            )
        )
    for x in sample_list:
        s.add(x)
    return s.snapshot()


def update(
    state: str = "running",
    index: int | None = 1,
    n_samples: int = 0,
    events: list[Event] | None = None,
    budget: float | None = 45.0,
) -> Update:
    smp = samples(max(1, (index or 1) - n_samples + 1), n_samples) if n_samples else []
    return Update(
        status=PipelineStatus(
            state=state,
            source="synthetic:conveyor?seed=1&fps=30",  # type: ignore[arg-type]
            model="/x/label_inspector",
            fps=29.7,
            frames=index or 0,
            dropped=3,
            budget_ms=budget,
            parts_passed=5,
            parts_failed=2,
        ),
        live=live(index) if index is not None else None,
        latency=smp,
        stats=stats(smp, budget) if smp else None,
        events=events or [],
    )
