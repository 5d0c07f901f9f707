"""The local pipeline's reject gate: each PLC trigger is decided by the per-part line.

The end-to-end test runs the virtual PLC and the synthetic conveyor on the same belt
clock (the PLC triggers when a part's centre reaches the camera's centre line), the
fast label-orientation inspector through ``run_headless(plc=...)``, and checks on
the PLC's side that it received, for the physical part it triggered on, the verdict
the scene's truth says, and that the camera's answer is the line's one decision
record of that part. The unit tests drive ``PartGateDecider`` directly.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from mcap.reader import make_reader

from edgeconsole.core.clock import now_ns
from edgeconsole.core.parts import MISSED, PartDecision, TriggerEvent
from edgeconsole.devices.plc.handshake import (
    ERROR_DECIDE_FAILED,
    ERROR_LATE,
    ERROR_NO_PART,
    GateTrigger,
)
from edgeconsole.devices.plc.part_gate import CLASS_IDS, PartGateDecider
from edgeconsole.devices.plc.plcmap import load_map, sample_map_path
from edgeconsole.inference.line import TriggerConfig
from edgeconsole.journal.paths import journal_dir
from edgeconsole.session.headless import run_headless
from edgeconsole.sim.plc import VirtualPlc
from edgeconsole.sources.belt import BeltTiming
from edgeconsole.sources.conveyor import VERDICTS, part_spec
from tests.devices.plc.test_handshake import wait_for

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "sample_models" / "bundles" / "label-orientation-1.ecb"
TRUST = REPO / "sample_models" / "trust"
SOURCE = "plc:modbus://127.0.0.1:1"


def decision(seq: int, *, verdict: str = "ok", passed: bool = True, budget: float = 50.0, ms=3.0):
    t = now_ns()
    return PartDecision(
        part_id=40 + seq,
        verdict=verdict,
        passed=passed,
        trigger="external",
        trigger_frame=7,
        decided_frame=7,
        trigger_ns=t - int(ms * 1e6),
        decided_ns=t,
        box=(0.0, 0.0, 10.0, 10.0),
        budget_ms=budget,
        trigger_source=SOURCE,
        trigger_seq=seq,
        note="left the view" if verdict == MISSED else "",
    )


class Line:
    """Stands in for the session's line in the unit tests: answers each edge it is sent
    on another thread, as the decision thread does."""

    def __init__(self, answer) -> None:  # type: ignore[no-untyped-def]
        self.answer = answer
        self.sent: list[TriggerEvent] = []
        self.decider = PartGateDecider(self.send, SOURCE, wait_s=2.0)

    def send(self, ev: TriggerEvent) -> bool:
        self.sent.append(ev)
        threading.Thread(target=self.answer, args=(self.decider, ev)).start()
        return True


def test_the_answer_is_the_lines_decision_of_that_trigger() -> None:
    def answer(d: PartGateDecider, ev: TriggerEvent) -> None:
        d.on_decision(decision(ev.seq + 100))  # someone else's trigger: ignored
        d.on_decision(decision(ev.seq, verdict="rotated 180", passed=False))

    line = Line(answer)
    r = line.decider.decide(GateTrigger(seq=5, stamp_ns=now_ns()))
    assert (r.ok, r.label, r.class_id, r.part_id) == (False, "rotated 180", 2, 45)
    assert r.error_code == 0 and r.decision_ms == pytest.approx(3.0)
    (ev,) = line.sent
    assert (ev.source, ev.seq) == (SOURCE, 5)
    assert CLASS_IDS["rotated 180"] == 2


def test_late_missed_unmatched_and_silence_are_error_codes_not_guesses() -> None:
    late = Line(lambda d, ev: d.on_decision(decision(ev.seq, ms=80.0)))
    r = late.decider.decide(GateTrigger(1, now_ns()))
    assert r.ok and r.error_code == ERROR_LATE  # the verdict is still written

    missed = Line(lambda d, ev: d.on_decision(decision(ev.seq, verdict=MISSED, passed=False)))
    r = missed.decider.decide(GateTrigger(2, now_ns()))
    assert not r.ok and r.error_code == ERROR_DECIDE_FAILED and "left the view" in r.error

    nothing = Line(lambda d, ev: d.on_unmatched(ev, "no undecided part at the line in frame 9"))
    r = nothing.decider.decide(GateTrigger(3, now_ns()))
    assert r.error_code == ERROR_NO_PART and "frame 9" in r.error

    silent = PartGateDecider(lambda ev: True, SOURCE, wait_s=0.05)
    r = silent.decide(GateTrigger(4, now_ns()))
    assert r.error_code == ERROR_DECIDE_FAILED and "within 50 ms" in r.error

    idle = PartGateDecider(lambda ev: False, SOURCE, wait_s=5.0)
    r = idle.decide(GateTrigger(5, now_ns()))
    assert r.error_code == ERROR_DECIDE_FAILED and "no per-part line" in r.error


def test_an_edge_that_decides_nothing_gets_the_same_parts_own_decision() -> None:
    """The line runs on another trigger (or a photo-eye's edge came first): the PLC gets
    the decision of the part that triggered nearest its edge, and never twice."""
    stamp = now_ns()

    def line_decides(d: PartGateDecider, ev: TriggerEvent) -> None:
        d.on_unmatched(ev, "the trigger is line, not external: the edge decides nothing")
        own = decision(0, verdict="rotated 180", passed=False)
        d.on_decision(
            PartDecision(
                **{
                    **{f: getattr(own, f) for f in own.__dataclass_fields__},
                    "trigger": "line",
                    "trigger_source": "",
                    "trigger_seq": None,
                    "trigger_ns": ev.stamp_ns + 20_000_000,  # the frame after the edge
                }
            )
        )

    line = Line(line_decides)
    r = line.decider.decide(GateTrigger(1, stamp))
    assert (r.ok, r.label, r.part_id, r.error_code) == (False, "rotated 180", 40, 0)
    # A second PLC trigger at the same moment does not get the same part again.
    again = line.decider.decide(GateTrigger(2, stamp))
    assert again.error_code == ERROR_NO_PART and "decides nothing" in again.error


@pytest.mark.parametrize("trigger", [None, "line"])
@pytest.mark.slow
@pytest.mark.xdist_group("plc")
def test_every_plc_trigger_gets_its_parts_verdict(tmp_path: Path, trigger: str | None) -> None:
    """By default the PLC's edge is the external trigger; with the line trigger the line
    decides on its own crossing and the PLC gets that decision."""
    seed, ppm = 7, 120  # 500 ms a part: answered in time on a busy machine
    plc_map = load_map(sample_map_path())
    # epoch 0: the PLC's belt is the machine's monotonic clock, as the clocked camera's.
    plc = VirtualPlc(
        plc_map, belt=BeltTiming.for_frame(1280, 720, parts_per_min=ppm), port=0, epoch_ns=0
    )
    plc.start()
    try:
        summary, _ = run_headless(
            f"synthetic:conveyor?seed={seed}&ppm={ppm}&clock=1",
            BUNDLE,
            plc=f"modbus://127.0.0.1:{plc.port}",
            plc_map=sample_map_path(),
            seconds=8.0,
            trust_dir=TRUST,
            trigger=None if trigger is None else TriggerConfig.parse(trigger),
            record=tmp_path / "run.mcap",
        )
    finally:
        plc.stop()
    gate = summary["plc"]
    records = {r["counter"]: r for r in gate["parts"]}
    decisions = {p["id"]: p for p in summary["parts"]}
    answered = [p for p in plc.stats.history if p.outcome == "answered"]
    # The camera said trigger_ready only once its line ran: no trigger was answered
    # with an error because the model was still loading.
    assert not [r for r in gate["parts"] if "no per-part line" in r["error"]]
    checked = right = 0
    for p in answered:
        assert p.counter in records, (p, sorted(records))
        rec = records[p.counter]
        if rec["verdict"] == "ERROR":  # a decision slower than the PLC's ack timeout
            assert p.verdict == "ERROR"
            continue
        assert rec["part_id"] in decisions, (rec, sorted(decisions))
        d = decisions[rec["part_id"]]  # the line's one decision record of that part
        assert rec["label"] == d["verdict"]
        if trigger is None:  # the PLC's edge was the part's trigger
            assert d["trigger_source"].startswith("plc:") and d["trigger_seq"] == rec["seq"]
        assert p.verdict == ("OK" if d["passed"] else "NG")
        assert p.class_id == CLASS_IDS.get(d["verdict"], 99)
        checked += 1
        right += d["verdict"] == VERDICTS[part_spec(seed, p.part).label]
    assert checked >= 5, plc.summary()
    # The physical part the PLC triggered on got the verdict its label deserves.
    assert right >= checked - 1, (right, checked)
    # One decision per part: no part id decided twice.
    ids = [p["id"] for p in summary["parts"]]
    assert len(ids) == len(set(ids))
    # Every handshake is in the journal's plc_parts table and the recording.
    rows = _plc_rows(journal_dir())
    assert {r[0] for r in rows} >= {rec["seq"] for rec in gate["parts"]}
    topics = _topics(tmp_path / "run.mcap")
    assert topics["/plc/parts"] >= len(answered) and topics["/plc/signals"] >= 4 * len(answered)


def _plc_rows(folder: Path) -> list[tuple]:
    rows: list[tuple] = []
    for db in sorted(folder.glob("telemetry-*.db")):
        conn = sqlite3.connect(db)
        try:
            rows += conn.execute("SELECT seq, verdict, plc FROM plc_parts").fetchall()
        finally:
            conn.close()
    return rows


def _topics(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with path.open("rb") as fh:
        for _schema, channel, _msg in make_reader(fh).iter_messages():
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
    return counts


@pytest.mark.slow
@pytest.mark.xdist_group("plc")
def test_run_cli_answers_the_plc_and_prints_its_handshake(tmp_path: Path) -> None:
    """``edgeconsole run --plc URL --plc-map FILE --json``, as the README shows it."""
    ppm = 120
    plc = VirtualPlc(
        load_map(sample_map_path()),
        belt=BeltTiming.for_frame(1280, 720, parts_per_min=ppm),
        port=0,
        epoch_ns=0,
    )
    plc.start()
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "edgeconsole.launcher",
                "run",
                "--source",
                f"synthetic:conveyor?seed=7&ppm={ppm}&clock=1",
                "--model",
                str(BUNDLE),
                "--trust",
                str(TRUST),
                "--plc",
                f"modbus://127.0.0.1:{plc.port}",
                "--plc-map",
                str(sample_map_path()),
                "--seconds",
                "6",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        # The next part after the camera left passes uninspected: it said so on leaving.
        after = plc.stats.parts
        wait_for(lambda: plc.stats.parts > after)
    finally:
        plc.stop()
    assert proc.returncode == 0, proc.stderr
    assert plc.stats.history[-1].outcome == "not_ready", plc.summary()
    gate = json.loads(proc.stdout)["plc"]
    c = gate["counters"]
    assert c["handed_over"] >= 3 and plc.stats.answered == c["handed_over"]
    # A trigger the PLC raised in the instant the camera stopped is the only one the
    # camera may not have seen; after that it said it was not ready.
    assert plc.stats.triggers - c["triggers"] in (0, 1), plc.summary()
    answered = {p.counter: p.verdict for p in plc.stats.history if p.outcome == "answered"}
    # What the PLC read is what the camera says it wrote, part by part.
    for rec in gate["parts"]:
        if rec["counter"] in answered:
            assert answered[rec["counter"]] == rec["verdict"], rec


def test_run_cli_refuses_a_plc_it_cannot_reach_before_deciding_anything(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    base = [sys.executable, "-m", "edgeconsole.launcher", "run", "--source", "synthetic:conveyor"]
    base += ["--model", str(BUNDLE), "--trust", str(TRUST), "--seconds", "30"]
    proc = subprocess.run(
        [*base, "--plc", f"modbus://127.0.0.1:{port}", "--plc-map", str(sample_map_path())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and proc.stdout == ""
    assert "cannot reach the PLC" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [*base, "--plc", f"modbus://127.0.0.1:{port}"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0 and "--plc needs --plc-map" in proc.stderr
