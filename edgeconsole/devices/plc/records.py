"""What the reject-gate handshake says and counts: the decider's question and answer,
one record per part, the counters and the events (``handshake.py`` runs it; the
watcher, the session and the agent read these)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

#: error_code values the camera writes (docs/PLC.md).
ERROR_NONE = 0
ERROR_DECIDE_FAILED = 1  # the model/pipeline raised while deciding
ERROR_NO_PART = 2  # the decider found no part at the trigger
ERROR_LATE = 3  # decided, but later than result_budget_ms (the verdict is still written)


@dataclass(frozen=True, slots=True)
class GateTrigger:
    """What the decider is asked: decide the part the PLC triggered on."""

    seq: int  # handshake sequence number, 1, 2, ...
    stamp_ns: int  # when the camera saw the trigger edge (core.clock.now_ns)
    sub_config: int | None = None


@dataclass(frozen=True, slots=True)
class GateResult:
    """The decider's answer. ``ok`` False with ``error_code`` 0 means NG."""

    ok: bool
    class_id: int = 0
    label: str = ""
    part_id: int | None = None
    # From the trigger stamp; None: the decider's own time, measured around its call
    # (so the handshake's reads, writes and thread hand-offs are never counted in it).
    decision_ms: float | None = None
    error_code: int = ERROR_NONE
    error: str = ""


class GateDecider(Protocol):
    """The one boundary between the handshake and the per-part pipeline.

    Called on the handshake's own thread (its event loop's: the loop waits for it),
    one call at a time, in trigger order. A decider that
    switches recipes by the PLC's ``sub_config`` says so with a class attribute
    ``wants_sub_config = True``: only then is it read (one more round trip to the PLC
    between the trigger and the decision); otherwise ``GateTrigger.sub_config`` is None.
    """

    def decide(self, trigger: GateTrigger) -> GateResult: ...


@dataclass(slots=True)
class HandshakeRecord:
    """One trigger and what became of it."""

    seq: int
    trigger_ns: int
    counter: int | None = None  # part_counter written with the result
    verdict: Literal["OK", "NG", "ERROR"] | None = None
    class_id: int | None = None
    label: str = ""
    part_id: int | None = None
    decision_ms: float | None = None
    trigger_to_result_ms: float | None = None
    result_to_ack_ms: float | None = None
    late: bool = False
    acked: bool = False
    handed_over: bool = False
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("decision_ms", "trigger_to_result_ms", "result_to_ack_ms"):
            if d[k] is not None:
                d[k] = round(d[k], 3)
        return d


@dataclass(slots=True)
class HandshakeCounters:
    triggers: int = 0
    decided: int = 0
    handed_over: int = 0
    acked: int = 0
    missing_acks: int = 0
    late_results: int = 0
    not_handed_over: int = 0
    decide_errors: int = 0
    disconnects: int = 0
    # Parts whose handshake the link dropped in the middle and that were finished after
    # the reconnect (handed over, or given up with the reason in their record).
    resumed: int = 0


@dataclass(slots=True)
class PlcEvent:
    """A change worth a line in the journal and a mark on the timeline."""

    t_ns: int
    kind: str  # "signal" | "link" | "part" | "error"
    name: str
    value: Any = None
    text: str = ""


@dataclass
class HandshakeStatus:
    state: str
    link: str
    counters: HandshakeCounters
    records: list[HandshakeRecord]
    # A part the link dropped mid-handshake, waiting for the reconnect: (seq, phase).
    in_flight: tuple[int, str] | None = None
    trigger_to_result_ms: dict[str, float | None] = field(default_factory=dict)
    decision_ms: dict[str, float | None] = field(default_factory=dict)
    last_error: str = ""


def percentiles(values: Any) -> dict[str, float | None]:
    """p50/p99/max of a sequence of ms (None when empty); the tail is never averaged."""
    xs = sorted(values)
    if not xs:
        return {"p50": None, "p99": None, "max": None, "n": 0}

    def q(p: float) -> float:
        return round(float(xs[min(len(xs) - 1, max(0, round(p * (len(xs) - 1))))]), 3)

    return {"p50": q(0.50), "p99": q(0.99), "max": round(xs[-1], 3), "n": len(xs)}
