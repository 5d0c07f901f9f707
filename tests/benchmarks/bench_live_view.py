"""What one live frame costs the window's thread: prepared by the session vs scaled here.

The real window (offscreen, 1600 x 1000, a session attached, its poll loop stopped so
nothing else draws) is handed the same 720p frame again and again, with and without
the pixels the session prepares for its view (session/display.py), with and without
a part overlay (banner, three labelled boxes, three inner boxes). Each frame is shown
and the events processed until it is painted. Reported per frame: the window
thread's CPU time (``time.thread_time``: not inflated by other processes taking the
cores) and wall time (Qt's smooth scaling also runs on helper threads, so only the
wall time shows all of it). Variants alternate, and the ratios are taken in this run.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_live_view.py [--frames 120]

Prints JSON; never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=120, help="frames per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from PySide6.QtCore import QEventLoop

    from edgeconsole.core.frames import Frame, InferenceResult, OverlayBanner, OverlayBox
    from edgeconsole.session.display import fit_size, to_display
    from edgeconsole.session.session import Session
    from edgeconsole.session.update import LiveFrame
    from edgeconsole.ui.app import create_application
    from edgeconsole.ui.main_window import MainWindow
    from edgeconsole.ui.settings import file_settings

    app = create_application()
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    overlay: list[Any] = [OverlayBanner(text="PASS 3 · FAIL 3   decision p99 22 ms", role="ok")]
    for i in range(3):
        x = 100 + i * 380
        overlay.append(OverlayBox(box=(x, 200, x + 200, 420), role="ok", label=f"#{i} ok 4.8 ms"))
        overlay.append(OverlayBox(box=(x + 20, 260, x + 180, 340), role="warn"))
    with tempfile.TemporaryDirectory() as tmp:
        session = Session(interactive=True)
        window = MainWindow(session, file_settings(Path(tmp) / "s.ini"))
        window.resize(1600, 1000)
        window.show()
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        assert window.poll_loop is not None
        window.poll_loop.stop()
        view = window.live_view
        size = fit_size(1280, 720, view.width(), view.height())
        prepared = to_display(image, size)
        index = [0]

        def run(variant: str) -> tuple[float, float]:
            display = prepared if variant.startswith("prepared") else None
            items = overlay if variant.endswith("overlay") else []
            cpu0, wall0 = time.thread_time(), time.perf_counter()
            for _ in range(args.frames):
                index[0] += 1
                frame = Frame(index=index[0], image=image, captured_ns=0, source="bench")
                result = InferenceResult(frame_index=index[0], overlay=items)
                view.show_frame(LiveFrame(frame, result, display=display))
                app.processEvents()
            n = args.frames
            return (
                (time.thread_time() - cpu0) / n * 1000,
                (time.perf_counter() - wall0) / n * 1000,
            )

        variants = ("scaled", "prepared", "scaled+overlay", "prepared+overlay")
        runs: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
        run("prepared")  # warm-up
        run("scaled")
        blitted0, scaled0 = view.frames_blitted, view.frames_scaled
        for r in range(args.rounds):
            for v in variants if r % 2 == 0 else variants[::-1]:
                runs[v].append(run(v))
        per_frame = {
            v: {
                "cpu_ms": round(statistics.median(c for c, _ in runs[v]), 3),
                "wall_ms": round(statistics.median(w for _, w in runs[v]), 3),
            }
            for v in variants
        }
        result = {
            "benchmark": "live_view_frame_cost",
            "view_px": [view.width(), view.height()],
            "frame_px": [1280, 720],
            "prepared_px": list(size),
            "frames_per_variant": args.frames * args.rounds,
            "painted_as_prepared": view.frames_blitted - blitted0,
            "painted_scaled": view.frames_scaled - scaled0,
            "per_frame": per_frame,
            "prepared_vs_scaled_cpu": round(
                per_frame["prepared"]["cpu_ms"] / per_frame["scaled"]["cpu_ms"], 3
            ),
            "prepared_vs_scaled_wall": round(
                per_frame["prepared"]["wall_ms"] / per_frame["scaled"]["wall_ms"], 3
            ),
            "with_overlay_prepared_vs_scaled_wall": round(
                per_frame["prepared+overlay"]["wall_ms"] / per_frame["scaled+overlay"]["wall_ms"],
                3,
            ),
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(result, indent=1))
        window.close()
        session.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
