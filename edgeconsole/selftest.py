"""``edgeconsole --self-test``: prove this installation works, on this machine, offline.

It checks what a technician relies on, in the order they would notice it:

1. bundle   - a signed sample bundle verifies against the sample trust store
              (signature, hashes, schema, ONNX checks) and its golden input
              reproduces its golden output through onnxruntime;
2. pipeline - 20 frames of the synthetic conveyor run through the real local
              pipeline (capture thread, inference thread, overlay) with the
              verified model;
3. journal  - an audit entry is written to the app's journal and read back;
4. serial   - pyserial's URL handlers are present (loop:// echoes);
5. offline  - onnxruntime's telemetry is off in this process and its children
              (DESIGN section 9);
6. pdf      - a report-like page renders to PDF in-process, offline (WeasyPrint and
              the Pango it needs are there);
7. plc      - the sample PLC maps ship and parse; a camera answers three parts of
              the virtual PLC over Modbus TCP on loopback; the OPC UA client loads;
8. about    - the versions and licences of everything bundled can be listed;
9. window   - the main window opens and closes (offscreen unless
              ``QT_QPA_PLATFORM`` says otherwise).

Each check prints one PASS/FAIL line; the exit code is 0 when all pass, 1
otherwise. Qt is imported only by the window and about checks, so the rest is
usable without a display.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sqlite3
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import edgeconsole

#: Frames pushed through the pipeline.
PIPELINE_FRAMES = 20
#: Preferred sample bundle: it exercises two models (detector + orientation).
PREFERRED_BUNDLES = ("label-inspector-1.ecb", "digits-1.ecb", "vibration-anomaly-1.ecb")
SOURCE = "synthetic:conveyor?seed=3&fps=30&width=640&height=360"
#: Generous: a cold laptop loading onnxruntime for the first time from a USB stick.
PIPELINE_TIMEOUT_S = 120.0
WINDOW_TIMEOUT_S = 30.0


def sample_models_dir() -> Path:
    """``sample_models/`` beside the package (source tree) or in the frozen app's folder."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "sample_models"
    return Path(edgeconsole.__file__).resolve().parent.parent / "sample_models"


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float
    traceback: str = ""


@dataclass
class SelfTestContext:
    """What one check hands to the next (the verified bundle feeds the pipeline)."""

    bundle_path: Path | None
    trust_dir: Path
    frames: int
    verified: Any = None
    spec: Any = None
    notes: dict[str, Any] = field(default_factory=dict)


class CheckFailed(Exception):
    """A check's own verdict (as opposed to an unexpected error inside it)."""


# ------------------------------------------------------------------ checks
def check_bundle(ctx: SelfTestContext) -> str:
    from edgeconsole.bundles.reader import VerifyPolicy, read_bundle
    from edgeconsole.bundles.trust import TrustStore
    from edgeconsole.inference.spec import ModelSpec

    path = ctx.bundle_path or find_bundle()
    trust = TrustStore.load(ctx.trust_dir)
    vb = read_bundle(
        path,
        trust,
        describe=lambda obj: ModelSpec.parse(obj, None, where="manifest"),
        policy=VerifyPolicy(hardware_id="laptop"),
        mode="memory",
    )
    if not vb.trusted:
        raise CheckFailed(f"{path.name}: signature threshold not met")
    ctx.verified = vb
    ctx.spec = vb.description
    golden = _golden_check(vb)
    m = vb.manifest
    signers = len(vb.verified_signers)
    return f"{path.name}: {m.name} v{m.version} verified, {signers} trusted signer(s); {golden}"


def _golden_check(vb: Any) -> str:
    import numpy as np

    from edgeconsole.inference.engine import InferenceEngine

    golden = vb.manifest.golden
    if not golden:
        return "no golden pair"
    x = np.load(io.BytesIO(vb.file_bytes(golden["input"])), allow_pickle=False)
    want = np.load(io.BytesIO(vb.file_bytes(golden["output"])), allow_pickle=False)
    engine = InferenceEngine.load(vb.description, threads=1, model_bytes=vb.files)
    try:
        outputs = engine.run_tensor(x)
    finally:
        engine.close()
    got = next(iter(outputs.values()))
    if got.shape != want.shape:
        raise CheckFailed(f"golden output shape {got.shape}, expected {want.shape}")
    err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
    tol = float(golden.get("tolerance", 1e-4))
    if not err <= tol:
        raise CheckFailed(f"golden output differs by {err:.3g} (tolerance {tol:g})")
    return f"golden output within {err:.2g} (tolerance {tol:g})"


