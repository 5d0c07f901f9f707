"""Line-rate QC records: what triggers a decision and what a decided part is.

These are the plain data every layer shares (devices parse trigger lines into
:class:`TriggerEvent`, the decision path in ``inference/line`` produces
:class:`PartDecision`, the journal and the recorder store them, the CLI prints
them). The decision path itself and its API are documented in
``edgeconsole/inference/line/__init__.py``.

Times are monotonic nanoseconds of :func:`edgeconsole.core.clock.now_ns`
(CLOCK_MONOTONIC on Linux, so stamps from another process on the same machine
compare directly).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from edgeconsole.core.frames import PartVerdict

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in source pixels

#: What fired a part's decision.
#: ``line``: the part's centre crossed the virtual line in the image;
#: ``external``: a photo-eye / PLC / device edge (a :class:`TriggerEvent`);
#: ``periodic``: a timer tick decided every undecided part in view;
#: ``frame``: the frame itself is the trigger (a triggered camera: one frame, one part).
TriggerKind = Literal["line", "external", "periodic", "frame"]
TRIGGER_KINDS: tuple[TriggerKind, ...] = ("line", "external", "periodic", "frame")

#: ``PartDecision.verdict`` of a part that crossed but could not be decided.
MISSED = "missed"


@dataclass(frozen=True, slots=True)
class TriggerEvent:
    """An external trigger edge: a photo-eye, a PLC's trigger bit, a camera's trigger.

    ``stamp_ns`` is when the edge happened on this machine's monotonic clock: the
    arrival time of the line that reported it, or the device's own stamp mapped to
    this clock. Decision latency for an external trigger runs from it.
    """

    stamp_ns: int
    source: str = ""  # "serial:///dev/ttyACM0", "gateway://10.0.0.5:8470", "plc:..."
    seq: int | None = None  # the device's own edge counter, when it sends one


@dataclass(frozen=True, slots=True)
class PartDecision:
    """One physical part, decided once (or counted missed, never dropped).

    ``trigger_frame`` is the frame on which the trigger fired (the truth CSV of a
    commissioning run names this frame); ``decided_frame`` the frame whose pixels
    were judged (later when the part was not fully in view at the trigger).
    ``decision_ms`` runs from ``trigger_ns`` (the trigger frame's capture stamp, or
    the external trigger's stamp) to ``decided_ns``. ``late``: over the budget, so a
    reject gate would have missed it.
    """

    part_id: int
    verdict: str  # the model's reason ("ok", "rotated 180", ...) or MISSED
    passed: bool
    trigger: TriggerKind
    trigger_frame: int
    decided_frame: int
    trigger_ns: int
    decided_ns: int
    box: Box
    score: float = 0.0
    budget_ms: float | None = None
    note: str = ""  # why a part was missed, or what was unusual (split from a merged blob)
    trigger_source: str = ""
    trigger_seq: int | None = None
    stages_ms: dict[str, float] = field(default_factory=dict)
    #: What ran the model on this part: onnxruntime's execution provider and the
    #: intra-op thread count asked for (None: onnxruntime's own choice, "auto"). Empty
    #: for a missed part and for a judge that does not say.
    provider: str = ""
    threads: int | None = None
    #: What the inspector returned (the region it looked at, text it found), for display.
    detail: PartVerdict | None = field(default=None, compare=False, repr=False)

    @property
    def missed(self) -> bool:
        return self.verdict == MISSED

    @property
    def decision_ms(self) -> float:
        return (self.decided_ns - self.trigger_ns) / 1e6

    @property
    def late(self) -> bool:
        return not self.missed and self.budget_ms is not None and self.decision_ms > self.budget_ms

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.part_id,
            "verdict": self.verdict,
            "passed": self.passed,
            "trigger": self.trigger,
            "trigger_frame": self.trigger_frame,
            "decided_frame": self.decided_frame,
            "decision_ms": None if self.missed else round(self.decision_ms, 3),
            "late": self.late,
            "score": round(float(self.score), 4),
            "box": [round(float(v), 1) for v in self.box],
            "budget_ms": self.budget_ms,
        }
        if self.note:
            out["note"] = self.note
        if self.trigger_source:
            out["trigger_source"] = self.trigger_source
        if self.trigger_seq is not None:
            out["trigger_seq"] = self.trigger_seq
        if self.provider:
            out["provider"] = self.provider
            out["threads"] = self.threads if self.threads else "auto"
        if self.stages_ms:
            out["stages_ms"] = {k: round(v, 3) for k, v in self.stages_ms.items()}
        return out


def decision_from_json(obj: Any) -> PartDecision:
    """A decision another program sent (``to_json``), e.g. a gateway's stream. Its
    clock is not ours: the decision keeps ``decision_ms`` as the sender measured it
    (``trigger_ns`` 0). Raises ValueError on anything malformed."""
    if not isinstance(obj, dict):
        raise ValueError("a part must be an object")
    trigger = obj.get("trigger")
    if trigger not in TRIGGER_KINDS:
        raise ValueError(f"unknown trigger {trigger!r}")
    verdict = obj.get("verdict")
    if not isinstance(verdict, str) or not 0 < len(verdict) <= 64:
        raise ValueError("a part's verdict must be a short string")
    ms = obj.get("decision_ms")
    missed = verdict == MISSED
    if not missed and (isinstance(ms, bool) or not isinstance(ms, int | float) or not ms >= 0):
        raise ValueError("decision_ms must be a number >= 0")
    if not (isinstance(ms, int | float) and ms < 1e9):
        ms = 0.0
    box = obj.get("box")
    if not (
        isinstance(box, list) and len(box) == 4 and all(isinstance(v, int | float) for v in box)
    ):
        raise ValueError("a part's box must be 4 numbers")
    budget = obj.get("budget_ms")
    ints = {}
    for key in ("id", "trigger_frame", "decided_frame"):
        v = obj.get(key)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{key} must be a whole number")
        ints[key] = v
    seq = obj.get("trigger_seq")
    provider, threads = _runtime_from_json(obj)
    return PartDecision(
        part_id=ints["id"],
        verdict=verdict,
        passed=bool(obj.get("passed")) and not missed,
        trigger=trigger,
        trigger_frame=ints["trigger_frame"],
        decided_frame=ints["decided_frame"],
        trigger_ns=0,
        decided_ns=round(float(ms) * 1e6),
        box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
        score=float(obj.get("score") or 0.0),
        budget_ms=float(budget) if isinstance(budget, int | float) and budget > 0 else None,
        note=str(obj.get("note", ""))[:200],
        trigger_source=str(obj.get("trigger_source", ""))[:200],
        trigger_seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        provider=provider,
        threads=threads,
    )


def _runtime_from_json(obj: dict[str, Any]) -> tuple[str, int | None]:
    """``provider`` and ``threads`` of a part another program decided; absent or
    malformed (a sender that does not say, or says nonsense) is unknown, not an error."""
    provider = obj.get("provider")
    if not isinstance(provider, str) or not 0 < len(provider) <= 64:
        return "", None
    threads = obj.get("threads")
    if isinstance(threads, int) and not isinstance(threads, bool) and 0 < threads <= 4096:
        return provider, threads
    return provider, None


def runtime_text(provider: str, threads: int | None) -> str:
    """The thread count as the journal and tables write it: ``1``, ``4``, ``auto``;
    empty when no provider is known."""
    if not provider:
        return ""
    return str(threads) if threads else "auto"


@dataclass(slots=True)
class LineCounters:
    """Where a run's parts went. Every part that crossed is decided or missed."""

    frames: int = 0  # frames the decision path saw
    tracks: int = 0  # parts the tracker gave an id
    triggered: int = 0  # parts whose trigger fired (line, tick, external edge, frame)
    decided: int = 0
    passed: int = 0
    failed: int = 0
    missed: int = 0
    late: int = 0
    triggers: int = 0  # external trigger edges received
    triggers_unmatched: int = 0  # external edges with no part at the line
    triggers_lost: int = 0  # edges the device numbered but that never arrived (seq gaps)
    triggers_ignored: int = 0  # edges that came while another trigger kind decided
    ticks_skipped: int = 0  # periodic ticks that fell between two frames seen

    def to_json(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, obj: Any) -> LineCounters:
        """Known whole-number fields only; anything else is left at 0."""
        out = cls()
        if isinstance(obj, dict):
            for f in fields(cls):
                v = obj.get(f.name)
                if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
                    setattr(out, f.name, v)
        return out
