"""The usual GenICam features, read from and checked against the camera's own node map.

A backend hands over what its node map says about a node (``NodeFacts``); this
module turns it into a ``FeatureInfo`` a person can read (value, range, unit,
choices), resolves the older names some cameras still use (``ExposureTimeAbs``
for ``ExposureTime``), parses a typed value from text and refuses a value with one
sentence that says why and what the camera accepts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from edgeconsole.core.errors import CameraFeatureError

Kind = Literal["integer", "float", "enumeration", "boolean", "command", "string"]
Value = int | float | str | bool

#: What a commissioning technician sets, in the order a setup is applied: the
#: trigger is switched off before the image format changes (some cameras lock the
#: format while triggered), sizes before offsets (an offset's range depends on the
#: size), the frame rate after the exposure (its maximum depends on it), and the
#: trigger mode last so the camera waits for triggers only once it is ready.
STANDARD_FEATURES: tuple[str, ...] = (
    "PixelFormat",
    "Width",
    "Height",
    "OffsetX",
    "OffsetY",
    "ExposureTime",
    "Gain",
    "AcquisitionFrameRate",
    "TriggerSelector",
    "TriggerSource",
    "TriggerMode",
    "TriggerSoftware",
)

#: Names older cameras (GigE Vision SFNC 1.x, the Aravis and Basler emulators) use.
ALIASES: dict[str, tuple[str, ...]] = {
    "ExposureTime": ("ExposureTimeAbs",),
    "Gain": ("GainAbs", "GainRaw"),
    "AcquisitionFrameRate": ("AcquisitionFrameRateAbs",),
}

#: Units SFNC gives these features when the node map has none.
DEFAULT_UNITS: dict[str, str] = {
    "ExposureTime": "us",
    "ExposureTimeAbs": "us",
    "AcquisitionFrameRate": "Hz",
    "AcquisitionFrameRateAbs": "Hz",
    "Width": "px",
    "Height": "px",
    "OffsetX": "px",
    "OffsetY": "px",
}

#: Feature names: letters, digits and underscores (GenICam node names), bounded.
MAX_NAME = 128


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What a backend's node map says about one node."""

    node: str
    kind: Kind
    readable: bool
    writable: bool
    value: Value | None = None
    minimum: float | None = None
    maximum: float | None = None
    increment: float | None = None
    unit: str = ""
    options: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class FeatureInfo:
    """A feature as a person sees it: its standard name and the camera's own node."""

    name: str
    node: str
    kind: Kind
    readable: bool
    writable: bool
    value: Value | None
    minimum: float | None
    maximum: float | None
    increment: float | None
    unit: str
    options: tuple[str, ...]
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, facts: NodeFacts) -> FeatureInfo:
        return cls(
            name=name,
            node=facts.node,
            kind=facts.kind,
            readable=facts.readable,
            writable=facts.writable,
            value=facts.value,
            minimum=facts.minimum,
            maximum=facts.maximum,
            increment=facts.increment,
            unit=facts.unit or DEFAULT_UNITS.get(facts.node, DEFAULT_UNITS.get(name, "")),
            options=facts.options,
            description=facts.description,
        )

    @property
    def alias_note(self) -> str:
        return "" if self.node == self.name else f" (this camera calls it {self.node})"

    def range_text(self) -> str:
        """'10 .. 10000000 us', 'Mono8, RGB8', 'command', '' (nothing to say)."""
        if self.kind == "enumeration":
            return ", ".join(self.options)
        if self.kind == "boolean":
            return "true, false"
        if self.kind == "command":
            return "command (no value)"
        if self.minimum is None and self.maximum is None:
            return ""
        text = f"{_num(self.minimum)} .. {_num(self.maximum)}"
        if self.kind == "integer" and self.increment and self.increment > 1:
            text += f" in steps of {_num(self.increment)}"
        return f"{text} {self.unit}".rstrip()

    def value_text(self) -> str:
        if self.kind == "command":
            return "-"
        if self.value is None:
            return "(not readable)"
        unit = f" {self.unit}" if self.unit and self.kind in ("integer", "float") else ""
        return f"{_num(self.value) if isinstance(self.value, int | float) else self.value}{unit}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "node": self.node,
            "kind": self.kind,
            "value": self.value,
            "unit": self.unit,
            "min": self.minimum,
            "max": self.maximum,
            "increment": self.increment,
            "options": list(self.options),
            "readable": self.readable,
            "writable": self.writable,
            "description": self.description,
        }


def _num(v: float | int | bool | str | None) -> str:
    if v is None:
        return "?"
    if isinstance(v, bool | str):
        return str(v)
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e15):
        return str(int(v))
    return f"{v:.6g}"


