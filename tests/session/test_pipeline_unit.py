"""The pipeline runner and the session's poll() with an in-test source and processor.

These exercise the threading, dropping and error paths of the session layer;
the real sources and onnxruntime models are covered in test_session_real.py.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import InferenceOutputError, SourceDisconnected
from edgeconsole.core.frames import Frame, InferenceResult, LatencySample
from edgeconsole.session.pipeline import LocalPipelineRunner
from edgeconsole.session.runner import CallbackSink, RunnerOutput


class ListSource:
    name = "list"

    def __init__(
        self,
        n: int,
        fail_at: int | None = None,
        gate: threading.Event | None = None,
        lockstep: threading.Semaphore | None = None,
    ):
        self.lockstep = lockstep
        self.n = n
        self.i = 0
        self.fail_at = fail_at
        self.gate = gate
        self.closed = threading.Event()
        self.state = "open"

    def open(self) -> None:
        pass

    @property
    def nominal_fps(self) -> float | None:
        return None

    def read(self) -> Frame | None:
        if self.gate is not None:
            self.gate.wait(10)
        if self.lockstep is not None:
            self.lockstep.acquire(timeout=10)
        if self.closed.is_set() or self.i >= self.n:
            return None
        if self.fail_at is not None and self.i == self.fail_at:
            raise SourceDisconnected("cable pulled", subject="list")
        start = now_ns()
        f = Frame(
            index=self.i,
            image=np.zeros((4, 4, 3), np.uint8),
            captured_ns=now_ns(),
            source=self.name,
            capture_started_ns=start,
        )
        self.i += 1
        return f

    def close(self) -> None:
        self.closed.set()


class Processor:
    def __init__(
        self,
        delay_s: float = 0.0,
        nan_at: int | None = None,
        lockstep: threading.Semaphore | None = None,
    ):
        self.lockstep = lockstep
        self.delay_s = delay_s
        self.nan_at = nan_at
        self.seen: list[int] = []

    def process(self, frame: Frame) -> InferenceResult:
        for stage in ("preprocess", "infer", "postprocess", "overlay"):
            frame.stamps[f"{stage}_start"] = now_ns()
            if stage == "infer" and self.delay_s:
                time.sleep(self.delay_s)  # simulated model work, not synchronisation
            frame.stamps[f"{stage}_end"] = now_ns()
        if self.nan_at is not None and frame.index == self.nan_at:
            raise InferenceOutputError("output 'y' contains NaN", subject="model")
        self.seen.append(frame.index)
        if self.lockstep is not None:
            self.lockstep.release()
        return InferenceResult(frame_index=frame.index)


class Collector:
    def __init__(self) -> None:
        self.results: list[tuple[Frame, InferenceResult, LatencySample]] = []
        self.errors: list[tuple[str, Exception]] = []
        self.ended = threading.Event()
        self.reason = ""

    def output(self) -> CallbackSink:
        def end(reason: str) -> None:
            self.reason = reason
            self.ended.set()

        def on_output(out: RunnerOutput) -> None:
            assert out.frame is not None and out.result is not None and out.sample is not None
            self.results.append((out.frame, out.result, out.sample))

        return CallbackSink(
            on_output=on_output, on_error=lambda w, e: self.errors.append((w, e)), on_end=end
        )


def test_all_frames_processed_when_inference_keeps_up() -> None:
    c = Collector()
    src = ListSource(50)
    proc = Processor()
    gate_runner = LocalPipelineRunner(src, proc, c.output())
    gate_runner.start()
    assert c.ended.wait(10)
    gate_runner.join(5)
    assert c.reason == "end of source"
    assert gate_runner.captured == 50
    assert gate_runner.processed + gate_runner.dropped == 50
    indices = [f.index for f, _, _ in c.results]
    assert indices == sorted(indices)
    first = [s for _, _, s in c.results if s.first_inference]
    assert len(first) == 1 and first[0].frame_index == indices[0]
    for _, _, s in c.results:
        assert set(s.stages) == {"capture", "preprocess", "infer", "postprocess", "overlay"}
        assert s.e2e_ms >= sum(s.stages.values()) - 1e-6


def test_slow_inference_drops_frames_and_counts_them() -> None:
    c = Collector()
    runner = LocalPipelineRunner(ListSource(200), Processor(delay_s=0.005), c.output())
    runner.start()
    assert c.ended.wait(20)
    assert runner.dropped > 0
    assert runner.processed + runner.dropped == 200


def test_source_disconnect_reports_error_and_ends() -> None:
    c = Collector()
    runner = LocalPipelineRunner(ListSource(100, fail_at=10), Processor(), c.output())
    runner.start()
    assert c.ended.wait(10)
    assert c.reason == "source disconnected"
    assert c.errors and c.errors[0][0] == "source"
    assert "cable pulled" in str(c.errors[0][1])


def test_nan_output_stops_with_error() -> None:
    c = Collector()
    step = threading.Semaphore(1)
    runner = LocalPipelineRunner(
        ListSource(100, lockstep=step), Processor(nan_at=3, lockstep=step), c.output()
    )
    runner.start()
    assert c.ended.wait(10)
    assert c.reason == "inference error"
    assert isinstance(c.errors[0][1], InferenceOutputError)


def test_stop_unblocks_a_blocked_source() -> None:
    gate = threading.Event()
    c = Collector()
    src = ListSource(10, gate=gate)
    runner = LocalPipelineRunner(src, Processor(), c.output())
    runner.start()
    runner.stop()
    gate.set()
    assert runner.join(5)
    assert c.ended.is_set()


def test_max_frames() -> None:
    c = Collector()
    step = threading.Semaphore(1)
    runner = LocalPipelineRunner(
        ListSource(1000, lockstep=step), Processor(lockstep=step), c.output(), max_frames=7
    )
    runner.start()
    assert c.ended.wait(10)
    assert c.reason == "frame limit reached"
    assert runner.processed == 7


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_sources(n: int) -> None:
    c = Collector()
    runner = LocalPipelineRunner(ListSource(n), Processor(), c.output())
    runner.start()
    assert c.ended.wait(10)
    assert len(c.results) == n
