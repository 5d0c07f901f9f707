"""The gateway agent's composition: where the agent meets its sibling packages.

The agent package sits beside ``bundles``, ``inference`` and ``sources`` and may
not import them (DESIGN section 3). This module is where they meet: it builds
:class:`edgeconsole.agent.AgentPorts` from the bundle reader (signature, trust,
hardware id, chunk hashes), the inference engine (model loading, the trial health
check) and the frame sources (the agent's cameras). ``edgeconsole agent`` (through
``session/agent_door.py``), the tests and the demo compose the agent through
:func:`build_ports`, so they run the real parts. Nothing here imports Qt: the agent
installs without the console.
"""

from __future__ import annotations

import functools
import io
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
from edgeconsole.core.errors import EdgeConsoleError, ModelError
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
