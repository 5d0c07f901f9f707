"""The decision path: locate, track, fire triggers, decide each part once.

See the package docstring (``edgeconsole/inference/line/__init__.py``) for the API
and its guarantees. Everything here runs on one thread (the decision thread),
except :meth:`PartLine.trigger` and :meth:`PartLine.set_trigger`, which any thread
may call. When parts become due (line, external edge, tick, frame) is ``firing.py``;
the judge protocol, the step and the per-part bookkeeping are ``steps.py``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import EdgeConsoleError, ModelError
from edgeconsole.core.frames import Frame
from edgeconsole.core.parts import MISSED, Box, LineCounters, PartDecision, TriggerEvent
from edgeconsole.inference.line.firing import TriggerFiring
from edgeconsole.inference.line.steps import (
    Book,
    Group,
    LineStep,
    PartJudge,
    PartView,
    Seen,
    judge_runtime,
)
from edgeconsole.inference.line.tracker import PartTracker, Track, TrackerConfig
from edgeconsole.inference.line.triggers import TriggerConfig

__all__ = ["MAX_PENDING_FRAMES", "LineStep", "PartJudge", "PartLine", "PartView", "judge_runtime"]

#: External trigger edges held while waiting for a frame; more is a flood (counted).
MAX_PENDING_TRIGGERS = 1024
#: Frames with parts waiting for the inspector; beyond this the oldest frame's parts
#: are counted missed (the inspector fell too far behind the line).
MAX_PENDING_FRAMES = 256


class PartLine(TriggerFiring):
    def __init__(
        self,
        judge: PartJudge,
        trigger: TriggerConfig | None = None,
        *,
        budget_ms: float | None = None,
        tracker: TrackerConfig | None = None,
        on_decision: Callable[[PartDecision], None] | None = None,
        wake: Callable[[], None] | None = None,
        clock: Callable[[], int] = now_ns,
    ) -> None:
        """``clock``: the monotonic clock stamps are compared with (``core.clock.now_ns``;
        a replayed recording may pass its own)."""
        self.judge = judge
        self._clock = clock
        self._trigger = trigger or TriggerConfig()
        self.budget_ms = budget_ms
        base = tracker or TrackerConfig()
        self.tracker = PartTracker(replace(base, axis=self._trigger.line.axis))
        self.on_decision = on_decision
        #: Called with an external edge that decides no part, and why (no part at the
        #: line, the run ended, a flood): whoever sent it (a PLC waiting for its
        #: answer) learns at once instead of waiting for a decision that never comes.
        self.on_unmatched: Callable[[TriggerEvent, str], None] | None = None
        #: Called (any thread) when an external edge arrives: wake the decision thread.
        self.wake = wake
        self.counters = LineCounters()
        self._books: dict[int, Book] = {}
        self._lock = threading.Lock()
        self._incoming: deque[TriggerEvent] = deque()
        self._waiting: list[TriggerEvent] = []
        self._last_seq: dict[str, int] = {}
        self._last: Seen | None = None
        self._pending: deque[Group] = deque()
        self._period_ns: float | None = None
        self._next_tick: int | None = None
        self._frame_part_id = 0  # "frame" trigger: each frame is a new part
        self._line_px: float | None = None
        self._size: tuple[int, int] | None = None
        self._warmed_after = -1  # the last frame a warm-up was done (or skipped) after
        self._judge_ns = 0  # how long the judge's last call took (decision or warm-up)
        #: Warm-ups done (``warm_up``): judge calls whose result nobody sees; and those
        #: skipped because the frame was due too soon (``skip_warm_up``).
        self.warm_ups = 0
        self.warm_ups_skipped = 0
        #: What runs the judge's model, stamped on every decision (journal, JSON).
        self.provider, self.threads = judge_runtime(judge)

    # ------------------------------------------------------------- any thread
    @property
    def trigger_config(self) -> TriggerConfig:
        return self._trigger

    def set_trigger(self, trigger: TriggerConfig) -> None:
        """Move the line (or change its kind); takes effect on the next frame. A part
        already decided stays decided; the axis of the belt stays as it was."""
        with self._lock:
            self._trigger = trigger
            self._line_px = None

    def trigger(self, event: TriggerEvent) -> None:
        """An external edge (photo-eye, PLC, camera). Thread-safe and quick. With
        another trigger kind running the edge is only counted (``triggers_ignored``)."""
        dropped = None
        with self._lock:
            kind = self._trigger.kind
            if kind != "external":
                self.counters.triggers_ignored += 1
        if kind != "external":
            self._unmatched(event, f"the trigger is {kind}, not external: the edge decides nothing")
            return
        with self._lock:
            if len(self._incoming) >= MAX_PENDING_TRIGGERS:
                # A flood nobody can decide: the oldest edge becomes a counted unmatched one.
                dropped = self._incoming.popleft()
                self.counters.triggers_unmatched += 1
            self._incoming.append(event)
        if dropped is not None:
            self._unmatched(dropped, f"more than {MAX_PENDING_TRIGGERS} trigger edges waited")
        if self.wake is not None:
            self.wake()

    # ------------------------------------------------------------ decision thread
    def step(self, frame: Frame, *, decide: bool = True) -> LineStep:
        """Locate and track on one frame (every frame, in capture order), fire triggers,
        queue the parts that are due; ``decide``: then judge everything queued (the
        decisions are in the returned step). A caller behind the camera passes
        ``decide=False`` and calls :meth:`decide_pending` between frames, so tracking
        sees every frame however slow the inspector is."""
        image = frame.image
        h, w = int(image.shape[0]), int(image.shape[1])
        with self._lock:
            trig = self._trigger
            if self._line_px is None or self._size != (w, h):
                self._line_px = trig.line.coordinate(w, h)  # ConfigError if outside
                self._size = (w, h)
            line_px = self._line_px
        t0 = self._clock()
        located = list(self.judge.locate(image, frame.stamps))
        t1 = self._clock()
        frame.stamps.setdefault("locate_start", t0)
        frame.stamps.setdefault("locate_end", t1)
        self._learn_period(frame)
        ts = self.tracker.update(located, frame.index, w, h)
        self.counters.frames += 1
        for t in ts.born:
            self.counters.tracks += 1
            self._books[t.id] = Book()
        out = LineStep(frame.index, w, h, line_px, locate_ms=(t1 - t0) / 1e6)
        axis = trig.line.axis
        snapshot = [t.snapshot() for t in ts.seen]
        if trig.kind == "line":
            self._fire_crossings(ts.seen, frame, line_px, axis, "line")
        elif trig.kind == "external":
            self._note_crossings(ts.seen, line_px, axis)
        elif trig.kind == "periodic":
            self._fire_tick(ts.seen, frame, trig)
        for t in ts.lost:
            self._lose(t, frame, line_px, axis, out)
        if trig.kind == "frame":
            self._frame_part(frame, located, snapshot, out)
        else:
            if trig.kind == "external":
                self._match_triggers(frame, snapshot, line_px, axis, out, final=False)
            self._queue_due(frame, snapshot, out)
        # Snapshots: the tracker moves its Track objects on with the next frame.
        self._last = Seen(frame, snapshot)
        if decide:
            self._decide_into(out, None)
        out.parts = [self._view(t) for t in ts.seen]
        return out

    def decide_pending(self, limit: int | None = None) -> list[tuple[Frame, LineStep]]:
        """Judge queued parts, oldest frame first (``limit``: at most that many frames).
        One step per frame judged: its parts as they were then, and the decisions."""
        out: list[tuple[Frame, LineStep]] = []
        while self._pending and (limit is None or len(out) < limit):
            group = self._pending.popleft()
            f = group.frame
            line_px = self._line_px if self._line_px is not None else 0.0
            step = LineStep(f.index, int(f.image.shape[1]), int(f.image.shape[0]), line_px)
            self._decide_batch(group, step)
            step.parts = [self._view(t) for t in group.view]
            out.append((f, step))
        return out

    def refresh(self, step: LineStep) -> None:
        """Bring the parts of a step up to date (decided since it was made)."""
        parts = []
        for p in step.parts:
            book = self._books.get(p.id)
            if p.decision is None and book is not None and book.decision is not None:
                p = replace(p, decision=book.decision, due=False)
            parts.append(p)
        step.parts = parts

    def warm_up_due(self, lead_ns: int) -> int | None:
        """When to warm the decision path up (monotonic ns), ``lead_ns`` before the
        next frame is expected, if a part will cross the line on it (line trigger,
        the frame period learnt, the part complete and undecided, its centre moved on
        by its velocity). None otherwise, when done for this frame already, or when
        the judge's last call took longer than the lead (a warm-up that slow would
        still run when the frame comes, delaying it).

        Why: a part comes every 100-200 ms and in between other work evicts the
        judge's code and weights from the caches: each decision's stages ran about
        1.5x slower on the live line than back to back; warmed 5 ms before, the
        decision's CPU time fell by about a quarter (docs/RELIABILITY.md, line-rate
        section)."""
        last, period = self._last, self._period_ns
        if last is None or period is None or self._warmed_after >= last.frame.index:
            return None
        if self._judge_ns > lead_ns or self._crossing_next(last) is None:
            self._warmed_after = last.frame.index  # nobody crosses next: nothing to warm
            return None
        return last.frame.captured_ns + round(period) - lead_ns

    def warm_up(self) -> bool:
        """Judge the part expected to cross the line next (``warm_up_due``) on the
        last frame, as the real decision will on the next one, and throw the verdict
        away: nothing is counted, stamped or decided. False when there was nothing to
        warm or the judge failed (the real decision then reports it)."""
        last = self._last
        if last is None or self._warmed_after >= last.frame.index:
            return False
        self._warmed_after = last.frame.index
        track = self._crossing_next(last)
        if track is None:
            return False
        t0 = self._clock()
        try:
            self.judge.decide(last.frame.image, [track.box], {})
        except EdgeConsoleError:
            return False
        finally:
            self._judge_ns = self._clock() - t0
        self.warm_ups += 1
        return True

    def skip_warm_up(self) -> None:
        """No warm-up before the next frame (it is due too soon)."""
        if self._last is not None and self._warmed_after < self._last.frame.index:
            self._warmed_after = self._last.frame.index
            self.warm_ups_skipped += 1

    def _crossing_next(self, last: Seen) -> Track | None:
        """A complete, undecided part of the last frame whose centre, moved on by its
        velocity, is across the line on the next frame (line trigger only)."""
        line_px = self._line_px
        if line_px is None or self._trigger.kind != "line":
            return None
        axis = self._trigger.line.axis
        for t in last.tracks:
            book = self._books.get(t.id)
            if book is None or book.due or book.decision is not None or not t.complete:
                continue
            now = t.centre[axis] - line_px
            nxt = now + t.velocity[axis]
            if (now < 0 <= nxt) or (now > 0 >= nxt):
                return t
        return None

    @property
    def pending_frames(self) -> int:
        return len(self._pending)

    def _decide_into(self, out: LineStep, limit: int | None) -> None:
        for _, s in self.decide_pending(limit):
            out.decisions.extend(s.decisions)
            out.decide_ms += s.decide_ms

    def poll_triggers(self, *, decide: bool = True) -> list[PartDecision]:
        """Between frames (woken by :meth:`trigger`): queue edges whose nearest frame
        is the last one seen, without waiting for the next frame (and judge them)."""
        last = self._last
        if last is None or self._trigger.kind != "external":
            return []
        with self._lock:
            line_px = self._line_px
        if line_px is None:
            return []
        out = LineStep(last.frame.index, 0, 0, line_px)
        axis = self._trigger.line.axis
        self._match_triggers(last.frame, last.tracks, line_px, axis, out, final=True)
        self._queue_due(last.frame, last.tracks, out)
        if decide:
            self._decide_into(out, None)
        return out.decisions

    def finish(self) -> list[PartDecision]:
        """End of the run: judge what is queued; parts whose trigger fired but that were
        never fully in view are missed; edges no frame came for are unmatched."""
        out: list[PartDecision] = []
        while self._pending:
            try:
                for _, s in self.decide_pending(1):
                    out.extend(s.decisions)
            except EdgeConsoleError:
                continue  # those parts were recorded missed with the reason
        last = self._last
        frame_index = last.frame.index if last is not None else -1
        for t in self.tracker.tracks:
            book = self._books.get(t.id)
            if book is not None and book.decision is None and (book.due or book.crossed):
                note = (
                    "the run ended before it was fully in view"
                    if book.due
                    else "crossed the line but no trigger edge came"
                )
                d = self._missed(t.id, t.box, book, frame_index, note)
                self._emit(d, None)
                out.append(d)
        with self._lock:
            pending = list(self._incoming)
            self._incoming.clear()
        # Edges no frame came for: received, counted, unmatched.
        self.counters.triggers += len(pending)
        self.counters.triggers_unmatched += len(pending) + len(self._waiting)
        for ev in [*self._waiting, *pending]:
            self._unmatched(ev, "the run ended before a frame came for it")
        self._waiting.clear()
        return out

    # --------------------------------------------------------------- deciding
    def _queue_due(self, frame: Frame, snapshot: list[Track], out: LineStep) -> None:
        ready = []
        for t in snapshot:
            b = self._books.get(t.id)
            if b is not None and b.due and not b.queued and b.decision is None and t.complete:
                ready.append(t)
        if ready:
            self._queue(frame, ready, [self._books[t.id] for t in ready], snapshot, out)

    def _queue(
        self,
        frame: Frame,
        tracks: list[Track],
        books: list[Book],
        view: list[Track],
        out: LineStep,
    ) -> None:
        for b in books:
            b.queued = True
        self._pending.append(Group(frame, tracks, books, view))
        while len(self._pending) > MAX_PENDING_FRAMES:
            old = self._pending.popleft()
            for t, b in zip(old.tracks, old.books, strict=True):
                note = "the inspector fell too far behind the line"
                self._emit(self._missed(t.id, t.box, b, old.frame.index, note), out)

    def _decide_batch(self, group: Group, out: LineStep | None) -> None:
        frame, tracks, books = group.frame, group.tracks, group.books
        boxes = [t.box for t in tracks]
        stamps: dict[str, int] = {}
        t0 = self._clock()
        try:
            verdicts = list(self.judge.decide(frame.image, boxes, stamps))
            if len(verdicts) != len(boxes):
                raise ModelError(
                    f"the inspector returned {len(verdicts)} verdicts for {len(boxes)} parts"
                )
        except EdgeConsoleError as exc:
            for t, b in zip(tracks, books, strict=True):
                self._emit(self._missed(t.id, t.box, b, frame.index, str(exc)), out)
            raise
        done = self._clock()
        self._judge_ns = done - t0
        decide_ms = (done - t0) / 1e6
        if out is not None:
            out.decide_ms += decide_ms
        frame.stamps.update(stamps)  # the frame's latency sample shows the decide stages
        st = frame.stamps
        stages = {"locate": (st.get("locate_end", t0) - st.get("locate_start", t0)) / 1e6}
        for name in ("crop", "preprocess", "infer", "postprocess"):
            start, end = stamps.get(f"{name}_start"), stamps.get(f"{name}_end")
            if start is not None and end is not None:
                stages[name] = (end - start) / 1e6
        stages["decide"] = decide_ms
        for t, book, v in zip(tracks, books, verdicts, strict=True):
            ev = book.event
            d = PartDecision(
                part_id=t.id,
                verdict=v.reason,
                passed=v.passed,
                trigger=book.kind,
                trigger_frame=book.trigger_frame,
                decided_frame=frame.index,
                trigger_ns=book.trigger_ns,
                decided_ns=done,
                box=t.box,
                score=v.score,
                budget_ms=self.budget_ms,
                note="split from a merged blob" if t.estimated else "",
                trigger_source=ev.source if ev is not None else "",
                trigger_seq=ev.seq if ev is not None else None,
                stages_ms=stages,
                provider=self.provider,
                threads=self.threads,
                detail=v,
            )
            book.decision = d
            self._emit(d, out)

    def _missed(self, pid: int, box: Box, book: Book, frame_index: int, note: str) -> PartDecision:
        now = self._clock()
        ev = book.event
        return PartDecision(
            part_id=pid,
            verdict=MISSED,
            passed=False,
            trigger=book.kind,
            trigger_frame=book.trigger_frame,
            decided_frame=frame_index,
            trigger_ns=book.trigger_ns or now,
            decided_ns=now,
            box=box,
            budget_ms=self.budget_ms,
            note=note,
            trigger_source=ev.source if ev is not None else "",
            trigger_seq=ev.seq if ev is not None else None,
        )

    def _emit(self, d: PartDecision, out: LineStep | None) -> None:
        c = self.counters
        if d.missed:
            c.missed += 1
        else:
            c.decided += 1
            if d.passed:
                c.passed += 1
            else:
                c.failed += 1
            if d.late:
                c.late += 1
        if out is not None:
            out.decisions.append(d)
        if self.on_decision is not None:
            self.on_decision(d)

    # --------------------------------------------------------------- helpers
    def _learn_period(self, frame: Frame) -> None:
        last = self._last
        if last is None:
            return
        gap = frame.index - last.frame.index
        dt = frame.captured_ns - last.frame.captured_ns
        if gap > 0 and dt > 0:
            per = dt / gap
            self._period_ns = per if self._period_ns is None else 0.9 * self._period_ns + 0.1 * per

    def _view(self, t: Track) -> PartView:
        book = self._books.get(t.id)
        return PartView(
            id=t.id,
            box=t.box,
            complete=t.complete,
            estimated=t.estimated,
            decision=None if book is None else book.decision,
            due=bool(book and book.due and book.decision is None),
        )
