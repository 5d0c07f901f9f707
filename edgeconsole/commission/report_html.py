"""The commissioning report as one self-contained HTML file (then signed).

No scripts run and nothing is fetched: charts are inline SVG, example images are
PNG data URIs, the machine-readable figures sit in a JSON block
(``<script type="application/json" id="edgeconsole-results">``) for tools. Every
piece of text from outside (file names, labels, site names) is HTML-escaped.
"""

from __future__ import annotations

import base64
import json
from html import escape
from typing import Any

import cv2
import numpy as np

from edgeconsole.commission.charts import confusion_table_html, latency_histogram_svg
from edgeconsole.commission.job import ValidationResult, decode_image
from edgeconsole.inference.overlay_render import render_overlay
from edgeconsole.journal.settings import SiteSettings

EXAMPLE_MIN_H = 240  # small crops (8x8 digits, 128 px parts) are scaled up so overlays are legible
EXAMPLE_MAX_W = 360

CSS = """
:root{--ok:#2e8b57;--fail:#c9302c;--warn:#e69500;--ink:#1b1b1b;--muted:#666}
*{box-sizing:border-box}
body{font:14px/1.45 "DejaVu Sans",Arial,sans-serif;color:var(--ink);margin:0;background:#fff}
main{max-width:1100px;margin:0 auto;padding:24px 32px}
h1{font-size:24px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #ddd;
padding-bottom:4px} h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0} th,td{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top} th{background:#f2f2f2;font-weight:600}
td.num,th.num{text-align:right} .muted{color:var(--muted)}
.verdict{display:inline-block;font-weight:700;font-size:20px;padding:6px 16px;border-radius:6px;
color:#fff;margin:8px 0}
.PASS{background:var(--ok)} .FAIL{background:var(--fail)} .PARTIAL{background:var(--warn)}
.partial-banner{border:3px solid var(--warn);background:#fff6e0;padding:10px 14px;font-weight:700;
margin:10px 0}
.pass{color:var(--ok);font-weight:700} .fail{color:var(--fail);font-weight:700}
table.cm td{text-align:center;min-width:56px} table.cm td.zero{color:#bbb}
table.cm th.corner{font-size:11px;color:var(--muted)}
.grid{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.examples{display:flex;flex-wrap:wrap;gap:14px}
.examples figure{margin:0;border:1px solid #ccc;padding:6px;width:31%;max-width:372px;
break-inside:avoid}
.examples img{width:100%;max-width:360px;display:block}
.examples figcaption{font-size:12px;margin-top:4px}
.line{font-size:15px;background:#f4f7fb;border-left:4px solid #3b7dd8;padding:8px 12px}
code{font-family:"DejaVu Sans Mono",monospace;font-size:12px;word-break:break-all}
code.sig{font-size:10px}
section{break-inside:auto} tr,figure,svg,.grid>div{break-inside:avoid}
h2,h3{break-after:avoid}
.signature table{table-layout:fixed;width:100%} .signature th{width:140px}
td code{overflow-wrap:anywhere}
@page{size:A4;margin:12mm}
@media print{main{padding:0;max-width:none} body{font-size:12px}
.grid{display:block} .grid>div{margin-bottom:14px} table.cm td{min-width:0}}
"""


def _e(v: Any) -> str:
    return escape("" if v is None else str(v))


def _pct(v: Any) -> str:
    return "-" if v is None else f"{float(v) * 100:.1f}%"


def _ms(v: Any) -> str:
    return "-" if v is None else f"{float(v):.2f}"


def _kv(rows: list[tuple[str, Any]]) -> str:
    return (
        "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"
    )


