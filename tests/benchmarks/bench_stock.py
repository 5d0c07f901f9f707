"""Stock Zephyr/MCUboot device benchmarks (issue 18, Performance). Prints one JSON document.

    .venv/bin/python tests/benchmarks/bench_stock.py [--size BYTES] [--bauds 921600,115200]
                                                     [--buf-size 2048] [--no-smpmgr]

The same imgtool-signed image, and a file of the same size, go to the stock
virtual device (``sim serial --stock``) paced at each baud rate: once by
EdgeConsole (``firmware.upload_image``: image into slot 1 with resume;
``fs.put_file``: file with resume and the device's SHA-256 check at the end)
and once by ``smpmgr image upload`` / ``smpmgr file upload`` on the same link
in the same run, with smpmgr's default line settings and with line buffers
matching the device's buffer. Reported per transfer: payload bytes/s, the
fraction of the raw line rate (baud/10, 8N1) and of the ceiling the SMP console
framing allows at this buffer size (base64, line delimiters, CBOR and SMP
headers, the answer; no latency), and EdgeConsole ÷ smpmgr. Each transfer runs
``--repeat`` times: the median is reported (and EdgeConsole's best); the load
average goes with the figures, as a busy machine costs every round trip.
smpmgr's times include its start-up; ``smpmgr_startup_s`` (an ``os echo``) is
measured in the same run and subtracted in the ``*_net`` figures. The stock
device receives into two buffers while it handles a frame (as Zephyr's UART
transport does), so EdgeConsole's pipelined chunks keep the line busy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from smp import packet as smppacket  # noqa: E402
from smpclient.requests.file_management import FileUpload  # noqa: E402
from smpclient.requests.image_management import ImageUploadWrite  # noqa: E402

from edgeconsole.devices.serial import fs  # noqa: E402
from edgeconsole.devices.serial.client import SerialTarget  # noqa: E402
from edgeconsole.devices.serial.firmware import upload_image  # noqa: E402
from edgeconsole.devices.serial.stock import StockTarget, adopt  # noqa: E402
from edgeconsole.sim.smp_lines import encode_frame  # noqa: E402
from edgeconsole.sim.stock_device import StockSerialDevice  # noqa: E402

BIN = Path(sys.executable).parent
REMOTE = "/lfs1/bench.bin"


def wire(body_len: int) -> int:
    return sum(len(p) for p in smppacket.encode(b"\0" * body_len, line_length=128))


def ceiling(buf_size: int, total: int, empty_request: bytes) -> float:
    """Payload bytes per wire byte for a full-buffer request and its ``{off}`` answer."""
    room = buf_size - 4 - len(empty_request)
    cbor_len = 0 if room < 24 else 1 if room <= 0xFF else 2 if room <= 0xFFFF else 4
    data = room - cbor_len
    request_wire = wire(len(empty_request) + cbor_len + data)
    response_wire = len(encode_frame(b"\0" * (8 + 1 + 4 + 5)))  # {"off": u32}
    return data / (request_wire + response_wire)


def make_image(size: int, tmp: Path, key: Path) -> bytes:
    raw = tmp / "fw.bin"
    raw.write_bytes(random.Random(1).randbytes(size))
    out = tmp / "fw.signed.bin"
    subprocess.run(
        [str(BIN / "imgtool"), "sign", "--key", str(key), "--header-size", "0x200",
         "--pad-header", "--align", "4", "--slot-size", hex(4 * size), "--version", "2.0.0",
         str(raw), str(out)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return out.read_bytes()


def smpmgr(port: Path, *args: str, lines: int | None = None) -> float:
    extra = ["--line-length", "128", "--line-buffers", str(lines)] if lines else []
    t0 = time.perf_counter()
    subprocess.run(
        [str(BIN / "smpmgr"), "--port", str(port), "--timeout", "20", *extra, *args],
        check=True,
        capture_output=True,
        timeout=3600,
        env={**os.environ, "COLUMNS": "200"},
    )
    return time.perf_counter() - t0


def figures(n: int, seconds: float, line_rate: float, ceil: float) -> dict[str, Any]:
    rate = n / seconds
    return {
        "seconds": round(seconds, 3),
        "payload_Bps": round(rate, 1),
        "of_line_rate": round(rate / line_rate, 3),
        "of_framing_ceiling": round(rate / ceil, 3),
    }


def connect(dev: StockSerialDevice) -> StockTarget:
    link = SerialTarget(str(dev.path), timeout_s=10.0)
    link.connect()
    target = adopt(link)
    assert isinstance(target, StockTarget)
    return target


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def bench(
    size: int, baud: int, buf: int, tmp: Path, with_smpmgr: bool, repeat: int
) -> dict[str, Any]:
    line_rate = baud / 10.0
    img_ceil = ceiling(buf, size, bytes(ImageUploadWrite(off=size // 2, data=b""))) * line_rate
    file_req = bytes(FileUpload(off=size // 2, data=b"", name=REMOTE))
    file_ceil = ceiling(buf, size, file_req) * line_rate
    dev = StockSerialDevice(
        tmp / f"dev-{baud}", baud=baud, buf_size=buf, slot_size=8 << 20, fs_capacity=64 << 20
    )
    dev.start()
    out: dict[str, Any] = {
        "baud": baud,
        "buf_size": buf,
        "line_rate_Bps": line_rate,
        "repeat": repeat,
        "image": {"framing_ceiling_Bps": round(img_ceil, 1)},
        "file": {"framing_ceiling_Bps": round(file_ceil, 1)},
    }
    try:
        image = make_image(size, tmp, dev.data_dir / "keys" / "mcuboot-ed25519.pem")
        data = random.Random(2).randbytes(len(image))
        out["bytes"] = len(image)
        t = connect(dev)
        t.capabilities()  # read once at connect, as the session and the CLI do
        times: dict[str, list[float]] = {"image": [], "file": []}
        for _ in range(repeat):
            t0 = time.perf_counter()
            upload_image(t, image)
            times["image"].append(time.perf_counter() - t0)
            t.erase_spare()
            t0 = time.perf_counter()
            fs.put_file(t, data, REMOTE, resume=False)  # incl. the device's final SHA-256
            times["file"].append(time.perf_counter() - t0)
        t.close()
        for kind, n, ceil in (("image", len(image), img_ceil), ("file", len(data), file_ceil)):
            out[kind]["edgeconsole"] = figures(n, median(times[kind]), line_rate, ceil)
            out[kind]["edgeconsole_best"] = figures(n, min(times[kind]), line_rate, ceil)
        if not with_smpmgr:
            return out
        startup = min(smpmgr(dev.path, "os", "echo", "x") for _ in range(2))
        out["smpmgr_startup_s"] = round(startup, 3)
        img_path, file_path = tmp / f"img-{baud}.bin", tmp / f"file-{baud}.bin"
        img_path.write_bytes(image)
        file_path.write_bytes(data)
        for label, lines in (("smpmgr", None), ("smpmgr_tuned", max(2, buf // 128))):
            for kind, args, n, ceil in (
                ("image", ("image", "upload", str(img_path)), len(image), img_ceil),
                ("file", ("file", "upload", str(file_path), REMOTE), len(data), file_ceil),
            ):
                took = []
                for _ in range(repeat):
                    took.append(smpmgr(dev.path, *args, lines=lines))
                    if kind == "image":
                        t = connect(dev)
                        t.erase_spare()
                        t.close()
                out[kind][label] = figures(n, median(took), line_rate, ceil)
                net = max(median(took) - startup, 1e-3)
                out[kind][label + "_net"] = figures(n, net, line_rate, ceil)
        for kind in ("image", "file"):
            ours = out[kind]["edgeconsole"]["payload_Bps"]
            best = max(out[kind][k]["payload_Bps"] for k in ("smpmgr_net", "smpmgr_tuned_net"))
            out[kind]["edgeconsole_vs_best_smpmgr_net"] = round(ours / best, 2)
    finally:
        dev.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256 * 1024)
    ap.add_argument("--bauds", default="921600")
    ap.add_argument("--buf-size", type=int, default=2048)
    ap.add_argument("--no-smpmgr", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="runs per transfer (median, best)")
    args = ap.parse_args()
    result: dict[str, Any] = {"size": args.size, "load_avg_1m": os.getloadavg()[0], "runs": []}
    with tempfile.TemporaryDirectory() as d:
        for baud in [int(b) for b in args.bauds.split(",") if b]:
            result["runs"].append(
                bench(args.size, baud, args.buf_size, Path(d), not args.no_smpmgr, args.repeat)
            )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
