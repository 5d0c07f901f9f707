"""When each part of the simulated belt passes a point: one timing model for everyone.

The synthetic conveyor camera (``sources/conveyor.py``) draws part ``k`` at
``x_k(t) = x_start + speed * t - k * pitch`` (pixels of the frame). Whatever else
follows the belt (the virtual PLC's trigger, a photo-eye on the virtual serial
device) must fire when that same part is at the camera, so they all ask this
model instead of keeping their own copy of the geometry.

Positions are in frame pixels at the scene's scale; times in seconds since the
belt started (frame 0 is captured at t = 0). No clock, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgeconsole.core.errors import ConfigError

# Geometry at the reference frame size 1280x720 (the conveyor scene scales it).
REF_W, REF_H = 1280, 720
PART_W = 260  # part width, reference pixels
PITCH = 430  # distance between the left edges of consecutive parts
SPEED_PX_S = 240.0  # default belt speed, reference pixels per second
START_MARGIN = 40  # part 0 starts this far from the right edge


@dataclass(frozen=True, slots=True)
class BeltTiming:
    """The belt of one conveyor scene: where part ``k`` is at time ``t``."""

    width: int = REF_W  # frame width in pixels
    scale: float = 1.0  # frame pixels per reference pixel
    speed_ref_px_s: float = SPEED_PX_S

    @classmethod
    def for_frame(
        cls, width: int, height: int, *, parts_per_min: float | None = None
    ) -> BeltTiming:
        """The belt of a ``width`` x ``height`` scene; ``parts_per_min`` sets its speed."""
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
        return cls(width=int(width), scale=scale, speed_ref_px_s=speed)

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

    def left_edge(self, part: int, t_s: float) -> float:
        return self.x_start + self.speed_px_s * t_s - part * self.pitch

    def crossing_s(self, part: int, line_x: float | None = None) -> float:
        """When part ``part``'s centre crosses the vertical line ``line_x``.

        The default line is the frame's centre (DESIGN section 10's default
        trigger). Parts whose centre starts right of the line (part 0 and
        maybe 1) cross it "before" t = 0: the answer is then negative.
        """
        x = self.width / 2 if line_x is None else float(line_x)
        return (x - self.part_w / 2 - self.x_start + part * self.pitch) / self.speed_px_s

    def first_part_after(self, t_s: float, line_x: float | None = None) -> int:
        """The first part whose centre crosses ``line_x`` at or after ``t_s``."""
        x = self.width / 2 if line_x is None else float(line_x)
        k = math.ceil((t_s * self.speed_px_s - x + self.part_w / 2 + self.x_start) / self.pitch)
        return max(0, k)
