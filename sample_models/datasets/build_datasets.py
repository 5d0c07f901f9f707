"""Rebuild the sample validation sets, byte for byte (``edgeconsole validate --dataset``).

    .venv/bin/python sample_models/datasets/build_datasets.py [--out DIR] [--check]

- ``label_inspector/``: one conveyor part per image, rendered by
  ``edgeconsole.sources.conveyor.render_part`` (seeded; the same code the
  synthetic conveyor uses), in per-class folders ``upright``, ``rotated``,
  ``missing``, ``smudged``. ``dataset.json`` maps the inspector's part verdicts to
  these classes: ok -> upright, rotated 180 -> rotated, missing label -> missing,
  unreadable -> smudged.
- ``digits/``: held-out images of scikit-learn's bundled digits set (the 20%
  split the digits model did not train on, sample_models/digits/build.py), drawn
  dark on light and scaled 8x8 -> 32x32 (nearest), in folders ``0``..``9``.

PNG output is deterministic (fixed seeds, fixed compression, no metadata).
``--check`` rebuilds into a temp folder and compares every byte with the committed set.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

LABEL_CLASSES = ("upright", "rotated", "missing", "smudged")
LABEL_PER_CLASS = 20
LABEL_SIZE = (128, 176)  # h, w: one part fills ~80% of the crop
DIGITS_PER_CLASS = 20
DIGITS_SIZE = 32
PNG = [cv2.IMWRITE_PNG_COMPRESSION, 9]


def _write_png(path: Path, img: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", img, PNG)
    if not ok:
        raise RuntimeError(f"cannot encode {path}")
    path.write_bytes(buf.tobytes())


def build_label_inspector(out: Path) -> int:
    from edgeconsole.sources.conveyor import render_part

    root = out / "label_inspector"
    n = 0
    for ci, state in enumerate(LABEL_CLASSES):
        d = root / state
        d.mkdir(parents=True)
        for i in range(LABEL_PER_CLASS):
            seed = 1000 * (ci + 1) + i
            img = render_part(state, seed, LABEL_SIZE)  # type: ignore[arg-type]
            _write_png(d / f"{state}_{i:03d}.png", img)
            n += 1
    meta = {
        "name": "label-inspector-sample",
        "description": "Synthetic conveyor parts, one per image, for the label inspector. "
        "Rebuilt by sample_models/datasets/build_datasets.py.",
        "verdict_map": {
            "ok": "upright",
            "rotated 180": "rotated",
            "missing label": "missing",
            "unreadable": "smudged",
        },
        "generator": f"render_part(state, seed=1000*(class+1)+i, size={list(LABEL_SIZE)})",
    }
    (root / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    return n


def build_digits(out: Path) -> int:
    sys.path.insert(0, str(REPO / "sample_models" / "digits"))
    from build import load_split  # type: ignore[import-not-found]

    split = load_split()
    x, y = split["x_test"], split["y_test"]
    root = out / "digits"
    n = 0
    for digit in range(10):
        d = root / str(digit)
        d.mkdir(parents=True)
        idx = np.flatnonzero(y == digit)[:DIGITS_PER_CLASS]
        for k, i in enumerate(idx):
            ink = x[i].reshape(8, 8)
            gray = np.clip(255.0 - ink * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
            big = cv2.resize(gray, (DIGITS_SIZE, DIGITS_SIZE), interpolation=cv2.INTER_NEAREST)
            _write_png(d / f"{digit}_{k:03d}.png", big)
            n += 1
    meta = {
        "name": "digits-heldout-sample",
        "description": "Held-out scikit-learn digits (the split digits-mlp did not train on), "
        "dark on light, 32x32. Rebuilt by sample_models/datasets/build_datasets.py.",
        "generator": "sample_models/digits/build.py load_split() x_test, first 20 per class",
    }
    (root / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--check", action="store_true", help="compare a rebuild with the files")
    args = ap.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp)
            build_label_inspector(t)
            build_digits(t)
            bad = []
            for f in sorted(t.rglob("*")):
                if f.is_file():
                    rel = f.relative_to(t)
                    if not (HERE / rel).is_file() or not filecmp.cmp(f, HERE / rel, shallow=False):
                        bad.append(str(rel))
            print("identical" if not bad else f"{len(bad)} files differ: {bad[:5]}")
            return 1 if bad else 0
    for name in ("label_inspector", "digits"):
        if (args.out / name).exists():
            shutil.rmtree(args.out / name)
    n1 = build_label_inspector(args.out)
    n2 = build_digits(args.out)
    print(f"label_inspector: {n1} images, digits: {n2} images -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
