"""Qt event-loop lag while the telemetry view plots 8 channels at 1 kHz (goal p99 < 50 ms).

A separate process plays a plain serial device (an Arduino ``println`` loop) on a
pseudo-terminal: a ``#`` header with 8 channel names, then 1000 lines a second.
The session's TargetManager reads it on its I/O loop; a 33 ms QTimer polls it and
feeds the TelemetryView exactly as the window does. A 5 ms probe timer measures
how late the event loop runs it. Baseline, in the same run: the same device and
polling, without the view (nothing plotted). Also: TelemetryStream's parse rate
at 8 channels (no UI), goal at least 50,000 lines/s.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_telemetry_ui.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

DEVICE = r"""
import math, os, sys, time, tty
master, slave = os.openpty()
tty.setraw(slave)
os.set_blocking(master, False)
print(os.ttyname(slave), flush=True)
rate = float(sys.argv[1])
names = ",".join(f"ch{i}_v" for i in range(8))
t0 = time.perf_counter(); n = 0; next_header = 0.0
while True:
    now = time.perf_counter() - t0
    due = int(now * rate)
    out = []
    if now >= next_header:
        out.append(f"# {names}\n"); next_header = now + 1.0
    while n < due:
        t = n / rate
        out.append(",".join(f"{math.sin(2*math.pi*(i+1)*t) + 0.01*i:.4f}" for i in range(8)) + "\n")
        n += 1
    if out:
        try:
            os.write(master, "".join(out).encode())
        except BlockingIOError:
            pass  # nobody reads fast enough: lines are lost on the wire (counted by rate)
    time.sleep(0.002)
"""


def parse_rate(lines: int = 200_000) -> float:
    from edgeconsole.session.device_telemetry import TelemetryStream

    s = TelemetryStream("bench://", pending_limit=lines + 10)
    row = ",".join(f"{0.1 * i:.4f}" for i in range(8)) + "\n"
    chunk = ("# " + ",".join(f"c{i}" for i in range(8)) + "\n" + row * 999).encode()
    t0 = time.perf_counter()
    fed = 0
    while fed < lines:
        s.feed([(time.perf_counter_ns(), chunk)])
        fed += 999
    s.take()
    dt = time.perf_counter() - t0
    assert s.dropped_lines() == 0
    return fed / dt


def measure(plot: bool, seconds: float, rate: float) -> dict[str, Any]:
    from PySide6.QtCore import QElapsedTimer, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from edgeconsole.session.targets import TargetManager
    from edgeconsole.ui.devices.telemetry_view import TelemetryView

    app = QApplication.instance() or QApplication([])
    proc = subprocess.Popen(
        [sys.executable, "-c", DEVICE, str(rate)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    path = proc.stdout.readline().strip()
    manager = TargetManager(shadow=False)
    view = TelemetryView() if plot else None
    if view is not None:
        view.resize(1400, 900)
        view.show()
    try:
        url = manager.connect(path)
        view_url: list[str] = [url]
        if view is not None:
            view.set_device(url)
        lags: list[float] = []
        tick_ms: list[float] = []
        samples = [0]
        clock = QElapsedTimer()
        clock.start()
        last = [clock.nsecsElapsed()]
        interval = 5

        def probe() -> None:
            now = clock.nsecsElapsed()
            lags.append(max(0.0, (now - last[0]) / 1e6 - interval))
            last[0] = now

        def tick() -> None:
            t0 = time.perf_counter()
            u = manager.poll()
            for b in u.telemetry:
                samples[0] += len(b.t)
                if view is not None and b.url == view_url[0]:
                    view.add_batch(b)
            if view is not None:
                view.redraw()
            tick_ms.append((time.perf_counter() - t0) * 1e3)

        p = QTimer()
        p.setTimerType(Qt.TimerType.PreciseTimer)
        p.timeout.connect(probe)
        p.start(interval)
        t = QTimer()
        t.setTimerType(Qt.TimerType.PreciseTimer)
        t.timeout.connect(tick)
        t.start(33)
        # Plain device: identification waits for an SMP answer that never comes (~2.5 s).
        deadline = time.monotonic() + 15
        while samples[0] == 0 and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.005)
        lags.clear()
        tick_ms.clear()
        start_samples = samples[0]
        t_end = time.monotonic() + seconds
        last[0] = clock.nsecsElapsed()
        while time.monotonic() < t_end:
            app.processEvents()
            time.sleep(0.001)
        got = samples[0] - start_samples
        p.stop()
        t.stop()
        lag = np.array(lags)
        ticks = np.array(tick_ms)
        return {
            "plot": plot,
            "seconds": seconds,
            "lines_per_s": round(got / seconds, 1),
            "lag_ms": {
                "p50": round(float(np.percentile(lag, 50)), 3),
                "p99": round(float(np.percentile(lag, 99)), 3),
                "max": round(float(lag.max()), 3),
            },
            "tick_ms": {
                "p50": round(float(np.percentile(ticks, 50)), 3),
                "p99": round(float(np.percentile(ticks, 99)), 3),
            },
            "redraws": view.redraws if view is not None else 0,
        }
    finally:
        manager.close()
        proc.kill()
        proc.wait()
        if view is not None:
            view.close()


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    seconds = float(os.environ.get("BENCH_SECONDS", "10"))
    rate = 1000.0
    baseline = measure(False, seconds, rate)
    plotted = measure(True, seconds, rate)
    parse = parse_rate()
    p99 = plotted["lag_ms"]["p99"]
    out = {
        "bench": "telemetry_ui",
        "channels": 8,
        "device_rate_hz": rate,
        "baseline_no_plot": baseline,
        "plotting": plotted,
        "p99_lag_ratio_vs_baseline": round(p99 / max(baseline["lag_ms"]["p99"], 1e-3), 2),
        "goal_p99_lag_ms": 50,
        "meets_goal": p99 < 50,
        "parse_lines_per_s_8ch": round(parse),
        "parse_goal_lines_per_s": 50_000,
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
