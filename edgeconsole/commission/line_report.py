"""The moving-line commissioning report: parts, not samples (then signed like the other).

Same rules as ``report_html``: one self-contained file, no scripts, inline SVG and
PNG, every outside string escaped, the figures in a JSON block for tools. The
example frames (wrong, missed and extra parts) are read again from the video and
drawn with the decision's box and verdict.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from edgeconsole.commission.charts import confusion_table_html
from edgeconsole.commission.report_html import (
    _e,
    _kv,
    _ms,
    _pct,
    _png_data_uri,
    criteria_html,
    latency_html,
    report_head,
    who_and_when,
)
from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.core.frames import InferenceResult, OverlayBox, Role
from edgeconsole.inference.overlay_render import render_overlay
from edgeconsole.journal.settings import SiteSettings

if TYPE_CHECKING:
    from edgeconsole.commission.line_job import LineValidationResult

EXAMPLES = 6
EXAMPLE_W = 480


def _examples(res: LineValidationResult) -> list[tuple[int, str, list[OverlayBox]]]:
    """(frame, caption, boxes) worth a look: wrong verdicts, missed and extra parts."""
    out: list[tuple[int, str, list[OverlayBox]]] = []
    for r, d in res.match.pairs:
        if d.verdict != r.label:
            box = OverlayBox(d.box, "fail", f"#{d.part_id} {d.verdict}", thick=True)
            out.append((d.decided_frame, f"row {r.line}: {r.label} judged {d.verdict}", [box]))
    for r in res.match.missed:
        out.append((r.frame, f"row {r.line}: missed ({r.label}, frame {r.frame})", []))
    for d in res.match.extra:
        box = OverlayBox(d.box, "warn", f"#{d.part_id} {d.verdict}", thick=True)
        out.append((d.decided_frame, f"extra part #{d.part_id} at frame {d.trigger_frame}", [box]))
    return out[:EXAMPLES]


def _frames(spec: str, wanted: set[int]) -> dict[int, np.ndarray]:
    """Read the video again for a few frames (the report's pictures); never fatal."""
    from edgeconsole.sources.factory import open_source

    got: dict[int, np.ndarray] = {}
    if not wanted:
        return got
    try:
        src = open_source(spec, realtime=False, loop=False)
        try:
            last = max(wanted)
            while (frame := src.read()) is not None and frame.index <= last:
                if frame.index in wanted:
                    got[frame.index] = frame.image
        finally:
            src.close()
    except EdgeConsoleError:
        pass
    return got


def _picture(image: np.ndarray, boxes: list[OverlayBox], line_x: float | None) -> str:
    items: list[Any] = list(boxes)
    if line_x is not None:
        role: Role = "warn"
        items.append(OverlayBox((line_x, 0.0, line_x, float(image.shape[0])), role))
    drawn = render_overlay(image, InferenceResult(frame_index=0, overlay=items))
    if drawn.shape[1] > EXAMPLE_W:
        f = EXAMPLE_W / drawn.shape[1]
        drawn = cv2.resize(
            drawn, (EXAMPLE_W, round(drawn.shape[0] * f)), interpolation=cv2.INTER_AREA
        )
    return _png_data_uri(drawn)


def plc_section_html(plc: dict[str, Any]) -> str:
    """The reject-gate handshake watched during the run (commission/plc_check.py)."""
    c = plc["counters"]
    t2r, r2a = plc["trigger_to_result_ms"], plc["result_to_ack_ms"]
    out = [
        "<h2>Reject gate (PLC handshake)</h2>",
        f"<p>PLC <code>{_e(plc['plc'])}</code>, map <code>{_e(plc['map'])}</code>, watched "
        f"read-only from the laptop (edges to ±{_e(plc['resolution_ms'])} ms). "
        f"<b>{c['triggers']}</b> triggers, {c['answered']} answered, "
        f"<b>{c['missed_triggers']}</b> missed, {c['missing_acks']} missing acks, "
        f"{c['late_results']} late, <b>{c['mismatches']}</b> mismatches.</p>",
        '<table><tr><th></th><th class="num">p50</th><th class="num">p99</th>'
        '<th class="num">max</th><th>budget</th></tr>',
        f'<tr><td>trigger → results ready</td><td class="num">{_ms(t2r["p50"])}</td>'
        f'<td class="num">{_ms(t2r["p99"])}</td><td class="num">{_ms(t2r["max"])}</td>'
        f"<td>{_e(plc['budget_ms'])} ms</td></tr>",
        f'<tr><td>results ready → ack</td><td class="num">{_ms(r2a["p50"])}</td>'
        f'<td class="num">{_ms(r2a["p99"])}</td><td class="num">{_ms(r2a["max"])}</td>'
        "<td></td></tr></table>",
    ]
    if plc.get("error"):
        out.append(f"<p>Last link error: {_e(plc['error'])}</p>")
    bad = [p for p in plc["parts"] if p["outcome"] != "answered" or p["mismatch"] or p["late"]]
    if bad:
        out.append(
            "<h3>Parts worth a look</h3><table><tr><th>counter</th><th>outcome</th>"
            '<th class="num">trigger → result ms</th><th>PLC verdict</th><th>note</th></tr>'
        )
        for p in bad[:100]:
            out.append(
                f"<tr><td>{_e(p['counter'])}</td><td>{_e(p['outcome'])}"
                f"{' (late)' if p['late'] else ''}</td>"
                f'<td class="num">{_ms(p["trigger_to_result_ms"])}</td>'
                f"<td>{_e(p['plc_verdict'])}</td><td>{_e(p['mismatch'])}</td></tr>"
            )
        out.append("</table>")
    return "".join(out)


def build_line_report_body(res: LineValidationResult, settings: SiteSettings, key_fp: str) -> bytes:
    d = res.data
    verdict = d["verdict"]
    bundle = d["bundle"]
    target = d["target"]
    lat = d["latency"]
    thr = d["thresholds"]
    parts_d = d["parts"]
    title = f"Line commissioning report: {bundle.get('name', '')} v{bundle.get('version', '')}"
    out = report_head(title, verdict)
    if d["partial"]:
        out.append(
            '<div class="partial-banner">PARTIAL RUN: the figures below cover only the '
            f"{d['source']['frames_read']} frames that ran. Reason: "
            f"{_e(d['partial_reason'])}</div>"
        )
    out.append(
        _kv(
            [
                ("target", f"<code>{_e(target.get('url'))}</code> {_e(target.get('name'))}"),
                ("model", f"{_e(bundle.get('name'))} v{_e(bundle.get('version'))}"),
                (
                    "video",
                    f"<code>{_e(d['source']['spec'])}</code>: {d['source']['frames_read']} frames",
                ),
                (
                    "truth",
                    f"<code>{_e(d['truth']['file'])}</code>: {d['truth']['parts']} parts, "
                    f"matched within ±{d['truth']['tolerance_frames']} frames",
                ),
                ("trigger", _e(d["trigger"])),
                *who_and_when(d, settings, key_fp),
            ]
        )
    )
    out.append(criteria_html(d))
    out.append("<h2>Parts</h2>")
    out.append(
        f"<p>The truth lists <b>{parts_d['truth']}</b> parts; the target decided "
        f"{parts_d['decided']}: {parts_d['matched']} matched the truth, "
        f"<b>{len(parts_d['missed'])}</b> missed, <b>{len(parts_d['extra'])}</b> extra. "
        f"Per-part accuracy <b>{_pct(d['accuracy'])}</b> ({parts_d['correct']} right; a "
        "missed part counts as wrong).</p>"
    )
    if parts_d["missed"]:
        out.append("<h3>Missed parts</h3><table><tr><th>row</th><th>frame</th><th>truth</th></tr>")
        for m in parts_d["missed"][:200]:
            out.append(
                f"<tr><td>{m['row']}</td><td>{m['frame']}</td><td>{_e(m['label'])}</td></tr>"
            )
        out.append("</table>")
    if parts_d["extra"]:
        out.append(
            "<h3>Extra parts</h3><table><tr><th>part</th><th>trigger frame</th><th>verdict</th>"
            "</tr>"
        )
        for x in parts_d["extra"][:200]:
            out.append(
                f"<tr><td>#{x['id']}</td><td>{x['trigger_frame']}</td>"
                f"<td>{_e(x['verdict'])}</td></tr>"
            )
        out.append("</table>")
    cm = d["confusion"]
    out.append('<div class="grid"><div><h3>Confusion matrix (truth rows)</h3>')
    out.append(confusion_table_html(cm["rows"], cm["cols"], cm["matrix"]))
    out.append(
        '</div><div><h3>Per class</h3><table><tr><th>class</th><th class="num">'
        'parts</th><th class="num">precision</th><th class="num">recall</th></tr>'
    )
    for c, v in d["per_class"].items():
        if not v["support"] and v["precision"] is None:
            continue
        out.append(
            f'<tr><td>{_e(c)}</td><td class="num">{v["support"]}</td>'
            f'<td class="num">{_pct(v["precision"])}</td>'
            f'<td class="num">{_pct(v["recall"])}</td></tr>'
        )
    out.append("</table></div></div>")
    out.append("<h2>Decision latency</h2>")
    out.append(latency_html(d, "decision"))
    out.append(
        f"<p>Milliseconds from the trigger frame's capture to the decision, {lat['count']} "
        f"parts; the first decision (warm-up before the line starts) took "
        f"{_ms(lat.get('first_decision_ms'))} ms and is held out; budget "
        f"{_e(thr['budget_ms'])} ms; the run took {d['wall_s']:.1f} s.</p>"
    )
    examples = _examples(res)
    if examples:
        frames = _frames(d["source"]["spec"], {f for f, _, _ in examples})
        out.append('<h2>Parts worth a look</h2><div class="examples">')
        for f, why, boxes in examples:
            image = frames.get(f)
            line_x = None
            if image is not None:
                line_x = res.request.trigger.line.coordinate(image.shape[1], image.shape[0])
            uri = "" if image is None else _picture(image, boxes, line_x)
            img = f'<img alt="frame {f}" src="{uri}">' if uri else "<p>(frame unreadable)</p>"
            out.append(f"<figure>{img}<figcaption>frame {f}<br>{_e(why)}</figcaption></figure>")
        out.append("</div>")
    if d.get("plc"):
        out.append(plc_section_html(d["plc"]))
    out.append(
        "<h2>Every part</h2><table><tr><th>row</th><th>frame</th><th>truth</th><th>part</th>"
        '<th>judged</th><th class="num">decision ms</th><th>late</th></tr>'
    )
    for r in d["records"]:
        cls = "pass" if r["predicted"] == r["truth"] else "fail"
        out.append(
            f"<tr><td>{r['row']}</td><td>{r['frame']}</td><td>{_e(r['truth'])}</td>"
            f"<td>{'' if r['part_id'] is None else '#' + str(r['part_id'])}</td>"
            f'<td class="{cls}">{_e(r["predicted"])}</td>'
            f'<td class="num">{_ms(r.get("decision_ms"))}</td>'
            f"<td>{'LATE' if r.get('late') else ''}</td></tr>"
        )
    out.append("</table>")
    out.append("<h2>Target and bundle identity</h2><h3>Target</h3>")
    out.append(
        _kv(
            [
                (k, f"<code>{_e(json.dumps(v) if isinstance(v, dict | list) else v)}</code>")
                for k, v in target.items()
            ]
        )
    )
    out.append("<h3>Bundle</h3>")
    out.append(
        _kv(
            [
                (k, f"<code>{_e(json.dumps(v) if isinstance(v, dict | list) else v)}</code>")
                for k, v in bundle.items()
            ]
        )
    )
    blob = json.dumps(d, sort_keys=True, default=str).replace("</", "<\\/")
    out.append(f'<script type="application/json" id="edgeconsole-results">{blob}</script>\n')
    return "".join(out).encode("utf-8")
