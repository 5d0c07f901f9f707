"""Where a part's decision time goes when the decision thread is not computing, and
which unprivileged scheduling setting changes it (probe, issue 12).

Runs ``bench_line.live`` (the fast bundle on the real-time synthetic conveyor) with
the line runner's hand-off instrumented. Each decision made on its trigger frame is
split into capture -> put (the capture thread), put -> taken (the decision thread
waking: ``wake``) and taken -> decided (``work``); wake and work are split again from
the decision thread's CPU clock and its ``/proc/self/task/<tid>/schedstat`` run-queue
time into

- cpu: the thread ran;
- runq: runnable but waiting for a core (the OS scheduler);
- blocked: the rest: asleep on a lock. On this path that is the GIL (the decision
  thread takes no other lock while deciding) or OpenCV's worker pool joining.

``capture_cpu_in_work``: CPU the capture thread used while a decision ran (the only
other Python thread of the benchmark that could hold the GIL then).

Variants run interleaved, round by round (A B C A B C ...), so a change in the
machine's load hits each alike; decisions are pooled per variant. A variant is a
``;``-separated list of ``name`` or ``name=k1:v1,k2:v2`` with keys ``switch_ms``
(sys.setswitchinterval while the line runs), ``cv`` (cv2.setNumThreads), ``slice_us``
(the decision thread's EEVDF slice, sched_setattr, unprivileged), ``capture_slice_us``,
``capture_nice``, ``warm`` (0: the line runner does not warm the decision path up), ``lead_ms``
(how long before the frame it warms up).

Prints JSON lines, the last a summary per variant.
Run: .venv/bin/python -m tests.benchmarks.probe_offcpu [--seconds 6] [--rounds 3]
[--ppm 300] [--busy 1] [--variants "base;slice=slice_us:100"]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import threading
import time
from typing import Any

import cv2

from edgeconsole.core.buffers import BoundedQueue
from edgeconsole.core.clock import now_ns
from edgeconsole.session import line_runner
from tests.benchmarks import bench_line
from tests.benchmarks.bench_partqc import busy, stats

SPLIT = (
    "total",
    "capture_to_put",
    "wake",
    "wake_runq",
    "wake_blocked",
    "work",
    "work_cpu",
    "work_runq",
    "work_blocked",
    "capture_cpu_in_work",
)


class _Attr(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("policy", ctypes.c_uint32),
        ("flags", ctypes.c_uint64),
        ("nice", ctypes.c_int32),
        ("prio", ctypes.c_uint32),
        ("runtime", ctypes.c_uint64),
        ("deadline", ctypes.c_uint64),
        ("period", ctypes.c_uint64),
    ]


def set_slice(tid: int, ns: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    nice = os.getpriority(os.PRIO_PROCESS, tid)
    a = _Attr(size=ctypes.sizeof(_Attr), policy=0, nice=nice, runtime=ns)
    if libc.syscall(314, tid, ctypes.byref(a), 0) != 0:
        raise OSError(ctypes.get_errno(), "sched_setattr")


def schedstat(tid: int) -> tuple[int, int]:
    """(cpu ns, run-queue wait ns) of one thread so far. The CPU figure of a running
    thread lags by up to a scheduler tick; the calling thread's own comes from its CPU
    clock instead (``own``)."""
    try:
        with open(f"/proc/self/task/{tid}/schedstat") as f:
            a, b, _ = f.read().split()
    except OSError:  # the thread has ended
        return 0, 0
    return int(a), int(b)


def own(tid: int) -> tuple[int, int]:
    return time.thread_time_ns(), schedstat(tid)[1]


def parse_variants(text: str) -> list[tuple[str, dict[str, float]]]:
    out = []
    for item in text.split(";"):
        name, _, kv = item.partition("=")
        opts = {k: float(v) for k, v in (p.split(":") for p in kv.split(",") if p)}
        out.append((name.strip(), opts))
    return out


def one_round(ppm: float, seconds: float, opts: dict[str, float]) -> tuple[dict[str, Any], list]:
    tids: dict[str, int] = {}
    by_frame: dict[int, dict[str, Any]] = {}
    real_put, real_take, real_route = BoundedQueue.put, BoundedQueue.take, bench_line._route
    rows: list[dict[str, float]] = []

    def put(self: BoundedQueue[Any], item: Any) -> bool:
        if "capture" not in tids:
            tids["capture"] = threading.get_native_id()
            if "capture_nice" in opts:
                os.setpriority(os.PRIO_PROCESS, tids["capture"], int(opts["capture_nice"]))
            if "capture_slice_us" in opts:
                set_slice(tids["capture"], int(opts["capture_slice_us"] * 1000))
        rec: dict[str, Any] = {}
        if "decision" in tids:
            rec["dec_at_put"] = schedstat(tids["decision"])
        rec["put"] = now_ns()
        by_frame[item.index] = rec
        return real_put(self, item)

    def take(self: BoundedQueue[Any], timeout: float | None = None) -> tuple[Any, bool]:
        if "decision" not in tids:
            tids["decision"] = threading.get_native_id()
            if "slice_us" in opts:
                set_slice(tids["decision"], int(opts["slice_us"] * 1000))
        item, woken = real_take(self, timeout)
        if item is not None:
            rec = by_frame.get(item.index)
            if rec is not None:
                rec["taken"] = now_ns()
                rec["dec_at_taken"] = own(tids["decision"])
                rec["cap_at_taken"] = schedstat(tids["capture"])
        return item, woken

    def route(out: Any, on_step: Any, on_decided: Any, decided: Any) -> None:
        if out.judged is not None:
            frame, step = out.judged
            end = now_ns()
            dec_end, cap_end = own(tids["decision"]), schedstat(tids["capture"])
            rec = by_frame.get(frame.index, {})
            for d in step.decisions:
                if d.missed or d.decided_frame != d.trigger_frame or "dec_at_put" not in rec:
                    continue
                put_ns, taken = rec["put"], rec["taken"]
                r = {
                    "total": (end - frame.captured_ns) / 1e6,
                    "capture_to_put": (put_ns - frame.captured_ns) / 1e6,
                    "wake": (taken - put_ns) / 1e6,
                    "wake_runq": (rec["dec_at_taken"][1] - rec["dec_at_put"][1]) / 1e6,
                    "wake_cpu": (rec["dec_at_taken"][0] - rec["dec_at_put"][0]) / 1e6,
                    "work": (end - taken) / 1e6,
                    "work_cpu": (dec_end[0] - rec["dec_at_taken"][0]) / 1e6,
                    "work_runq": (dec_end[1] - rec["dec_at_taken"][1]) / 1e6,
                    "capture_cpu_in_work": max(0, cap_end[0] - rec["cap_at_taken"][0]) / 1e6,
                }
                for name in ("locate", "crop", "preprocess", "infer", "postprocess"):
                    a, b = frame.stamps.get(f"{name}_start"), frame.stamps.get(f"{name}_end")
                    if a is not None and b is not None:
                        r[name] = (b - a) / 1e6
                r["parts_in_view"] = len(step.parts)
                r["wake_blocked"] = r["wake"] - r["wake_runq"] - r["wake_cpu"]
                r["work_blocked"] = r["work"] - r["work_cpu"] - r["work_runq"]
                rows.append(r)
        real_route(out, on_step, on_decided, decided)

    old_switch, old_cv = sys.getswitchinterval(), cv2.getNumThreads()
    old_lead = line_runner.WARM_LEAD_NS
    if "lead_ms" in opts:
        line_runner.WARM_LEAD_NS = int(opts["lead_ms"] * 1e6)
    BoundedQueue.put, BoundedQueue.take = put, take  # type: ignore[method-assign]
    bench_line._route = route  # type: ignore[assignment]
    try:
        if "switch_ms" in opts:
            sys.setswitchinterval(opts["switch_ms"] / 1000)
        if "cv" in opts:
            cv2.setNumThreads(int(opts["cv"]))
        res = bench_line.live(
            "label_orientation", ppm, seconds, warm_up_line=bool(opts.get("warm", 1))
        )
    finally:
        BoundedQueue.put, BoundedQueue.take = real_put, real_take  # type: ignore[method-assign]
        bench_line._route = real_route  # type: ignore[assignment]
        sys.setswitchinterval(old_switch)
        cv2.setNumThreads(old_cv)
        line_runner.WARM_LEAD_NS = old_lead
    return res, rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ppm", type=float, default=300.0)
    ap.add_argument("--busy", type=int, default=0)
    ap.add_argument("--variants", default="base")
    args = ap.parse_args()
    variants = parse_variants(args.variants)
    pooled: dict[str, list[dict[str, float]]] = {name: [] for name, _ in variants}
    dec: dict[str, list[float]] = {name: [] for name, _ in variants}
    ok: dict[str, list[Any]] = {name: [] for name, _ in variants}
    loads = []
    with busy(args.busy):
        for rnd in range(args.rounds):
            for name, opts in variants:
                res, rows = one_round(args.ppm, args.seconds, opts)
                pooled[name].extend(rows)
                dec[name].extend(r["total"] for r in rows)
                ok[name].append((res["decided_over_crossed"], res["missed"], res["duplicates"]))
                loads.append(res["load_before"])
                print(json.dumps({"round": rnd, "variant": name, "load": res["load_before"],
                                  "warm_ups": res["warm_ups"],
                                  "decision_ms": res["decision_ms"]}))  # fmt: skip
    summary = {
        "ppm": args.ppm,
        "busy": args.busy,
        "seconds_per_round": args.seconds,
        "rounds": args.rounds,
        "load_before_min_max": [min(loads), max(loads)],
        "variants": {
            name: {
                "opts": opts,
                "decided_missed_duplicates": ok[name],
                "decision_ms": stats(dec[name]),
                "split_p50_p99": {
                    k: [stats([r[k] for r in pooled[name]]).get(q) for q in ("p50", "p99")]
                    for k in SPLIT
                },
                "most_cpu": [
                    {k: round(v, 2) for k, v in r.items()}
                    for r in sorted(pooled[name], key=lambda r: -r["work_cpu"])[:3]
                ],
            }
            for name, opts in variants
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
