"""Industrial camera pieces that need no camera: values, pixels, clock, triggers, specs."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from edgeconsole.core.errors import CameraFeatureError, ConfigError, SourceError
from edgeconsole.sources.factory import describe_spec, parse_spec
from edgeconsole.sources.genicam.clock import CameraClock
from edgeconsole.sources.genicam.features import FeatureInfo, NodeFacts, check_name, parse_value
from edgeconsole.sources.genicam.pixels import to_bgr, to_pipeline
from edgeconsole.sources.genicam.triggers import SoftwareTriggerPacer, TriggerLedger
from tests.fixtures.sources import wait_for


def _info(kind: str = "integer", **kw: object) -> FeatureInfo:
    facts = NodeFacts(
        node=str(kw.pop("node", "Width")),
        kind=kind,  # type: ignore[arg-type]
        readable=True,
        writable=bool(kw.pop("writable", True)),
        **kw,  # type: ignore[arg-type]
    )
    return FeatureInfo.of(str(kw.get("name", "Width")), facts)


def test_numbers_are_checked_against_the_node_map_range_and_increment() -> None:
    width = _info("integer", minimum=16, maximum=2048, increment=4, value=640)
    assert parse_value(width, "1024", "cam") == 1024
    with pytest.raises(CameraFeatureError, match=r"out of range: this camera accepts 16 \.\. 2048"):
        parse_value(width, "4096", "cam")
    with pytest.raises(CameraFeatureError, match="multiple of 4 \\(nearest: 1000 or 1004\\)"):
        parse_value(width, "1002", "cam")
    with pytest.raises(CameraFeatureError, match="whole number"):
        parse_value(width, "640.5", "cam")
    for hostile in ("nan", "inf", "-inf", "1e999", "", "12px", "0x20"):
        with pytest.raises(CameraFeatureError):
            parse_value(width, hostile, "cam")
    exposure = _info("float", node="ExposureTimeAbs", minimum=10.0, maximum=1e7, unit="us")
    assert parse_value(exposure, "2500.5", "cam") == 2500.5
    with pytest.raises(CameraFeatureError, match="10000001 us is out of range"):
        parse_value(exposure, 10_000_001, "cam")


def test_enumerations_booleans_commands_and_read_only_say_why() -> None:
    fmt = _info("enumeration", node="PixelFormat", options=("Mono8", "RGB8"), value="Mono8")
    assert parse_value(fmt, "rgb8", "cam") == "RGB8"  # case as the camera spells it
    with pytest.raises(CameraFeatureError, match="cannot be 'Mono12': this camera offers Mono8"):
        parse_value(fmt, "Mono12", "cam")
    flag = _info("boolean", node="ReverseX")
    assert parse_value(flag, "on", "cam") is True
    with pytest.raises(CameraFeatureError, match="on/off"):
        parse_value(flag, "maybe", "cam")
    with pytest.raises(CameraFeatureError, match="is a command; it takes no value"):
        parse_value(_info("command", node="TriggerSoftware"), "1", "cam")
    with pytest.raises(CameraFeatureError, match="read-only"):
        parse_value(_info("integer", writable=False, minimum=0, maximum=9), "1", "cam")
    with pytest.raises(CameraFeatureError, match="too long"):
        parse_value(_info("string", node="DeviceUserID"), "x" * 300, "cam")


@pytest.mark.parametrize("name", ["", " ", "Width;rm", "a" * 200, "Gain\0", "../x", "é"])
def test_hostile_feature_names_are_refused(name: str) -> None:
    with pytest.raises(CameraFeatureError, match="not a feature name"):
        check_name(name)


def test_bayer_rggb_is_demosaiced_to_the_right_colours() -> None:
    # A flat orange scene (R=200, G=100, B=20) seen through an RGGB mosaic.
    h, w = 8, 8
    mosaic = np.zeros((h, w), np.uint8)
    mosaic[0::2, 0::2] = 200  # R
    mosaic[0::2, 1::2] = 100  # G
    mosaic[1::2, 0::2] = 100  # G
    mosaic[1::2, 1::2] = 20  # B
    bgr = to_bgr(mosaic, "BayerRG8")
    b, g, r = bgr[4, 4]
    assert (abs(int(r) - 200), abs(int(g) - 100), abs(int(b) - 20)) < (3, 3, 3)
    # The same scene as BGGR must not come out the same (the pattern is honoured).
    assert tuple(to_bgr(mosaic, "BayerBG8")[4, 4]) != tuple(bgr[4, 4])


def test_deep_mono_colour_and_refused_formats() -> None:
    mono16 = np.full((4, 4), 0xFF00, np.uint16)
    assert to_bgr(mono16, "Mono16")[0, 0].tolist() == [255, 255, 255]
    mono12 = np.full((4, 4), 0x0800, np.uint16)  # half scale of 12 bits
    assert to_bgr(mono12, "Mono12")[0, 0].tolist() == [128, 128, 128]
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 255  # red in RGB order
    assert to_bgr(rgb, "RGB8Packed")[0, 0].tolist() == [0, 0, 255]
    for packed in ("Mono12Packed", "Mono10p", "BayerRG12Packed", "YUV422_8"):
        with pytest.raises(SourceError, match="cannot be shown"):
            to_bgr(np.zeros((4, 4), np.uint8), packed)
    with pytest.raises(SourceError):
        to_bgr(np.zeros((4, 4), np.uint8), "RGB8")  # colour format without channels


def test_monochrome_frames_stay_single_channel_and_mono8_is_not_copied() -> None:
    mono8 = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert to_pipeline(mono8, "Mono8") is mono8  # the one copy out of the driver's buffer
    mono12 = np.full((3, 4), 2048, np.uint16)
    out = to_pipeline(mono12, "Mono12")
    assert out.shape == (3, 4) and out.dtype == np.uint8 and int(out[0, 0]) == 128
    # Colour and Bayer still become BGR; a bit-packed mono format is still refused.
    assert to_pipeline(np.zeros((4, 4), np.uint8), "BayerRG8").shape == (4, 4, 3)
    rgb = np.zeros((2, 2, 3), np.uint8)
    assert to_pipeline(rgb, "RGB8").shape == (2, 2, 3)
    with pytest.raises(SourceError, match="cannot be shown"):
        to_pipeline(np.zeros((4, 4), np.uint8), "Mono12Packed")


def test_clock_estimate_takes_the_fastest_frame_and_never_exceeds_arrival() -> None:
    clock = CameraClock()
    cam0 = 5_000_000_000_000  # the camera's clock runs from its own epoch
    host0 = 1_000_000_000
    # Frames exposed every 10 ms; the link takes 4, 2, 7 ms.
    placed = [
        clock.to_host(cam0 + i * 10_000_000, host0 + i * 10_000_000 + d)
        for i, d in enumerate((4_000_000, 2_000_000, 7_000_000))
    ]
    assert clock.method == "estimated"
    # With the 2 ms frame seen, exposure of frame 2 is placed 2 ms before... its true
    # exposure + 2 ms: a lower bound on the link's delay, never more than the arrival.
    assert placed[2] == host0 + 20_000_000 + 2_000_000
    assert all(
        p is not None and p <= host0 + i * 10_000_000 + 7_000_000 for i, p in enumerate(placed)
    )
    assert clock.to_host(0, host0) is None and clock.method == "host"


def test_clock_latch_places_exposure_exactly_and_is_renewed() -> None:
    calls: list[int] = []
    from edgeconsole.core.clock import now_ns

    offset = 123_456_789

    def latch() -> int:
        calls.append(1)
        return now_ns() - offset  # a camera clock running `offset` behind ours

    clock = CameraClock(latch, relatch_s=0.0)
    try:
        assert clock.relatch()  # the source latches when the camera connects
        t = now_ns()
        placed = clock.to_host(t - offset - 5_000_000, t)
        assert clock.method == "latched"
        assert placed is not None and abs(placed - (t - 5_000_000)) < 2_000_000
        later = now_ns() + 1_000
        clock.to_host(later - offset, later)
        # relatch_s=0: every frame asks for a renewal, made on the clock's own thread.
        assert wait_for(lambda: len(calls) >= 2 and clock.latches >= 2)
    finally:
        clock.close()
    refused = CameraClock(lambda: None)
    assert not refused.relatch()
    refused.to_host(10, 20)
    assert refused.method == "estimated"
    refused.close()


def test_clock_latch_never_runs_on_the_frame_path() -> None:
    """A latch is a control-channel round trip: the frame that finds a renewal due is
    placed with the offset it has and returns at once; the renewal follows."""
    from edgeconsole.core.clock import now_ns

    release = threading.Event()
    entered = threading.Event()

    def slow_latch() -> int:
        entered.set()
        release.wait(5.0)  # a camera slow to answer its control channel
        return now_ns() - 1_000

    clock = CameraClock(slow_latch, relatch_s=0.0)
    try:
        t = now_ns()
        placed = clock.to_host(t - 5_000_000, t)  # nothing latched yet: the estimate
        assert clock.method == "estimated" and placed is not None
        assert entered.wait(5.0)  # the renewal runs meanwhile, on the clock's thread...
        t2 = now_ns()
        clock.to_host(t2 - 1_000_000, t2)  # ...and the next frame does not wait for it
        assert now_ns() - t2 < 1_000_000_000 and not release.is_set()
        release.set()
        assert wait_for(lambda: clock.latches >= 1)
        t3 = now_ns()
        clock.to_host(t3 - 1_000 - 2_000_000, t3)
        assert clock.method == "latched"
    finally:
        release.set()
        clock.close()


def test_trigger_ledger_matches_in_order_and_counts_missing_and_extra() -> None:
    ledger = TriggerLedger(timeout_s=1.0)
    a = ledger.issue(1_000)
    b = ledger.issue(2_000)
    assert ledger.match(5_000) == a
    assert ledger.match(6_000) == b
    assert ledger.match(7_000) is None and ledger.extra == 1  # nobody asked for it
    c = ledger.issue(10_000)
    ledger.withdraw(c)  # the command failed: it was never a trigger
    ledger.issue(20_000)
    assert ledger.expire(20_000 + 2_000_000_000) == 1
    assert ledger.to_json() == {"issued": 3, "answered": 2, "missing": 1, "extra": 1, "pending": 0}
    assert list(ledger.latencies_ns) == [4_000, 4_000]


def test_pacer_fires_at_the_rate_and_counts_errors() -> None:
    fired: list[int] = []

    def fire() -> None:
        fired.append(1)
        if len(fired) == 3:
            raise SourceError("camera refused")

    pacer = SoftwareTriggerPacer(fire, 3000)  # 50 per second
    pacer.start()
    assert wait_for(lambda: len(fired) >= 10, timeout=5)
    pacer.stop()
    assert pacer.errors == 1 and pacer.fired == len(fired) - 1
    with pytest.raises(ConfigError):
        SoftwareTriggerPacer(fire, 0)
    with pytest.raises(ConfigError):
        SoftwareTriggerPacer(fire, float("nan"))


def test_industrial_specs_parse_and_hostile_ones_are_refused() -> None:
    p = parse_spec("aravis://Aravis-Fake-GV01?trigger=software&rate=300")
    assert (p.kind, p.target, p.options) == (
        "industrial",
        "aravis://Aravis-Fake-GV01",
        {"trigger": "software", "rate": 300.0},
    )
    assert parse_spec("aravis://").target == "aravis://"
    assert parse_spec("pylon://0815-0000?setup=/tmp/s.json").options == {"setup": "/tmp/s.json"}
    assert describe_spec("pylon://0815-0000") == "Basler camera 0815-0000"
    for bad, why in (
        ("aravis:cam", "aravis://DEVICE_ID"),
        ("aravis://a/b", "without / or #"),
        ("pylon://" + "x" * 200, "at most 128"),
        ("aravis://x?rate=0", "outside"),
        ("aravis://x?rate=abc", "not a number"),
        ("aravis://x?rate=300&trigger=Line1", "needs trigger=software"),
        ("aravis://x?exposure=5", "unknown option"),
        ("aravis://x?trigger=a;b", "trigger must be"),
        ("aravis://x?rate=1&rate=2", "given twice"),
        ("aravis://x?setup=", "needs a path"),
        ("aravis://x?images=/tmp", "pylon's emulated camera only"),
        ("pylon://x?fps=5000", "outside 0.1..1000"),
        ("aravis://x\0y", "NUL"),
    ):
        with pytest.raises(ConfigError, match=why):
            parse_spec(bad)


def test_opencv_bayer_codes_follow_pfnc_naming() -> None:
    # Guard for the table in pixels.py: OpenCV's RGGB code equals its old "BG" code.
    assert cv2.COLOR_BayerRGGB2BGR == cv2.COLOR_BayerBG2BGR


def test_without_the_camera_libraries_the_app_runs_and_says_what_is_missing() -> None:
    import subprocess
    import sys

    script = """