def _png_data_uri(img: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        return ""
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode()


def _example_image(res: ValidationResult, index: int) -> str:
    sample = res.dataset.samples[index]
    try:
        img = decode_image(sample.path)
    except Exception:
        return ""
    result = res.results.get(index)
    h, w = img.shape[:2]
    if h < EXAMPLE_MIN_H:
        f = EXAMPLE_MIN_H / h
        img = cv2.resize(img, (round(w * f), EXAMPLE_MIN_H), interpolation=cv2.INTER_NEAREST)
        if result is not None:
            result = _scaled(result, f)
    drawn = render_overlay(img, result)
    if drawn.shape[1] > EXAMPLE_MAX_W:
        f = EXAMPLE_MAX_W / drawn.shape[1]
        drawn = cv2.resize(
            drawn, (EXAMPLE_MAX_W, round(drawn.shape[0] * f)), interpolation=cv2.INTER_AREA
        )
    return _png_data_uri(drawn)


def _scaled(result: Any, f: float) -> Any:
    """The result with its overlay boxes scaled by ``f`` (for enlarged small images)."""
    from dataclasses import replace

    from edgeconsole.core.frames import InferenceResult, OverlayBox

    items = []
    for item in result.overlay:
        if isinstance(item, OverlayBox):
            poly = None if item.polygon is None else tuple((x * f, y * f) for x, y in item.polygon)
            x0, y0, x1, y1 = item.box
            item = replace(item, box=(x0 * f, y0 * f, x1 * f, y1 * f), polygon=poly)
        items.append(item)
    out = InferenceResult(frame_index=result.frame_index, overlay=items)
    return out


def quantization_text(q: Any) -> str:
    """A bundle's quantization record as a person reads it (never a raw dict)."""
    if not isinstance(q, dict) or not q:
        return "not recorded"
    mode = str(q.get("mode", "none"))
    if mode == "none":
        return "none (FP32 as exported)"
    text = {
        "static-qdq": "INT8, static (calibrated QDQ)",
        "dynamic": "INT8, dynamic (weights only, activations at run time)",
    }.get(mode, mode)
    details = []
    if "weight_type" in q or "activation_type" in q:
        kinds = [f"weights {q['weight_type']}"] if "weight_type" in q else []
        kinds += [f"activations {q['activation_type']}"] if "activation_type" in q else []
        details.append(", ".join(kinds))
    if "per_channel" in q:
        details.append("per channel" if q["per_channel"] else "per tensor")
    if "calibration_samples" in q:
        method = f" ({q['calibration_method']})" if q.get("calibration_method") else ""
        details.append(f"calibrated on {q['calibration_samples']} samples{method}")
    src = q.get("source_sha256")
    if isinstance(src, str) and src:
        details.append(f"from the FP32 model sha256 {src[:12]}…")
    return text + (f"; {'; '.join(details)}" if details else "")


def _preprocessing_html(pre: dict[str, Any]) -> str:
    """What the model was fed, so a reader sees a misconfigured model at a glance."""
    if not pre:
        return ""
    fits = pre.get("fits", False)
    verdict = (
        '<span class="pass">fits the model</span>'
        if fits
        else '<span class="fail">does NOT fit the model</span>'
    )
    rows = [
        ("preprocessing", _e(pre.get("text"))),
        ("tensor per image", f"<code>{_e(pre.get('produces'))}</code>"),
        ("model input", f"<code>{_e(pre.get('model_input'))}</code>"),
        ("check", verdict + "".join(f"<br>{_e(p)}" for p in pre.get("problems", []))),
    ]
    return "<h2>Preprocessing</h2>" + _kv(rows)


def worst_examples(res: ValidationResult) -> list[tuple[int, str]]:
    """(sample index, why) worth a look: confidently wrong first, then shadow
    disagreements, then (at least two) of the slowest; ``request.worst`` in all."""
    n = max(2, res.request.worst)
    flagged: list[tuple[int, str]] = []
    wrong = sorted(
        (r for r in res.records if r.predicted is not None and not r.correct),
        key=lambda r: -r.score,
    )
    for r in wrong:
        flagged.append((r.index, f"wrong: {r.truth} predicted as {r.predicted} ({r.score:.2f})"))
    seen = {i for i, _ in flagged}
    for r in res.records:
        if (
            r.shadow is not None
            and r.predicted is not None
            and r.shadow != r.predicted
            and r.index not in seen
        ):
            flagged.append((r.index, f"shadow disagrees: target {r.predicted}, local {r.shadow}"))
            seen.add(r.index)
    flagged = flagged[: n - 2]
    seen = {i for i, _ in flagged}
    slow = sorted(
        (r for r in res.records if r.e2e_ms is not None and not r.first and r.index not in seen),
        key=lambda r: -(r.e2e_ms or 0.0),
    )
    for r in slow[: n - len(flagged)]:
        flagged.append((r.index, f"slowest: {r.e2e_ms:.1f} ms ({r.truth} -> {r.predicted})"))
    return flagged


def report_head(title: str, verdict: str) -> list[str]:
    """The document's start, down to the verdict banner (both reports)."""
    return [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title>",
        '<meta name="generator" content="EdgeConsole">',
        f"<style>{CSS}</style></head><body><main>",
        f"<h1>{_e(title)}</h1>",
        f'<div class="verdict {verdict}">{verdict}</div>',
    ]


def who_and_when(d: dict[str, Any], settings: SiteSettings, key_fp: str) -> list[tuple[str, Any]]:
    """The site, technician, dates and console rows of a report's summary table."""
    return [
        ("site", _e(settings.site) or '<span class="muted">(not set)</span>'),
        ("technician", _e(settings.technician) or '<span class="muted">(not set)</span>'),
        ("date", f"{_e(d['started'])} to {_e(d['finished'])} (UTC)"),
        ("console", f"EdgeConsole {_e(d['console_version'])}, key <code>{_e(key_fp)}</code>"),
    ]


def criteria_html(d: dict[str, Any]) -> str:
    """The criteria table and the line-rate sentence."""
    out = [
        "<h2>Criteria</h2><table><tr><th>criterion</th><th>result</th><th>measured</th>"
        "<th>required</th><th>margin</th><th>note</th></tr>"
    ]
    for c in d["criteria"]:
        cls = "pass" if c["passed"] else "fail"
        out.append(
            f'<tr><td>{_e(c["name"])}</td><td class="{cls}">{"PASS" if c["passed"] else "FAIL"}'
            f"</td><td>{_e(c['value'])}</td><td>{_e(c['limit'])}</td>"
            f'<td class="num">{_e(c["margin"])}</td><td>{_e(c["note"])}</td></tr>'
        )
    out.append("</table>")
    if d["line_rate"]:
        out.append(f'<h3>Line rate</h3><p class="line">{_e(d["line_rate"])}</p>')
    return "".join(out)


def latency_html(d: dict[str, Any], total: str) -> str:
    """The latency histogram (budget, line interval, p99 marked) and the per-stage
    table, ``total`` naming its end-to-end row."""
    lat, thr = d["latency"], d["thresholds"]
    interval = 60000.0 / thr["line_rate_per_min"] if thr["line_rate_per_min"] else None
    e2e = lat.get("e2e")
    out = [
        latency_histogram_svg(
            d["histogram"]["edges"],
            d["histogram"]["counts"],
            thr["budget_ms"],
            interval,
            e2e["p99"] if e2e else None,
        ),
        '<table><tr><th>stage</th><th class="num">p50</th><th class="num">p95</th>'
        '<th class="num">p99</th><th class="num">max</th><th class="num">mean</th></tr>',
    ]
    for name, s in [*lat.get("stages", {}).items(), (total, e2e)]:
        if not s:
            continue
        out.append(
            f"<tr><td>{_e(name)}</td>"
            + "".join(
                f'<td class="num">{_ms(s[k])}</td>' for k in ("p50", "p95", "p99", "max", "mean")
            )
            + "</tr>"
        )
    out.append("</table>")
    return "".join(out)


def build_report_body(res: ValidationResult, settings: SiteSettings, key_fp: str) -> bytes:
    """The HTML up to (not including) the signature block."""
    d = res.data
    verdict = d["verdict"]
    bundle = d["bundle"]
    target = d["target"]
    lat = d["latency"]
    thr = d["thresholds"]
    title = f"Commissioning report: {bundle.get('name', '')} v{bundle.get('version', '')}"
    parts = report_head(title, verdict)
    if d["partial"]:
        parts.append(
            '<div class="partial-banner">PARTIAL RUN: the figures below cover only the '
            f"{d['samples']['run']} of {d['samples']['total']} samples that ran. "
            f"Reason: {_e(d['partial_reason'])}</div>"
        )
    parts.append(
        _kv(
            [
                ("target", f"<code>{_e(target.get('url'))}</code> {_e(target.get('name'))}"),
                (
                    "model",
                    f"{_e(bundle.get('name'))} v{_e(bundle.get('version'))} "
                    f"({_e(bundle.get('kind'))})",
                ),
                ("dataset", f"{_e(d['dataset']['name'])}: {d['dataset']['samples']} samples"),
                *who_and_when(d, settings, key_fp),
            ]
        )
    )
    parts.append(criteria_html(d))
    parts.append(_preprocessing_html(d.get("preprocessing") or {}))
    # -- accuracy
    cm = d["confusion"]
    parts.append("<h2>Accuracy</h2>")
    unread = len(d["samples"]["unreadable"])
    parts.append(
        f"<p>Accuracy <b>{_pct(d['accuracy'])}</b> over {d['samples']['scored']} scored samples"
        f"; {unread} unreadable"
        + (" (listed below; the run cannot pass with unscored samples)" if unread else "")
        + ".</p>"
    )
    parts.append('<div class="grid"><div><h3>Confusion matrix</h3>')
    parts.append(confusion_table_html(cm["rows"], cm["cols"], cm["matrix"]))
    parts.append(
        '</div><div><h3>Per class</h3><table><tr><th>class</th><th class="num">'
        'support</th><th class="num">precision</th><th class="num">recall</th>'
        "<th>recall verdict</th></tr>"
    )
    for c, v in d["per_class"].items():
        status = v.get("status", "")
        cls = {"pass": "pass", "fail": "fail", "not enough samples": "fail"}.get(status, "muted")
        why = f'<br><span class="muted">{_e(v.get("why"))}</span>' if v.get("why") else ""
        parts.append(
            f'<tr><td>{_e(c)}</td><td class="num">{v["support"]}</td>'
            f'<td class="num">{_pct(v["precision"])}</td>'
            f'<td class="num">{_pct(v["recall"])}</td>'
            f'<td><span class="{cls}">{_e(status)}</span>{why}</td></tr>'
        )
    parts.append("</table>")
    min_n = thr.get("min_samples_per_class")
    if min_n:
        parts.append(
            f'<p class="muted">A class\'s recall passes only over at least {min_n} samples of '
            "it (<code>--min-samples-per-class</code>).</p>"
        )
    parts.append("</div></div>")
    # -- latency
    parts.append("<h2>Latency</h2>")
    parts.append(latency_html(d, "end-to-end"))
    tput = lat.get("throughput_per_s")
    parts.append(
        f"<p>Milliseconds; {lat['count']} timed samples; first inference "
        f"{_ms(lat.get('first_inference_ms'))} ms (held out); budget "
        f"{_e(thr['budget_ms'])} ms; sequential throughput "
        f"{'-' if tput is None else f'{tput:.1f}'} decisions/s; run took {d['wall_s']:.1f} s."
        "</p>"
    )
    # -- shadow
    sh = d.get("shadow")
    parts.append("<h2>Shadow comparison</h2>")
    if sh is None:
        parts.append(
            '<p class="muted">The target is the local reference itself; no shadow run '
            "(give a non-local target or a shadow model to compare).</p>"
        )
    else:
        parts.append(
            f"<p>Same samples through <code>local://</code> and the target: agreement "
            f"<b>{_pct(sh['agreement'])}</b> ({sh['agreed']}/{sh['compared']}).</p>"
        )
        if sh["disagreements"]:
            parts.append("<table><tr><th>file</th><th>truth</th><th>target</th><th>local</th></tr>")
            for x in sh["disagreements"][:100]:
                parts.append(
                    f"<tr><td><code>{_e(x['file'])}</code></td><td>{_e(x['truth'])}</td>"
                    f"<td>{_e(x['target'])} ({_e(x['target_score'])})</td>"
                    f"<td>{_e(x['shadow'])} ({_e(x['shadow_score'])})</td></tr>"
                )
            parts.append("</table>")
        else:
            parts.append("<p>No disagreements.</p>")
    # -- examples
    parts.append('<h2>Worst examples</h2><div class="examples">')
    for index, why in worst_examples(res):
        uri = _example_image(res, index)
        rel = res.dataset.samples[index].rel
        img = f'<img alt="{_e(rel)}" src="{uri}">' if uri else "<p>(image unreadable)</p>"
        parts.append(
            f"<figure>{img}<figcaption><code>{_e(rel)}</code><br>{_e(why)}</figcaption></figure>"
        )
    parts.append("</div>")
    if d["samples"]["unreadable"]:
        parts.append(
            "<h3>Unreadable samples (counted, not scored: the run fails)</h3>"
            "<table><tr><th>file</th><th>class</th><th>why</th></tr>"
        )
        for u in d["samples"]["unreadable"]:
            parts.append(
                f"<tr><td><code>{_e(u['file'])}</code></td><td>{_e(u['truth'])}</td>"
                f"<td>{_e(u['error'])}</td></tr>"
            )
        parts.append("</table>")
    # -- identity
    parts.append("<h2>Target and bundle identity</h2><h3>Target</h3>")
    parts.append(
        _kv(
            [
                (k, f"<code>{_e(json.dumps(v) if isinstance(v, dict | list) else v)}</code>")
                for k, v in target.items()
            ]
        )
    )
    if d.get("shadow_target"):
        parts.append("<h3>Shadow reference</h3>")
        parts.append(_kv([(k, f"<code>{_e(v)}</code>") for k, v in d["shadow_target"].items()]))
    parts.append("<h3>Bundle</h3>")
    rows: list[tuple[str, Any]] = []
    for k, v in bundle.items():
        if k == "files":
            v = "<br>".join(
                f"<code>{_e(n)}</code> sha256 <code>{_e(h)}</code>" for n, h in v.items()
            )
            rows.append(("files", v))
        elif k == "signers":
            rows.append(
                (
                    "signers",
                    "<br>".join(
                        f"<code>{_e(s['key_id'])}</code> {_e(s['status'])} "
                        f"{_e(s.get('label') or '')}"
                        for s in v
                    )
                    or '<span class="muted">none (unsigned)</span>',
                )
            )
        elif k == "quantization":
            rows.append(("quantization", _e(quantization_text(v))))
        else:
            rows.append((k, f"<code>{_e(v)}</code>"))
    parts.append(_kv(rows))
    ds = d["dataset"]
    parts.append("<h3>Dataset</h3>")
    parts.append(
        _kv(
            [
                ("path", f"<code>{_e(ds['root'])}</code>"),
                ("layout", _e(ds["layout"])),
                ("classes", _e(", ".join(f"{k}: {v}" for k, v in ds["classes"].items()))),
                ("sha256 (files + labels)", f"<code>{_e(ds['sha256'])}</code>"),
            ]
        )
    )
    blob = json.dumps(d, sort_keys=True, default=str).replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="edgeconsole-results">{blob}</script>\n')
    return "".join(parts).encode("utf-8")
