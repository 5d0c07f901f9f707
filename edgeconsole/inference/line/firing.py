"""When parts become due: the trigger kinds of the decision path (issue 12, item 2).

A virtual line (a part's centre crosses it), an external edge (a photo-eye, a PLC:
matched to the undecided part nearest the line on the frame nearest the edge in
time), a periodic tick, or every frame one part ("frame", a triggered camera).
Also what a part that leaves the view undecided becomes. ``TriggerFiring`` is a
part of ``decider.PartLine`` (its state lives there); it only marks parts due or
missed and hands them to ``PartLine._queue`` / ``_emit``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from edgeconsole.core.frames import Frame
from edgeconsole.core.parts import Box, LineCounters, PartDecision, TriggerEvent, TriggerKind
from edgeconsole.inference.line.steps import Book, LineStep, Seen
from edgeconsole.inference.line.tracker import Located, Track, centre
from edgeconsole.inference.line.triggers import TriggerConfig


class TriggerFiring:
    """Trigger handling of ``PartLine`` (declared here: the state it shares with it)."""

    counters: LineCounters
    on_unmatched: Callable[[TriggerEvent, str], None] | None
    _books: dict[int, Book]
    _lock: threading.Lock
    _incoming: deque[TriggerEvent]
    _waiting: list[TriggerEvent]
    _last_seq: dict[str, int]
    _last: Seen | None
    _period_ns: float | None
    _next_tick: int | None
    _frame_part_id: int
    _trigger: TriggerConfig
    _queue: Callable[[Frame, list[Track], list[Book], list[Track], LineStep], None]
    _emit: Callable[[PartDecision, LineStep | None], None]
    _missed: Callable[[int, Box, Book, int, str], PartDecision]

    def _fire_crossings(
        self, seen: list[Track], frame: Frame, line_px: float, axis: int, kind: TriggerKind
    ) -> None:
        for t in seen:
            book = self._books[t.id]
            if book.due or book.decision is not None or t.prev_centre is None:
                continue
            before = t.prev_centre[axis] - line_px
            now = t.centre[axis] - line_px
            if (before < 0 <= now) or (before > 0 >= now):
                self._make_due(book, kind, frame.index, frame.captured_ns)

    def _note_crossings(self, seen: list[Track], line_px: float, axis: int) -> None:
        for t in seen:
            book = self._books[t.id]
            if t.prev_centre is None or book.crossed:
                continue
            before = t.prev_centre[axis] - line_px
            now = t.centre[axis] - line_px
            if (before < 0 <= now) or (before > 0 >= now):
                book.crossed = True

    def _fire_tick(self, seen: list[Track], frame: Frame, trig: TriggerConfig) -> None:
        assert trig.period_ms is not None
        period = int(trig.period_ms * 1e6)
        stamp = frame.captured_ns
        if self._next_tick is None:
            self._next_tick = stamp
        if stamp < self._next_tick:
            return
        ticks = (stamp - self._next_tick) // period + 1
        self.counters.ticks_skipped += int(ticks - 1)
        self._next_tick += int(ticks * period)
        for t in seen:
            book = self._books[t.id]
            if not book.due and book.decision is None:
                self._make_due(book, "periodic", frame.index, stamp)

    def _make_due(
        self,
        book: Book,
        kind: TriggerKind,
        frame_index: int,
        stamp: int,
        event: TriggerEvent | None = None,
    ) -> None:
        book.due = True
        book.kind = kind
        book.trigger_frame = frame_index
        book.trigger_ns = stamp
        book.event = event
        self.counters.triggered += 1

    def _match_triggers(
        self,
        frame: Frame,
        seen: list[Track],
        line_px: float,
        axis: int,
        out: LineStep,
        *,
        final: bool,
    ) -> None:
        """Give waiting external edges a part: the frame nearest the edge in time is the
        one judged (this frame, or the one before it); the part is the one nearest the
        line. ``final``: called between frames, so no later frame is coming yet."""
        with self._lock:
            incoming = list(self._incoming)
            self._incoming.clear()
        for ev in incoming:
            self.counters.triggers += 1
            self._count_gap(ev)
            self._waiting.append(ev)
        if not self._waiting:
            return
        half = (self._period_ns or 33_000_000) / 2
        keep: list[TriggerEvent] = []
        prev = self._last if not final else None
        for ev in sorted(self._waiting, key=lambda e: e.stamp_ns):
            if ev.stamp_ns > frame.captured_ns + half:
                keep.append(ev)  # a later frame is nearer: wait for it
                continue
            target_frame, tracks = frame, seen
            if (
                prev is not None
                and prev.frame is not frame
                and abs(ev.stamp_ns - prev.frame.captured_ns) < abs(ev.stamp_ns - frame.captured_ns)
            ):
                target_frame, tracks = prev.frame, prev.tracks
            best = self._nearest_undecided(tracks, line_px, axis)
            if best is None:
                self.counters.triggers_unmatched += 1
                self._unmatched(ev, f"no undecided part at the line in frame {target_frame.index}")
                continue
            book = self._books[best.id]
            self._make_due(book, "external", target_frame.index, ev.stamp_ns, ev)
            if target_frame is not frame and best.complete:
                # Judged on the earlier frame's pixels: queued with that frame.
                self._queue(target_frame, [best], [book], tracks, out)
        self._waiting = keep

    def _nearest_undecided(self, tracks: list[Track], line_px: float, axis: int) -> Track | None:
        best: Track | None = None
        best_d = float("inf")
        for t in tracks:
            book = self._books.get(t.id)
            if book is None or book.due or book.decision is not None:
                continue
            length = t.box[2 + axis] - t.box[axis]
            d = abs(t.centre[axis] - line_px)
            if d <= 0.75 * length and d < best_d:
                best, best_d = t, d
        return best

    def _unmatched(self, ev: TriggerEvent, why: str) -> None:
        if self.on_unmatched is not None:
            self.on_unmatched(ev, why)

    def _count_gap(self, ev: TriggerEvent) -> None:
        if ev.seq is None:
            return
        last = self._last_seq.get(ev.source)
        if last is not None and ev.seq > last + 1:
            self.counters.triggers_lost += ev.seq - last - 1
        self._last_seq[ev.source] = ev.seq

    def _frame_part(
        self, frame: Frame, located: list[Located], snapshot: list[Track], out: LineStep
    ) -> None:
        """ "frame" trigger: this frame is one part; judge the most central complete one."""
        self._frame_part_id += 1
        pid = self._frame_part_id
        self.counters.triggered += 1
        # A triggered industrial camera says when it exposed the frame (or when its
        # software trigger was sent): the part's decision latency runs from there.
        start = frame.captured_ns
        if frame.camera is not None and frame.capture_started_ns is not None:
            start = min(frame.capture_started_ns, frame.captured_ns)
        book = Book(due=True, kind="frame", trigger_frame=frame.index, trigger_ns=start)
        h, w = frame.image.shape[:2]
        complete = [p for p in located if p.complete]
        if not complete:
            box: Box = (0.0, 0.0, float(w), float(h))
            self._emit(
                self._missed(pid, box, book, frame.index, "no part in the triggered frame"), out
            )
            return
        mid = (w / 2.0, h / 2.0)
        best = min(
            complete,
            key=lambda p: (centre(p.box)[0] - mid[0]) ** 2 + (centre(p.box)[1] - mid[1]) ** 2,
        )
        track = Track(pid, best.box, True, frame.index, frame.index)
        self._queue(frame, [track], [book], [], out)

    def _lose(self, t: Track, frame: Frame, line_px: float, axis: int, out: LineStep) -> None:
        book = self._books.pop(t.id, None)
        if book is None or book.decision is not None or book.queued:
            return  # decided, or queued: the inspector judges it from the frame it was on
        if book.due:
            self._emit(
                self._missed(
                    t.id,
                    t.box,
                    book,
                    frame.index,
                    "left the view before it was fully in view after its trigger",
                ),
                out,
            )
            return
        if self._trigger.kind == "external":
            if book.crossed:
                self._emit(
                    self._missed(
                        t.id, t.box, book, frame.index, "crossed the line but no trigger edge came"
                    ),
                    out,
                )
            return
        if self._trigger.kind != "line":
            return
        # Lost before its crossing was seen: did it cross while the decision path was not
        # looking (frames dropped, a long occlusion)? Extrapolate along the belt.
        c = t.centre[axis]
        ahead = c + t.velocity[axis] * (frame.index - t.last_frame + 1)
        if (c - line_px) * (ahead - line_px) < 0 or (c < line_px <= ahead):
            book.trigger_frame, book.trigger_ns = frame.index, frame.captured_ns
            self.counters.triggered += 1
            self._emit(
                self._missed(
                    t.id,
                    t.box,
                    book,
                    frame.index,
                    "crossed the line in frames the decision path did not see",
                ),
                out,
            )
