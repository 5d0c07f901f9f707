"""``edgeconsole agent``: the gateway agent, and its composition.

The agent package sits beside ``bundles``, ``inference`` and ``sources`` and may
not import them (DESIGN section 3). This module is where they meet: it builds
:class:`edgeconsole.agent.AgentPorts` from the bundle reader (signature, trust,
hardware id, chunk hashes), the inference engine (model loading, the trial health
check) and the frame sources (the agent's cameras). Tests and the demo compose
the agent through :func:`build_ports` too, so they run the real parts.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edgeconsole import __version__
from edgeconsole.agent.ports import (
    AgentPorts,
    FileChunks,
    FileDigest,
    ManifestView,
    TensorInfo,
)
from edgeconsole.core.errors import ConfigError, EdgeConsoleError, ModelError
from edgeconsole.core.frames import Frame, InferenceResult

OIP_TYPES = {
    "float32": "FP32",
    "float16": "FP16",
    "float64": "FP64",
    "uint8": "UINT8",
    "int8": "INT8",
    "int32": "INT32",
    "int64": "INT64",
    "bool": "BOOL",
    "uint16": "UINT16",
    "int16": "INT16",
}


# -- composition ------------------------------------------------------------------------
def _describe(obj: dict[str, Any]) -> Any:
    from edgeconsole.inference.spec import ModelSpec

    return ModelSpec.parse(obj, None, where="manifest")


def _policy(hardware_id: str, installed_version: int | None = None) -> Any:
    from edgeconsole.bundles.reader import VerifyPolicy

    return VerifyPolicy(
        hardware_id=hardware_id, installed_version=installed_version, agent_version=__version__
    )


def _trust(trust_dir: str) -> Any:
    from edgeconsole.bundles.trust import TrustStore

    return TrustStore.load(Path(trust_dir))


def _view(manifest: Any) -> ManifestView:
    return ManifestView(
        bundle_id=manifest.bundle_id,
        name=manifest.name,
        version=manifest.version,
        chunk_size=manifest.chunk_size,
        files={
            n: FileChunks(e.length, tuple(e.chunks), e.sha256) for n, e in manifest.files.items()
        },
    )


def verify_manifest(
    manifest_bytes: bytes,
    sig_bytes: bytes,
    installed_version: int | None = None,
    *,
    trust_dir: str,
    hardware_id: str,
) -> ManifestView:
    """The bundle reader's head checks, in its order, on the first two members
    (``installed_version``: refuse anything lower; None: no version floor)."""
    from edgeconsole.bundles.reader import verify_head

    manifest = verify_head(
        manifest_bytes,
        sig_bytes,
        _trust(trust_dir),
        describe=_describe,
        policy=_policy(hardware_id, installed_version),
        subject="upload",
    )
    return _view(manifest)


def verify_bundle(
    path: Path,
    hashed: Mapping[str, FileDigest] | None = None,
    installed_version: int | None = None,
    *,
    trust_dir: str,
    hardware_id: str,
) -> ManifestView:
    """The full bundle verification of a staged file. ``hashed``: payload files the
    agent already hashed (whole file and every chunk) while writing them; the
    reader then checks everything else without hashing those bytes again."""
    from edgeconsole.bundles.reader import PrehashedFile, read_bundle

    prehashed = None
    if hashed:
        prehashed = {n: PrehashedFile(d.offset, d.length, d.sha256) for n, d in hashed.items()}
    vb = read_bundle(
        path,
        _trust(trust_dir),
        describe=_describe,
        policy=_policy(hardware_id, installed_version),
        mode="verify",
        prehashed=prehashed,
    )
    return _view(vb.manifest)


class EngineHandle:
    """An :class:`InferenceEngine` as the agent's ModelHandle."""

    platform = "onnxruntime_onnx"

    def __init__(self, spec: Any, engine: Any) -> None:
        self.spec = spec
        self.engine = engine
        #: A per-part model's inspector: the cameras decide parts with it (agent/line.py).
        self.inspector = getattr(engine, "inspector", None)
        self.name = spec.name
        self.version = str(spec.version)
        self.inputs = [
            TensorInfo(
                t.name,
                OIP_TYPES.get(t.dtype, t.dtype.upper()),
                tuple(int(d) if isinstance(d, int) else -1 for d in t.shape),
            )
            for t in spec.inputs
        ]
        self.outputs = [
            TensorInfo(
                t.name,
                OIP_TYPES.get(t.dtype, t.dtype.upper()),
                tuple(int(d) if isinstance(d, int) else -1 for d in t.shape),
            )
            for t in spec.outputs
        ]

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if len(inputs) != 1 or self.engine.input_name not in inputs:
            raise ModelError(
                f"model '{self.name}' takes one input, '{self.engine.input_name}'",
                subject=self.name,
                hint=f"got {', '.join(inputs) or 'none'}",
            )
        out: dict[str, np.ndarray] = self.engine.run_tensor(inputs[self.engine.input_name])
        return out

    def process(self, frame: Frame) -> InferenceResult:
        result: InferenceResult = self.engine.process(frame)
        return result

    def close(self) -> None:
        self.engine.close()


