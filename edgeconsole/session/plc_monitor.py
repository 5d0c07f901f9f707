"""The session's view of the line PLC: what the window's PLC view and ``plc watch`` show.

One monitor per PLC, in one of three roles:

- ``gate``: this console is the camera; its per-part line answers the PLC's
  triggers (session/plc_gate.py). Rows are the handshakes it spoke.
- ``watch``: read-only (devices/plc/watch.py); nothing is ever written. When a
  per-part line runs here too (the laptop's shadow run of the same line), each
  part the PLC saw is paired with the line's decision whose trigger is nearest in
  time, and a different verdict is a mismatch.
- ``test``: the explicitly armed test mode: this console answers the PLC's
  triggers with test verdicts (OK, NG or alternating) so the PLC's own program and
  the reject gate can be proved before a camera is installed. It writes to the
  PLC, so it is never the default and is always journalled as armed.

``snapshot()`` returns what happened since the last call (signal edges, parts) and
the running counters and percentiles, the way ``Session.poll`` hands out batches.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import ConfigError, EdgeConsoleError
from edgeconsole.core.parts import PartDecision
from edgeconsole.devices.plc.handshake import GateResult, GateTrigger, PlcEvent, percentiles
from edgeconsole.devices.plc.plcmap import load_map
from edgeconsole.devices.plc.service import WatchService
from edgeconsole.devices.plc.watch import WatchedPart
from edgeconsole.session.plc_gate import PlcGate

if TYPE_CHECKING:
    from edgeconsole.session.session import Session

Role = Literal["gate", "watch", "test"]
ROLES: tuple[Role, ...] = ("gate", "watch", "test")
TEST_PATTERNS = ("alternate", "ok", "ng")
#: A watched part and a local decision this close in time are the same part.
MATCH_NS = 150_000_000
#: A watched part waits this long for the local line's decision before it is shown.
MATCH_WAIT_NS = 2_000_000_000
KEEP = 10_000
#: The percentiles a snapshot shows are refreshed at most this often.
STATS_EVERY_NS = 500_000_000


@dataclass(slots=True)
class PlcRow:
    """One part as the PLC view shows it."""

    seq: int
    trigger_ns: int
    counter: int | None = None
    trigger_to_result_ms: float | None = None
    result_to_ack_ms: float | None = None
    plc_verdict: str | None = None  # what the PLC holds / acknowledged
    camera_verdict: str | None = None  # the camera's own decision (OK / NG / ERROR)
    label: str = ""  # the camera's reason ("rotated 180")
    class_id: int | None = None
    late: bool = False
    outcome: str = ""  # answered | no_ack | not_handed_over | missed | answered_unseen
    mismatch: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("trigger_to_result_ms", "result_to_ack_ms"):
            if d[k] is not None:
                d[k] = round(d[k], 3)
        return d


@dataclass
class PlcSnapshot:
    role: Role
    url: str
    map: str
    state: str
    error: str
    resolution_ms: float | None
    budget_ms: float
    counters: dict[str, int]
    trigger_to_result_ms: dict[str, float | None]
    result_to_ack_ms: dict[str, float | None]
    rows: list[PlcRow] = field(default_factory=list)  # new since the last snapshot
    edges: list[tuple[int, str, int]] = field(default_factory=list)  # new, monotonic ns
    now_ns: int = 0
    signals: tuple[str, ...] = ()  # the map's signals
    map_path: str = ""


def _watched_record(row: PlcRow) -> dict[str, Any]:
    """A watched part in the handshake record's shape (journal/telemetry.add_plc_part)."""
    answered = row.outcome in ("answered", "answered_unseen", "ack_unseen")
    note = "" if row.outcome == "answered" else row.outcome
    return {
        "seq": row.seq,
        "trigger_ns": row.trigger_ns,
        "counter": row.counter,
        "part_id": None,
        "verdict": row.plc_verdict,
        "class_id": row.class_id,
        "label": row.label if row.camera_verdict is None else f"{row.camera_verdict} {row.label}",
        "decision_ms": None,
        "trigger_to_result_ms": row.trigger_to_result_ms,
        "result_to_ack_ms": row.result_to_ack_ms,
        "late": row.late,
        "acked": row.outcome == "answered",
        "handed_over": answered,
        "error": "; ".join(x for x in (note, row.mismatch) if x),
    }


