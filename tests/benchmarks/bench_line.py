"""Line-rate QC on the live decision path (issue 12, Performance).

The synthetic conveyor is played in real time (a 30 fps camera) at 300 and 600
parts/min into the per-part runner the session uses (``session/line_runner.py``:
capture thread, FIFO, decision thread, vertical centre line), with the fast bundle
(sample_models/label_orientation, budget 5 ms), idle and with one busy-loop process
per core minus one. For each run:

- decision latency p50/p90/p99/max (trigger frame's capture -> decision), late count;
- where that time goes (``path_ms``): p50/p99 of each stage from the trigger frame's
  capture to the decision (waiting for the decision thread, locate, track, crop,
  preprocess, infer, postprocess, emit), and the machine's load average before/after;
- parts decided / parts that crossed the line (the scene's truth), missed, duplicates
  (two decisions for one physical part), frames the decision path never saw;
  ``warm_ups``: [done, skipped] warm-ups of the decision path before a crossing frame
  (``PartLine.warm_up``), and how many of them a frame arrived during (it waited);
- the bare classifier on exactly the crop tensors those decisions fed it, timed right
  after in the same conditions: ratio decision p99 / bare classifier p99.

Then the label inspector: its per-part decision p99 on the same live line against
its full-frame latency (the detector on the whole frame, as before ``per_part``), on
the frames its parts were decided on.

Each fast-bundle run twice: threads at normal priority, and ``rt_priority`` (capture
and decision threads under SCHED_FIFO where permitted, ``core/sched.py``; what
each thread got is in ``scheduling``).

``--mechanism``: how decisions keep priority, measured at 600 parts/min with the busy
process: the hand-off (FIFO of 32 frames, as shipped, against newest-wins, a queue
of 1) and the decision thread's priority (as shipped, against niced +10 like the
frame pipeline's workers in the window).

Prints JSON. Run: .venv/bin/python -m tests.benchmarks.bench_line [--seconds 20]
[--mechanism]. Where the time goes when the decision thread is not computing (CPU,
run queue, GIL): ``probe_offcpu.py`` (this line) and ``probe_window_gil.py`` (with the
window).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from typing import Any

import numpy as np

from edgeconsole.core.frames import Frame, LatencySample
from edgeconsole.core.parts import PartDecision
from edgeconsole.core.sched import DECISION_PRIORITY, realtime_thread
from edgeconsole.inference.engine import InferenceEngine
from edgeconsole.inference.line import LineStep, PartLine, TriggerConfig
from edgeconsole.inference.line.state import warm_up
from edgeconsole.inference.loader import load_model
from edgeconsole.inference.part_inspector import PartInspector
from edgeconsole.session.line_runner import LineRunner
from edgeconsole.session.runner import CallbackSink, RunnerOutput
from edgeconsole.sources.conveyor import SyntheticConveyorSource
from tests.benchmarks.bench_partqc import ROOT, busy, full_frame_spec, stats

FPS = 30.0
#: The decision path of a part decided on its trigger frame, stage by stage: (name, from
#: stamp, to stamp); "trigger" is the trigger frame's capture, "decided" the decision.
PATH = (
    ("wait", "trigger", "locate_start"),  # capture -> the decision thread has the frame
    ("locate", "locate_start", "locate_end"),
    ("track", "locate_end", "crop_start"),  # tracker, triggers, queueing (Python)
    ("crop", "crop_start", "crop_end"),
    ("preprocess", "preprocess_start", "preprocess_end"),
    ("infer", "infer_start", "infer_end"),
    ("postprocess", "postprocess_start", "postprocess_end"),
    ("emit", "postprocess_end", "decided"),
)


def path_ms(rows: list[dict[str, int]]) -> dict[str, Any]:
    """Where a decision's time goes: p50/p99 of each stage of ``PATH`` over decisions
    whose stamps are all there, and the sum of the p50s (compare with the decision p50)."""
    out: dict[str, Any] = {}
    for name, a, b in PATH:
        s = stats([(r[b] - r[a]) / 1e6 for r in rows if a in r and b in r])
        out[name] = {"p50": s.get("p50"), "p99": s.get("p99")}
    out["sum_of_p50"] = round(sum(v["p50"] or 0.0 for v in out.values()), 3)
    return out


def _truth_id(frame: Frame, box: tuple[float, float, float, float]) -> int | None:
    best, area = None, 0.0
    for p in (frame.truth or {}).get("parts", []):
        x0, y0, x1, y1 = p["box"]
        w, h = min(x1, box[2]) - max(x0, box[0]), min(y1, box[3]) - max(y0, box[1])
        if w > 0 and h > 0 and w * h > area:
            best, area = int(p["id"]), w * h
    return best


def _route(
    out: RunnerOutput,
    on_step: Any,
    on_decided: Any,
    decided: list[tuple[PartDecision, int | None]],
) -> None:
    """The runner's one output type, back into this benchmark's three cases."""
    if out.sample is not None and out.frame is not None and out.step is not None:
        on_step(out.frame, out.step, out.sample)
    elif out.judged is not None:
        on_decided(*out.judged)
    elif out.decisions:
        decided.extend((d, None) for d in out.decisions)


def _nice10() -> None:
    tid = threading.get_native_id()
    os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + 10)


def live(
    model: str,
    ppm: float,
    seconds: float,
    keep_frames: bool = False,
    *,
    queue_frames: int = 32,
    niced: bool = False,
    rt_priority: bool = False,
    warm_up_line: bool = True,
) -> dict[str, Any]:
    spec = load_model(ROOT / model)
    insp = PartInspector.load(spec, threads=1)
    warm_up(insp)
    tensors: list[np.ndarray] = []
    real_run = insp.runner.run

    def spy(t: np.ndarray) -> dict[str, np.ndarray]:
        tensors.append(t)
        return real_run(t)

    insp.runner.run = spy  # type: ignore[method-assign]
    frames_n = round(seconds * FPS)
    src = SyntheticConveyorSource(
        seed=11, fps=FPS, parts_per_min=ppm, realtime=True, frames=frames_n
    )
    decided: list[tuple[PartDecision, int | None]] = []
    stamps: list[dict[str, int]] = []
    kept: dict[int, np.ndarray] = {}
    seen: list[int] = []
    ended = threading.Event()

    def on_step(frame: Frame, step: LineStep, sample: LatencySample) -> None:
        seen.append(frame.index)

    def on_decided(frame: Frame, step: LineStep) -> None:
        for d in step.decisions:
            decided.append((d, _truth_id(frame, d.box)))
            if not d.missed and d.decided_frame == d.trigger_frame:
                stamps.append({**frame.stamps, "trigger": d.trigger_ns, "decided": d.decided_ns})
        if keep_frames and step.decisions and len(kept) < 60:
            kept[frame.index] = frame.image

    line = PartLine(insp, TriggerConfig(), budget_ms=spec.latency_budget_ms)
    runner = LineRunner(
        src,
        line,
        CallbackSink(
            on_output=lambda out: _route(out, on_step, on_decided, decided),
            on_error=lambda where, e: print(f"# {where}: {e}"),
            on_end=lambda reason: ended.set(),
        ),
        queue_frames=queue_frames,
        decision_priority=_nice10 if niced else None,
        rt_priority=rt_priority,
        warm_up=warm_up_line,
    )
    load_before = os.getloadavg()[0]
    runner.start()
    ended.wait(seconds * 4 + 60)
    runner.join(30)
    truth = {k for k, _, _ in src.scene.crossings(640.0, range(1, max(seen) + 1))}
    ok = [d for d, _ in decided if not d.missed]
    ids = [t for d, t in decided if not d.missed and t is not None]
    dup = len(ids) - len(set(ids))
    # The bare classifier on the same crop tensors, right after, same conditions.
    bare = bare_classifier(insp, tensors, rt_priority=runner.rt_priority)
    dec = stats([d.decision_ms for d in ok])
    out: dict[str, Any] = {
        "model": model,
        "ppm": ppm,
        "frames": frames_n,
        "scheduling": dict(runner.scheduling),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "frames_unseen": runner.dropped,
        "warm_ups": [line.warm_ups, line.warm_ups_skipped],
        "warm_ups_a_frame_waited_for": runner.warm_overlaps,
        "crossed": len(truth),
        "decided": len(ok),
        "decided_over_crossed": round(len(set(ids) & truth) / len(truth), 4) if truth else None,
        "missed": sum(1 for d, _ in decided if d.missed),
        "duplicates": dup,
        "late": sum(1 for d in ok if d.late),
        "budget_ms": spec.latency_budget_ms,
        "decision_ms": dec,
        "path_ms": path_ms(stamps),
        "bare_classifier_ms": stats(bare),
    }
    b99 = out["bare_classifier_ms"].get("p99")
    if b99 and dec.get("p99"):
        out["ratio_decision_p99_over_bare_p99"] = round(dec["p99"] / b99, 2)
    insp.close()
    if keep_frames:
        out["_frames"] = list(kept.values())
    return out


def bare_classifier(
    insp: PartInspector, tensors: list[np.ndarray], *, rt_priority: bool
) -> list[float]:
    """The classifier alone on ``tensors``, timed on a thread scheduled like the decision
    thread was (SCHED_FIFO when the run was real-time), so the ratio compares like with
    like."""
    ms: list[float] = []

    def body() -> None:
        if rt_priority:
            realtime_thread(DECISION_PRIORITY)
        for t in tensors:
            t0 = time.perf_counter_ns()
            insp.runner.session.run(insp.runner.output_names, {insp.runner.input.name: t})
            ms.append((time.perf_counter_ns() - t0) / 1e6)

    th = threading.Thread(target=body, name="bench-bare-classifier")
    th.start()
    th.join()
    return ms


def full_frame_p99(frames: list[np.ndarray]) -> dict[str, Any]:
    full = InferenceEngine.load(full_frame_spec(), threads=1)
    try:
        full.process(Frame(index=0, image=frames[0], captured_ns=0, source="bench"))
        ms = []
        for i, img in enumerate(frames):
            t0 = time.perf_counter_ns()
            full.process(Frame(index=i, image=img, captured_ns=0, source="bench"))
            ms.append((time.perf_counter_ns() - t0) / 1e6)
        return stats(ms)
    finally:
        full.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--mechanism", action="store_true", help="compare hand-offs and priority")
    args = ap.parse_args()
    cores = os.cpu_count() or 2
    if args.mechanism:
        out = []
        for name, kw in (
            ("fifo32, decision thread not niced (shipped)", {}),
            ("newest-wins (queue of 1)", {"queue_frames": 1}),
            ("fifo32, decision thread niced +10", {"niced": True}),
        ):
            with busy(max(1, cores - 1)):
                r = live("label_orientation", 600.0, args.seconds, **kw)  # type: ignore[arg-type]
            r["mechanism"] = name
            out.append({k: r[k] for k in (
                "mechanism", "frames_unseen", "crossed", "decided", "decided_over_crossed",
                "missed", "duplicates", "late", "decision_ms",
            )})  # fmt: skip
            print(json.dumps(out[-1]))
        print(json.dumps({"cores": cores, "mechanisms": out}, indent=2))
        return
    runs = []
    for n_busy in (0, max(1, cores - 1)):
        for ppm in (300.0, 600.0):
            for rt in (False, True):
                with busy(n_busy):
                    r = live("label_orientation", ppm, args.seconds, rt_priority=rt)
                r["busy_processes"] = n_busy
                r["rt_priority"] = rt
                runs.append(r)
                keys = ("ppm", "busy_processes", "scheduling", "load_before", "decision_ms")
                print(json.dumps({k: r[k] for k in (*keys, "path_ms")}))
    li = live("label_inspector", 300.0, args.seconds, keep_frames=True)
    frames = li.pop("_frames")
    full = full_frame_p99(frames) if frames else {}

    def p99(rt: bool, loaded: bool, ppm: float) -> float | None:
        for r in runs:
            if r["rt_priority"] == rt and (r["busy_processes"] > 0) == loaded and r["ppm"] == ppm:
                return r["decision_ms"].get("p99")  # type: ignore[no-any-return]
        return None

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a and b else None

    summary = {
        "cores": cores,
        "load_average_at_end": os.getloadavg(),
        "goal_ms": 5.0,
        "fast_bundle": runs,
        "decision_p99_ms": {
            f"{'rt priority' if rt else 'normal'}, {'busy' if ld else 'idle'}, {int(ppm)} ppm": (
                p99(rt, ld, ppm)
            )
            for rt in (False, True)
            for ld in (False, True)
            for ppm in (300.0, 600.0)
        },
        "fast_busy_over_idle_p99": {
            f"{'rt priority' if rt else 'normal'}, {int(ppm)} ppm": ratio(
                p99(rt, True, ppm), p99(rt, False, ppm)
            )
            for rt in (False, True)
            for ppm in (300.0, 600.0)
        },
        "rt_priority_over_normal_p99": {
            f"{'busy' if ld else 'idle'}, {int(ppm)} ppm": ratio(
                p99(True, ld, ppm), p99(False, ld, ppm)
            )
            for ld in (False, True)
            for ppm in (300.0, 600.0)
        },
        "label_inspector": {
            **li,
            "full_frame_ms": full,
            "ratio_per_part_p99_over_full_frame_p99": (
                round(li["decision_ms"]["p99"] / full["p99"], 3)
                if full.get("p99") and li["decision_ms"].get("p99")
                else None
            ),
        },
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