def find_bundle() -> Path:
    folder = sample_models_dir() / "bundles"
    for name in PREFERRED_BUNDLES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob("*.ecb"))
    if not found:
        raise CheckFailed(f"no sample bundle (*.ecb) in {folder}")
    return found[0]


def check_pipeline(ctx: SelfTestContext) -> str:
    import threading

    from edgeconsole.inference.engine import InferenceEngine
    from edgeconsole.session.pipeline import LocalPipelineRunner
    from edgeconsole.session.runner import CallbackSink, RunnerOutput
    from edgeconsole.sources.factory import open_source

    if ctx.verified is None:
        raise CheckFailed("skipped: no verified bundle")
    engine = InferenceEngine.load(ctx.spec, threads=1, model_bytes=ctx.verified.files)
    errors: list[str] = []
    results: list[Any] = []
    ended: list[str] = []
    done = threading.Event()

    def on_output(out: RunnerOutput) -> None:
        assert out.frame is not None
        results.append((out.frame.index, out.result, out.sample))

    def on_error(where: str, exc: BaseException) -> None:
        errors.append(f"{where}: {exc}")

    def on_end(reason: str) -> None:
        ended.append(reason)
        done.set()

    source = open_source(SOURCE, realtime=False, loop=False)
    source.open()
    runner = LocalPipelineRunner(
        source,
        engine,
        CallbackSink(on_output=on_output, on_error=on_error, on_end=on_end),
        max_frames=ctx.frames,
        lossless=True,
    )
    started = time.perf_counter()
    runner.start()
    try:
        if not done.wait(PIPELINE_TIMEOUT_S):
            raise CheckFailed(
                f"pipeline did not finish {ctx.frames} frames in {PIPELINE_TIMEOUT_S:.0f} s "
                f"({len(results)} done)"
            )
    finally:
        runner.stop()
        runner.join(timeout=10.0)
        engine.close()
    elapsed = time.perf_counter() - started
    if errors:
        raise CheckFailed("; ".join(errors[:3]))
    if len(results) != ctx.frames:
        raise CheckFailed(f"{len(results)} of {ctx.frames} frames processed ({ended[0]})")
    with_overlay = sum(1 for _, r, _ in results if r.overlay)
    e2e = sorted(s.e2e_ms for _, _, s in results)
    ctx.notes["pipeline_fps"] = round(len(results) / elapsed, 1)
    p50 = f", median end-to-end {e2e[len(e2e) // 2]:.0f} ms" if e2e else ""
    return (
        f"{len(results)} frames in {elapsed:.1f} s ({len(results) / elapsed:.1f} fps), "
        f"{with_overlay} with overlays, {runner.dropped} dropped{p50}"
    )


def check_journal(ctx: SelfTestContext) -> str:
    from edgeconsole.journal.journal import Journal

    marker = f"self-test {uuid.uuid4().hex[:12]}"
    journal = Journal.open()
    try:
        written = journal.audit.log("selftest", "info", "", marker, version=edgeconsole.__version__)
        db_path = journal.audit.path
    finally:
        journal.close()
    if not written:
        raise CheckFailed(f"audit entry held in memory: the disk refused ({db_path})")
    # Read back through a separate connection: what is on disk, not what is cached.
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT COUNT(*) FROM events WHERE kind = 'selftest' AND message = ?", (marker,)
        ).fetchone()
    finally:
        conn.close()
    if not rows or rows[0] != 1:
        raise CheckFailed(f"audit entry not found after writing it ({db_path})")
    ctx.notes["journal"] = str(db_path)
    return f"audit entry written and read back ({db_path})"


def check_serial(ctx: SelfTestContext) -> str:
    # pyserial resolves URL schemes by importing serial.urlhandler.protocol_<scheme>
    # at run time; a frozen app without those modules cannot open socket:// or rfc2217://.
    import serial

    port = serial.serial_for_url("loop://", timeout=2)
    try:
        port.write(b"edgeconsole-selftest")
        echoed = port.read(20)
    finally:
        port.close()
    if echoed != b"edgeconsole-selftest":
        raise CheckFailed(f"loop:// echoed {echoed!r}")
    for scheme in ("socket", "rfc2217", "spy", "alt"):
        __import__(f"serial.urlhandler.protocol_{scheme}")
    return "pyserial loop:// echoes; socket://, rfc2217://, spy://, alt:// handlers present"


def check_offline(ctx: SelfTestContext) -> str:
    from edgeconsole.core.offline import ORT_TELEMETRY_VAR

    state = edgeconsole.TELEMETRY
    if not state.off:
        raise CheckFailed(state.detail)
    if os.environ.get(ORT_TELEMETRY_VAR) != "1":
        raise CheckFailed(f"{ORT_TELEMETRY_VAR} is not 1: child processes would phone home")
    return f"onnxruntime telemetry off in this process and its children ({state.detail})"


