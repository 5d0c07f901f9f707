"""The local pipeline's reject gate: triggers answered with the pipeline's verdicts."""

from __future__ import annotations

import threading

import numpy as np

from edgeconsole.core.clock import now_ns
from edgeconsole.core.frames import Frame, InferenceResult, PartVerdict
from edgeconsole.devices.plc.handshake import ERROR_NO_PART, GateTrigger
from edgeconsole.session.plc_gate import CLASS_IDS, FrameGateDecider


def _frame(i: int, t: int) -> Frame:
    return Frame(index=i, image=np.zeros((360, 640, 3), np.uint8), captured_ns=t, source="t")


def test_answers_with_the_first_frame_after_the_trigger_and_the_central_part() -> None:
    d = FrameGateDecider(wait_s=2.0)
    t0 = now_ns()
    old = InferenceResult(0, parts=[PartVerdict((300, 0, 340, 10), True, "ok")])
    d.on_result(_frame(0, t0 - 1000), old)  # captured before the trigger: not this part
    new = InferenceResult(
        1,
        parts=[
            PartVerdict((0, 0, 100, 10), True, "ok"),
            PartVerdict((290, 0, 350, 10), False, "rotated 180"),  # at the centre line
        ],
    )
    answer: list = []
    th = threading.Thread(target=lambda: answer.append(d.decide(GateTrigger(1, t0))))
    th.start()
    d.on_result(_frame(1, t0 + 5), new)
    th.join(5)
    (r,) = answer
    assert not r.ok and r.label == "rotated 180" and r.class_id == CLASS_IDS["rotated 180"]


def test_no_frame_or_no_part_is_an_error_code_not_a_guess() -> None:
    d = FrameGateDecider(wait_s=0.05)
    r = d.decide(GateTrigger(1, now_ns()))
    assert r.error_code == ERROR_NO_PART and "no frame" in r.error
    t = now_ns()
    d.on_result(_frame(3, t + 1), InferenceResult(3))
    r = d.decide(GateTrigger(2, t))
    assert r.error_code == ERROR_NO_PART and "no part in frame 3" in r.error
