"""Build the signed sample bundles (sample_models/bundles/*.ecb), deterministically.

    .venv/bin/python sample_models/build_bundles.py            # rebuild the bundles
    .venv/bin/python sample_models/build_bundles.py --compare  # + FP32 vs INT8 table

Every bundle is signed with the DEMO ONLY key in sample_models/trust/ (its private
half is public in this repository: it proves nothing about who built a bundle).
The app trusts it only when told to (``--trust sample_models/trust``).

Deterministic: fixed creation time, no expiry, Ed25519 signatures are
deterministic, golden inputs come from each model's folder, and tar metadata is
fixed, so a rebuild gives byte-identical files.

``--compare`` quantizes each model (static QDQ calibrated through the model's own
preprocessing on deterministic data, and dynamic), measures FP32 and INT8 side by
side in one run and writes bundles/int8_report.json (timings are this machine's).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from edgeconsole.cli.main import main as cli  # noqa: E402

TRUST = HERE / "trust"
KEY = TRUST / "DEMO-ONLY-signing.key"
CREATED = "2026-01-01T00:00:00Z"
#: name in bundle, folder, model file, hardware ids
SAMPLES = [
    ("digits", "digits", "model.onnx", ["laptop", "gateway-x86_64", "mcu-sim"]),
    ("vibration-anomaly", "vibration", "model.onnx", ["laptop", "gateway-x86_64", "mcu-sim"]),
    ("label-inspector", "label_inspector", "det.onnx", ["laptop", "gateway-x86_64"]),
    ("label-orientation", "label_orientation", "cls.onnx", ["laptop", "gateway-x86_64"]),
]


def calibration(folder: str, out: Path) -> Path:
    """A deterministic calibration set for each sample, in the form a person would
    give: images for camera models, .npy windows for the vibration model."""
    out.mkdir(parents=True, exist_ok=True)
    if folder == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        # The model reads a dark digit on light paper: invert the 0..16 ink values.
        for i in range(0, 64 * 7, 7):
            img = (255 - np.round(d.images[i] * 255 / 16)).astype(np.uint8)
            cv2.imwrite(str(out / f"digit_{i:04d}.png"), img)
    elif folder == "vibration":
        from edgeconsole.sim.vibration import make_windows

        np.save(out / "normal.npy", make_windows(7, "normal", 48, 64).astype(np.float32))
        np.save(out / "imbalance.npy", make_windows(8, "imbalance", 16, 64).astype(np.float32))
    elif folder == "label_orientation":
        # A per-part model sees text lines, not frames: calibrate on the lines the
        # inspector would crop from conveyor frames.
        from edgeconsole.inference.locate import locate_parts, to_gray
        from edgeconsole.inference.roi import clip_box, find_label, text_lines
        from edgeconsole.inference.spec import load_model_spec
        from edgeconsole.sources.conveyor import ConveyorScene

        pp = load_model_spec(HERE / folder / "model.json").per_part
        assert pp is not None
        scene = ConveyorScene(seed=3)
        n = 0
        for i in range(0, 64 * 13, 13):
            frame, _ = scene.render(i)
            gray = to_gray(frame)
            for part in locate_parts(frame, pp.locate):
                box = clip_box(part.box, frame.shape[1], frame.shape[0])
                label = find_label(gray, box, pp.roi) if part.complete and box else None
                for x0, y0, x1, y1 in text_lines(gray, label, 2) if label else []:
                    crop = frame[round(y0) : round(y1), round(x0) : round(x1)]
                    cv2.imwrite(str(out / f"line_{n:04d}.png"), crop)
                    n += 1
    else:
        from edgeconsole.sources.conveyor import ConveyorScene

        scene = ConveyorScene(seed=3, width=640, height=360)
        for i in range(0, 16 * 9, 9):
            frame, _ = scene.render(i)
            cv2.imwrite(str(out / f"frame_{i:04d}.png"), frame)
    return out


def build(
    name: str, folder: str, model: str, hw: list[str], out_dir: Path, extra: list[str]
) -> Path:
    out = out_dir / f"{name}-1.ecb"
    args = [
        "bundle",
        "build",
        str(HERE / folder / model),
        "--name",
        name,
        "--version",
        "1",
        "--description",
        str(HERE / folder / "model.json"),
        "--sign",
        str(KEY),
        "--created",
        CREATED,
        "-o",
        str(out),
        *extra,
    ]
    for h in hw:
        args += ["--hardware-id", h]
    rc = cli(args)
    if rc != 0:
        raise SystemExit(f"building {name} failed ({rc})")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "bundles")
    ap.add_argument("--compare", action="store_true", help="also measure FP32 vs INT8")
    ap.add_argument("--compare-runs", type=int, default=200)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, folder, model, hw in SAMPLES:
        if not (HERE / folder / "model.json").is_file():
            print(f"skip {name}: {folder}/model.json not built yet", file=sys.stderr)
            continue
        build(name, folder, model, hw, args.out, [])
    if args.compare:
        report = {}
        with tempfile.TemporaryDirectory() as tmp:
            for name, folder, model, hw in SAMPLES:
                calib = calibration(folder, Path(tmp) / folder)
                runs = args.compare_runs if folder != "label_inspector" else 30
                buf = io.StringIO()
                with contextlib.redirect_stdout(buf):
                    build(
                        name,
                        folder,
                        model,
                        hw,
                        Path(tmp),
                        ["--int8", "--calib", str(calib), "--compare-runs", str(runs), "--json"],
                    )
                result = json.loads(buf.getvalue())
                report[name] = result["int8_comparison"]
                print(f"== {name}")
                _print_table(result["int8_comparison"])
        (args.out / "int8_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _print_table(rep: dict) -> None:
    for v in rep["variants"]:
        if v.get("error"):
            print(f"  {v['name']:13} failed: {v['error']}")
            continue
        agree = (
            f"top-1 {100 * v['top1_agreement']:.1f}%"
            if v["top1_agreement"] is not None
            else f"IoU {v['box_iou']:.3f}"
            if v["box_iou"] is not None
            else f"decision {100 * v['decision_agreement']:.1f}%"
            if v["decision_agreement"] is not None
            else "reference"
        )
        print(
            f"  {v['name']:13} {v['size_bytes'] / 1024:9.1f} KB  p50 {v['p50_ms']:8.3f} ms  "
            f"p99 {v['p99_ms']:8.3f} ms  {agree:16} max|diff| {v['max_abs_diff']}"
        )
    print(f"  -> {rep['recommendation']}")


if __name__ == "__main__":
    raise SystemExit(main())