#: A page with what reports use: CSS, an inline SVG chart, a PNG data URI ({png}).
_PDF_PAGE = (
    "<html><head><style>@page{{size:A4;margin:12mm}} h1{{color:#2e8b57}}</style></head>"
    "<body><h1>EdgeConsole self-test</h1><svg xmlns='http://www.w3.org/2000/svg' "
    "width='80' height='20'><rect width='80' height='20' fill='#3b7dd8'/></svg>"
    "<img src='data:image/png;base64,{png}' width='40'></body></html>"
)


def check_pdf(ctx: SelfTestContext) -> str:
    import base64
    import tempfile

    import cv2
    import numpy as np

    from edgeconsole.commission.pdf import html_to_pdf
    from edgeconsole.core.errors import EdgeConsoleError

    ok, png = cv2.imencode(".png", np.full((8, 8, 3), (87, 139, 46), np.uint8))
    if not ok:
        raise CheckFailed("OpenCV could not encode a PNG")
    page = _PDF_PAGE.format(png=base64.b64encode(png.tobytes()).decode())
    with tempfile.TemporaryDirectory(prefix="edgeconsole-selftest-pdf-") as tmp:
        html = Path(tmp) / "page.html"
        html.write_text(page, encoding="utf-8")
        try:
            pdf = html_to_pdf(html, Path(tmp) / "page.pdf")
        except EdgeConsoleError as exc:
            raise CheckFailed(str(exc)) from exc
        size = pdf.stat().st_size
    return f"a report-like page (CSS, SVG, PNG) rendered to a {size} byte PDF, offline"


def check_plc(ctx: SelfTestContext) -> str:
    # The sample maps are package data (a frozen app without them cannot run
    # `sim plc` or `plc map` on the sample), and pymodbus / asyncua load.
    import edgeconsole.devices.plc.opcua_link  # noqa: F401  (asyncua is bundled)
    from edgeconsole.devices.plc.handshake import GateResult, GateTrigger
    from edgeconsole.devices.plc.plcmap import load_map, sample_map_path
    from edgeconsole.devices.plc.service import HandshakeService
    from edgeconsole.sim.plc import VirtualPlc
    from edgeconsole.sources.belt import BeltTiming

    load_map(sample_map_path("opcua"))
    plc_map = load_map(sample_map_path("modbus"))

    class Decider:
        def decide(self, trigger: GateTrigger) -> GateResult:
            return GateResult(ok=trigger.seq % 2 == 1, class_id=trigger.seq)

    plc = VirtualPlc(plc_map, belt=BeltTiming.for_frame(1280, 720, parts_per_min=600), port=0)
    plc.start()
    cam = HandshakeService(f"modbus://127.0.0.1:{plc.port}", plc_map, Decider())
    try:
        cam.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and plc.stats.acks < 3:
            time.sleep(0.02)  # the belt's own pace: a part every 100 ms
    finally:
        cam.stop()
        plc.stop()
    if plc.stats.acks < 3:
        raise CheckFailed(f"the virtual PLC acknowledged {plc.stats.acks} of 3 parts in 20 s")
    return f"sample maps parse; {plc.stats.acks} parts answered over Modbus TCP on loopback"


def check_about(ctx: SelfTestContext) -> str:
    _prepare_qt_env()
    from edgeconsole.ui.about import collect_licences, collect_versions

    versions = collect_versions()
    missing = [k for k in ("EdgeConsole", "Python", "Qt", "onnxruntime") if not versions.get(k)]
    if missing:
        raise CheckFailed(f"versions unknown: {', '.join(missing)}")
    licences = collect_licences()
    names = {lic.name.lower().replace("_", "-") for lic in licences}
    wanted = ["pyside6-essentials", "onnxruntime", "numpy"]
    absent = [n for n in wanted if n not in names]
    if absent:
        raise CheckFailed(f"licences missing for: {', '.join(absent)}")
    without_text = [lic.name for lic in licences if not lic.text.strip()]
    if without_text:
        raise CheckFailed(f"licence text missing for: {', '.join(without_text[:5])}")
    models = sum(1 for lic in licences if lic.kind == "sample model")
    return f"{len(licences)} licences ({models} sample models); Qt {versions['Qt']}"


def check_window(ctx: SelfTestContext) -> str:
    _prepare_qt_env()
    # Qt stays inside edgeconsole.ui: the check itself lives there.
    from edgeconsole.ui.selftest_window import WindowCheckFailed, open_and_close_main_window

    try:
        return open_and_close_main_window(WINDOW_TIMEOUT_S)
    except WindowCheckFailed as exc:
        raise CheckFailed(str(exc)) from exc


