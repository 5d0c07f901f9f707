"""Render the journal widgets to PNG with realistic data, in the app's dark theme.

    python -m tools.screenshots.journal [--out resources/screenshots]

Everything happens in a temporary app home: a journal with a morning's worth of
audit entries, a fleet with one inconsistent hardware id, and a recording made
by running the real label-inspector model on the synthetic conveyor for a few
few seconds of frames (with vibration telemetry beside it). Writes logs_view.png,
replay_view.png, fleet_view.png, export_dialog.png and site_dialog.png.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from tools.screenshots.common import save, spin


def _fill_journal(journal: object) -> None:
    from edgeconsole.journal.fleet import SlotRecord
    from edgeconsole.journal.journal import Journal
    from edgeconsole.journal.settings import SiteSettings

    assert isinstance(journal, Journal)
    journal.set_site(SiteSettings("Plant 4 - Line 2, Rotterdam", "Ana Souza"))
    a = journal.audit
    mcu = "serial:///dev/ttyACM0"
    gw1, gw2, gw3 = "http://10.20.0.11:8000", "http://10.20.0.12:8000", "http://10.20.0.13:8000"
    entries = [
        ("connection", "info", mcu, "connected: nrf5340 vib-node, firmware 2.1.0"),
        ("connection", "info", gw1, "connected: edge agent 1.4.2 on jetson-orin-nano"),
        ("connection", "info", gw2, "connected: edge agent 1.4.2 on jetson-orin-nano"),
        ("connection", "info", gw3, "connected: edge agent 1.4.2 on jetson-orin-nano"),
        ("flash", "info", gw1, "upload started: label-inspector v3 (5.7 MB) to slot b"),
        ("flash", "info", gw1, "upload finished, sha256 verified"),
        ("slot", "info", gw1, "slot b on trial: label-inspector v3"),
        ("health", "info", gw1, "trial health check passed: 50/50 golden frames"),
        ("slot", "info", gw1, "slot b confirmed: label-inspector v3"),
        ("flash", "info", gw2, "upload started: label-inspector v3 (5.7 MB) to slot b"),
        ("connection", "warning", gw2, "link lost during upload; reconnecting"),
        ("connection", "info", gw2, "reconnected after 4.2 s; resuming upload at 3.1 MB"),
        ("flash", "error", gw2, "upload failed: chunk 48 checksum mismatch (3 retries)"),
        ("slot", "warning", gw2, "slot a still runs label-inspector v2; v3 not installed"),
        ("flash", "info", gw3, "upload started: label-inspector v3 (5.7 MB) to slot b"),
        ("slot", "info", gw3, "slot b confirmed: label-inspector v3"),
        ("pipeline", "info", "local://", "running label-inspector v3 on synthetic conveyor"),
        ("recording", "info", "local://", "recording started"),
        ("telemetry", "warning", mcu, "vibration rms 2.9 g above the 2.5 g alarm level"),
        ("journal", "warning", "", "disk 91% full on /home: telemetry keeps 4 GB headroom"),
        ("recording", "info", "local://", "recording stopped: 120 frames, 0 dropped"),
        ("flash", "info", mcu, "upload started: vibration-anomaly v2 (38 kB) to slot 1"),
        ("slot", "info", mcu, "slot 1 confirmed: vibration-anomaly v2"),
        ("connection", "info", mcu, "disconnected by the technician"),
    ]
    for kind, level, target, message in entries:
        a.log(kind, level, target, message, site="Plant 4")
    f = journal.fleet
    f.seen(
        "gw-line2-cam1",
        hardware_id="jetson-orin-nano",
        kind="gateway",
        firmware="agent 1.4.2",
        slots=[
            SlotRecord("a", "INACTIVE", "label-inspector", 2, "5e1f0a9c" * 8),
            SlotRecord("b", "CONFIRMED", "label-inspector", 3, "a3c94e7b" * 8),
        ],
    )
    f.seen(
        "gw-line2-cam2",
        hardware_id="jetson-orin-nano",
        kind="gateway",
        firmware="agent 1.4.2",
        slots=[
            SlotRecord("a", "CONFIRMED", "label-inspector", 2, "5e1f0a9c" * 8),
            SlotRecord("b", "EMPTY"),
        ],
    )
    f.seen(
        "gw-line2-cam3",
        hardware_id="jetson-orin-nano",
        kind="gateway",
        firmware="agent 1.4.2",
        slots=[
            SlotRecord("a", "INACTIVE", "label-inspector", 2, "5e1f0a9c" * 8),
            SlotRecord("b", "CONFIRMED", "label-inspector", 3, "a3c94e7b" * 8),
        ],
    )
    f.seen(
        "vib-node-07",
        hardware_id="nrf5340-dk",
        kind="serial",
        firmware="2.1.0",
        slots=[
            SlotRecord("0", "INACTIVE", "vibration-anomaly", 1, "0b7d2e11" * 8),
            SlotRecord("1", "CONFIRMED", "vibration-anomaly", 2, "c0ffee42" * 8),
        ],
    )
    f.seen("laptop", hardware_id="", kind="local", firmware="")


def _record(path: Path, frames: int) -> tuple[int, int, int]:
    """Run the real label inspector on ``frames`` conveyor frames; record them with telemetry."""
    from edgeconsole.core.clock import now_ns
    from edgeconsole.inference.engine import InferenceEngine
    from edgeconsole.inference.loader import load_model
    from edgeconsole.journal.recorder import McapRecorderSink, RecordingMeta
    from edgeconsole.journal.timebase import mono_to_wall_ns
    from edgeconsole.session.pipeline import LocalPipelineRunner
    from edgeconsole.session.runner import CallbackSink, RunnerOutput
    from edgeconsole.session.session import DEMO_SCENE, DEMO_SOURCE, default_demo_model
    from edgeconsole.sources.factory import open_source

    spec = load_model(str(default_demo_model()))
    engine = InferenceEngine.load(spec)
    meta = RecordingMeta(
        site="Plant 4 - Line 2, Rotterdam",
        technician="Ana Souza",
        target="local://",
        target_identity="laptop",
        bundle_id="label-inspector",
        bundle_version="3",
        bundle_hash="a3c94e7b" * 8,
        model=f"{spec.name} v{spec.version}",
        source=DEMO_SOURCE,
        extra={"latency_budget_ms": str(spec.latency_budget_ms or 50.0)},
    )
    rec = McapRecorderSink(path, meta)
    rec.start()
    # Offline and lossless: every frame is inferred however busy this machine is; the
    # recording then spaces frames 33 ms apart as the 30 fps camera would have. The
    # latency samples are what this machine measured.
    # The demo's scene without its clock: read offline, as fast as the model allows.
    source = open_source(f"{DEMO_SCENE}&frames={frames}", realtime=False, loop=False)
    source.open()
    ended = threading.Event()
    base = now_ns()

    def on_output(out: RunnerOutput) -> None:
        frame = out.frame
        assert frame is not None
        frame.captured_ns = base + frame.index * 33_333_333
        rec.on_result(frame, out.result, out.sample)
        t = frame.index / 30.0
        rec.write_telemetry(
            "vib-node-07",
            {
                "rms g": 1.6 + 0.5 * math.sin(t * 2.1) + 0.15 * math.sin(t * 17.0),
                "peak g": 3.1 + 0.8 * math.sin(t * 2.1 + 0.4) + 0.3 * math.sin(t * 23.0),
            },
            ts_ns=mono_to_wall_ns(frame.captured_ns),
        )

    runner = LocalPipelineRunner(
        source,
        engine,
        CallbackSink(
            on_output=on_output,
            on_error=lambda where, e: print(f"pipeline error in {where}: {e}", file=sys.stderr),
            on_end=lambda reason: ended.set(),
        ),
        lossless=True,
    )
    runner.start()
    runner.wait_ended(frames * 10.0)
    runner.stop()
    runner.join(5)
    source.close()
    stats = rec.stop()
    if hasattr(engine, "close"):
        engine.close()
    return stats.frames, stats.dropped, rec.started_ns


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.screenshots.journal")
    p.add_argument("--out", type=Path, default=Path("resources/screenshots"))
    p.add_argument("--frames", type=int, default=60, help="frames in the demo recording")
    return p.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgeconsole-shots-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ["EDGECONSOLE_HOME"] = str(home)  # journal, keys, settings stay in here
        from edgeconsole.ui.app import create_application

        app = create_application()
        from edgeconsole.journal.journal import Journal
        from edgeconsole.journal.timebase import wall_ns
        from edgeconsole.ui.journal.export_dialog import ExportDialog
        from edgeconsole.ui.journal.fleet_view import FleetView
        from edgeconsole.ui.journal.logs_view import LogsView
        from edgeconsole.ui.journal.replay_view import ReplayView
        from edgeconsole.ui.journal.site_dialog import SiteDialog

        journal = Journal.open(home / "journal")
        try:
            _fill_journal(journal)
            recording = home / "recordings" / "line2-cam1-0931.mcap"
            frames, dropped, started = _record(recording, args.frames)
            journal.record_recording(recording, "local://", started, wall_ns(), frames, dropped)

            logs = LogsView(journal)
            logs.resize(1400, 720)
            logs.show()
            logs.set_filters(levels=["info", "warning", "error"])
            logs.table.selectRow(logs.model.rowCount() - 12)
            save(logs, out, "logs_view.png")
            logs.close()

            replay = ReplayView()
            replay.resize(1600, 950)
            replay.show()
            replay.open(recording)
            replay.set_speed(2.0)
            replay.play()
            src = replay.source
            assert src is not None
            stop_at = src.start_ns + int(0.8 * (src.end_ns - src.start_ns))
            spin(lambda: src.position_ns >= stop_at, 60)
            replay.pause()
            replay.tick()
            replay.latency_panel.redraw()
            replay.latency_panel.apply_stats(replay.stats.snapshot())
            save(replay, out, "replay_view.png")
            replay.close()

            fleet = FleetView(journal)
            fleet.resize(1400, 520)
            fleet.show()
            save(fleet, out, "fleet_view.png")
            fleet.close()

            usb = Path(tmp) / "USB-STICK"
            usb.mkdir()
            export = ExportDialog(journal, out_dir=usb)
            export.show()
            export.adjustSize()
            export.start_export()
            spin(lambda: not export.busy, 60)
            save(export, out, "export_dialog.png")
            export.close()

            # First run, technician left empty: the dialog explains what is missing.
            site = SiteDialog(journal, first_run=True)
            site.technician_edit.clear()
            site.show()
            site.save()
            site.adjustSize()
            save(site, out, "site_dialog.png")
            site.close()
        finally:
            journal.close()
        app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
