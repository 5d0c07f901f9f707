"""Re-extract the label inspector's models from the rapidocr-onnxruntime wheel.

    python sample_models/label_inspector/build.py            # download the wheel, extract
    python sample_models/label_inspector/build.py --wheel W  # use a wheel you already have
    python sample_models/label_inspector/build.py --check    # verify the files here

The wheel is only downloaded (``pip download --no-deps``) and read as a zip: it is
never installed, because it depends on the GUI OpenCV wheel, which breaks Qt.
Both models are checked against the SHA-256 recorded below before they are written.
Then the golden input/output pairs are regenerated deterministically: a rendered
label image through the detector, and an upright and an upside-down text crop
through the orientation classifier.
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

# onnxruntime phones home unless told before it loads (DESIGN section 9).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
import onnxruntime as ort

HERE = Path(__file__).resolve().parent
PACKAGE = "rapidocr-onnxruntime==1.4.4"
WHEEL_NAME = "rapidocr_onnxruntime-1.4.4-py3-none-any.whl"
#: member in the wheel -> (file written here, SHA-256 of the member)
MODELS: dict[str, tuple[str, str]] = {
    "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx": (
        "det.onnx",
        "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    ),
    "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx": (
        "cls.onnx",
        "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
    ),
}
MAX_MEMBER_BYTES = 64 << 20


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", PACKAGE, "-d", str(dest)],
        check=True,
    )
    wheel = dest / WHEEL_NAME
    if not wheel.is_file():
        raise SystemExit(f"pip did not produce {WHEEL_NAME} in {dest}")
    return wheel


def extract(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        for member, (out_name, digest) in MODELS.items():
            info = zf.getinfo(member)
            if info.file_size > MAX_MEMBER_BYTES:
                raise SystemExit(f"{member} is {info.file_size} bytes, larger than expected")
            data = zf.read(member)
            if sha256(data) != digest:
                raise SystemExit(f"{member}: SHA-256 {sha256(data)} does not match {digest}")
            (HERE / out_name).write_bytes(data)
            print(f"wrote {out_name} ({len(data)} bytes, sha256 {digest[:16]}...)")


def check() -> None:
    for _member, (name, digest) in MODELS.items():
        got = sha256((HERE / name).read_bytes())
        if got != digest:
            raise SystemExit(f"{name}: SHA-256 {got} does not match {digest}")
        print(f"{name}: ok")


def _label_image() -> np.ndarray:
    """A deterministic printed label (BGR), 96 x 256: two lines of dark text on white."""
    img = np.full((96, 256, 3), (238, 241, 242), np.uint8)
    font = cv2.FONT_HERSHEY_DUPLEX
    cv2.putText(img, "LOT 4711-K", (20, 40), font, 0.9, (28, 24, 22), 2, cv2.LINE_AA)
    cv2.putText(img, "EXP 2027-08", (20, 80), font, 0.9, (28, 24, 22), 2, cv2.LINE_AA)
    return img


def _normalise(bgr: np.ndarray) -> np.ndarray:
    """PaddleOCR's detector/classifier input: BGR, x/255, (x - 0.5) / 0.5, NCHW."""
    x = (bgr.astype(np.float32) / 255.0 - 0.5) / 0.5
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def _session(name: str) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(HERE / name), opts, providers=["CPUExecutionProvider"])


def golden() -> None:
    label = _label_image()
    det_in = _normalise(label)[None]
    det = _session("det.onnx")
    det_out = det.run(None, {"x": det_in})[0]
    np.save(HERE / "golden_input.npy", det_in)
    np.save(HERE / "golden_output.npy", det_out)
    print(f"det golden: input {det_in.shape}, output {det_out.shape}, max {det_out.max():.3f}")
    # Orientation: the first text line, upright and turned 180 degrees, each 48 x 192.
    line = cv2.resize(label[12:52, 12:244], (192, 48), interpolation=cv2.INTER_LINEAR)
    crops = np.stack([_normalise(line), _normalise(cv2.rotate(line, cv2.ROTATE_180))])
    cls = _session("cls.onnx")
    cls_out = cls.run(None, {"x": crops})[0]
    np.save(HERE / "cls_golden_input.npy", crops)
    np.save(HERE / "cls_golden_output.npy", cls_out)
    print(f"cls golden: upright -> {cls_out[0].round(4)}, rotated -> {cls_out[1].round(4)}")
    if not (cls_out[0].argmax() == 0 and cls_out[1].argmax() == 1):
        raise SystemExit("the orientation classifier does not tell the golden crops apart")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, help="a downloaded rapidocr-onnxruntime 1.4.4 wheel")
    ap.add_argument("--check", action="store_true", help="only verify the model files here")
    args = ap.parse_args()
    if args.check:
        check()
        return 0
    if args.wheel is not None:
        extract(args.wheel)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            extract(download_wheel(Path(tmp)))
    golden()
    return 0


if __name__ == "__main__":
    sys.exit(main())
