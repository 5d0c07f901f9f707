"""Line-rate QC: one decision per physical part (DESIGN section 10).

The decision API. Issue 12 built it; the PLC handshake (issue 16) and triggered
industrial cameras (issue 17) build on it. It is small on purpose::

    from edgeconsole.inference.line import PartLine, TriggerConfig
    from edgeconsole.core.parts import TriggerEvent, PartDecision

    line = PartLine(judge, TriggerConfig.parse("line"), budget_ms=5.0,
                    on_decision=callback)          # callback(PartDecision), decision thread
    step = line.step(frame)        # EVERY frame, in capture order, on one thread
    step.decisions                 # the parts decided on this frame (PartDecision)
    step.parts                     # every part in view: id, box, its decision once made
    line.trigger(TriggerEvent(stamp_ns, source="plc:...", seq=n))   # any thread
    line.poll_triggers()           # decision thread, when woken between frames
    line.finish()                  # end of run: parts triggered but undecided -> missed
    line.counters                  # LineCounters: triggered, decided, missed, late, ...

``judge`` is the per-part inspector (``PartJudge``): ``locate(image)`` finds the
parts on the whole frame cheaply, ``decide(image, boxes)`` judges their crops in
one batch. Triggers (``TriggerConfig``, see ``triggers.py``):

- ``line``: a part fires once, on the first frame where its centre is on the other
  side of the line than on the frame before (either direction). Latency runs from
  that frame's capture stamp (``Frame.captured_ns``).
- ``external``: ``trigger(event)`` decides the undecided part nearest the line (the
  line marks where the photo-eye looks), judged on the frame whose capture stamp is
  nearest the edge: the last frame seen (at once, from ``poll_triggers``) or the next
  one. Latency runs from ``event.stamp_ns``. An edge with no part near the line is
  counted in ``triggers_unmatched``; gaps in ``event.seq`` in ``triggers_lost``; a
  part that crossed the line with no edge is counted missed when it leaves.
- ``periodic``: each tick decides every part in view not decided yet.
- ``frame``: every frame is one part (a camera triggered once per part): the most
  central complete part is judged; a frame without one is a missed part.

Guarantees: a part is decided at most once, on a frame where it is fully in view
(a part triggered while still entering is decided on the first frame it is whole);
every part whose trigger fired ends as a decision or as a ``MISSED`` record with
the reason in ``note`` (left the view first, crossed in frames the decision path
never saw, the run ended, the model failed), never silently dropped. A decision
over ``budget_ms`` is ``late``. The caller must feed every frame it has (dropping
display frames is the caller's business, not the decision path's); frames it
could not feed show as gaps in ``Frame.index`` and the tracker bridges them.

The unit holds no thread, no queue and no Qt: it can move into a worker process
(issue 15) as it is.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from edgeconsole.core.parts import (
    MISSED,
    LineCounters,
    PartDecision,
    TriggerEvent,
    TriggerKind,
)
from edgeconsole.inference.line.triggers import TriggerConfig, TriggerLine

if TYPE_CHECKING:
    from edgeconsole.inference.line.decider import LineStep, PartJudge, PartLine, PartView
    from edgeconsole.inference.line.tracker import Located, PartTracker, Track, TrackerConfig

# The decision path (numpy) loads on first use: the window's settings read a
# TriggerConfig before its first paint, which must not wait for numpy (issue 15).
_LAZY = {
    "LineStep": "decider",
    "PartJudge": "decider",
    "PartLine": "decider",
    "PartView": "decider",
    "Located": "tracker",
    "PartTracker": "tracker",
    "Track": "tracker",
    "TrackerConfig": "tracker",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MISSED",
    "LineCounters",
    "LineStep",
    "Located",
    "PartDecision",
    "PartJudge",
    "PartLine",
    "PartTracker",
    "PartView",
    "Track",
    "TrackerConfig",
    "TriggerConfig",
    "TriggerEvent",
    "TriggerKind",
    "TriggerLine",
]
