"""Trigger settings: which event decides a part, and where the line is.

Written as short strings on the command line and in settings (``--trigger``):

- ``line`` (default): the vertical line through the frame's centre; a part fires
  when its centre crosses it. ``line:x=0.3`` puts it at 30% of the width,
  ``line:y=0.5`` makes it horizontal at half the height, ``line:x=640px`` in
  source pixels (checked against the frame size on the first frame).
- ``external``: a photo-eye, PLC or device edge decides the part nearest the line
  (the line marks where the eye looks: ``external:x=0.5``).
- ``periodic:500ms`` (or ``periodic:2s``): every tick decides each part in view not
  decided yet.
- ``frame``: every frame is one part (a camera triggered once per part).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from edgeconsole.core.errors import ConfigError
from edgeconsole.core.parts import TRIGGER_KINDS, TriggerKind

Orientation = Literal["vertical", "horizontal"]
MIN_PERIOD_MS = 1.0
MAX_PERIOD_MS = 3_600_000.0
_HINT = "use line, line:x=0.5, line:y=0.4, line:x=640px, external, periodic:500ms or frame"


@dataclass(frozen=True, slots=True)
class TriggerLine:
    """A line across the image: vertical at x, or horizontal at y.

    ``position`` is a fraction of the frame (0 < p < 1) so the line stays put when the
    resolution changes; ``pixels``, when set, is an absolute source-pixel coordinate.
    """

    orientation: Orientation = "vertical"
    position: float = 0.5
    pixels: float | None = None

    def __post_init__(self) -> None:
        if self.orientation not in ("vertical", "horizontal"):
            raise ConfigError(
                f"trigger line orientation {self.orientation!r} is not vertical or horizontal"
            )
        if not (isinstance(self.position, int | float) and 0.0 < self.position < 1.0):
            raise ConfigError(
                f"trigger line position {self.position!r} is outside the frame",
                hint="give a fraction between 0 and 1 (0.5 is the centre)",
            )
        if self.pixels is not None and not (math.isfinite(self.pixels) and self.pixels > 0):
            raise ConfigError(
                f"trigger line at {self.pixels} px is outside the frame",
                hint="give a positive pixel coordinate inside the frame",
            )

    @property
    def axis(self) -> int:
        """0: the line is vertical and parts cross it moving in x; 1: horizontal, in y."""
        return 0 if self.orientation == "vertical" else 1

    def coordinate(self, width: int, height: int) -> float:
        """Where the line is in a frame of this size (source pixels)."""
        extent = width if self.axis == 0 else height
        if self.pixels is None:
            return self.position * extent
        if not 0 < self.pixels < extent:
            name = "x" if self.axis == 0 else "y"
            raise ConfigError(
                f"trigger line at {name}={self.pixels:g} px is outside the {width}x{height} frame",
                hint=f"give {name} between 1 and {extent - 1} px, or a fraction like {name}=0.5",
            )
        return float(self.pixels)

    def fraction(self, width: int, height: int) -> float:
        extent = width if self.axis == 0 else height
        return self.coordinate(width, height) / extent

    def describe(self) -> str:
        name = "x" if self.axis == 0 else "y"
        value = f"{self.pixels:g}px" if self.pixels is not None else f"{self.position:.3g}"
        return f"{name}={value}"


@dataclass(frozen=True, slots=True)
class TriggerConfig:
    kind: TriggerKind = "line"
    line: TriggerLine = field(default_factory=TriggerLine)
    period_ms: float | None = None  # periodic only

    def __post_init__(self) -> None:
        if self.kind not in TRIGGER_KINDS:
            raise ConfigError(f"unknown trigger kind {self.kind!r}", hint=_HINT)
        if self.kind == "periodic":
            p = self.period_ms
            if p is None or not (math.isfinite(p) and MIN_PERIOD_MS <= p <= MAX_PERIOD_MS):
                raise ConfigError(
                    f"periodic trigger period {p} ms is out of range",
                    hint=f"use {MIN_PERIOD_MS:g} ms .. {MAX_PERIOD_MS / 1000:g} s, "
                    "e.g. periodic:500ms",
                )

    def describe(self) -> str:
        if self.kind in ("line", "external"):
            return f"{self.kind}:{self.line.describe()}"
        if self.kind == "periodic":
            return f"periodic:{self.period_ms:g}ms"
        return self.kind

    def with_line(self, line: TriggerLine) -> TriggerConfig:
        return TriggerConfig(self.kind, line, self.period_ms)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "orientation": self.line.orientation,
            "position": self.line.position,
            "pixels": self.line.pixels,
            "period_ms": self.period_ms,
        }

    @classmethod
    def from_json(cls, obj: Any) -> TriggerConfig:
        """From ``to_json`` (remembered settings); anything malformed is a ConfigError."""
        if not isinstance(obj, dict):
            raise ConfigError("trigger settings must be an object")
        try:
            pixels = obj.get("pixels")
            line = TriggerLine(
                str(obj.get("orientation", "vertical")),  # type: ignore[arg-type]
                float(obj.get("position", 0.5)),
                None if pixels is None else float(pixels),
            )
            period = obj.get("period_ms")
            return cls(
                str(obj.get("kind", "line")),  # type: ignore[arg-type]
                line,
                None if period is None else float(period),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"trigger settings are malformed: {exc}") from None

    @classmethod
    def parse(cls, text: str) -> TriggerConfig:
        """``line``, ``line:x=0.4``, ``line:y=300px``, ``external:x=0.5``,
        ``periodic:500ms``, ``frame``."""
        raw = text.strip()
        kind, _, arg = raw.partition(":")
        kind = kind.strip().lower()
        arg = arg.strip()
        if kind not in TRIGGER_KINDS:
            raise ConfigError(f"unknown trigger {text!r}", hint=_HINT)
        if kind == "periodic":
            return cls("periodic", period_ms=_parse_period(arg, text))
        if kind == "frame":
            if arg:
                raise ConfigError(f"the frame trigger takes no setting: {text!r}", hint=_HINT)
            return cls("frame")
        line = _parse_line(arg, text) if arg else TriggerLine()
        return cls(kind, line)


def _parse_period(arg: str, text: str) -> float:
    m = re.fullmatch(r"(?:period=)?\s*([0-9]*\.?[0-9]+)\s*(ms|s)?", arg.lower())
    if not m:
        raise ConfigError(f"cannot read the period of {text!r}", hint="e.g. periodic:500ms")
    value = float(m.group(1))
    return value * 1000.0 if m.group(2) == "s" else value


def _parse_line(arg: str, text: str) -> TriggerLine:
    m = re.fullmatch(r"([xy])\s*=\s*(-?[0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(px)?", arg.lower())
    if not m:
        raise ConfigError(f"cannot read the line of {text!r}", hint=_HINT)
    orientation: Orientation = "vertical" if m.group(1) == "x" else "horizontal"
    value = float(m.group(2))
    if m.group(3):
        return TriggerLine(orientation, 0.5, value)
    return TriggerLine(orientation, value)