class TestDecider:
    """The armed test mode's answers: a fixed verdict or OK/NG alternating."""

    def __init__(self, pattern: str) -> None:
        if pattern not in TEST_PATTERNS:
            raise ConfigError(
                f"unknown test verdict {pattern!r}", hint=f"use {', '.join(TEST_PATTERNS)}"
            )
        self.pattern = pattern

    def decide(self, trigger: GateTrigger) -> GateResult:
        ok = {"ok": True, "ng": False}.get(self.pattern, trigger.seq % 2 == 1)
        return GateResult(ok=ok, class_id=0 if ok else 1, label="test ok" if ok else "test ng")


class PlcMonitor:
    def __init__(
        self,
        session: Session,
        url: str,
        map_path: str,
        role: Role = "watch",
        *,
        test_pattern: str = "alternate",
        poll_ms: float | None = None,
    ) -> None:
        if role not in ROLES:
            raise ConfigError(f"unknown PLC role {role!r}", hint="use gate, watch or test")
        self.session = session
        self.role: Role = role
        self.map = load_map(map_path)
        self.map_path = map_path
        self._lock = threading.Lock()
        self._new_rows: list[PlcRow] = []
        self._new_edges: list[tuple[int, str, int]] = []
        self._pending: deque[PlcRow] = deque()  # watch: waiting for the local decision
        self._decisions: deque[PartDecision] = deque(maxlen=4096)
        self._t2r: deque[float] = deque(maxlen=KEEP)
        self._r2a: deque[float] = deque(maxlen=KEEP)
        self.rows: deque[PlcRow] = deque(maxlen=KEEP)
        self._stats: tuple[dict[str, Any], dict[str, Any]] = (percentiles([]), percentiles([]))
        self._stats_ns = 0
        self._dirty = False
        self.edges: deque[tuple[int, str, int]] = deque(maxlen=4 * KEEP)
        self.camera_mismatches = 0
        self.gate: PlcGate | None = None
        self.watch: WatchService | None = None
        self.test_pattern = test_pattern
        if role == "watch":
            self.watch = WatchService(
                url, self.map, poll_ms=poll_ms, on_edge=self._on_edge, on_part=self._on_watched
            )
        else:
            decider = TestDecider(test_pattern) if role == "test" else None
            self.gate = PlcGate(url, map_path, session, decider=decider, on_event=self._on_event)
        self.url = url

    # ---- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Connect (a wrong address, map or unit id raises here) and run."""
        if self.role == "test":
            self._audit(
                "warning",
                f"PLC test mode ARMED: this console answers {self.url}'s triggers with test "
                f"verdicts ({self.test_pattern}); it writes to the PLC",
            )
        if self.role == "watch":
            assert self.watch is not None
            self.session.decision_taps.append(self._on_decision)
            try:
                self.watch.start()
            except BaseException:
                self.session.decision_taps.remove(self._on_decision)
                raise
            self._audit("info", f"watching PLC {self.url} read-only (map {self.map.source})")
        else:
            assert self.gate is not None
            self.gate.start()

    def stop(self) -> None:
        if self.watch is not None:
            self.watch.stop()
            if self._on_decision in self.session.decision_taps:
                self.session.decision_taps.remove(self._on_decision)
            self._flush_pending(force=True)
            c = self.counters()
            self._audit(
                "info",
                f"stopped watching PLC {self.url}: {c['answered']}/{c['triggers']} answered, "
                f"{c['missed']} missed, {c['late']} late, {c['missing_acks']} missing acks, "
                f"{c['mismatches']} mismatches",
                **c,
            )
        if self.gate is not None:
            self.gate.stop()

    def _audit(self, level: str, text: str, **data: Any) -> None:
        journal = self.session.journal
        if journal is None:
            return
        try:
            journal.audit.log("plc", level, self.url, text, **data)
        except EdgeConsoleError:
            pass

    # ---- gate and test: the handshake's events -------------------------------------
    def _on_event(self, ev: PlcEvent) -> None:
        if ev.kind == "signal":
            self._on_edge(ev.t_ns, ev.name, int(ev.value))
        elif ev.kind == "part":
            r = ev.value
            acked = bool(r.get("acked"))
            handed = bool(r.get("handed_over"))
            row = PlcRow(
                seq=int(r["seq"]),
                trigger_ns=int(r["trigger_ns"]),
                counter=r.get("counter"),
                trigger_to_result_ms=r.get("trigger_to_result_ms"),
                result_to_ack_ms=r.get("result_to_ack_ms"),
                plc_verdict=r.get("verdict") if acked else None,
                camera_verdict=r.get("verdict"),
                label=str(r.get("label") or ""),
                class_id=r.get("class_id"),
                late=bool(r.get("late")),
                outcome="answered" if acked else ("no_ack" if handed else "not_handed_over"),
                mismatch=str(r.get("error") or ""),
            )
            self._add(row)

    # ---- watch: edges, parts and the local line's decisions ------------------------
    def _on_edge(self, t: int, name: str, value: int) -> None:
        with self._lock:
            self._new_edges.append((t, name, value))
            self.edges.append((t, name, value))
        if self.watch is not None:  # the gate records its own (session/plc_gate.py)
            self.session.record_plc_signal(self.url, name, value, t)

    def _on_decision(self, d: PartDecision) -> None:
        with self._lock:
            self._decisions.append(d)

    def _on_watched(self, p: WatchedPart) -> None:
        j = p.to_json()
        row = PlcRow(
            seq=p.seq,
            trigger_ns=p.trigger_ns,
            counter=p.counter,
            trigger_to_result_ms=j["trigger_to_result_ms"],
            result_to_ack_ms=j["result_to_ack_ms"],
            plc_verdict=p.plc_verdict,
            class_id=p.class_id,
            late=p.late,
            outcome=p.outcome,
            mismatch=p.mismatch,
        )
        with self._lock:
            self._pending.append(row)

    def _match(self, row: PlcRow) -> PartDecision | None:
        best: PartDecision | None = None
        for d in self._decisions:
            gap = abs(d.trigger_ns - row.trigger_ns)
            if gap <= MATCH_NS and (best is None or gap < abs(best.trigger_ns - row.trigger_ns)):
                best = d
        return best

    def _flush_pending(self, *, force: bool = False) -> None:
        now = now_ns()
        ready: list[PlcRow] = []
        line_runs = self.session.line_running()  # not under our lock: it takes the session's
        with self._lock:
            keep: deque[PlcRow] = deque()
            for row in self._pending:
                d = self._match(row) if self._decisions else None
                if d is not None:
                    row.camera_verdict = "ERROR" if d.missed else ("OK" if d.passed else "NG")
                    row.label = d.verdict
                    if row.plc_verdict in ("OK", "NG") and row.camera_verdict != row.plc_verdict:
                        row.mismatch = row.mismatch or (
                            f"the PLC holds {row.plc_verdict}, the camera decided "
                            f"{row.camera_verdict} ({d.verdict})"
                        )
                        self.camera_mismatches += 1
                    ready.append(row)
                elif force or now - row.trigger_ns > MATCH_WAIT_NS or not line_runs:
                    ready.append(row)
                else:
                    keep.append(row)
            self._pending = keep
        for row in ready:
            self._add(row)

    def _add(self, row: PlcRow) -> None:
        with self._lock:
            self._new_rows.append(row)
            self.rows.append(row)
            if row.trigger_to_result_ms is not None:
                self._t2r.append(row.trigger_to_result_ms)
            if row.result_to_ack_ms is not None:
                self._r2a.append(row.result_to_ack_ms)
        if self.watch is not None:
            # A watched part is evidence too: the journal's plc_parts table and the
            # recording, as the PLC saw it (the camera's verdict is the label).
            self.session.record_plc_part(self.url, _watched_record(row), "plc-watch")

    # ---- reporting -----------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        if self.watch is not None:
            w = self.watch.watcher.counters
            return {
                "triggers": w.triggers,
                "answered": w.answered,
                "missed": w.missed_triggers,
                "late": w.late_results,
                "missing_acks": w.missing_acks,
                "mismatches": w.mismatches + self.camera_mismatches,
                "errors": 0,
                "link_errors": w.link_errors,
            }
        assert self.gate is not None
        c = self.gate.service.runner.status(records=0, stats=False).counters
        return {
            "triggers": c.triggers,
            "answered": c.handed_over,
            "missed": c.not_handed_over,
            "late": c.late_results,
            "missing_acks": c.missing_acks,
            "mismatches": 0,
            "errors": c.decide_errors,
            "link_errors": c.disconnects,
        }

    def state(self) -> tuple[str, str]:
        if self.watch is not None:
            return self.watch.watcher.state, self.watch.watcher.last_error
        assert self.gate is not None
        st = self.gate.service.runner.status(records=0, stats=False)
        if self.role == "gate" and st.state == "idle" and not self.session.line_running():
            # trigger_ready is low: the PLC lets parts pass until a per-part line runs.
            return "not ready: no per-part pipeline runs (start one)", st.last_error
        return st.state, st.last_error

    def snapshot(self) -> PlcSnapshot:
        if self.watch is not None:
            self._flush_pending()
        state, error = self.state()
        counters = self.counters()
        with self._lock:
            rows, self._new_rows = self._new_rows, []
            edges, self._new_edges = self._new_edges, []
            self._dirty = self._dirty or bool(rows)
            stale = self._dirty and now_ns() - self._stats_ns > STATS_EVERY_NS
            t2r_values = list(self._t2r) if stale else None
            r2a_values = list(self._r2a) if stale else None
            if stale:
                self._dirty = False
        if t2r_values is not None and r2a_values is not None:
            # Sorting 10,000 values is a few ms: not on every poll of the window's timer.
            self._stats = (percentiles(t2r_values), percentiles(r2a_values))
            self._stats_ns = now_ns()
        t2r, r2a = self._stats
        return PlcSnapshot(
            role=self.role,
            url=self.url,
            map=self.map.name or self.map.source,
            state=state,
            error=error,
            resolution_ms=self.watch.watcher.poll_ms if self.watch is not None else None,
            budget_ms=self.map.timing.result_budget_ms,
            counters=counters,
            trigger_to_result_ms={k: t2r[k] for k in ("p50", "p99", "max")},
            result_to_ack_ms={k: r2a[k] for k in ("p50", "p99", "max")},
            rows=rows,
            edges=edges,
            now_ns=now_ns(),
            signals=tuple(self.map.signals),
            map_path=self.map_path,
        )

    def history(self) -> tuple[list[PlcRow], list[tuple[int, str, int]]]:
        """Every part and edge kept so far (a view opened while the monitor runs)."""
        with self._lock:
            return list(self.rows), list(self.edges)

    def summary(self) -> dict[str, Any]:
        """Everything so far, for ``--json`` and reports."""
        if self.watch is not None:
            self._flush_pending(force=True)
        state, error = self.state()
        with self._lock:
            rows = [r.to_json() for r in self.rows]
            t2r, r2a = percentiles(self._t2r), percentiles(self._r2a)
        return {
            "role": self.role,
            "plc": self.url,
            "map": self.map.source,
            "state": state,
            "error": error or None,
            "resolution_ms": self.watch.watcher.poll_ms if self.watch is not None else None,
            "budget_ms": self.map.timing.result_budget_ms,
            "counters": self.counters(),
            "trigger_to_result_ms": {k: t2r[k] for k in ("p50", "p99", "max")},
            "result_to_ack_ms": {k: r2a[k] for k in ("p50", "p99", "max")},
            "parts": rows,
        }
