"""Re-extract the label-orientation model and regenerate its golden pair.

    python sample_models/label_orientation/build.py            # download the wheel, extract
    python sample_models/label_orientation/build.py --wheel W  # use a wheel you already have
    python sample_models/label_orientation/build.py --from-label-inspector  # offline: copy
                                                    # ../label_inspector/cls.onnx (hash-checked)
    python sample_models/label_orientation/build.py --check    # verify the files here

The model is PP-OCR's text-orientation classifier, the same file the label inspector
uses, taken from the ``rapidocr-onnxruntime`` 1.4.4 wheel (only downloaded with ``pip
download --no-deps`` and read as a zip, never installed: it depends on the GUI OpenCV
wheel, which breaks Qt) and checked against its SHA-256 before it is written.

The golden pair is made the way the inspector feeds the model: a label rendered
like the conveyor's, its widest text line found by EdgeConsole's own line finder,
upright and turned 180 degrees, through the description's ``fit-height``
preprocessing (48 x 192), then through onnxruntime on one thread.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

# onnxruntime phones home unless told before it loads (DESIGN section 9); edgeconsole
# would set this too, but it is imported after onnxruntime here.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
import onnxruntime as ort

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from edgeconsole.inference.preprocess import preprocess_image  # noqa: E402
from edgeconsole.inference.roi import text_lines  # noqa: E402
from edgeconsole.inference.spec import load_model_spec  # noqa: E402

PACKAGE = "rapidocr-onnxruntime==1.4.4"
WHEEL_NAME = "rapidocr_onnxruntime-1.4.4-py3-none-any.whl"
MEMBER = "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"
MODEL = "cls.onnx"
SHA256 = "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c"
MAX_MEMBER_BYTES = 64 << 20


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_checked(data: bytes, where: str) -> None:
    if sha256(data) != SHA256:
        raise SystemExit(f"{where}: SHA-256 {sha256(data)} does not match {SHA256}")
    (HERE / MODEL).write_bytes(data)
    print(f"wrote {MODEL} ({len(data)} bytes, sha256 {SHA256[:16]}...) from {where}")


def extract(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        info = zf.getinfo(MEMBER)
        if info.file_size > MAX_MEMBER_BYTES:
            raise SystemExit(f"{MEMBER} is {info.file_size} bytes, larger than expected")
        _write_checked(zf.read(MEMBER), f"{wheel.name}:{MEMBER}")


def download_wheel(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", PACKAGE, "-d", str(dest)],
        check=True,
    )
    wheel = dest / WHEEL_NAME
    if not wheel.is_file():
        raise SystemExit(f"pip did not produce {WHEEL_NAME} in {dest}")
    return wheel


def check() -> None:
    got = sha256((HERE / MODEL).read_bytes())
    if got != SHA256:
        raise SystemExit(f"{MODEL}: SHA-256 {got} does not match {SHA256}")
    print(f"{MODEL}: ok")


def label_image() -> np.ndarray:
    """A deterministic printed label (BGR), as the conveyor prints them: 92 x 210."""
    img = np.full((92, 210, 3), (238, 241, 242), np.uint8)
    cv2.rectangle(img, (0, 0), (209, 91), (150, 150, 150), 1)
    font = cv2.FONT_HERSHEY_DUPLEX
    cv2.putText(img, "LOT 4711-K", (22, 38), font, 0.9, (28, 24, 22), 2, cv2.LINE_AA)
    cv2.putText(img, "EXP 2027-08", (14, 76), font, 0.9, (28, 24, 22), 2, cv2.LINE_AA)
    return img


def golden_pair() -> tuple[np.ndarray, np.ndarray]:
    spec = load_model_spec(HERE / "model.json")
    label = label_image()
    gray = cv2.cvtColor(label, cv2.COLOR_BGR2GRAY)
    lines = text_lines(gray, (0.0, 0.0, float(label.shape[1]), float(label.shape[0])), 1)
    if not lines:
        raise SystemExit("the line finder found no text line on the golden label")
    x0, y0, x1, y1 = (round(v) for v in lines[0])
    line = label[y0:y1, x0:x1]
    crops = [preprocess_image(img, spec.preprocess)[0] for img in (line, cv2.rotate(line, 1))]
    x = np.concatenate(crops)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(HERE / MODEL), opts, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": x})[0]
    if not (y[0].argmax() == 0 and y[1].argmax() == 1):
        raise SystemExit(f"the classifier does not tell the golden crops apart: {y}")
    return x, y


def golden() -> None:
    x, y = golden_pair()
    np.save(HERE / "golden_input.npy", x)
    np.save(HERE / "golden_output.npy", y)
    print(f"golden: input {x.shape}, upright -> {y[0].round(4)}, rotated -> {y[1].round(4)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--wheel", type=Path, help="a downloaded rapidocr-onnxruntime 1.4.4 wheel")
    src.add_argument(
        "--from-label-inspector",
        action="store_true",
        help="copy ../label_inspector/cls.onnx (no network)",
    )
    src.add_argument("--check", action="store_true", help="only verify the model file here")
    args = ap.parse_args()
    if args.check:
        check()
        return 0
    if args.from_label_inspector:
        source = HERE.parent / "label_inspector" / MODEL
        _write_checked(source.read_bytes(), str(source))
    elif args.wheel is not None:
        extract(args.wheel)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            extract(download_wheel(Path(tmp)))
    golden()
    return 0


if __name__ == "__main__":
    sys.exit(main())
