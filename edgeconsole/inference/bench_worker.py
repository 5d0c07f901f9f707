"""A benchmark worker another Python runs: onnxruntime timings over stdin/stdout.

Some execution providers come in their own onnxruntime build that replaces the
``onnxruntime`` module (``onnxruntime-openvino``), so they live in their own venv
and are measured there. ``inference/compare.py`` starts this file's source with that
venv's Python (``python -c``) and drives it with one JSON object per line:

    -> {"op": "load", "model": PATH, "feeds": PATH.npz, "provider": P, "threads": N}
    <- {"ok": true, "load_ms": ..., "first_ms": ..., "providers": [...]}
    -> {"op": "run", "n": K}
    <- {"ok": true, "ms": [K timings]}
    -> {"op": "quit"}

It first prints ``{"ready": true, "onnxruntime": VERSION, "providers": [...]}``. An
error is ``{"ok": false, "error": "..."}`` and the worker keeps serving. This file
imports nothing from EdgeConsole (the other venv does not have it): only the
standard library, numpy and onnxruntime. Telemetry is switched off before
onnxruntime loads, as everywhere in EdgeConsole.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

os.environ["ORT_DISABLE_TELEMETRY"] = "1"

#: A worker never runs more than this many inferences for one request.
MAX_RUNS = 100_000


def _provider_options(provider: str, threads: int) -> list[dict[str, str]] | None:
    if provider == "OpenVINOExecutionProvider":
        # Pin the device and the thread count: OpenVINO otherwise takes every core.
        return [{"device_type": "CPU", "num_of_threads": str(threads)}]
    return None


class Worker:
    def __init__(self) -> None:
        import onnxruntime as ort

        self.ort = ort
        self.session: Any = None
        self.feeds: dict[str, Any] = {}

    def hello(self) -> dict[str, Any]:
        return {
            "ready": True,
            "onnxruntime": self.ort.__version__,
            "providers": list(self.ort.get_available_providers()),
            "python": sys.version.split()[0],
        }

    def load(self, req: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        ort = self.ort
        provider = str(req["provider"])
        threads = int(req["threads"])
        if provider not in ort.get_available_providers():
            return {"ok": False, "error": f"{provider} is not available in this onnxruntime"}
        with np.load(str(req["feeds"]), allow_pickle=False) as data:
            self.feeds = {k: data[k] for k in data.files}
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        t0 = time.perf_counter()
        self.session = ort.InferenceSession(
            str(req["model"]),
            sess_options=opts,
            providers=[provider],
            provider_options=_provider_options(provider, threads),
        )
        load_ms = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        self.session.run(None, self.feeds)
        first_ms = (time.perf_counter() - t0) * 1e3
        return {
            "ok": True,
            "load_ms": load_ms,
            "first_ms": first_ms,
            "providers": list(self.session.get_providers()),
        }

    def run(self, req: dict[str, Any]) -> dict[str, Any]:
        if self.session is None:
            return {"ok": False, "error": "no model loaded"}
        n = int(req["n"])
        if not 1 <= n <= MAX_RUNS:
            return {"ok": False, "error": f"n must be 1..{MAX_RUNS}"}
        run, feeds, clock = self.session.run, self.feeds, time.perf_counter_ns
        ms = []
        for _ in range(n):
            t = clock()
            run(None, feeds)
            ms.append((clock() - t) / 1e6)
        return {"ok": True, "ms": ms}


def serve(inp: Any = None, out: Any = None) -> int:
    inp = inp or sys.stdin
    out = out or sys.stdout

    def send(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    try:
        worker = Worker()
    except ImportError as exc:
        send({"ready": False, "error": f"onnxruntime cannot be imported: {exc}"})
        return 1
    send(worker.hello())
    for line in inp:
        try:
            req = json.loads(line)
            op = req.get("op") if isinstance(req, dict) else None
            if op == "quit":
                return 0
            if op == "load":
                send(worker.load(req))
            elif op == "run":
                send(worker.run(req))
            else:
                send({"ok": False, "error": f"unknown request {op!r}"})
        except Exception as exc:  # one bad request must not end the worker
            text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            send({"ok": False, "error": f"{type(exc).__name__}: {text}"})
    return 0


if __name__ == "__main__":
    sys.exit(serve())
