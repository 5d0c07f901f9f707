"""Runs on industrial cameras: the summary and recording carry the camera's own view,
and the camera can be set while the pipeline holds it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mcap.reader import make_reader

from edgeconsole.session.headless import run_headless
from tests.fixtures.onnx_models import colour_classifier_json


def _topics(path: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    with open(path, "rb") as fh:
        for _schema, channel, message in make_reader(fh).iter_messages():
            if channel.topic.startswith("/camera_"):
                out.setdefault(channel.topic, []).append(json.loads(message.data))
    return out


def test_run_on_the_pylon_emulator_summarises_and_records_the_camera(
    pylon_emulator: str, tmp_path: Path
) -> None:
    from edgeconsole.sources.genicam.pylon_emu import write_frames

    frames = write_frames("synthetic:conveyor?seed=2&width=320&height=180", tmp_path / "f", 10)
    (tmp_path / "model").mkdir()
    model = colour_classifier_json(tmp_path / "model")
    summary, _ = run_headless(
        f"{pylon_emulator}?images={frames}&fps=30",
        model,
        frames=12,
        realtime=True,
        record=tmp_path / "run.mcap",
        journal=False,
    )
    cam = summary["camera"]
    assert cam["camera"]["model"] == "Emulation" and cam["source"] == pylon_emulator
    assert cam["stream"]["completed"] >= 12 and cam["stream"]["incomplete"] == 0
    assert cam["clock"]["method"] == "host"
    topics = _topics(tmp_path / "run.mcap")
    stamps = topics["/camera_frames"]
    assert len(stamps) >= 12
    assert all(s["clock"] == "arrival" and s["captured_ns"] >= s["exposure_ns"] for s in stamps)
    ids = [s["frame_id"] for s in stamps]
    assert ids == sorted(ids)
    assert topics["/camera_stats"][0]["camera"]["serial"] == "0815-0000"


@pytest.mark.xdist_group("gige-fake-camera")
def test_cli_run_on_the_gige_camera_and_setting_it_while_it_runs(
    fake_gv_camera: Any, tmp_path: Path
) -> None:
    from edgeconsole.session.session import Session

    (tmp_path / "model").mkdir()
    model = colour_classifier_json(tmp_path / "model")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeconsole",
            "run",
            "--source",
            fake_gv_camera.spec,
            "--model",
            str(model),
            "--frames",
            "8",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["frames"] == 8
    cam = summary["camera"]
    assert cam["camera"]["serial"] == "GV01" and cam["stream"]["received_packets"] > 0
    assert cam["clock"]["method"] == "estimated"

    session = Session()
    try:
        session.start_local(fake_gv_camera.spec, model)
        deadline = time.monotonic() + 60
        while session.poll().status.frames < 3:
            assert time.monotonic() < deadline, "no frames from the camera"
            session.wait_for_change(0.1)
        # The pipeline holds the camera's control channel: a second connection would be
        # refused, so this goes through the pipeline's own.
        assert session.camera_setup.set(fake_gv_camera.spec, [("ExposureTime", "4000")])
        assert session.camera_setup.wait(30)
        results = session.poll().camera_setup
        assert results and results[0].ok, results and results[0].message
        assert "ExposureTime = 4000 us" in results[0].message
        status = session.poll().status
        assert status.camera is not None and status.camera["stream"]["completed"] >= 3
    finally:
        session.close()


def test_triggered_run_at_300_parts_per_minute_is_one_frame_and_one_decision_per_trigger(
    pylon_emulator: str, tmp_path: Path
) -> None:
    """Issue 17 item 4 on issue 12's per-part pipeline: the camera's software trigger
    is the part trigger, and decision latency runs from the trigger (the emulator has
    no exposure clock)."""
    from edgeconsole.session.session import sample_models_dir
    from edgeconsole.sources.genicam.pylon_emu import write_frames

    frames = write_frames("synthetic:conveyor?seed=7&width=640&height=360", tmp_path / "f", 12)
    summary, events = run_headless(
        f"{pylon_emulator}?images={frames}&trigger=software&rate=300",
        sample_models_dir() / "label_orientation",
        seconds=4.0,
        realtime=True,
        journal=False,
    )
    trig = summary["camera"]["trigger"]
    assert trig["mode"] == "software" and trig["rate_per_min"] == 300.0
    assert trig["issued"] >= 12  # 300/min for 4 s: about 20
    assert trig["missing"] == 0 and trig["extra"] == 0
    assert trig["answered"] >= trig["issued"] - 1  # the last one may be in flight at stop
    assert summary["line"]["trigger"] == "frame"
    assert summary["line"]["camera_triggers"]["missing"] == 0
    # One decision per triggered frame: every frame the source handed on was one part.
    parts = summary["parts"]
    # (the frame in flight when the run stops may be counted but not yet decided)
    assert summary["frames"] - 1 <= len(parts) <= summary["frames"]
    assert len(parts) >= trig["answered"] - 2
    assert len({p["trigger_frame"] for p in parts}) == len(parts)
    assert all(p["decision_ms"] is not None and p["decision_ms"] > 0 for p in parts)
    assert any("the camera's trigger (software) is the part trigger" in e.text for e in events)
    # Latency runs from the trigger, so it includes the camera's trigger -> frame time.
    decision = sorted(p["decision_ms"] for p in parts)
    assert decision[len(decision) // 2] >= trig["latency_ms"]["p50"]


def test_mono_camera_frames_go_through_the_pipeline_single_channel(
    pylon_emulator: str, tmp_path: Path
) -> None:
    """A Mono8 camera's frames stay one channel from the source to the recording: the
    per-part stage locates and crops them, the overlay is drawn on them and the
    recording keeps them grey (no frame was widened to BGR on the way)."""
    import base64

    import cv2
    import numpy as np

    from edgeconsole.session.session import sample_models_dir
    from edgeconsole.sources.genicam.pylon_emu import write_frames

    colour = write_frames("synthetic:conveyor?seed=7&width=640&height=360", tmp_path / "c", 12)
    grey = tmp_path / "grey"
    grey.mkdir()
    for png in sorted(colour.glob("*.png")):
        image = cv2.imread(str(png), cv2.IMREAD_COLOR)
        assert cv2.imwrite(str(grey / png.name), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    summary, _ = run_headless(
        f"{pylon_emulator}?images={grey}&trigger=software&rate=300",
        sample_models_dir() / "label_orientation",
        seconds=4.0,
        realtime=True,
        journal=False,
        record=tmp_path / "run.mcap",
        annotate=tmp_path / "annotated",
    )
    trig = summary["camera"]["trigger"]
    assert trig["answered"] >= 12 and trig["missing"] == 0
    parts = summary["parts"]
    assert len(parts) >= trig["answered"] - 2
    assert all(p["decision_ms"] is not None for p in parts)
    # The conveyor's parts were found and judged on the grey frames (crops of one channel).
    assert all(p["box"] and p["verdict"] and p["score"] is not None for p in parts), parts[:2]
    # Recorded frames are grey JPEGs: the frames reached the recorder with one channel.
    recorded = []
    with open(tmp_path / "run.mcap", "rb") as fh:
        for _schema, _channel, message in make_reader(fh).iter_messages(topics=["/camera"]):
            jpeg = base64.b64decode(json.loads(message.data)["data"])
            recorded.append(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED))
    assert recorded and all(img.shape == (360, 640) for img in recorded)
    # The overlay was drawn onto the grey frames (colour boxes on a 3-channel copy).
    annotated = sorted((tmp_path / "annotated").glob("frame-*.png"))
    assert annotated
    drawn = cv2.imread(str(annotated[-1]), cv2.IMREAD_COLOR)
    assert drawn.shape == (360, 640, 3)
    b, g, r = (drawn[..., i].astype(int) for i in range(3))
    assert int((np.abs(b - g) + np.abs(g - r)).max()) > 60  # colour only from the overlay
