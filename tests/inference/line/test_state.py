"""The line's counted state as the window reads it on every frame."""

from __future__ import annotations

from edgeconsole.core.parts import MISSED, PartDecision
from edgeconsole.inference.line.state import LineState


def decision(part_id: int, ms: float, verdict: str = "ok") -> PartDecision:
    return PartDecision(
        part_id=part_id,
        verdict=verdict,
        passed=verdict == "ok",
        trigger="line",
        trigger_frame=part_id,
        decided_frame=part_id,
        trigger_ns=0,
        decided_ns=int(ms * 1e6),
        box=(0.0, 0.0, 1.0, 1.0),
        budget_ms=5.0,
    )


def test_rolling_p99_follows_every_decided_part_and_only_those() -> None:
    """Kept between parts (the window asks on every frame); a new part counts at once,
    a missed one changes nothing."""
    state = LineState(budget_ms=5.0, trigger="line x=50%")
    assert state.rolling_p99() is None
    state.add([decision(i, 2.0) for i in range(1, 50)])
    assert state.rolling_p99() == 2.0
    assert state.rolling_p99() == 2.0  # asked again, nothing new
    state.add([decision(50, 9.0, verdict="rotated 180")])  # a failed part counts too
    assert state.rolling_p99() == 9.0
    state.add([decision(51, 0.0, verdict=MISSED)])
    assert state.rolling_p99() == 9.0 and state.missed == 1
