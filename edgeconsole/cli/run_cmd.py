"""``edgeconsole run`` and ``edgeconsole demo --headless``: the pipeline without a window."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError

#: ``run`` finished but the source ended early or skipped frames (truncated video,
#: unreadable images): the summary covers only part of the input. Same code as
#: ``validate``'s PARTIAL.
EXIT_INCOMPLETE = 3


def register(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run a model on a source headless and print a summary",
        description="Run the live pipeline without a window and print a "
        "latency summary. Files and folders are read as fast as possible "
        "unless --realtime is given. Exit code 3: the run finished but only part of the "
        "input ran (a truncated or damaged video, unreadable images); the summary's "
        "'warnings' say what.",
    )
    run.add_argument(
        "--source",
        required=True,
        help="video file, image folder, camera:N, rtsp/http URL, aravis://DEVICE_ID, "
        "pylon://SERIAL (?trigger=software&rate=PARTS_PER_MIN&setup=FILE), "
        "or synthetic:conveyor[?seed=N&fps=F]",
    )
    run.add_argument("--model", required=True, help="model.json, a folder holding one, or .ecb")
    run.add_argument("--frames", type=int, help="stop after N processed frames")
    run.add_argument("--seconds", type=float, help="stop after S seconds")
    run.add_argument("--budget-ms", type=float, help="latency budget (default: the model's)")
    run.add_argument("--threads", type=int, help="onnxruntime intra-op threads")
    run.add_argument("--realtime", action="store_true", help="pace files at their frame rate")
    run.add_argument("--loop", action="store_true", help="restart files at their end")
    run.add_argument(
        "--trust", type=Path, help="trust store for .ecb bundles (default: the app's own)"
    )
    run.add_argument("--record", type=Path, help="also record the run to this .mcap file")
    run.add_argument(
        "--trigger",
        help="per-part models: what decides a part: line (default, the vertical centre "
        "line), line:x=0.3, line:y=0.5, line:x=640px, external, periodic:500ms, frame",
    )
    run.add_argument(
        "--annotate",
        type=Path,
        metavar="DIR",
        help="write every frame a part was decided on, with its overlay, as PNG into DIR",
    )
    run.add_argument(
        "--target",
        metavar="URL",
        help="per-part models: decide each part on this target instead of the laptop: "
        "serial:///dev/ttyACM0 (an SMP device running the bundle) or gateway://HOST:PORT"
        "[?model=NAME]; the laptop still tracks the parts and cuts their crops",
    )
    run.add_argument(
        "--token-file", type=Path, help="a gateway's access token (default: the one saved for it)"
    )
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument(
        "--plc",
        metavar="URL",
        help="speak the reject-gate handshake with this PLC: modbus://HOST:PORT (docs/PLC.md)",
    )
    run.add_argument("--plc-map", type=Path, metavar="FILE", help="the PLC map file (.toml)")
    run.set_defaults(func=_run)

    demo = sub.add_parser(
        "demo",
        help="the embedded demo (window; --headless for none)",
        description="Run the embedded demo: the synthetic conveyor with the "
        "fast inspector (label orientation, one decision per part), a virtual serial "
        "device streaming telemetry, a local gateway agent (its own camera, flashed with "
        "the fast inspector), and a "
        "virtual line PLC whose reject-gate handshake the laptop's line answers. "
        "Without --headless it opens the window.",
    )
    demo.add_argument("--headless", action="store_true", help="no window; print a summary")
    demo.add_argument("--seconds", type=float, default=10.0)
    demo.add_argument("--json", action="store_true")
    demo.add_argument(
        "--camera",
        action="store_true",
        help="play the conveyor through pylon's emulated industrial camera (needs pypylon)",
    )
    demo.set_defaults(func=_demo)


def _check_positive(name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise ConfigError(f"--{name} must be positive, got {value}")


def _run(args: argparse.Namespace) -> int:
    from edgeconsole.session.headless import run_headless

    _check_positive("frames", args.frames)
    _check_positive("seconds", args.seconds)
    _check_positive("threads", args.threads)
    trigger = None
    if args.trigger is not None:
        from edgeconsole.session.api import TriggerConfig

        trigger = TriggerConfig.parse(args.trigger)
    summary, _ = run_headless(
        args.source,
        args.model,
        frames=args.frames,
        seconds=args.seconds,
        budget_ms=args.budget_ms,
        threads=args.threads,
        realtime=args.realtime,
        loop=args.loop,
        trust_dir=args.trust,
        record=args.record,
        plc=args.plc,
        plc_map=args.plc_map,
        trigger=trigger,
        annotate=args.annotate,
        target=args.target,
        token_file=args.token_file,
    )
    _print(summary, args.json)
    for warning in summary.get("warnings", []):
        print(f"edgeconsole: warning: {summary['source']}: {warning}", file=sys.stderr)
    return 0 if summary.get("input_complete", True) else EXIT_INCOMPLETE


def _demo(args: argparse.Namespace) -> int:
    if not args.headless:
        raise ConfigError(
            "the demo window is opened by the launcher",
            hint="run `edgeconsole demo` (without --headless)",
        )
    from edgeconsole.session.demo_plc import DEMO_PLC_SOURCE
    from edgeconsole.session.headless import run_headless
    from edgeconsole.session.session import default_demo_model

    _check_positive("seconds", args.seconds)
    source = DEMO_PLC_SOURCE  # the belt the demo's virtual PLC follows
    if args.camera:
        from edgeconsole.session.demo_camera import demo_camera_spec

        source = demo_camera_spec()
    summary, _ = run_headless(
        source,
        default_demo_model(),
        seconds=args.seconds,
        realtime=True,
        loop=True,
        demo_devices=True,
        demo_plc=not args.camera,
    )
    _print(summary, args.json)
    return 0


def _print(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    print(f"model {summary['model']} on {summary['source']}")
    print(
        f"frames {summary['frames']}  fps {summary['fps']}  dropped {summary['dropped']}  "
        f"first inference {summary['first_inference_ms']} ms"
    )
    print(f"{'stage':<12}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}  (ms)")
    for name, st in {**summary["stages"], "e2e": summary["e2e"]}.items():
        cells = "".join(
            f"{'-' if st[k] is None else f'{st[k]:.2f}':>9}" for k in ("p50", "p90", "p99", "max")
        )
        print(f"{name:<12}{cells}")
    if summary["budget_ms"] is not None:
        print(f"budget {summary['budget_ms']} ms, over budget: {summary['over_budget']} frames")
    if "parts_decided" in summary:
        _print_parts(summary)
    else:
        print(
            f"detections {summary['detections']}  parts passed {summary['parts']['passed']} "
            f"failed {summary['parts']['failed']}"
        )
    if "plc" in summary:
        _print_plc(summary["plc"])
    cam = summary.get("camera")
    if cam:
        st, trig = cam["stream"], cam["trigger"]
        print(
            f"camera {cam['source']}: {st['completed']} frames, {st['incomplete']} incomplete "
            f"(not judged), {st['missing_packets']} packets missing, {st['resent_packets']} "
            f"resent, {st['dropped_buffers']} buffers dropped, {cam['reconnects']} reconnects; "
            f"clock {cam['clock']['method']}; trigger {trig['mode']}"
            + (
                f" {trig['answered']}/{trig['issued']} answered, {trig['missing']} missing"
                if trig.get("issued")
                else ""
            )
        )
    for dev in summary.get("devices", []):
        if dev.get("kind") == "gateway":
            _print_gateway(dev)
            continue
        print(
            f"device {dev.get('name') or dev['url']}: {dev['state']}, telemetry "
            f"{dev.get('rate_hz', 0)} lines/s ({dev.get('samples', 0)} samples, "
            f"{dev.get('dropped_lines', 0)} dropped), shadow compared "
            f"{dev.get('shadow', {}).get('compared', 0)}, divergent "
            f"{dev.get('shadow', {}).get('divergent', 0)}"
        )


def _print_parts(summary: dict[str, Any]) -> None:
    line = summary["line"]
    d = summary["decision_ms"]
    t = summary["totals"]
    c = line["counters"]

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    print(
        f"parts decided {summary['parts_decided']} (pass {t['passed']}, fail {t['failed']}), "
        f"missed {t['missed']}, late {t['late']}; trigger {line['trigger']}"
    )
    budget = line["budget_ms"]
    print(
        f"decision ms  p50 {ms(d['p50'])}  p90 {ms(d['p90'])}  p99 {ms(d['p99'])}  "
        f"max {ms(d['max'])}"
        + (f"  (budget {budget:g} ms)" if budget is not None else "")
        + f"; first decision (warm-up) {ms(summary.get('first_decision_ms'))} ms"
    )
    if c["triggers"]:
        print(
            f"trigger edges {c['triggers']}: unmatched {c['triggers_unmatched']}, "
            f"lost {c['triggers_lost']}"
        )
    for p in summary["parts"]:
        if p["verdict"] == "missed":
            print(f"  part {p['id']} MISSED (frame {p['trigger_frame']}): {p.get('note', '')}")
    if "annotated" in summary:
        a = summary["annotated"]
        print(
            f"annotated frames: {a['written']} in {a['folder']}"
            + (f", {a['skipped']} skipped" if a["skipped"] else "")
            + (f" ({a['error']})" if a["error"] else "")
        )


def _print_gateway(dev: dict[str, Any]) -> None:
    st = dev.get("stream") or {}
    net = st.get("network_ms") or {}
    print(
        f"gateway {dev.get('name') or dev['url']}: {dev['state']}, {dev.get('health', '')}, "
        f"runs {dev.get('running') or '-'}; stream {st.get('fps', 0)} results/s "
        f"({st.get('results', 0)} results), network p50 {net.get('p50')} ms "
        f"p99 {net.get('p99')} ms" + (f"; {dev['error']}" if dev.get("error") else "")
    )


def _print_plc(plc: dict[str, Any]) -> None:
    c, t2r = plc["counters"], plc["trigger_to_result_ms"]
    print(
        f"PLC {plc['plc']}: {c['triggers']} triggers, {c['handed_over']} handed over, "
        f"{c['acked']} acknowledged, {c['missing_acks']} missing acks, "
        f"{c['late_results']} late, {c['not_handed_over']} not handed over; "
        f"trigger->result p50 {t2r['p50']} p99 {t2r['p99']} ms"
        + (f"; {plc['error']}" if plc.get("error") else "")
    )
