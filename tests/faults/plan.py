"""The seeded fault engine shared by the pty and TCP proxies.

Faults are keyed on byte offsets of each direction's stream, never on timing or
chunk boundaries, and every random choice comes from ``random.Random`` seeded
with ``(seed, direction)``: the same traffic under the same seed gets the same
faults, so a failing trial reproduces from its seed alone (a duplicated run is clipped
at the end of the chunk it starts in; everything else is independent of chunking).

Directions: ``"up"`` is host → device/server, ``"down"`` device/server → host.

Faults (each may be set and cleared while traffic flows, from any thread):

- ``cut_after(n)`` / ``cut_at([offsets])``: forward exactly up to that byte, then
  cut the link (TCP: abort both sockets; pty: the cable is pulled and plugged back;
  the rest of that chunk is lost, as on a real cut);
- ``stall(after=0)``: stop forwarding (after ``after`` more bytes) but keep the
  link open, a half-open link; ``resume()`` lets the held bytes go;
- ``flip(rate=..., at=...)``: flip one random bit of a byte, at absolute offsets
  and/or at a mean rate per byte (geometric gaps, so it costs nothing per byte);
- ``duplicate(rate, max_len)``: repeat a run of 1..max_len bytes at a mean rate;
- ``delay(seconds)``: hold every byte this long (order kept).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["up", "down"]
DIRECTIONS: tuple[Direction, ...] = ("up", "down")


class Cut:
    """Marker in a forwarding plan: cut the link here."""

    def __repr__(self) -> str:
        return "CUT"


class Stall:
    """Marker: everything after this waits until the stall is lifted."""

    def __repr__(self) -> str:
        return "STALL"


CUT = Cut()
STALL = Stall()
Op = bytes | Cut | Stall


@dataclass
class Injected:
    """One fault that happened: what, which direction, at which stream offset."""

    kind: str
    direction: Direction
    offset: int
    detail: str = ""


@dataclass
class _Dir:
    # One generator per kind of draw, so how the stream is chunked never changes them.
    flip_gaps: random.Random
    flip_bits: random.Random
    dup_gaps: random.Random
    dup_lens: random.Random
    offset: int = 0  # bytes of this direction seen so far (before duplication)
    cuts: list[int] = field(default_factory=list)  # absolute offsets, sorted
    stall_at: int | None = None
    stalled: bool = False
    flip_at: set[int] = field(default_factory=set)
    flip_rate: float = 0.0
    next_flip: int | None = None
    dup_rate: float = 0.0
    dup_max: int = 32
    next_dup: int | None = None
    delay_s: float = 0.0


class FaultPlan:
    """Thread-safe; the proxies call :meth:`plan` for every chunk they read."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._dirs = {
            d: _Dir(*(random.Random(f"{seed}:{d}:{k}") for k in ("fg", "fb", "dg", "dl")))
            for d in DIRECTIONS
        }
        self.injected: list[Injected] = []
        self.resumed = threading.Condition(self._lock)

    # ---------------------------------------------------------------- set faults
    def cut_after(self, n: int, direction: Direction = "up") -> FaultPlan:
        with self._lock:
            d = self._dirs[direction]
            d.cuts = sorted([*d.cuts, d.offset + max(0, n)])
        return self

    def cut_at(self, offsets: list[int], direction: Direction = "up") -> FaultPlan:
        """Cut when the stream reaches each of these absolute offsets (one cut each)."""
        with self._lock:
            d = self._dirs[direction]
            d.cuts = sorted([*d.cuts, *offsets])
        return self

    def stall(self, direction: Direction | Literal["both"] = "both", after: int = 0) -> FaultPlan:
        with self._lock:
            for name in _names(direction):
                d = self._dirs[name]
                d.stall_at = d.offset + max(0, after)
        return self

    def resume(self) -> FaultPlan:
        with self._lock:
            for d in self._dirs.values():
                d.stalled = False
                d.stall_at = None
            self.resumed.notify_all()
        return self

    def flip(
        self,
        direction: Direction | Literal["both"] = "both",
        *,
        rate: float = 0.0,
        at: tuple[int, ...] | list[int] | set[int] = (),
    ) -> FaultPlan:
        """Flip one bit per chosen byte: ``at`` absolute offsets and/or ``rate`` per byte."""
        with self._lock:
            for name in _names(direction):
                d = self._dirs[name]
                d.flip_at |= set(at)
                d.flip_rate = rate
                d.next_flip = d.offset + _gap(d.flip_gaps, rate) if rate > 0 else None
        return self

    def duplicate(
        self, direction: Direction | Literal["both"] = "both", *, rate: float, max_len: int = 32
    ) -> FaultPlan:
        with self._lock:
            for name in _names(direction):
                d = self._dirs[name]
                d.dup_rate, d.dup_max = rate, max(1, max_len)
                d.next_dup = d.offset + _gap(d.dup_gaps, rate) if rate > 0 else None
        return self

    def delay(self, seconds: float, direction: Direction | Literal["both"] = "both") -> FaultPlan:
        with self._lock:
            for name in _names(direction):
                self._dirs[name].delay_s = max(0.0, seconds)
        return self

    def clear(self) -> FaultPlan:
        """No more faults (offsets keep counting); held bytes are let go."""
        with self._lock:
            for d in self._dirs.values():
                d.stall_at = d.next_flip = d.next_dup = None
                d.cuts.clear()
                d.stalled = False
                d.flip_at.clear()
                d.flip_rate = d.dup_rate = d.delay_s = 0.0
            self.resumed.notify_all()
        return self

    # ------------------------------------------------------------------- queries
    def stalled(self, direction: Direction) -> bool:
        with self._lock:
            return self._dirs[direction].stalled

    def delay_of(self, direction: Direction) -> float:
        with self._lock:
            return self._dirs[direction].delay_s

    def offset(self, direction: Direction) -> int:
        with self._lock:
            return self._dirs[direction].offset

    def count(self, kind: str) -> int:
        with self._lock:
            return sum(1 for i in self.injected if i.kind == kind)

    # ---------------------------------------------------------------------- plan
    def plan(self, direction: Direction, data: bytes) -> list[Op]:
        """What to forward for ``data``: bytes, with ``CUT``/``STALL`` markers in place."""
        with self._lock:
            d = self._dirs[direction]
            start = d.offset
            end = start + len(data)
            ops: list[Op] = []
            buf = bytearray(data)
            # Flips first: they change bytes in place, keyed on absolute offsets.
            hits = {o for o in d.flip_at if start <= o < end}
            d.flip_at -= hits
            while d.next_flip is not None and d.next_flip < end:
                hits.add(d.next_flip)
                d.next_flip += _gap(d.flip_gaps, d.flip_rate)
            for o in sorted(hits):
                bit = d.flip_bits.randrange(8)
                buf[o - start] ^= 1 << bit
                self.injected.append(Injected("flip", direction, o, f"bit {bit}"))
            # Then the cut points of this chunk: where it is cut, stalled or a run repeated.
            stops: list[tuple[int, str]] = []
            if d.cuts and d.cuts[0] <= end:
                stops.append((max(d.cuts[0], start), "cut"))
            if d.stall_at is not None and d.stall_at <= end:
                stops.append((max(d.stall_at, start), "stall"))
            while d.next_dup is not None and d.next_dup < end:
                stops.append((d.next_dup, "dup"))
                d.next_dup += _gap(d.dup_gaps, d.dup_rate)
            stops.sort(key=lambda s: (s[0], {"dup": 0, "stall": 1, "cut": 2}[s[1]]))
            pos = start
            for at, kind in stops:
                if at > pos:
                    ops.append(bytes(buf[pos - start : at - start]))
                    pos = at
                if kind == "dup":
                    n = min(d.dup_lens.randint(1, d.dup_max), end - at)  # clipped at chunk end
                    if n > 0:
                        piece = bytes(buf[at - start : at - start + n])
                        ops.append(piece)  # sent twice: here and again as part of the rest
                        self.injected.append(Injected("duplicate", direction, at, f"{n} bytes"))
                elif kind == "stall":
                    d.stall_at = None
                    d.stalled = True
                    ops.append(STALL)
                    self.injected.append(Injected("stall", direction, at))
                else:
                    d.cuts.pop(0)
                    ops.append(CUT)
                    self.injected.append(Injected("cut", direction, at))
                    d.offset = at
                    return ops  # the rest of the chunk went with the cable
            if end > pos:
                ops.append(bytes(buf[pos - start :]))
            d.offset = end
            return ops

    def wait_resumed(self, direction: Direction, timeout: float) -> bool:
        with self.resumed:
            return self.resumed.wait_for(lambda: not self._dirs[direction].stalled, timeout)


def _names(direction: Direction | Literal["both"]) -> tuple[Direction, ...]:
    return DIRECTIONS if direction == "both" else (direction,)


def _gap(rng: random.Random, rate: float) -> int:
    """Bytes to the next event of a per-byte Bernoulli process (at least 1)."""
    return 1 + int(rng.expovariate(rate)) if rate > 0 else 1 << 62