def check_name(name: str) -> str:
    """A feature name as typed by a person: trimmed, bounded, GenICam characters only."""
    text = name.strip() if isinstance(name, str) else ""
    if (
        not text
        or len(text) > MAX_NAME
        or not all(c.isascii() and (c.isalnum() or c == "_") for c in text)
    ):
        shown = text[:40] + ("..." if len(text) > 40 else "")
        raise CameraFeatureError(
            f"{shown!r} is not a feature name (letters, digits and '_', at most {MAX_NAME})",
            subject="camera feature",
            hint="list the camera's features with `edgeconsole camera get SOURCE`",
        )
    return text


def candidates(name: str) -> tuple[str, ...]:
    """The node names to try for ``name``: itself, then its older aliases."""
    return (name, *ALIASES.get(name, ()))


def missing(name: str, camera: str, tried: tuple[str, ...]) -> CameraFeatureError:
    also = f" (nor {', '.join(tried[1:])})" if len(tried) > 1 else ""
    return CameraFeatureError(
        f"this camera has no feature {name}{also}",
        subject=camera,
        hint="`edgeconsole camera get SOURCE` lists what it has",
    )


def parse_value(info: FeatureInfo, raw: Value, camera: str) -> Value:
    """Turn ``raw`` (text from a person or a setup file, or a typed value) into the
    value the node takes, or say in one sentence why not."""
    label = f"{info.name}{info.alias_note}"
    if info.kind == "command":
        raise CameraFeatureError(
            f"{label} is a command; it takes no value",
            subject=camera,
            hint=f"run it with `edgeconsole camera set SOURCE {info.name}`",
        )
    if not info.writable:
        why = "while the camera is streaming" if info.readable else ""
        raise CameraFeatureError(
            f"{label} cannot be changed {why}".rstrip() + " (the camera reports it read-only)",
            subject=camera,
            hint="stop the acquisition first, or check the camera's access mode",
        )
    if isinstance(raw, str) and len(raw) > 256:
        raise CameraFeatureError(f"the value for {label} is too long", subject=camera)
    if info.kind == "enumeration":
        text = str(raw).strip()
        by_fold = {o.casefold(): o for o in info.options}
        if text.casefold() not in by_fold:
            raise CameraFeatureError(
                f"{label} cannot be {text!r}: this camera offers {', '.join(info.options)}",
                subject=camera,
            )
        return by_fold[text.casefold()]
    if info.kind == "boolean":
        text = str(raw).strip().lower()
        if text in ("1", "true", "on", "yes"):
            return True
        if text in ("0", "false", "off", "no"):
            return False
        raise CameraFeatureError(f"{label} is on/off; {raw!r} is neither", subject=camera)
    if info.kind == "string":
        return str(raw)
    return _parse_number(info, raw, label, camera)


def _parse_number(info: FeatureInfo, raw: Value, label: str, camera: str) -> Value:
    if isinstance(raw, bool):
        raise CameraFeatureError(f"{label} takes a number, not {raw}", subject=camera)
    try:
        number = float(raw) if not isinstance(raw, int) else raw
    except (TypeError, ValueError):
        raise CameraFeatureError(
            f"{label} takes a number ({info.range_text() or 'no range given'}); "
            f"{str(raw)[:40]!r} is not one",
            subject=camera,
        ) from None
    if isinstance(number, float) and not math.isfinite(number):
        raise CameraFeatureError(f"{label} cannot be {raw}", subject=camera)
    unit = f" {info.unit}" if info.unit else ""
    lo, hi = info.minimum, info.maximum
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise CameraFeatureError(
            f"{label} {_num(number)}{unit} is out of range: this camera accepts "
            f"{info.range_text()}",
            subject=camera,
        )
    if info.kind == "integer":
        if isinstance(number, float) and not number.is_integer():
            raise CameraFeatureError(
                f"{label} takes a whole number; {raw} is not one", subject=camera
            )
        value = int(number)
        inc = int(info.increment or 1)
        base = int(lo) if lo is not None else 0
        if inc > 1 and (value - base) % inc:
            below = value - (value - base) % inc
            raise CameraFeatureError(
                f"{label} {value}{unit} is not allowed: it must be {_num(lo)} plus a multiple "
                f"of {inc} (nearest: {below} or {below + inc})",
                subject=camera,
            )
        return value
    return float(number)


def refused(info: FeatureInfo, value: Value, camera: str, why: str) -> CameraFeatureError:
    """The camera itself refused a value our checks let through (a dependency such
    as offset + width <= sensor width, or a lock while streaming)."""
    return CameraFeatureError(
        f"the camera refused {info.name}{info.alias_note} = {value}: {why}",
        subject=camera,
        hint=f"this camera accepts {info.range_text()}; another setting may limit it "
        "(width + offset, exposure vs frame rate, a running acquisition)"
        if info.range_text()
        else "another setting may limit it, or the acquisition is running",
    )
