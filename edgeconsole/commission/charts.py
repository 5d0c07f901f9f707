"""Inline SVG charts for the report: no scripts, no external resources, print-friendly."""

from __future__ import annotations

from html import escape


def _fmt(v: float) -> str:
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}" if v >= 1 else f"{v:.2f}"


def latency_histogram_svg(
    edges: list[float],
    counts: list[int],
    budget_ms: float | None,
    interval_ms: float | None = None,
    p99_ms: float | None = None,
    width: int = 640,
    height: int = 240,
) -> str:
    """Bars of end-to-end latency with the budget (red) and per-part interval (amber)."""
    if not counts:
        return '<p class="muted">No timed samples.</p>'
    left, right, top, bottom = 48, 16, 16, 36
    pw, ph = width - left - right, height - top - bottom
    lo, hi = edges[0], edges[-1]
    span = (hi - lo) or 1.0
    peak = max(counts) or 1

    def x(v: float) -> float:
        return left + (v - lo) / span * pw

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="latency histogram">',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/>',
    ]
    for i, c in enumerate(counts):
        if c == 0:
            continue
        x0, x1 = x(edges[i]), x(edges[i + 1])
        h = c / peak * ph
        over = budget_ms is not None and edges[i] >= budget_ms
        colour = "#d9534f" if over else "#3b7dd8"
        out.append(
            f'<rect x="{x0 + 0.5:.1f}" y="{top + ph - h:.1f}" width="{max(1.0, x1 - x0 - 1):.1f}" '
            f'height="{h:.1f}" fill="{colour}"><title>{_fmt(edges[i])}-{_fmt(edges[i + 1])} ms: '
            f"{c}</title></rect>"
        )
    for k in range(5):
        v = lo + span * k / 4
        out.append(
            f'<text x="{x(v):.1f}" y="{height - 18}" font-size="11" text-anchor="middle" '
            f'fill="#444">{_fmt(v)}</text>'
        )
    out.append(
        f'<text x="{left + pw / 2:.0f}" y="{height - 3}" font-size="11" text-anchor="middle" '
        'fill="#444">end-to-end decision time (ms)</text>'
    )
    out.append(
        f'<text x="{left - 6}" y="{top + 10}" font-size="11" text-anchor="end" '
        f'fill="#444">{peak}</text>'
    )
    out.append(
        f'<text x="{left - 6}" y="{top + ph}" font-size="11" text-anchor="end" fill="#444">0</text>'
    )
    lines = []
    if budget_ms is not None and lo <= budget_ms <= hi:
        lines.append((budget_ms, "#d9534f", f"budget {_fmt(budget_ms)} ms", "6,3"))
    if interval_ms is not None and lo <= interval_ms <= hi:
        lines.append((interval_ms, "#e69500", f"per part {_fmt(interval_ms)} ms", "2,3"))
    if p99_ms is not None:
        lines.append((p99_ms, "#222", f"p99 {_fmt(p99_ms)} ms", "1,2"))
    for n, (v, colour, label, dash) in enumerate(lines):
        xv = x(v)
        out.append(
            f'<line x1="{xv:.1f}" y1="{top}" x2="{xv:.1f}" y2="{top + ph}" stroke="{colour}" '
            f'stroke-width="2" stroke-dasharray="{dash}"/>'
        )
        anchor = "end" if xv > left + pw * 0.7 else "start"
        dx = -4 if anchor == "end" else 4
        out.append(
            f'<text x="{xv + dx:.1f}" y="{top + 14 + 14 * n}" font-size="11" '
            f'text-anchor="{anchor}" fill="{colour}">{escape(label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def confusion_table_html(rows: list[str], cols: list[str], matrix: list[list[int]]) -> str:
    """The confusion matrix as a shaded table (truth down, prediction across)."""
    if not rows:
        return '<p class="muted">No samples.</p>'
    peak = max((max(r) for r in matrix if r), default=0) or 1
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = []
    for i, r in enumerate(rows):
        cells = []
        for j, v in enumerate(matrix[i]):
            diag = j < len(rows) and rows[j] == r
            alpha = 0.12 + 0.78 * v / peak if v else 0.0
            colour = f"rgba(46,139,87,{alpha:.2f})" if diag else f"rgba(217,83,79,{alpha:.2f})"
            ink = "#fff" if alpha > 0.55 else "#111"
            cells.append(
                f'<td style="background:{colour};color:{ink}">{v}</td>'
                if v
                else '<td class="zero">0</td>'
            )
        body.append(f"<tr><th>{escape(r)}</th>{''.join(cells)}</tr>")
    return (
        '<table class="cm"><tr><th class="corner">truth \\ predicted</th>'
        f"{head}</tr>{''.join(body)}</table>"
    )
