"""The decision thread's waits with the real window running (probe, issue 12).

``probe_offcpu`` measures the headless line (no display). Here the real window
(offscreen) shows the live line from its own process, as it does with an industrial
camera (aravis:, pylon:) or ``--annotate`` (other sources run the line in the worker
process, whose GIL the window does not share): the session's poll loop, the overlay
built on the window's thread, the live view and charts painted. That is Python work
on another thread, which holds the GIL while the decision thread may want it. Each
decision made on its trigger frame is split as in ``probe_offcpu`` (capture -> put,
wake, work; CPU, run-queue wait, blocked = the GIL or a lock).

Variants run interleaved, phase by phase (``;``-separated, ``name=k:v,...``): keys
``switch_ms`` (sys.setswitchinterval for the phase), ``warm`` (0: no warm-up),
``capture_nice`` (0: the capture thread is not lowered, as the window otherwise does).

Run: .venv/bin/python -m tests.benchmarks.probe_window_gil [--seconds 8] [--rounds 2]
[--ppm 300] [--busy 1] [--variants "switch5;switch1=switch_ms:1"]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from edgeconsole.core.buffers import BoundedQueue
from edgeconsole.core.clock import now_ns
from edgeconsole.session import line_runner, opening
from edgeconsole.session.line_runner import LineRunner
from tests.benchmarks.bench_partqc import busy, stats
from tests.benchmarks.probe_offcpu import SPLIT, own, parse_variants, schedstat


def instrument(rows: list[dict[str, float]]) -> Any:
    """Patch the hand-off and the decision output to fill ``rows``; returns an undo."""
    tids: dict[str, int] = {}
    by_frame: dict[int, dict[str, Any]] = {}
    real_put, real_take, real_decided = BoundedQueue.put, BoundedQueue.take, LineRunner._decided

    def put(self: BoundedQueue[Any], item: Any) -> bool:
        if threading.current_thread().name == "edgeconsole-capture":
            tids["capture"] = threading.get_native_id()
            rec: dict[str, Any] = {}
            if "decision" in tids:
                rec["dec_at_put"] = schedstat(tids["decision"])
            rec["put"] = now_ns()
            by_frame[item.index] = rec
        return real_put(self, item)

    def take(self: BoundedQueue[Any], timeout: float | None = None) -> tuple[Any, bool]:
        item, woken = real_take(self, timeout)
        if threading.current_thread().name == "edgeconsole-decisions":
            tids["decision"] = threading.get_native_id()
            rec = by_frame.get(item.index) if item is not None else None
            if rec is not None and "capture" in tids:
                rec["taken"] = now_ns()
                rec["dec_at_taken"] = own(tids["decision"])
                rec["cap_at_taken"] = schedstat(tids["capture"])
        return item, woken

    def decided(self: LineRunner, frame: Any, step: Any) -> None:
        end = now_ns()
        rec = by_frame.get(frame.index, {})
        if "taken" in rec and "dec_at_put" in rec:
            dec_end, cap_end = own(tids["decision"]), schedstat(tids["capture"])
            for d in step.decisions:
                if d.missed or d.decided_frame != d.trigger_frame:
                    continue
                r = {
                    "total": (end - frame.captured_ns) / 1e6,
                    "capture_to_put": (rec["put"] - frame.captured_ns) / 1e6,
                    "wake": (rec["taken"] - rec["put"]) / 1e6,
                    "wake_runq": (rec["dec_at_taken"][1] - rec["dec_at_put"][1]) / 1e6,
                    "wake_cpu": (rec["dec_at_taken"][0] - rec["dec_at_put"][0]) / 1e6,
                    "work": (end - rec["taken"]) / 1e6,
                    "work_cpu": (dec_end[0] - rec["dec_at_taken"][0]) / 1e6,
                    "work_runq": (dec_end[1] - rec["dec_at_taken"][1]) / 1e6,
                    "capture_cpu_in_work": max(0, cap_end[0] - rec["cap_at_taken"][0]) / 1e6,
                }
                r["wake_blocked"] = r["wake"] - r["wake_runq"] - r["wake_cpu"]
                r["work_blocked"] = r["work"] - r["work_cpu"] - r["work_runq"]
                rows.append(r)
        real_decided(self, frame, step)

    BoundedQueue.put, BoundedQueue.take = put, take  # type: ignore[method-assign]
    LineRunner._decided = decided  # type: ignore[method-assign]

    def undo() -> None:
        BoundedQueue.put, BoundedQueue.take = real_put, real_take  # type: ignore[method-assign]
        LineRunner._decided = real_decided  # type: ignore[method-assign]

    return undo


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ppm", type=float, default=300.0)
    ap.add_argument("--busy", type=int, default=0)
    ap.add_argument("--variants", default="switch5;switch1=switch_ms:1")
    args = ap.parse_args()
    from edgeconsole.session.session import Session, default_demo_model
    from edgeconsole.ui.app import create_application
    from edgeconsole.ui.main_window import MainWindow
    from edgeconsole.ui.settings import file_settings
    from tests.benchmarks.bench_ui_lag import run_loop, wait_for

    variants = parse_variants(args.variants)
    pooled: dict[str, list[dict[str, float]]] = {name: [] for name, _ in variants}
    painted: dict[str, int] = {name: 0 for name, _ in variants}
    app = create_application()
    source = f"synthetic:conveyor?seed=11&fps=30&ppm={args.ppm:g}"
    loads = []
    with tempfile.TemporaryDirectory() as tmp, busy(args.busy):
        # In the window's process, as with an industrial camera (aravis:, pylon:) or
        # --annotate; other sources run the line in the worker process, whose GIL the
        # window does not share.
        session = Session(interactive=True, worker=False)
        window = MainWindow(session, file_settings(Path(tmp) / "s.ini"))
        window.resize(1600, 1000)
        window.show()
        wait_for(lambda: window.latency.plots_built, 60)
        run_loop(1.0)
        try:
            for _ in range(args.rounds):
                for name, opts in variants:
                    rows: list[dict[str, float]] = []
                    undo = instrument(rows)
                    old_switch, old_lead = sys.getswitchinterval(), line_runner.WARM_LEAD_NS
                    if not opts.get("warm", 1):
                        line_runner.WARM_LEAD_NS = -(10**12)  # never due
                    sys.setswitchinterval(opts.get("switch_ms", old_switch * 1000) / 1000)
                    old_lower = opening.lower_thread_priority
                    if "capture_nice" in opts and not opts["capture_nice"]:
                        opening.lower_thread_priority = lambda increment=10: None
                    try:
                        loads.append(os.getloadavg()[0])
                        session.start_local(source, str(default_demo_model()), realtime=True)
                        wait_for(lambda: window.status.state == "running", 120)
                        p0 = window.live_view.frames_painted
                        run_loop(args.seconds)
                        painted[name] += window.live_view.frames_painted - p0
                        session.stop(wait=True)
                        wait_for(lambda: window.status.state in ("stopped", "idle", "error"), 60)
                    finally:
                        sys.setswitchinterval(old_switch)
                        line_runner.WARM_LEAD_NS = old_lead
                        opening.lower_thread_priority = old_lower
                        undo()
                    pooled[name].extend(rows)
                    print(json.dumps({"variant": name, "decisions": len(rows),
                                      "total": stats([r["total"] for r in rows])}))  # fmt: skip
        finally:
            window.close()
            session.close()
    print(
        json.dumps(
            {
                "ppm": args.ppm,
                "busy": args.busy,
                "rounds": args.rounds,
                "seconds_per_round": args.seconds,
                "load_before_min_max": [round(min(loads), 2), round(max(loads), 2)],
                "variants": {
                    name: {
                        "opts": opts,
                        "frames_painted": painted[name],
                        "decision_ms": stats([r["total"] for r in pooled[name]]),
                        "decided_missed_duplicates": [],
                        "split_p50_p99": {
                            k: [stats([r[k] for r in pooled[name]]).get(q) for q in ("p50", "p99")]
                            for k in SPLIT
                        },
                    }
                    for name, opts in variants
                },
            }
        )
    )
    del app


if __name__ == "__main__":
    main()