import sys, json
sys.modules['gi'] = None          # as if PyGObject were not installed
sys.modules['pypylon'] = None     # as if pypylon were not installed
from edgeconsole.core.errors import SourceOpenError
from edgeconsole.sources.factory import open_source
out = {}
for spec in ('aravis://', 'pylon://0815-0000'):
    try:
        open_source(spec).open()
    except SourceOpenError as exc:
        out[spec] = str(exc)
from edgeconsole.sources.genicam.discovery import discover
out['notes'] = discover()['notes']
frame = open_source('synthetic:conveyor?frames=1', realtime=False).read()
out['synthetic'] = list(frame.image.shape)
print(json.dumps(out))
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    import json

    out = json.loads(res.stdout)
    assert "PyGObject (the Python module 'gi') is not installed" in out["aravis://"]
    assert "./run setup" in out["aravis://"]
    assert "pypylon is not installed" in out["pylon://0815-0000"]
    assert any(n.startswith("aravis was not searched") for n in out["notes"])
    assert any(n.startswith("pylon was not searched") for n in out["notes"])
    assert out["synthetic"] == [720, 1280, 3]


def test_hostile_setup_files_are_refused_with_what_is_wrong(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from edgeconsole.sources.genicam.setup_file import FORMAT, load_setup

    good = {"format": FORMAT, "version": 1, "features": {"Width": 640, "PixelFormat": "Mono8"}}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(good))
    assert load_setup(path).features == {"Width": 640, "PixelFormat": "Mono8"}
    cases = [
        (b"x" * (64 * 1024 + 1), "larger than 64 KiB"),
        (b"\xff\xfe{", "not UTF-8"),
        (b'{"format": "edgeconsole.camera-setup", "version": 1, "features": {', "not valid JSON"),
        (b"[1, 2]", "must hold a JSON object"),
        (json.dumps({**good, "format": "other"}).encode(), "not a camera setup"),
        (json.dumps({**good, "version": 2}).encode(), "has version 2"),
        (json.dumps({**good, "extra": 1}).encode(), "unknown keys: extra"),
        (json.dumps({**good, "features": {}}).encode(), "has no features"),
        (json.dumps({**good, "features": {f"F{i}": 1 for i in range(65)}}).encode(), "at most 64"),
        (json.dumps({**good, "features": {"Width; rm -rf": 1}}).encode(), "not a feature name"),
        (
            json.dumps({**good, "features": {"Width": [1, 2]}}).encode(),
            "number, text or true/false",
        ),
        (json.dumps({**good, "features": {"Width": "x" * 300}}).encode(), "number, text"),
        (b'{"format": "edgeconsole.camera-setup", "version": 1, "features": {"Gain": NaN}}', "NaN"),
        (json.dumps({**good, "camera": {"model": "x", "evil": 1}}).encode(), "camera must be"),
    ]
    for raw, why in cases:
        path.write_bytes(raw)
        with pytest.raises(ConfigError, match=why):
            load_setup(path)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_setup(tmp_path / "missing.json")
