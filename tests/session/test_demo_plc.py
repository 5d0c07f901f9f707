"""The demo's virtual PLC: a child on the belt clock, answered by the demo's line."""

from __future__ import annotations

import pytest

from edgeconsole.session.demo_plc import DEMO_PLC_SOURCE
from edgeconsole.session.headless import run_headless
from edgeconsole.session.session import default_demo_model

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("plc")]


def test_headless_demo_answers_every_trigger_of_its_plc() -> None:
    summary, _ = run_headless(
        DEMO_PLC_SOURCE,
        default_demo_model(),
        seconds=12.0,
        realtime=True,
        loop=True,
        journal=False,
        demo_plc=True,
    )
    plc = summary["plc"]
    c = plc["counters"]
    assert plc["error"] is None and c["disconnects"] == 0
    # The demo belt passes a part every 1.8 s: several in 12 s, every one answered.
    assert c["triggers"] >= 3 and c["handed_over"] == c["triggers"], [
        (r["error"], r["trigger_to_result_ms"], r["decision_ms"])
        for r in plc["parts"]
        if not r["handed_over"]
    ]
    assert c["decide_errors"] == 0 and c["missing_acks"] == 0, plc
    decided = {p["id"]: p for p in summary["parts"]}
    for r in plc["parts"]:
        assert decided[r["part_id"]]["verdict"] == r["label"]  # the line's one record of it
    # The demo's line runs on its own trigger; the PLC got each part's decision.
    assert len({r["part_id"] for r in plc["parts"]}) == len(plc["parts"])