def _prepare_qt_env() -> None:
    # Offscreen unless the caller chose a platform: the self-test must run over
    # ssh, in CI and in a package build, where there is no display.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


CHECKS: tuple[tuple[str, Callable[[SelfTestContext], str]], ...] = (
    ("bundle", check_bundle),
    ("pipeline", check_pipeline),
    ("journal", check_journal),
    ("serial", check_serial),
    ("offline", check_offline),
    ("pdf", check_pdf),
    ("plc", check_plc),
    ("about", check_about),
    ("window", check_window),
)


def run_checks(
    ctx: SelfTestContext,
    only: Sequence[str] | None = None,
    report: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    results: list[CheckResult] = []
    for name, fn in CHECKS:
        if only and name not in only:
            continue
        started = time.perf_counter()
        try:
            detail = fn(ctx)
            res = CheckResult(name, True, detail, time.perf_counter() - started)
        except CheckFailed as exc:
            res = CheckResult(name, False, str(exc), time.perf_counter() - started)
        except Exception as exc:  # every failure is a finding, never a crash of the test
            res = CheckResult(
                name,
                False,
                f"{type(exc).__name__}: {exc}",
                time.perf_counter() - started,
                traceback.format_exc(),
            )
        results.append(res)
        if report is not None:
            report(res)
    return results


def _journal_outcome(results: list[CheckResult]) -> None:
    """Leave the outcome in the audit journal (best effort: the journal may be the fault)."""
    try:
        from edgeconsole.journal.journal import Journal

        failed = [r.name for r in results if not r.ok]
        journal = Journal.open()
        try:
            journal.audit.log(
                "selftest",
                "error" if failed else "info",
                "",
                f"self-test {'failed: ' + ', '.join(failed) if failed else 'passed'}",
                checks={r.name: r.ok for r in results},
                version=edgeconsole.__version__,
                frozen=bool(getattr(sys, "frozen", False)),
            )
        finally:
            journal.close()
    except Exception:
        pass


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="edgeconsole --self-test",
        description="Check this installation: sample bundle, pipeline, journal, "
        "licences, window. Exit code 0 when everything passed.",
    )
    p.add_argument("--bundle", type=Path, help="bundle to verify and run (default: a sample)")
    p.add_argument(
        "--trust", type=Path, help="trust store for --bundle (default: the DEMO sample key)"
    )
    p.add_argument(
        "--frames", type=int, default=PIPELINE_FRAMES, help="frames through the pipeline"
    )
    p.add_argument(
        "--only", nargs="+", choices=[n for n, _ in CHECKS], help="run only these checks"
    )
    p.add_argument("--json", action="store_true", help="print one JSON summary instead")
    p.add_argument("--verbose", action="store_true", help="print tracebacks of failures")
    return p.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "--self-test":
        args_list = args_list[1:]
    try:
        args = parse_args(args_list)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.frames < 1:
        print("edgeconsole --self-test: --frames must be at least 1", file=sys.stderr)
        return 2
    ctx = SelfTestContext(
        bundle_path=args.bundle,
        trust_dir=args.trust or sample_models_dir() / "trust",
        frames=args.frames,
    )

    def show(res: CheckResult) -> None:
        if args.json:
            return
        print(f"{'PASS' if res.ok else 'FAIL'} {res.name:<8} {res.detail} [{res.seconds:.1f} s]")
        if res.traceback and args.verbose:
            print(res.traceback, file=sys.stderr)
        sys.stdout.flush()

    if not args.json:
        frozen = " (frozen app)" if getattr(sys, "frozen", False) else ""
        print(f"EdgeConsole {edgeconsole.__version__} self-test{frozen}")
    started = time.perf_counter()
    results = run_checks(ctx, args.only, show)
    _journal_outcome(results)
    failed = [r for r in results if not r.ok]
    if args.json:
        print(
            json.dumps(
                {
                    "ok": not failed,
                    "version": edgeconsole.__version__,
                    "frozen": bool(getattr(sys, "frozen", False)),
                    "seconds": round(time.perf_counter() - started, 2),
                    "checks": [
                        {
                            "name": r.name,
                            "ok": r.ok,
                            "detail": r.detail,
                            "seconds": round(r.seconds, 3),
                        }
                        for r in results
                    ],
                }
            )
        )
    else:
        summary = (
            "all checks passed"
            if not failed
            else (
                f"{len(failed)} of {len(results)} checks failed: "
                + ", ".join(r.name for r in failed)
            )
        )
        print(f"self-test: {summary} in {time.perf_counter() - started:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
