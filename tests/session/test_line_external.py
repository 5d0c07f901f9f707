"""External trigger end to end: the virtual device's photo-eye on the belt the camera
films, over a real pty, decides each part with the fast label bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgeconsole.core.parts import PartDecision
from edgeconsole.inference.line import TriggerConfig
from edgeconsole.session.session import Session, sample_models_dir
from edgeconsole.sim.device import VirtualSerialDevice
from edgeconsole.sources.photo_eye import eye_for_source
from tests.fixtures.sources import wait_for

SPEC = "synthetic:conveyor?seed=4&fps=30&ppm=240&clock=1&width=640&height=360"


@pytest.mark.slow
def test_photo_eye_edges_decide_each_part_once(tmp_path: Path) -> None:
    device = VirtualSerialDevice(tmp_path / "dev", rate=20.0, photo_eye=eye_for_source(SPEC))
    device.start()
    session = Session()
    got: list[PartDecision] = []
    try:
        url = session.targets.connect(str(device.path))
        assert wait_for(lambda: any(t.state == "connected" for t in session.targets.views()), 20)
        session.start_local(
            SPEC,
            sample_models_dir() / "label_orientation",
            trigger=TriggerConfig.parse("external"),
            max_frames=150,
        )

        def done() -> bool:
            u: Any = session.poll()
            got.extend(u.parts)
            return bool(u.status.state == "stopped")

        assert wait_for(done, 60)
        summary = session.line_summary()
    finally:
        session.close()
        device.stop()
    assert summary is not None
    c = summary["counters"]
    decided = [d for d in got if not d.missed]
    assert len(decided) >= 6  # 240 parts/min for 5 s
    assert len({d.part_id for d in got}) == len(got)
    assert all(d.trigger == "external" and d.trigger_source == url for d in decided)
    # Edge numbers run on: an edge lost on the wire would show as a gap.
    seqs = [d.trigger_seq for d in decided]
    assert all(s is not None for s in seqs) and seqs == sorted(seqs)
    assert c["triggers_lost"] == 0
    # Every edge found its part (the first edge may come before the first frame).
    assert c["triggers_unmatched"] <= 1 and c["triggers"] >= len(decided)
    # The part decided is the one at the eye: its box straddles the centre line.
    for d in decided:
        assert d.box[0] - 20 <= 320 <= d.box[2] + 20, d
