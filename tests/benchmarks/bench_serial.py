"""Serial benchmarks (issue 4, Performance). Prints one JSON document.

    .venv/bin/python tests/benchmarks/bench_serial.py [--size BYTES] [--bauds 115200,921600]
                                                      [--no-smpmgr] [--lines N]

Upload: the same MCUboot-wrapped image (imgtool) is uploaded to the virtual device
paced at each baud rate, once by EdgeConsole (SerialTarget, fills the device's
buffer) and once by ``smpmgr image upload`` in the same run. Reported: payload
bytes/s, fraction of the raw line rate (baud/10 bytes/s, 8N1), and fraction of the
ceiling SMP console framing allows at that buffer size (base64, line delimiters,
CBOR and SMP headers, the response; no latency).

Telemetry: lines/s parsed by TelemetryParser at 8 channels, against the csv module
+ float() on the same bytes as the baseline, and whether any line was dropped.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from smp import packet as smppacket  # noqa: E402
from smpclient.requests.image_management import ImageUploadWrite  # noqa: E402

from edgeconsole.devices.serial.client import SerialTarget  # noqa: E402
from edgeconsole.devices.serial.flash import upload_with_resume  # noqa: E402
from edgeconsole.devices.target import Payload  # noqa: E402
from edgeconsole.sim.device import VirtualSerialDevice  # noqa: E402
from edgeconsole.sim.smp_lines import encode_frame  # noqa: E402
from edgeconsole.sources.telemetry_lines import TelemetryParser  # noqa: E402

BIN = Path(sys.executable).parent


def wire(body_len: int) -> int:
    return sum(len(p) for p in smppacket.encode(b"\0" * body_len, line_length=128))


def framing_ceiling(buf_size: int, total: int) -> float:
    """Payload bytes per wire byte for a full-buffer upload request and its response."""
    req = ImageUploadWrite(off=total // 2, data=b"")
    room = buf_size - 4 - len(bytes(req))
    cbor_len = 0 if room < 24 else 1 if room <= 0xFF else 2 if room <= 0xFFFF else 4
    data = room - cbor_len
    request_wire = wire(len(bytes(req)) + cbor_len + data)
    response_wire = len(encode_frame(b"\0" * (8 + 1 + 4 + 5)))  # {"off": u32}
    return data / (request_wire + response_wire)


def make_image(size: int, tmp: Path) -> Path:
    raw = tmp / "fw.bin"
    raw.write_bytes(random.Random(1).randbytes(size))
    out = tmp / "fw.signed.bin"
    subprocess.run(
        [
            str(BIN / "imgtool"),
            "sign",
            "--header-size",
            "0x200",
            "--pad-header",
            "--align",
            "4",
            "--slot-size",
            hex(4 * size),
            "--version",
            "1.0.0",
            str(raw),
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out


def bench_upload(image: bytes, baud: int, buf_size: int, tmp: Path, smpmgr: bool) -> dict:
    line_rate = baud / 10.0
    ceiling = framing_ceiling(buf_size, len(image)) * line_rate
    payload = Payload(image, hashlib.sha256(image).hexdigest(), "bench", 1)
    out: dict = {
        "baud": baud,
        "buf_size": buf_size,
        "bytes": len(image),
        "line_rate_Bps": line_rate,
        "framing_ceiling_Bps": round(ceiling, 1),
    }

    dev = VirtualSerialDevice(tmp / f"dev-{baud}", baud=baud, buf_size=buf_size, rate=0.0)
    dev.start()
    try:
        t = SerialTarget(str(dev.path), timeout_s=10.0)
        t.connect()
        t0 = time.perf_counter()
        upload_with_resume(t, payload)
        dt = time.perf_counter() - t0
        t.close()
        rate = len(image) / dt
        out["edgeconsole"] = {
            "seconds": round(dt, 2),
            "payload_Bps": round(rate, 1),
            "of_line_rate": round(rate / line_rate, 3),
            "of_framing_ceiling": round(rate / ceiling, 3),
        }
        if smpmgr:
            img_path = tmp / f"img-{baud}.bin"
            img_path.write_bytes(image)
            t0 = time.perf_counter()
            subprocess.run(
                [
                    str(BIN / "smpmgr"),
                    "--port",
                    str(dev.path),
                    "--timeout",
                    "20",
                    "image",
                    "upload",
                    str(img_path),
                ],
                check=True,
                capture_output=True,
                timeout=3600,
            )
            dt = time.perf_counter() - t0  # includes smpmgr's start-up (~1 s), reported
            rate = len(image) / dt
            out["smpmgr"] = {
                "seconds": round(dt, 2),
                "payload_Bps": round(rate, 1),
                "of_line_rate": round(rate / line_rate, 3),
                "of_framing_ceiling": round(rate / ceiling, 3),
            }
            out["edgeconsole_vs_smpmgr"] = round(
                out["edgeconsole"]["payload_Bps"] / out["smpmgr"]["payload_Bps"], 2
            )
    finally:
        dev.stop()
    return out


def bench_telemetry(lines: int) -> dict:
    rng = random.Random(3)
    body = (
        "\n".join(",".join(f"{rng.uniform(-2, 40):.4f}" for _ in range(8)) for _ in range(lines))
        + "\n"
    )
    data = ("# a,b,c,d,e,f,g,h\n" + body).encode()
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]  # as a port delivers

    t0 = time.perf_counter()
    rows = 0
    for row in csv.reader(io.StringIO(body)):
        [float(x) for x in row]
        rows += 1
    base = time.perf_counter() - t0

    p = TelemetryParser()
    t0 = time.perf_counter()
    n = 0
    for c in chunks:
        n += len(p.feed(c, 0).samples)
    ours = time.perf_counter() - t0
    return {
        "channels": 8,
        "lines": lines,
        "parsed": n,
        "dropped": lines - n + p.stats.malformed + p.stats.oversized,
        "lines_per_s": round(n / ours),
        "baseline_csv_lines_per_s": round(rows / base),
        "ratio_vs_baseline": round((n / ours) / (rows / base), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1 << 20)
    ap.add_argument("--bauds", default="115200,921600")
    ap.add_argument("--buf-size", type=int, default=2048)
    ap.add_argument("--no-smpmgr", action="store_true")
    ap.add_argument("--lines", type=int, default=300_000)
    args = ap.parse_args()
    result: dict = {"telemetry": bench_telemetry(args.lines), "upload": []}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        image = make_image(args.size, tmp).read_bytes()
        for baud in [int(b) for b in args.bauds.split(",") if b]:
            result["upload"].append(
                bench_upload(image, baud, args.buf_size, tmp, not args.no_smpmgr)
            )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