def open_model(
    path: Path, *, trust_dir: str, hardware_id: str, threads: int | None = None
) -> tuple[Any, Any, dict[str, bytes] | None]:
    """(spec, engine, bundle files) for a bundle (verified) or a model folder."""
    from edgeconsole.inference.engine import InferenceEngine

    if path.suffix == ".ecb":
        from edgeconsole.bundles.reader import read_bundle

        vb = read_bundle(
            path, _trust(trust_dir), describe=_describe, policy=_policy(hardware_id), mode="memory"
        )
        spec = vb.description
        return spec, InferenceEngine.load(spec, threads=threads, model_bytes=vb.files), vb.files
    from edgeconsole.inference.loader import load_model as load_description

    spec = load_description(path)
    return spec, InferenceEngine.load(spec, threads=threads), None


def load_model(path: Path, *, trust_dir: str, hardware_id: str) -> EngineHandle:
    spec, engine, _ = open_model(path, trust_dir=trust_dir, hardware_id=hardware_id)
    return EngineHandle(spec, engine)


def _golden(
    spec: Any, files: dict[str, bytes] | None
) -> tuple[np.ndarray, np.ndarray, float, float] | None:
    g = spec.golden
    if not g:
        return None

    def read(name: str) -> bytes:
        if files is not None:
            return files[name]
        base = spec.base_dir if spec.base_dir is not None else Path()
        return (base / name).read_bytes()

    if "file" in g:  # one .npz holding input and output
        with np.load(io.BytesIO(read(g["file"]))) as npz:
            return npz["input"], npz["output"], float(g.get("atol", 1e-4)), float(g.get("rtol", 0))
    x = np.load(io.BytesIO(read(g["input"])), allow_pickle=False)
    y = np.load(io.BytesIO(read(g["output"])), allow_pickle=False)
    return x, y, float(g.get("tolerance", 1e-4)), 0.0


def health_check(path: str, *, trust_dir: str, hardware_id: str, runs: int = 30) -> dict[str, Any]:
    """The trial health check (runs in a child process): the bundle verifies and
    loads, its golden output is reproduced within tolerance, and its p95 latency
    is within its budget."""
    t0 = time.perf_counter()
    try:
        spec, engine, files = open_model(
            Path(path), trust_dir=trust_dir, hardware_id=hardware_id, threads=1
        )
    except EdgeConsoleError as exc:
        return {"ok": False, "reason": f"does not load: {exc}"}
    report: dict[str, Any] = {
        "model": spec.name,
        "version": spec.version,
        "load_ms": round((time.perf_counter() - t0) * 1e3, 2),
    }
    golden = _golden(spec, files)
    if golden is not None:
        x, y, atol, rtol = golden
        out = engine.run_tensor(x)
        got = out.get(spec.outputs[0].name, next(iter(out.values())))
        if got.shape != y.shape:
            return {
                **report,
                "ok": False,
                "reason": f"golden output shape {got.shape}, expected {y.shape}",
            }
        err = float(np.max(np.abs(got.astype(np.float64) - y.astype(np.float64))))
        report["max_error"] = err
        if not np.allclose(got, y, atol=atol, rtol=rtol):
            return {
                **report,
                "ok": False,
                "reason": f"golden output off by {err:.3g} (tolerance {atol:g})",
            }
        sample = x
    else:
        sample = None
    if sample is not None:
        times = []
        for _ in range(runs):
            a = time.perf_counter()
            engine.run_tensor(sample)
            times.append((time.perf_counter() - a) * 1e3)
        p95 = float(np.percentile(times, 95))
        report["p95_ms"] = round(p95, 4)
        budget = spec.latency_budget_ms
        report["budget_ms"] = budget
        if budget is not None and p95 > budget:
            return {
                **report,
                "ok": False,
                "reason": f"p95 latency {p95:.2f} ms over the budget of {budget:g} ms",
            }
    engine.close()
    return {
        **report,
        "ok": True,
        "reason": "golden output matches" if golden is not None else "loads (no golden)",
    }


def _open_source(spec: str) -> Any:
    from edgeconsole.sources.factory import open_source

    return open_source(spec, realtime=True, loop=True)


def build_ports(trust_dir: Path | str, hardware_id: str) -> AgentPorts:
    """The agent's ports from the real bundle reader, inference engine and sources."""
    kw: dict[str, Any] = {"trust_dir": str(trust_dir), "hardware_id": hardware_id}
    return AgentPorts(
        verify_manifest=functools.partial(verify_manifest, **kw),
        verify_bundle=functools.partial(verify_bundle, **kw),
        load_model=functools.partial(load_model, **kw),
        health_check=functools.partial(health_check, **kw),
        open_source=_open_source,
    )


