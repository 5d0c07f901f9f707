"""The virtual device's photo-eye: an edge per part, when the camera sees it pass."""

from __future__ import annotations

import threading
from itertools import pairwise

import pytest

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import ConfigError
from edgeconsole.devices.serial.client import SerialTarget
from edgeconsole.sources.belt import BeltTiming
from edgeconsole.sources.conveyor import ConveyorScene
from edgeconsole.sources.photo_eye import PhotoEye, eye_for_source
from edgeconsole.sources.telemetry_lines import DeviceEvent, EventTap
from tests.fixtures.sources import wait_for

SPEC = "synthetic:conveyor?fps=30&ppm=600&clock=1&width=640&height=360"


def test_each_edge_is_a_part_crossing_the_eye_in_the_camera_frames() -> None:
    eye = eye_for_source(SPEC, 0.5)
    scene = ConveyorScene(fps=30, width=640, height=360, parts_per_min=600)
    period = round(1e9 / 30)
    k = eye.belt.first_part_after(now_ns() / eye._ns_per_s, 320.0)
    for part in range(k, k + 5):
        due = eye.due_ns(part)
        tick = -(-due // period)  # the first frame exposed at or after the edge
        centres = []
        for i in (tick - 1, tick):
            _, truth = scene.render(i)
            centres.append({p["id"]: (p["box"][0] + p["box"][2]) / 2 for p in truth["parts"]})
        # Before the edge the part's centre has not reached the eye; from the first frame
        # exposed after it, it has (the scene draws whole pixels: half a pixel of slack).
        assert centres[0][part] <= 320.5 and centres[1][part] >= 319.5, (part, centres)


def test_eye_emits_numbered_edges_on_time() -> None:
    belt = BeltTiming.for_frame(640, 360, parts_per_min=1200)
    got: list[tuple[int, int, int]] = []
    done = threading.Event()

    def emit(n: int, due: int) -> None:
        got.append((n, due, now_ns()))
        if n == 4:
            done.set()

    eye = PhotoEye(belt, emit, epoch_ns=now_ns())
    eye.start()
    try:
        assert done.wait(10)
    finally:
        eye.stop()
    assert [n for n, _, _ in got[:4]] == [1, 2, 3, 4]
    gaps = [b[1] - a[1] for a, b in pairwise(got)]
    assert all(abs(g - 50_000_000) < 1_000_000 for g in gaps[:3])  # 1200/min: 50 ms apart
    assert all(sent >= due for _, due, sent in got)  # never early


@pytest.mark.parametrize(
    ("spec", "pos", "match"),
    [
        ("synthetic:conveyor?fps=30", 0.5, "clock=1"),
        ("/tmp/video.avi", 0.5, "simulated belt"),
        (SPEC, 1.5, "outside the frame"),
        (SPEC, 0.0, "outside the frame"),
    ],
)
def test_eye_settings_are_checked(spec: str, pos: float, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        eye_for_source(spec, pos)


def test_device_prints_edges_the_console_hears_at_once(serial_device) -> None:  # type: ignore[no-untyped-def]
    started_ns = now_ns()
    eye = eye_for_source("synthetic:conveyor?fps=30&ppm=1200&clock=1", 0.5)
    device = serial_device(photo_eye=eye, rate=50.0)
    heard: list[DeviceEvent] = []
    enough = threading.Event()

    def on_event(ev: DeviceEvent) -> None:
        heard.append(ev)
        if len(heard) >= 5:
            enough.set()

    target = SerialTarget(str(device.path), timeout_s=2.0)
    target.text_tap = EventTap(on_event).feed
    try:
        target.connect()
        assert enough.wait(10)
    finally:
        target.close()
    seq = [int(e.fields[0]) for e in heard]
    assert seq == list(range(seq[0], seq[0] + len(seq)))
    # Stamped on arrival, after the edge the device saw, which it stamps with our own
    # monotonic clock: the edge lies between the test's start and its arrival (how long
    # after is this machine's load, which the benchmarks measure, not this test).
    for e in heard:
        edge_ns = int(e.fields[1]) * 1000
        assert started_ns - 1000 <= edge_ns <= e.t_ns
    # The device counts a line once it is written, which can be just after we read it.
    assert wait_for(lambda: device.eye_lines >= len(heard), 10)
