"""Commissioning on a moving line: a video, the truth of its parts, a signed verdict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from edgeconsole.cli.main import main as cli_main
from edgeconsole.commission import verify_report, write_report
from edgeconsole.commission.line_job import LineValidationJob, LineValidationRequest
from edgeconsole.commission.truth import (
    TEXT_VERDICTS,
    TruthRow,
    load_truth,
    match,
    possible_verdicts,
)
from edgeconsole.core.errors import ConfigError
from edgeconsole.core.parts import PartDecision
from edgeconsole.sources.conveyor import VERDICTS, ConveyorScene
from tests.commission.helpers import (
    LABEL_BUNDLE,
    LABEL_MODEL,
    TRUST,
    assert_passes_but_for_timing,
    flash_confirmed,
    mcu_fast_bundle,
)
from tests.fixtures.gateway import StartAgent

SEED, FRAMES, PPM = 7, 150, 120
SOURCE = f"synthetic:conveyor?seed={SEED}&frames={FRAMES}&ppm={PPM}"


def truth_rows() -> list[tuple[int, str]]:
    scene = ConveyorScene(seed=SEED, parts_per_min=PPM)
    return [(hit, VERDICTS[state]) for _, hit, state in scene.crossings(640.0, range(FRAMES))]


def write_truth(path: Path, rows: list[tuple[int, str]]) -> Path:
    path.write_text("frame,label\n" + "".join(f"{f},{label}\n" for f, label in rows))
    return path


# ---------------------------------------------------------------------------- truth
@pytest.mark.parametrize(
    ("content", "match_text"),
    [
        (b"", "header frame,label"),
        (b"frame;label\n1;ok\n", "header frame,label"),
        (b"label,frame\nok,1\n", "header frame,label"),
        (b"frame,label\n", "lists no parts"),
        (b"frame,label\nten,ok\n", r"row 2: frame 'ten' is not a whole number"),
        (b"frame,label\n-4,ok\n", r"row 2: frame '-4'"),
        (b"frame,label\n4.5,ok\n", r"row 2: frame '4.5'"),
        (b"frame,label\n99999999999,ok\n", "not a whole number"),
        (b"frame,label\n4,\n", "row 2: the label is empty"),
        (b"frame,label\n4,ok,extra\n", "row 2: 3 fields"),
        (b"frame,label\n4,ok\n9,sideways\n", r"label\(s\) 'sideways' .*row 3"),
        (b"frame,label\n4,ok\n4,ok\n", "rows 2 and 3 both say a part crosses at frame 4"),
        (b"frame,label\n\xff\xfe4,ok\n", "not UTF-8"),
        (b"frame,label\n4,ok\x00\n", "NUL"),
        (b"frame,label\n4,ok\n200,ok\n", r"past the end of the video \(150 frames, 0..149\)"),
    ],
)
def test_bad_truth_files_are_refused_with_the_row(
    tmp_path: Path, content: bytes, match_text: str
) -> None:
    p = tmp_path / "parts.csv"
    p.write_bytes(content)
    with pytest.raises(ConfigError, match=match_text):
        load_truth(p, TEXT_VERDICTS, frames=150)


def test_truth_file_limits(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_truth(tmp_path / "nope.csv", TEXT_VERDICTS)
    with pytest.raises(ConfigError, match="folder"):
        load_truth(tmp_path, TEXT_VERDICTS)
    big = tmp_path / "big.csv"
    big.write_bytes(b"frame,label\n" + b"1,ok\n" * 2_000_000)
    with pytest.raises(ConfigError, match="bytes"):
        load_truth(big, TEXT_VERDICTS)
    ok = write_truth(tmp_path / "ok.csv", [(30, "ok"), (10, "rotated 180")])
    rows = load_truth(ok, TEXT_VERDICTS, frames=None)
    assert [(r.frame, r.label, r.line) for r in rows] == [(10, "rotated 180", 3), (30, "ok", 2)]


def _d(pid: int, frame: int, verdict: str = "ok") -> PartDecision:
    return PartDecision(pid, verdict, verdict == "ok", "line", frame, frame, 0, 1, (0, 0, 1, 1))


def test_matching_within_three_frames_closest_first() -> None:
    truth = [TruthRow(2, 10, "ok"), TruthRow(3, 14, "ok"), TruthRow(4, 40, "ok")]
    decided = [_d(1, 13), _d(2, 11), _d(3, 44), _d(4, 90), _d(5, 40, "missed")]
    m = match(decided, truth)
    assert [(r.frame, d.part_id) for r, d in m.pairs] == [(10, 2), (14, 1)]
    assert [r.frame for r in m.missed] == [40]  # 44 is 4 frames off; a MISSED never matches
    assert sorted(d.part_id for d in m.extra) == [3, 4]


def test_the_label_inspector_gives_the_four_verdicts() -> None:
    from edgeconsole.inference.loader import load_model

    assert set(possible_verdicts(load_model(LABEL_MODEL))) == set(TEXT_VERDICTS)


# ---------------------------------------------------------------------------- runs
def test_local_run_on_the_moving_line_passes_and_signs(tmp_path: Path) -> None:
    truth = write_truth(tmp_path / "parts.csv", truth_rows())
    req = LineValidationRequest(
        "local://", LABEL_MODEL, SOURCE, truth, line_rate=PPM, budget_ms=60_000.0
    )
    res = LineValidationJob(req).run()
    d = res.data
    # Every criterion but speed passes; the timed ones agree with the measured p99
    # (the verdict must not hang on how busy this machine is).
    assert_passes_but_for_timing(d)
    assert d["parts"]["truth"] == d["parts"]["matched"] == len(truth_rows()) >= 8
    assert d["parts"]["missed"] == [] and d["parts"]["extra"] == [] and d["accuracy"] == 1.0
    assert d["latency"]["count"] == d["parts"]["decided"] and d["latency"]["e2e"]["p99"] > 0
    assert d["latency"]["first_decision_ms"] is not None
    assert d["line_rate"].startswith("At 120 parts/min a part arrives every 500 ms.")
    assert d["thresholds"]["budget_ms"] == 60_000.0
    assert {c["name"] for c in d["criteria"]} >= {
        "per-part accuracy",
        "missed parts",
        "extra parts",
        "decision p99 vs budget",
        "line rate 120/min",
        "run complete",
    }
    written = write_report(res, tmp_path / "line.html", keep_for_pack=False)
    html = written.html.read_text()
    assert "Line commissioning report" in html and "Every part" in html
    assert verify_report(written.html).valid
    assert json.loads(written.json.read_text())["format"] == "edgeconsole-line-commissioning-report"


def test_missed_extra_and_wrong_parts_are_counted_and_fail(tmp_path: Path) -> None:
    rows = truth_rows()
    rows[3] = (rows[3][0], "rotated 180" if rows[3][1] != "rotated 180" else "ok")  # wrong
    dropped = rows.pop(5)  # the target will decide a part the truth no longer has: extra
    rows.append((FRAMES - 2, "ok"))  # a part the video does not show: missed
    truth = write_truth(tmp_path / "parts.csv", rows)
    res = LineValidationJob(LineValidationRequest("local://", LABEL_MODEL, SOURCE, truth)).run()
    d = res.data
    assert d["verdict"] == "FAIL"
    assert [m["frame"] for m in d["parts"]["missed"]] == [FRAMES - 2]
    assert [x["trigger_frame"] for x in d["parts"]["extra"]] == [dropped[0]]
    failed = {c["name"] for c in d["criteria"] if not c["passed"]}
    assert {"missed parts", "extra parts", "per-part accuracy"} <= failed
    assert d["accuracy"] == pytest.approx((len(rows) - 2) / len(rows))
    html = write_report(res, tmp_path / "r.html", keep_for_pack=False).html.read_text()
    assert "Parts worth a look" in html and "data:image/png;base64," in html


def test_a_truth_longer_than_the_video_is_refused_before_the_run(tmp_path: Path) -> None:
    truth = write_truth(tmp_path / "parts.csv", [*truth_rows(), (FRAMES + 40, "ok")])
    with pytest.raises(ConfigError, match="past the end of the video"):
        LineValidationJob(LineValidationRequest("local://", LABEL_MODEL, SOURCE, truth)).prepare()


def test_a_frame_model_is_refused_for_a_moving_line(tmp_path: Path) -> None:
    from tests.commission.helpers import DIGITS_MODEL

    truth = write_truth(tmp_path / "parts.csv", [(3, "ok")])
    with pytest.raises(ConfigError, match="per_part"):
        LineValidationJob(LineValidationRequest("local://", DIGITS_MODEL, SOURCE, truth)).prepare()


def test_cli_line_validation_json_and_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = write_truth(tmp_path / "parts.csv", truth_rows())
    args = [
        "validate", "local://", "--bundle", str(LABEL_BUNDLE), "--trust", str(TRUST),
        "--source", SOURCE, "--truth", str(truth), "--report", str(tmp_path / "r.html"),
        "--no-keep", "--json", "--line-rate", "120", "--budget-ms", "60000",
    ]  # fmt: skip
    code = cli_main(args)
    out = json.loads(capsys.readouterr().out)
    assert_passes_but_for_timing(out)
    assert code == (0 if out["verdict"] == "PASS" else 1)
    assert out["parts"]["matched"] == len(truth_rows())
    assert out["bundle"]["kind"] == "bundle"
    # Unknown label: refused before the run, with the row.
    bad = write_truth(tmp_path / "bad.csv", [(10, "sideways")])
    assert cli_main([*args[:9], str(bad), *args[10:]]) != 0
    assert "'sideways'" in capsys.readouterr().err
    # --dataset and --source together: two kinds of run.
    assert cli_main([*args, "--dataset", str(tmp_path)]) != 0
    assert "two kinds of run" in capsys.readouterr().err


def test_gateway_decides_the_crops_over_oip(
    start_gateway_agent: StartAgent, tmp_path: Path
) -> None:
    from edgeconsole.devices.gateway.oip import OipClient

    data = tmp_path / "agent"
    (data / "models").mkdir(parents=True)
    shutil.copytree(LABEL_MODEL, data / "models" / "label-inspector")
    agent = start_gateway_agent(data)
    client = OipClient(agent.url, agent.token)
    try:
        client.load("label-inspector")
    finally:
        client.close()
    token = tmp_path / "token"
    token.write_text(agent.token)
    truth = write_truth(tmp_path / "parts.csv", truth_rows())
    req = LineValidationRequest(
        f"{agent.gateway_url}?model=label-inspector", LABEL_MODEL, SOURCE, truth, token_file=token
    )
    res = LineValidationJob(req).run()
    d = res.data
    assert d["target"]["kind"] == "gateway" and d["target"]["served_model"] == "label-inspector"
    assert d["parts"]["matched"] == len(truth_rows()) and d["accuracy"] == 1.0
    assert d["latency"]["stages"]["infer"]["p50"] > 0  # the OIP round trips


def test_serial_device_decides_the_crops_over_smp(serial_device: Any, tmp_path: Path) -> None:
    """The fast bundle built for the virtual device (its budget relaxed: the device's own
    health check must not hang on this machine's load), flashed, then the video's crops
    judged by the device's model over SMP."""
    bundle = mcu_fast_bundle(tmp_path)
    device = serial_device()
    flash_confirmed(device.path, bundle)
    truth = write_truth(tmp_path / "parts.csv", truth_rows())
    req = LineValidationRequest(f"serial://{device.path}", bundle, SOURCE, truth, trust_dir=TRUST)
    res = LineValidationJob(req).run()
    d = res.data
    assert d["target"]["kind"] == "serial"
    assert d["parts"]["matched"] == len(truth_rows()) and d["accuracy"] == 1.0
    assert d["latency"]["stages"]["infer"]["p50"] > 0  # the SMP round trips
