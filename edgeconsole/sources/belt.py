"""When each part of the simulated belt passes a point: one timing model for everyone.

The synthetic conveyor camera (``sources/conveyor.py``) draws part ``k`` at
``x_k(t) = x_start + speed * t - k * pitch`` (pixels of the frame). Whatever else
follows the belt (the virtual PLC's trigger, a photo-eye on the virtual serial
device) must fire when that same part is at the camera, so they all ask this
model instead of keeping their own copy of the geometry.

Positions are in frame pixels at the scene's scale; times in seconds since the
belt started (frame 0 is captured at t = 0). No clock, no I/O.

Two things real lines have, for the per-part tests (issue 12): parts that touch or
partly overlap the one ahead (``gaps``: the distance from each part to the one
ahead, a pattern of ``PATTERN`` parts that repeats, so where part ``k`` sits stays
a closed formula for any ``k``), and stops (``stops``: the belt stands still from
``start`` for ``duration`` seconds). Without them every gap is the pitch and the
belt never stops: ``x_k(t) = x_start + speed * t - k * pitch``.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np

from edgeconsole.core.errors import ConfigError

# Geometry at the reference frame size 1280x720 (the conveyor scene scales it).
REF_W, REF_H = 1280, 720
PART_W = 260  # part width, reference pixels
PITCH = 430  # distance between the left edges of consecutive parts
SPEED_PX_S = 240.0  # default belt speed, reference pixels per second
START_MARGIN = 40  # part 0 starts this far from the right edge
#: The spacing pattern repeats every this many parts.
PATTERN = 64
MAX_STOPS = 16


@dataclass(frozen=True, slots=True)
class BeltTiming:
    """The belt of one conveyor scene: where part ``k`` is at time ``t``."""

    width: int = REF_W  # frame width in pixels
    scale: float = 1.0  # frame pixels per reference pixel
    speed_ref_px_s: float = SPEED_PX_S
    #: Distance (frame pixels) from part j to the part ahead, for j mod PATTERN;
    #: empty: every gap is the pitch.
    gaps: tuple[int, ...] = ()
    #: (start, duration) in seconds: the belt stands still.
    stops: tuple[tuple[float, float], ...] = ()
    _prefix: tuple[int, ...] = field(default=(), init=False, repr=False, compare=False)
    _block: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.gaps and (len(self.gaps) != PATTERN or min(self.gaps) < 1):
            raise ConfigError(f"belt gaps must be {PATTERN} positive distances")
        if len(self.stops) > MAX_STOPS or any(
            not (math.isfinite(a) and math.isfinite(d)) or a < 0 or d < 0 for a, d in self.stops
        ):
            raise ConfigError(
                "belt stops must be (start >= 0 s, duration >= 0 s) pairs",
                subject="synthetic:conveyor",
                hint=f"at most {MAX_STOPS} stops",
            )
        # Offsets within one pattern block: _prefix[j] = distance from part 0 to part j.
        gaps = self.gaps or (self.pitch,) * PATTERN
        prefix = [0]
        for j in range(1, PATTERN):
            prefix.append(prefix[-1] + gaps[j])
        object.__setattr__(self, "_prefix", tuple(prefix))
        object.__setattr__(self, "_block", prefix[-1] + gaps[0])

    @classmethod
    def for_frame(
        cls,
        width: int,
        height: int,
        *,
        parts_per_min: float | None = None,
        overlap: float = 0.0,
        seed: int = 0,
        stops: tuple[tuple[float, float], ...] = (),
    ) -> BeltTiming:
        """The belt of a ``width`` x ``height`` scene; ``parts_per_min`` sets its speed;
        ``overlap`` is the share of parts that touch or partly overlap the one ahead
        (in pairs, never chains; which ones follows from ``seed``); ``stops`` in seconds."""
        if not (isinstance(overlap, int | float) and 0.0 <= overlap <= 1.0):
            raise ConfigError(
                f"conveyor overlap {overlap} is out of range",
                subject="synthetic:conveyor",
                hint="give the share of touching parts, 0..1",
            )
        scale = min(width / REF_W, height / REF_H)
        speed = SPEED_PX_S
        if parts_per_min is not None:
            if not (0 < parts_per_min <= 6000):
                raise ConfigError(
                    f"belt rate {parts_per_min} parts/min is out of range",
                    subject="synthetic:conveyor",
                    hint="use 1..6000 parts per minute",
                )
            speed = parts_per_min / 60.0 * PITCH
        plain = cls(width=int(width), scale=scale, speed_ref_px_s=speed)
        gaps = _spacing(plain.part_w, plain.pitch, overlap, seed) if overlap > 0 else ()
        return cls(
            width=int(width),
            scale=scale,
            speed_ref_px_s=speed,
            gaps=gaps,
            stops=tuple(sorted((float(a), float(d)) for a, d in stops)),
        )

    @property
    def part_w(self) -> int:
        return max(8, round(PART_W * self.scale))

    @property
    def pitch(self) -> int:
        return max(self.part_w + 4, round(PITCH * self.scale))

    @property
    def speed_px_s(self) -> float:
        return self.speed_ref_px_s * self.scale

    @property
    def x_start(self) -> int:
        """Left edge of part 0 at t = 0: fully in view near the right edge."""
        return self.width - self.part_w - round(START_MARGIN * self.scale)

    @property
    def parts_per_min(self) -> float:
        return self.speed_px_s * 60.0 / self.pitch

    def offset_of(self, part: int) -> int:
        """How far part ``part`` trails part 0 along the belt (frame pixels)."""
        block, j = divmod(part, PATTERN)
        return block * self._block + self._prefix[j]

    def first_part_beyond(self, offset: float, *, inclusive: bool = False) -> int:
        """The smallest part whose offset is above (``inclusive``: at least) ``offset``."""
        if offset < 0 or (inclusive and offset <= 0):
            return 0
        block = int(offset // self._block)
        rest = offset - block * self._block
        find = bisect.bisect_left if inclusive else bisect.bisect_right
        return block * PATTERN + find(self._prefix, rest)

    def moving_s(self, t_s: float) -> float:
        """Seconds the belt has been moving by ``t_s`` (stops taken out)."""
        moving = t_s
        for start, duration in self.stops:
            moving -= min(max(t_s - start, 0.0), duration)
        return moving

    def time_at(self, moving: float) -> float:
        """The first time the belt has moved for ``moving`` seconds (inverse of moving_s)."""
        t = moving
        for start, duration in self.stops:
            if t > start:
                t += duration
        return t

    def travel_px(self, t_s: float) -> float:
        return self.speed_px_s * self.moving_s(t_s)

    def left_edge(self, part: int, t_s: float) -> float:
        return self.x_start + self.travel_px(t_s) - self.offset_of(part)

    def crossing_s(self, part: int, line_x: float | None = None) -> float:
        """When part ``part``'s centre crosses the vertical line ``line_x``.

        The default line is the frame's centre (DESIGN section 10's default
        trigger). Parts whose centre starts right of the line (part 0 and
        maybe 1) cross it "before" t = 0: the answer is then negative.
        """
        x = self.width / 2 if line_x is None else float(line_x)
        need = (x - self.part_w / 2 - self.x_start + self.offset_of(part)) / self.speed_px_s
        return need if need <= 0 else self.time_at(need)

    def first_part_after(self, t_s: float, line_x: float | None = None) -> int:
        """The first part whose centre crosses ``line_x`` at or after ``t_s``."""
        x = self.width / 2 if line_x is None else float(line_x)
        moved = self.speed_px_s * (self.moving_s(t_s) if t_s > 0 else t_s)
        k = self.first_part_beyond(moved - x + self.part_w / 2 + self.x_start, inclusive=True)
        while k > 0 and self.crossing_s(k - 1, x) >= t_s:  # a stop can end at t_s
            k -= 1
        while self.crossing_s(k, x) < t_s:
            k += 1
        return k


def _spacing(part_w: int, pitch: int, overlap: float, seed: int) -> tuple[int, ...]:
    """Gaps of one pattern block: a share ``overlap`` of parts sits closer than a part's
    length to the one ahead (1.0: their outlines touch; below: partly covered)."""
    gaps = [pitch] * PATTERN
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 0x6A95])
    for j in range(PATTERN):
        # Pairs, not chains: a part that touches the one ahead leaves room behind it.
        if rng.random() < overlap and gaps[(j - 1) % PATTERN] == pitch:
            gaps[j] = max(4, round(part_w * float(rng.uniform(0.6, 1.0))))
    return tuple(gaps)
