"""Overlay primitives for per-part results: parts, the regions the model saw, verdicts."""

from __future__ import annotations

from collections.abc import Sequence

from edgeconsole.core.frames import OverlayBanner, OverlayBox, OverlayItem, Part, PartVerdict


def part_overlay(parts: Sequence[Part], verdicts: Sequence[PartVerdict]) -> list[OverlayItem]:
    """Partial parts (not judged yet), each verdict, its ROI and text, and a summary banner."""
    items: list[OverlayItem] = []
    for part in parts:
        if not part.complete:
            items.append(OverlayBox(box=part.box, role="info", label="partial"))
    for v in verdicts:
        items.append(
            OverlayBox(box=v.box, role="ok" if v.passed else "fail", label=v.reason, thick=True)
        )
        if v.roi is not None:
            items.append(OverlayBox(box=v.roi, role="text"))
        for d in v.detections:
            rotated = d.label.endswith("180")
            items.append(
                OverlayBox(
                    box=d.box,
                    role="warn" if rotated else "info",
                    label="180" if rotated else "",
                    polygon=d.polygon,
                )
            )
    failed = sum(1 for v in verdicts if not v.passed)
    items.append(
        OverlayBanner(f"PASS {len(verdicts) - failed} / FAIL {failed}", "fail" if failed else "ok")
    )
    return items