# -- the command --------------------------------------------------------------------------
def register(sub: Any) -> None:
    p = sub.add_parser(
        "agent",
        help="run the gateway agent (headless)",
        description="Serve the Open Inference Protocol v2 and EdgeConsole's "
        "slot, upload and stream endpoints. Binds to 127.0.0.1 unless --host "
        "says otherwise. Every endpoint but /v2/health/live needs the token.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8470)
    p.add_argument("--data-dir", required=True, type=Path, help="slots, uploads, journal")
    p.add_argument(
        "--token-file", type=Path, help="bearer token (default: DATA/token, created on first start)"
    )
    p.add_argument(
        "--trust-dir",
        "--trust",  # the same name run, bench and validate use
        type=Path,
        help="public keys bundles must be signed with (default: DATA/trust)",
    )
    p.add_argument(
        "--hardware-id",
        default="gateway-x86_64",  # agent.app.DEFAULT_HARDWARE_ID (the sample bundles')
        help="this gateway's hardware id; bundles not built for it are refused "
        "(default: gateway-x86_64)",
    )
    p.add_argument(
        "--camera",
        action="append",
        default=[],
        metavar="SRC",
        help="a frame source to run the model on (repeatable), e.g. synthetic:conveyor",
    )
    p.add_argument(
        "--trial-timeout", type=float, default=60.0, help="seconds the trial health check may take"
    )
    p.add_argument("--mdns", action="store_true", help="advertise _edgeconsole._tcp on mDNS")
    p.add_argument("--name", help="name shown to consoles (default: the host name)")
    p.add_argument(
        "--trigger",
        default="line",
        help="per-part models: what decides a part on the cameras (line, line:x=0.4, "
        "external, periodic:500ms, frame)",
    )
    p.add_argument(
        "--photo-eye",
        metavar="CONVEYOR",
        help="a photo-eye on the cameras' belt (its synthetic:conveyor?...&clock=1 spec): "
        "edges decide parts with --trigger external and go out on the stream",
    )
    p.add_argument(
        "--plc",
        metavar="URL",
        help="answer this line PLC's reject-gate handshake (modbus://HOST:PORT or "
        "opc.tcp://HOST:PORT/PATH) with the per-part decisions of --plc-camera (with "
        "--trigger external the PLC's edge is the part's trigger)",
    )
    p.add_argument("--plc-map", type=Path, metavar="FILE", help="the PLC map file (.toml)")
    p.add_argument(
        "--plc-camera", type=int, default=0, metavar="N", help="the camera that answers (0)"
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from edgeconsole.agent.app import AgentConfig
    from edgeconsole.agent.auth import provision_token, read_token_file
    from edgeconsole.agent.server import run_forever

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {args.port}")
    data: Path = args.data_dir
    data.mkdir(parents=True, exist_ok=True)
    if args.token_file is not None:
        token, token_path = read_token_file(args.token_file), args.token_file
    else:
        token, token_path = provision_token(data)
    trust_dir = args.trust_dir or data / "trust"
    if not trust_dir.is_dir():
        raise ConfigError(
            "no trust store",
            subject=str(trust_dir),
            hint="copy the signing public keys there or pass --trust-dir",
        )
    for spec in args.camera:
        from edgeconsole.sources.factory import parse_spec

        parse_spec(spec)  # refuse a bad camera now, not on the camera thread
    from edgeconsole.session.api import TriggerConfig

    TriggerConfig.parse(args.trigger)  # refuse a bad trigger now, not on a camera thread
    if args.photo_eye:
        from edgeconsole.sources.photo_eye import eye_for_source

        eye_for_source(args.photo_eye)
    if args.plc is not None:
        from edgeconsole.devices.plc.link import parse_plc_url
        from edgeconsole.devices.plc.plcmap import load_map

        if args.plc_map is None:
            raise ConfigError("--plc needs --plc-map", hint="give the PLC map file (.toml)")
        plc_map = load_map(args.plc_map)  # a bad map is refused now, not on a thread
        url = parse_plc_url(args.plc)
        if ("opcua" if url.scheme == "opc.tcp" else "modbus") != plc_map.protocol:
            raise ConfigError(
                f"{args.plc} speaks another protocol than the map ({plc_map.protocol})",
                subject=f"PLC map {args.plc_map}",
            )
        if not 0 <= args.plc_camera < len(args.camera):
            raise ConfigError(
                f"--plc-camera {args.plc_camera}: the agent has {len(args.camera)} camera(s)",
                hint="give --camera SPEC for the camera that decides the parts",
            )
    config = AgentConfig(
        data_dir=data,
        token=token,
        host=args.host,
        port=args.port,
        cameras=list(args.camera),
        hardware_id=args.hardware_id,
        trial_timeout_s=args.trial_timeout,
        mdns=args.mdns,
        trigger=args.trigger,
        photo_eye=args.photo_eye,
        plc=args.plc,
        plc_map=None if args.plc_map is None else str(args.plc_map),
        plc_camera=args.plc_camera,
    )
    if args.name:
        config.name = args.name
    ports = build_ports(trust_dir, args.hardware_id)

    def ready(server: Any) -> None:
        # The token itself is never printed: only where it is.
        print(
            json.dumps(
                {
                    "event": "listening",
                    "url": server.url,
                    "token_file": str(token_path),
                    "cameras": len(args.camera),
                    "mdns": args.mdns,
                }
            ),
            flush=True,
        )

    run_forever(config, ports, on_ready=ready)
    return 0
