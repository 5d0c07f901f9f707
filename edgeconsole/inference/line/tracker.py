"""Give every physical part an ID across frames.

Parts ride a belt: between two frames each moves by about the same step, or not
at all when the belt stops. Each track predicts where its box is now (last box
plus velocity times the frames since it was seen) and is matched to the located
box that overlaps the prediction most (greedy, one to one). Velocity comes from
box edges that do not touch the frame border, so a part sliding into view (its
box growing at the edge) still moves at the belt's speed.

Touching or partly overlapping parts often reach the locator as one blob:

- when the tracker already knows the parts (they touched after entering), the
  blob is split among the tracks whose predictions fall inside it, each keeping
  its own size;
- when they arrive already merged, a complete blob at least ``split_ratio`` times
  as long (along the belt) as a typical part is cut into that many equal parts.
  The typical length is ``part_length`` if given, else the median of recent
  complete single parts.

Boxes made by splitting are marked ``estimated``. A track unseen for more than
``max_misses`` frames, or predicted wholly out of the frame, is lost.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from edgeconsole.core.errors import ConfigError
from edgeconsole.core.parts import Box

#: A box edge this close (pixels) to the frame border is clipped, not the part's edge.
BORDER = 2.0


class Located(Protocol):
    """What the tracker needs of a located part (``core.frames.Part`` is one)."""

    @property
    def box(self) -> Box: ...

    @property
    def complete(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    max_misses: int = 5
    gate: float = 0.6  # centre distance allowed, as a share of the part's longer side
    min_iou: float = 0.05
    split_ratio: float = 1.6
    part_length: float | None = None  # along the belt, source pixels; None: learned
    axis: int = 0  # the belt moves along x (0) or y (1)

    def __post_init__(self) -> None:
        if self.max_misses < 0 or self.gate <= 0 or not 0 <= self.min_iou < 1:
            raise ConfigError("tracker settings out of range (max_misses, gate, min_iou)")
        if self.split_ratio <= 1.0:
            raise ConfigError("tracker split_ratio must be above 1")
        if self.part_length is not None and self.part_length <= 0:
            raise ConfigError("tracker part_length must be positive")
        if self.axis not in (0, 1):
            raise ConfigError("tracker axis must be 0 (x) or 1 (y)")


@dataclass(slots=True)
class Track:
    id: int
    box: Box
    complete: bool
    first_frame: int
    last_frame: int
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels per frame
    hits: int = 1
    misses: int = 0
    prev_centre: tuple[float, float] | None = None  # centre at the previous sighting
    estimated: bool = False  # the box was split from a merged blob

    @property
    def centre(self) -> tuple[float, float]:
        return centre(self.box)

    def snapshot(self) -> Track:
        """A copy, as ``dataclasses.replace(self)`` makes one, at a third of its cost
        (the decision path takes one of every part on every frame)."""
        return Track(
            self.id,
            self.box,
            self.complete,
            self.first_frame,
            self.last_frame,
            self.velocity,
            self.hits,
            self.misses,
            self.prev_centre,
            self.estimated,
        )

    def predicted(self, frame: int) -> Box:
        dt = frame - self.last_frame
        return shift(self.box, self.velocity[0] * dt, self.velocity[1] * dt)


@dataclass(slots=True)
class TrackerStep:
    seen: list[Track] = field(default_factory=list)  # matched or born on this frame
    born: list[Track] = field(default_factory=list)
    lost: list[Track] = field(default_factory=list)


def centre(b: Box) -> tuple[float, float]:
    return ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0)


def shift(b: Box, dx: float, dy: float) -> Box:
    return (b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy)


def iou(a: Box, b: Box) -> float:
    inter = _intersection(a, b)
    if inter <= 0:
        return 0.0
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def _area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _intersection(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _length(b: Box, axis: int) -> float:
    return b[2 + axis] - b[axis]


class PartTracker:
    """Frame-by-frame association of located parts to tracks (one thread)."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self._next_id = 1
        self._lengths: deque[float] = deque(maxlen=25)
        self._typical: float | None = None  # median of _lengths, kept until it changes

    @property
    def next_id(self) -> int:
        return self._next_id

    def typical_length(self) -> float | None:
        if self.config.part_length is not None:
            return self.config.part_length
        if len(self._lengths) < 3:
            return None
        if self._typical is None:  # asked for several times a frame, learnt from once
            self._typical = float(statistics.median(self._lengths))
        return self._typical

    def update(
        self, located: Sequence[Located], frame: int, width: int, height: int
    ) -> TrackerStep:
        cfg = self.config
        preds = {t.id: t.predicted(frame) for t in self.tracks}
        dets = self._split_long(
            [(d.box, d.complete, False) for d in located if _area(d.box) > 0], preds
        )
        pairs: list[tuple[float, int, int]] = []
        for ti, t in enumerate(self.tracks):
            p = preds[t.id]
            scale = max(p[2] - p[0], p[3] - p[1], 1.0)
            pc = centre(p)
            for di, (box, _, _) in enumerate(dets):
                overlap = iou(p, box)
                dc = centre(box)
                dist = ((pc[0] - dc[0]) ** 2 + (pc[1] - dc[1]) ** 2) ** 0.5
                if overlap >= cfg.min_iou or dist <= cfg.gate * scale:
                    pairs.append(((1.0 - overlap) + dist / scale, ti, di))
        pairs.sort()
        track_of: dict[int, int] = {}  # det index -> track index
        det_of: dict[int, int] = {}
        for _, ti, di in pairs:
            if ti in det_of or di in track_of:
                continue
            det_of[ti] = di
            track_of[di] = ti
        self._split_merged(dets, preds, det_of, track_of)
        step = TrackerStep()
        survivors: list[Track] = []
        for ti, t in enumerate(self.tracks):
            match = det_of.get(ti)
            if match is None:
                t.misses += 1
                # Counted in frames, not calls: a gap of dropped frames ages a track too.
                gone = frame - t.last_frame > cfg.max_misses
                if gone or _outside(preds[t.id], width, height):
                    step.lost.append(t)
                else:
                    survivors.append(t)
                continue
            box, complete, estimated = dets[match]
            self._observe(t, box, complete, estimated, frame, width, height)
            survivors.append(t)
            step.seen.append(t)
        for di, (box, complete, estimated) in enumerate(dets):
            if di in track_of:
                continue
            t = Track(self._next_id, box, complete, frame, frame, estimated=estimated)
            self._next_id += 1
            survivors.append(t)
            step.seen.append(t)
            step.born.append(t)
            if complete and not estimated:
                self._learn(box)
        self.tracks = survivors
        return step

    # ------------------------------------------------------------------ internals
    def _observe(
        self,
        t: Track,
        box: Box,
        complete: bool,
        estimated: bool,
        frame: int,
        width: int,
        height: int,
    ) -> None:
        dt = max(1, frame - t.last_frame)
        moves: list[list[float]] = [[], []]
        limits = (width, height)
        for i in range(4):
            axis = i % 2
            old, new = t.box[i], box[i]
            lo, hi = BORDER, limits[axis] - BORDER
            if lo < old < hi and lo < new < hi:
                moves[axis].append((new - old) / dt)
        v = list(t.velocity)
        for axis in (0, 1):
            if moves[axis] and not (estimated or t.estimated):
                measured = sum(moves[axis]) / len(moves[axis])
                v[axis] = measured if t.hits == 1 else 0.5 * v[axis] + 0.5 * measured
        t.velocity = (v[0], v[1])
        t.prev_centre = t.centre
        t.box = box
        t.complete = complete
        t.estimated = estimated
        t.last_frame = frame
        t.hits += 1
        t.misses = 0
        if complete and not estimated:
            self._learn(box)

    def _learn(self, box: Box) -> None:
        length = _length(box, self.config.axis)
        typical = self.typical_length()
        # A merged blob must not teach the tracker that parts are long.
        if typical is None or length < self.config.split_ratio * typical:
            self._lengths.append(length)
            self._typical = None

    def _split_long(
        self, dets: list[tuple[Box, bool, bool]], preds: dict[int, Box]
    ) -> list[tuple[Box, bool, bool]]:
        typical = self.typical_length()
        if typical is None:
            return dets
        axis = self.config.axis
        out: list[tuple[Box, bool, bool]] = []
        for box, complete, estimated in dets:
            length = _length(box, axis)
            known = sum(1 for p in preds.values() if _intersection(p, box) >= 0.4 * _area(p))
            if not complete or length < self.config.split_ratio * typical or known >= 2:
                # Parts the tracker already follows are split where they are predicted.
                out.append((box, complete, estimated))
                continue
            n = max(2, round(length / typical))
            step = length / n
            for k in range(n):
                lo = box[axis] + k * step
                piece = list(box)
                piece[axis], piece[axis + 2] = lo, lo + step
                out.append(((piece[0], piece[1], piece[2], piece[3]), True, True))
        return out

    def _split_merged(
        self,
        dets: list[tuple[Box, bool, bool]],
        preds: dict[int, Box],
        det_of: dict[int, int],
        track_of: dict[int, int],
    ) -> None:
        """Unmatched tracks whose prediction lies inside a matched det share that det."""
        axis = self.config.axis
        claims: dict[int, list[int]] = {}
        for ti, t in enumerate(self.tracks):
            if ti in det_of:
                continue
            p = preds[t.id]
            for di, (box, _, _) in enumerate(dets):
                if di in track_of and _intersection(p, box) >= 0.4 * _area(p):
                    claims.setdefault(di, []).append(ti)
                    break
        for di, extra in claims.items():
            owner = track_of[di]
            members = [owner, *extra]
            box, complete, _ = dets[di]
            longest = max(_length(self.tracks[ti].box, axis) for ti in members)
            if _length(box, axis) < 1.15 * longest:
                continue  # the blob is no longer than one part: not a merge
            members.sort(key=lambda ti: centre(preds[self.tracks[ti].id])[axis])
            pieces = _share(box, [preds[self.tracks[ti].id] for ti in members], axis)
            del det_of[owner]
            for k, ti in enumerate(members):
                if k == 0:
                    dets[di] = (pieces[0], complete, True)
                    nd = di
                else:
                    dets.append((pieces[k], complete, True))
                    nd = len(dets) - 1
                track_of[nd] = ti
                det_of[ti] = nd


def _share(blob: Box, predicted: list[Box], axis: int) -> list[Box]:
    """Cut a merged blob among parts ordered along the belt, each keeping its size."""
    out: list[Box] = []
    other = 1 - axis
    n = len(predicted)
    for k, p in enumerate(predicted):
        length = _length(p, axis)
        if k == 0:
            lo = blob[axis]
        elif k == n - 1:
            lo = blob[axis + 2] - length
        else:
            lo = min(max(p[axis], blob[axis]), blob[axis + 2] - length)
        piece = [0.0, 0.0, 0.0, 0.0]
        piece[axis], piece[axis + 2] = lo, lo + length
        piece[other] = max(blob[other], p[other])
        piece[other + 2] = min(blob[other + 2], p[other + 2])
        if piece[other + 2] <= piece[other]:
            piece[other], piece[other + 2] = blob[other], blob[other + 2]
        out.append((piece[0], piece[1], piece[2], piece[3]))
    return out


def _outside(b: Box, width: int, height: int) -> bool:
    return b[2] <= 0 or b[3] <= 0 or b[0] >= width or b[1] >= height
