"""The session with real sources, real onnxruntime models, a real journal and MCAP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcap.reader import make_reader

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.journal.journal import Journal
from edgeconsole.session.headless import run_headless
from edgeconsole.session.session import Session, default_demo_model
from tests.fixtures.onnx_models import colour_classifier_json, describe, nan_model
from tests.fixtures.sources import wait_for

SMALL_CONVEYOR = "synthetic:conveyor?seed=3&width=640&height=360"


def _poll_until(session: Session, pred: Any, timeout: float = 60.0) -> list[Any]:
    updates: list[Any] = []

    def step() -> bool:
        u = session.poll()
        updates.append(u)
        return bool(pred(u))

    assert wait_for(step, timeout=timeout), [u.status for u in updates[-3:]]
    return updates


def test_video_file_through_classifier_summary(tmp_path: Path, conveyor_video: Path) -> None:
    colour_classifier_json(tmp_path)
    summary, _ = run_headless(str(conveyor_video), tmp_path, journal=False)
    assert summary["frames"] + summary["dropped"] == 60
    assert summary["frames"] > 0
    for stage in ("capture", "preprocess", "infer", "postprocess", "overlay", "unaccounted"):
        assert summary["stages"][stage]["p50"] is not None
    assert summary["e2e"]["p99"] >= summary["e2e"]["p50"] > 0
    assert summary["first_inference_ms"] is not None


def test_label_inspector_on_conveyor_records_journal_and_mcap(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "journal")
    session = Session(journal=journal)
    try:
        session.start_local(SMALL_CONVEYOR, default_demo_model(), realtime=False, loop=False)
        _poll_until(session, lambda u: u.status.state == "running")
        rec = session.start_recording(tmp_path / "run.mcap")
        got: list[Any] = []
        _poll_until(session, lambda u: got.extend(u.latency) or len(got) >= 3)
        path = session.stop_recording()
        assert path == rec
        session.stop(wait=True)
        update = session.poll()
        assert update.status.state == "stopped"
        assert update.status.frames >= 3
    finally:
        session.close()
    with rec.open("rb") as fh:
        topics = {ch.topic for _, ch, _ in make_reader(fh).iter_messages()}
    assert {"/camera/image", "/latency"} <= topics or len(topics) >= 2
    j = Journal.open(tmp_path / "journal")
    try:
        kinds = {e.kind for e in j.audit.entries(limit=100)}
        assert "recording" in kinds and "pipeline" in kinds
        assert j.recordings()
    finally:
        j.close()


def test_missing_video_file_is_a_clear_error_and_session_survives(tmp_path: Path) -> None:
    colour_classifier_json(tmp_path)
    session = Session()
    try:
        session.start_local(str(tmp_path / "nope.avi"), tmp_path)
        updates = _poll_until(session, lambda u: u.status.state == "error")
        errors = [e for u in updates for e in u.events if e.level == "error"]
        assert errors and "nope.avi" in errors[0].text
        # The same session runs fine afterwards.
        session.start_local(SMALL_CONVEYOR, tmp_path, realtime=False)
        _poll_until(session, lambda u: u.status.frames > 0)
    finally:
        session.close()


def test_not_onnx_model_is_a_clear_error(tmp_path: Path) -> None:
    colour_classifier_json(tmp_path)
    (tmp_path / "colour.onnx").write_bytes(b"this is not a model")
    with pytest.raises(EdgeConsoleError, match=r"colour\.onnx"):
        run_headless(SMALL_CONVEYOR, tmp_path, frames=2, journal=False)


def test_shape_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    colour_classifier_json(tmp_path, size=8, model_size=16)
    with pytest.raises(EdgeConsoleError, match="dimension"):
        run_headless(SMALL_CONVEYOR, tmp_path, frames=2, journal=False)


def test_nan_outputs_stop_with_a_clear_error(tmp_path: Path) -> None:
    nan_model(tmp_path / "nan.onnx", n=4)
    describe(
        tmp_path,
        name="nan",
        model="nan.onnx",
        inputs=[{"name": "x", "dtype": "float32", "shape": [1, 4]}],
        outputs=[{"name": "y", "dtype": "float32", "shape": [1, 4]}],
        preprocess={
            "resize": "stretch",
            "size": [2, 2],
            "channel_order": "GRAY",
            "layout": "NC",
            "flatten": True,
        },
        head={"type": "classify", "labels": ["a", "b", "c", "d"]},
    )
    with pytest.raises(EdgeConsoleError, match="NaN"):
        run_headless(SMALL_CONVEYOR, tmp_path, frames=5, journal=False)


def test_cancel_while_opening_discards_the_run(tmp_path: Path) -> None:
    session = Session()
    try:
        session.start_local(SMALL_CONVEYOR, default_demo_model())
        session.cancel()
        assert session.poll().status.state == "stopped"
        # Whatever the opening thread finishes later must not resurrect the run.
        t = session._open_thread
        assert t is not None
        t.join(60)
        assert session.poll().status.state == "stopped"
    finally:
        session.close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeconsole", *args], capture_output=True, text=True, timeout=240
    )


def test_cli_run_json_prints_every_summary_field(conveyor_video: Path) -> None:
    r = _cli(
        "run",
        "--source",
        str(conveyor_video),
        "--model",
        str(default_demo_model()),
        "--frames",
        "3",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    for key in (
        "frames",
        "fps",
        "dropped",
        "stages",
        "e2e",
        "first_inference_ms",
        "detections",
        "parts",
        "runtime",
    ):
        assert key in summary
    assert summary["frames"] == 3
    assert summary["runtime"]["provider"] == "CPUExecutionProvider"
    for stage in ("preprocess", "infer", "postprocess"):
        assert set(summary["stages"][stage]) >= {"p50", "p90", "p99"}
    assert set(summary["e2e"]) >= {"p50", "p99"}


@pytest.mark.parametrize(
    "args, needle",
    [
        (("run", "--source", "/no/such.avi", "--model", "MODEL"), "such.avi"),
        (("run", "--source", "synthetic:conveyor", "--model", "/no/model"), "not found"),
        (("run", "--source", "camera:99", "--model", "MODEL"), "99"),
        (("run", "--source", "bogus:thing", "--model", "MODEL"), "source"),
        (("run", "--source", "synthetic:conveyor", "--model", "MODEL", "--frames", "0"), "frames"),
    ],
)
def test_cli_errors_exit_non_zero_with_one_line(args: tuple[str, ...], needle: str) -> None:
    args = tuple(str(default_demo_model()) if a == "MODEL" else a for a in args)
    r = _cli(*args)
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("edgeconsole: error:")
    assert needle.lower() in lines[-1].lower()
    assert "Traceback" not in r.stderr


def test_cli_version_is_fast_and_plain() -> None:
    r = _cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("edgeconsole ")


SAMPLES = default_demo_model().parent
DEMO_TRUST = SAMPLES / "trust"
LABEL_BUNDLE = SAMPLES / "bundles" / "label-inspector-1.ecb"


def test_signed_bundle_runs_and_is_stamped_on_the_recording(tmp_path: Path) -> None:
    summary, _ = run_headless(
        SMALL_CONVEYOR,
        LABEL_BUNDLE,
        frames=2,
        journal=False,
        trust_dir=DEMO_TRUST,
        record=tmp_path / "b.mcap",
    )
    assert summary["frames"] == 2
    with (tmp_path / "b.mcap").open("rb") as fh:
        reader = make_reader(fh)
        meta = {m.name: m.metadata for m in reader.iter_metadata()}
        attachments = [a.name for a in reader.iter_attachments()]
    assert meta["edgeconsole.recording"]["bundle_id"] == "label-inspector"
    assert len(meta["edgeconsole.recording"]["bundle_hash"]) == 64
    assert "manifest.json" in attachments
    # Which provider and thread count produced the results: in the summary and recording.
    assert summary["runtime"]["provider"] == "CPUExecutionProvider"
    assert summary["runtime"]["onnxruntime"] and summary["runtime"]["threads"]
    rec = meta["edgeconsole.recording"]
    assert rec["execution_provider"] == "CPUExecutionProvider"
    assert rec["intra_op_threads"] == str(summary["runtime"]["threads"])
    assert rec["onnxruntime"] == summary["runtime"]["onnxruntime"]


def test_bundle_without_trust_store_is_refused_with_the_fix() -> None:
    with pytest.raises(EdgeConsoleError, match="trust"):
        run_headless(SMALL_CONVEYOR, LABEL_BUNDLE, frames=1, journal=False)


def test_tampered_bundle_is_refused_before_running(tmp_path: Path) -> None:
    data = bytearray(LABEL_BUNDLE.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit inside the detector's payload
    bad = tmp_path / "label-inspector-1.ecb"
    bad.write_bytes(bytes(data))
    with pytest.raises(EdgeConsoleError, match="signed hash"):
        run_headless(SMALL_CONVEYOR, bad, frames=1, journal=False, trust_dir=DEMO_TRUST)


def test_bundle_signed_by_unknown_key_is_refused(tmp_path: Path) -> None:
    from edgeconsole.bundles.signing import generate_keypair

    other = tmp_path / "other"
    generate_keypair(other, "stranger", None)
    for priv in other.glob("*.key"):
        priv.unlink()  # a store with only the stranger's public key
    with pytest.raises(EdgeConsoleError, match=r"(?i)sign|trust|key"):
        run_headless(SMALL_CONVEYOR, LABEL_BUNDLE, frames=1, journal=False, trust_dir=other)


def test_stop_returns_at_once_and_reaches_stopped() -> None:
    session = Session()
    try:
        session.start_local(SMALL_CONVEYOR, default_demo_model(), realtime=False)
        _poll_until(session, lambda u: u.status.frames >= 1)
        session.stop()  # must not wait for the frame in flight
        assert session.poll().status.state in ("stopping", "stopped")
        _poll_until(session, lambda u: u.status.state == "stopped")
    finally:
        session.close()


def _nice(name: str) -> int:
    import os
    import threading

    workers = [t for t in threading.enumerate() if t.name == name]
    assert workers, name
    assert workers[0].native_id is not None
    return os.getpriority(os.PRIO_PROCESS, workers[0].native_id)


def test_interactive_session_lowers_worker_priority(tmp_path: Path) -> None:
    import os
    import threading

    colour_classifier_json(tmp_path)  # a frame model: the whole pipeline yields to the UI
    session = Session(interactive=True, worker=False)  # in-process: its threads
    try:
        session.start_local(SMALL_CONVEYOR, tmp_path, realtime=False)
        _poll_until(session, lambda u: u.status.frames >= 1)
        me = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert _nice("edgeconsole-inference") > me
    finally:
        session.close()


def test_per_part_decisions_keep_their_priority_and_capture_yields() -> None:
    import os
    import threading

    session = Session(interactive=True, worker=False)  # in-process: its threads
    try:
        session.start_local(SMALL_CONVEYOR, default_demo_model(), realtime=False)
        _poll_until(session, lambda u: u.status.frames >= 1)
        assert session.poll().status.mode == "parts"
        me = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        # Decisions have priority over display: the decision thread is not lowered.
        assert _nice("edgeconsole-decisions") == me
        assert _nice("edgeconsole-capture") > me
    finally:
        session.close()


def test_short_file_that_ends_between_polls_is_summarised(tmp_path: Path) -> None:
    from edgeconsole.sources.demo_video import write_conveyor_video

    video = tmp_path / "tiny.avi"
    write_conveyor_video(video, 0.2, 10, 1, (48, 64))  # 2 frames: done before the first poll
    colour_classifier_json(tmp_path)
    summary, _ = run_headless(str(video), tmp_path, journal=False, open_timeout_s=20)
    assert summary["frames"] == 2


def test_record_from_the_first_frame(tmp_path: Path, conveyor_video: Path) -> None:
    colour_classifier_json(tmp_path)
    summary, _ = run_headless(
        str(conveyor_video), tmp_path, journal=False, record=tmp_path / "all.mcap"
    )
    with (tmp_path / "all.mcap").open("rb") as fh:
        frames = sum(1 for _, ch, _ in make_reader(fh).iter_messages() if ch.topic == "/camera")
    assert frames == summary["frames"] == 60


def test_close_waits_for_the_frame_in_flight_so_exit_is_clean() -> None:
    # close() once returned while onnxruntime was still running on a worker thread;
    # the interpreter then exited under it and the process aborted.
    code = (
        "import time\n"
        "from edgeconsole.session.session import Session, default_demo_model\n"
        "s = Session(interactive=True)\n"
        f"s.start_local({SMALL_CONVEYOR!r}, default_demo_model(), realtime=False)\n"
        "deadline = time.monotonic() + 90\n"
        "while s.poll().status.frames < 2 and time.monotonic() < deadline:\n"
        "    s.wait_for_change(0.1)\n"
        "s.close()\n"
        "print('closed')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "closed" in r.stdout
    assert "terminate called" not in r.stderr


@pytest.mark.parametrize(
    ("kw", "expected"),
    [({}, 5.0), ({"budget_ms": 40.0}, 40.0), ({"model_budget": False}, None)],
    ids=["model's own", "explicit", "explicitly off"],
)
def test_budget_is_the_models_unless_one_is_given_or_switched_off(
    kw: dict[str, Any], expected: float | None
) -> None:
    session = Session()
    try:
        session.start_local(SMALL_CONVEYOR, default_demo_model(), realtime=False, loop=False, **kw)
        updates = _poll_until(session, lambda u: u.status.state == "running")
        assert updates[-1].status.budget_ms == expected
    finally:
        session.close()
