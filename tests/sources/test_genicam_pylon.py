"""pylon:// against pylon's own camera emulation (PYLON_CAMEMU), started in this process."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeconsole.core.errors import CameraFeatureError, ConfigError, SourceOpenError
from edgeconsole.sources.factory import open_source
from edgeconsole.sources.genicam.source import IndustrialCameraSource

CLI = [sys.executable, "-m", "edgeconsole"]


def _read_n(source: IndustrialCameraSource, n: int, timeout: float = 10.0) -> list:
    frames = []
    deadline = time.monotonic() + timeout
    while len(frames) < n and time.monotonic() < deadline:
        f = source.read()
        if f is not None:
            frames.append(f)
    return frames


def test_emulated_camera_streams_frames_with_counters(pylon_emulator: str) -> None:
    source = open_source(pylon_emulator)
    assert isinstance(source, IndustrialCameraSource)
    try:
        frames = _read_n(source, 5)
        assert len(frames) == 5
        assert frames[0].image.shape == (1040, 1024)  # Mono8: one channel, as the camera sends it
        f = frames[-1]
        # The emulator gives no timestamp: the capture stage starts at arrival, and says so.
        assert f.camera is not None and f.camera.camera_ns is None and f.camera.clock == "arrival"
        stats = source.camera_stats()
        assert stats["camera"]["model"] == "Emulation" and stats["camera"]["serial"] == "0815-0000"
        assert stats["stream"]["completed"] >= 5 and stats["clock"]["method"] == "host"
    finally:
        source.close()


def test_unknown_serial_lists_what_pylon_sees(pylon_emulator: str) -> None:
    with pytest.raises(SourceOpenError, match="no Basler camera with serial '12345678'") as err:
        open_source("pylon://12345678").open()
    assert "Emulation 0815-0000" in str(err.value)


def test_folder_of_conveyor_frames_plays_as_a_camera(pylon_emulator: str, tmp_path: Path) -> None:
    from edgeconsole.sources.genicam.pylon_emu import write_frames

    folder = write_frames("synthetic:conveyor?seed=3&width=320&height=180", tmp_path / "f", 6)
    assert sorted(p.name for p in folder.glob("*.png"))[:2] == ["00000.png", "00001.png"]
    expected = [cv2.imread(str(p)) for p in sorted(folder.glob("*.png"))]
    source = open_source(f"{pylon_emulator}?images={folder}&fps=50")
    try:
        frames = _read_n(source, 8)
        assert len(frames) == 8 and frames[0].image.shape == (180, 320, 3)
        # Each frame is one of the folder's images, pixel for pixel, in order (cycling).
        matches = [
            next(i for i, e in enumerate(expected) if np.array_equal(e, f.image)) for f in frames
        ]
        steps = {(b - a) % len(expected) for a, b in itertools.pairwise(matches)}
        assert steps == {1}
        assert source.nominal_fps == pytest.approx(50.0)
    finally:
        source.close()
    with pytest.raises(ConfigError, match="no images to play"):
        open_source(f"{pylon_emulator}?images={tmp_path}").open()


def test_failed_buffers_are_counted_and_never_judged(pylon_emulator: str) -> None:
    source = open_source(pylon_emulator)
    assert isinstance(source, IndustrialCameraSource)
    try:
        assert len(_read_n(source, 2)) == 2
        dev = source.device
        assert dev is not None
        dev.set_feature("ForceFailedBufferCount", 3)
        dev.execute("ForceFailedBuffer")
        frames = _read_n(source, 6)
        assert len(frames) == 6
        stats = source.camera_stats()["stream"]
        assert stats["incomplete"] == 3
        notes = [t for _, t in source.drain_notices()]
        assert sum("not judged (counted)" in n for n in notes) == 3
    finally:
        source.close()


def test_software_trigger_at_300_parts_per_minute_gives_one_frame_per_trigger(
    pylon_emulator: str,
) -> None:
    source = open_source(f"{pylon_emulator}?trigger=software&rate=300")
    assert isinstance(source, IndustrialCameraSource)
    try:
        t0 = time.monotonic()
        frames = _read_n(source, 6, timeout=10)
        took = time.monotonic() - t0
        assert len(frames) == 6
        seqs = [f.camera.trigger_seq for f in frames if f.camera]
        assert seqs == [1, 2, 3, 4, 5, 6]
        # No camera clock: the capture stage runs from the trigger the frame answers.
        assert all(f.camera and f.camera.clock == "trigger" for f in frames)
        assert all(f.capture_started_ns == f.camera.trigger_ns for f in frames if f.camera)
        assert took >= 5 * 0.2 * 0.8  # 300/min: one every 200 ms
        trig = source.camera_stats()["trigger"]
        assert (trig["missing"], trig["extra"], trig["errors"]) == (0, 0, 0)
        assert trig["answered"] == 6 and trig["latency_ms"]["p50"] < 100
    finally:
        source.close()


def test_feature_refusals_say_why(pylon_emulator: str) -> None:
    from edgeconsole.session.cameras import read_features, set_feature

    _camera, feats = read_features(pylon_emulator)
    by = {f.name: f for f in feats}
    assert by["ExposureTime"].unit == "us" and by["Gain"].unit == "dB"
    assert by["TriggerSoftware"].kind == "command"
    with pytest.raises(
        CameraFeatureError, match=r"Gain 60 dB is out of range: this camera accepts 0 \.\. 48"
    ):
        set_feature(pylon_emulator, "Gain", "60")
    with pytest.raises(CameraFeatureError, match="has no feature ChunkTimestamp"):
        set_feature(pylon_emulator, "ChunkTimestamp", "1")
    assert set_feature(pylon_emulator, "Gain", "6").value == pytest.approx(6, abs=0.01)


def test_cli_get_set_and_cameras_against_the_emulator(tmp_path: Path) -> None:
    env = {**os.environ, "PYLON_CAMEMU": "1"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, env=env)

    listed = json.loads(cli("cameras", "--json").stdout)
    pylon_cams = [c for c in listed["cameras"] if c["backend"] == "pylon"]
    assert [c["source"] for c in pylon_cams] == ["pylon://0815-0000"]
    assert pylon_cams[0]["pixel_format"] == "Mono8" and pylon_cams[0]["width"] == 1024
    out = cli("camera", "set", "pylon://0815-0000", "PixelFormat", "bayerrg8")
    assert out.returncode == 0 and "PixelFormat = BayerRG8" in out.stdout, out.stderr
    out = cli("camera", "save", "pylon://0815-0000", str(tmp_path / "cam.json"))
    assert out.returncode == 0, out.stderr
    saved = json.loads((tmp_path / "cam.json").read_text())
    assert saved["camera"]["model"] == "Emulation" and "ExposureTime" in saved["features"]


def test_a_saved_setup_goes_into_the_evidence_pack(
    pylon_emulator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edgeconsole.cli.main import main
    from edgeconsole.journal.journal import Journal

    Journal.open().close()  # the site's journal (a run or a connection made it already)
    assert main(["camera", "save", pylon_emulator]) == 0
    saved = capsys.readouterr().out.strip().removeprefix("camera setup saved to ")
    assert Path(saved).name.startswith("camera-setup-0815-0000-") and Path(saved).is_file()
    pack = tmp_path / "pack"
    assert main(["export", "--out", str(pack), "--json"]) == 0
    capsys.readouterr()
    packed = pack / "reports" / Path(saved).name
    assert json.loads(packed.read_text())["camera"]["serial"] == "0815-0000"
    assert main(["export", "verify", str(pack)]) == 0
