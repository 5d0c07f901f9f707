"""What the live view, recordings and annotated frames draw for the per-part line.

Built at display time from a :class:`LineStep` (the decision thread never draws):
each part in view with its ID, and once decided its verdict and decision time;
what the model looked at (the label region, the text it found) moves with the
part; the trigger line; a banner counting parts, not frames.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeconsole.core.frames import OverlayBanner, OverlayBox, OverlayItem, Role
from edgeconsole.core.parts import Box
from edgeconsole.inference.line.decider import LineStep, PartView

#: The label of the trigger line's overlay box (a zero-width box). The window draws
#: its own, draggable line and skips this one.
TRIGGER_LINE_LABEL = "trigger line"


@dataclass(frozen=True, slots=True)
class Totals:
    passed: int = 0
    failed: int = 0
    missed: int = 0
    late: int = 0
    p99_ms: float | None = None
    budget_ms: float | None = None


def _ms(v: float) -> str:
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}"


def _moved(inner: Box, then: Box, now: Box) -> Box:
    dx, dy = now[0] - then[0], now[1] - then[1]
    return (inner[0] + dx, inner[1] + dy, inner[2] + dx, inner[3] + dy)


def part_items(p: PartView) -> list[OverlayItem]:
    d = p.decision
    if d is None:
        label = f"#{p.id}" + (" due" if p.due else "")
        return [OverlayBox(box=p.box, role="info", label=label)]
    if d.missed:
        return [OverlayBox(box=p.box, role="warn", label=f"#{p.id} missed", thick=True)]
    text = f"#{p.id} {d.verdict} {_ms(d.decision_ms)} ms" + (" LATE" if d.late else "")
    role: Role = "warn" if d.late else ("ok" if d.passed else "fail")
    items: list[OverlayItem] = [OverlayBox(box=p.box, role=role, label=text, thick=True)]
    detail = d.detail
    if detail is not None:
        roi = getattr(detail, "roi", None)
        if roi is not None:
            items.append(OverlayBox(box=_moved(roi, d.box, p.box), role="text"))
        for det in getattr(detail, "detections", ()):
            rotated = det.label.endswith("180")
            poly = None
            if det.polygon is not None:
                dx, dy = p.box[0] - d.box[0], p.box[1] - d.box[1]
                poly = tuple((x + dx, y + dy) for x, y in det.polygon)
            items.append(
                OverlayBox(
                    box=_moved(det.box, d.box, p.box),
                    role="warn" if rotated else "info",
                    label="180" if rotated else "",
                    polygon=poly,
                )
            )
    return items


def line_overlay(step: LineStep, totals: Totals, axis: int) -> list[OverlayItem]:
    items: list[OverlayItem] = []
    for p in step.parts:
        items.extend(part_items(p))
    x = step.line_px
    line: Box = (x, 0.0, x, float(step.height)) if axis == 0 else (0.0, x, float(step.width), x)
    items.append(OverlayBox(box=line, role="warn", label=TRIGGER_LINE_LABEL))
    text = f"PASS {totals.passed} · FAIL {totals.failed}"
    if totals.missed:
        text += f" · MISSED {totals.missed}"
    if totals.late:
        text += f" · LATE {totals.late}"
    if totals.p99_ms is not None:
        text += f"   decision p99 {_ms(totals.p99_ms)} ms"
        if totals.budget_ms is not None:
            text += f" / {totals.budget_ms:g} ms"
    # Failed parts are the inspection working; a part missed or decided too late is
    # the line not being inspected: that, not a FAIL count, turns the banner amber.
    items.append(OverlayBanner(text, "warn" if totals.missed or totals.late else "ok"))
    return items
