"""Execution providers and thread counts side by side, measured in one interleaved run.

What is installed is compared: every execution provider this onnxruntime offers, and
every provider of the *peer runtimes*, other Pythons with their own onnxruntime
build (``onnxruntime-openvino`` replaces the ``onnxruntime`` module, so it lives in
its own venv, ``./run openvino`` makes ``.venv-openvino``). Each variant (runtime,
provider, threads) gets its own session; peers run ``bench_worker.py`` in their
Python. Rounds interleave the variants (a different one first each round) so a
shared, noisy machine loads them alike: the ratios hold even when the absolute
figures do not. The first inference is timed apart and never enters the percentiles.
"""

from __future__ import annotations

import json
import math
import os
import select
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeconsole.core.errors import Cancelled, ConfigError, ModelError
from edgeconsole.inference import bench_worker

#: Providers that are not local compute (they call a cloud endpoint): never compared.
NOT_COMPARED = frozenset({"AzureExecutionProvider"})
#: The peer venv ``./run openvino`` creates, looked for in the working directory.
DEFAULT_PEERS = (Path(".venv-openvino/bin/python"),)
PEERS_ENV = "EDGECONSOLE_RUNTIMES"
THIS = "this app"
_START_TIMEOUT_S = 60.0
_LOAD_TIMEOUT_S = 300.0
_RUN_TIMEOUT_S = 600.0


@dataclass(frozen=True, slots=True)
class Runtime:
    """One onnxruntime: this process's (``python`` None) or a peer Python's."""

    label: str
    python: str | None
    version: str
    providers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Variant:
    runtime: Runtime
    provider: str
    threads: int

    @property
    def name(self) -> str:
        short = self.provider.removesuffix("ExecutionProvider")
        return f"{short} x{self.threads} ({self.runtime.label}, ort {self.runtime.version})"


@dataclass
class VariantResult:
    variant: Variant
    load_ms: float | None = None
    first_ms: float | None = None
    providers_used: list[str] = field(default_factory=list)
    samples_ms: list[float] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        v = self.variant
        out: dict[str, Any] = {
            "name": v.name,
            "runtime": v.runtime.label,
            "python": v.runtime.python,
            "onnxruntime": v.runtime.version,
            "provider": v.provider,
            "threads": v.threads,
            "providers_used": self.providers_used,
            "error": self.error,
        }
        if self.error is None and self.samples_ms:
            a = np.sort(np.asarray(self.samples_ms))
            for q, key in ((50, "p50_ms"), (90, "p90_ms"), (99, "p99_ms")):
                out[key] = round(float(a[max(1, math.ceil(a.size * q / 100)) - 1]), 4)
            out["max_ms"] = round(float(a[-1]), 4)
            out["mean_ms"] = round(float(a.mean()), 4)
            out["runs"] = int(a.size)
            out["load_ms"] = round(self.load_ms or 0.0, 1)
            out["first_inference_ms"] = round(self.first_ms or 0.0, 3)
        return out


class _Local:
    """The worker protocol served in this process (no subprocess, works frozen)."""

    def __init__(self) -> None:
        self.worker = bench_worker.Worker()

    def request(self, req: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        try:
            if req["op"] == "load":
                return self.worker.load(req)
            return self.worker.run(req)
        except Exception as exc:  # onnxruntime's own exception types; as the worker answers
            text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            return {"ok": False, "error": f"{type(exc).__name__}: {text}"}

    def close(self) -> None:
        self.worker.session = None


class _Peer:
    """``bench_worker.py`` in another Python, spoken to over its stdin/stdout."""

    def __init__(self, python: str) -> None:
        source = Path(bench_worker.__file__).read_text(encoding="utf-8")
        try:
            self.proc = subprocess.Popen(
                [python, "-c", source],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env={**os.environ, "ORT_DISABLE_TELEMETRY": "1"},
            )
        except OSError as exc:
            raise ModelError(
                f"cannot start the runtime: {exc.strerror or exc}", subject=python
            ) from exc
        self.python = python
        self.hello = self._read(_START_TIMEOUT_S)

    def _read(self, timeout_s: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise ModelError(
                "the runtime stopped answering" if ready else f"no answer in {timeout_s:.0f} s",
                subject=self.python,
                hint="run it by hand: PYTHON -c 'import onnxruntime' to see why",
            )
        try:
            obj = json.loads(line[: 1 << 24])
        except json.JSONDecodeError as exc:
            self.close()
            raise ModelError(f"the runtime answered garbage: {exc}", subject=self.python) from exc
        if not isinstance(obj, dict):
            self.close()
            raise ModelError("the runtime answered garbage", subject=self.python)
        return obj

    def request(self, req: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            self.close()
            raise ModelError("the runtime went away", subject=self.python) from exc
        return self._read(timeout_s)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write('{"op": "quit"}\n')
                self.proc.stdin.close()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.proc.kill()
                self.proc.wait(5)


def this_runtime() -> Runtime:
    w = bench_worker.Worker()
    h = w.hello()
    return Runtime(THIS, None, h["onnxruntime"], tuple(h["providers"]))


def probe(python: str | Path) -> Runtime:
    """Ask a peer Python which onnxruntime and providers it has."""
    peer = _Peer(str(python))
    try:
        h = peer.hello
        if not h.get("ready"):
            raise ModelError(str(h.get("error", "not ready")), subject=str(python))
        return Runtime(
            label=str(Path(python).parent.parent.name or python),
            python=str(python),
            version=str(h.get("onnxruntime", "?")),
            providers=tuple(str(p) for p in h.get("providers", [])),
        )
    finally:
        peer.close()


def peer_pythons(explicit: Sequence[str | Path] = ()) -> list[Path]:
    """Peer runtimes: given ones, ``$EDGECONSOLE_RUNTIMES`` (os.pathsep-separated), and
    ``.venv-openvino`` in the working directory when it exists."""
    found = [Path(p) for p in explicit]
    found += [Path(p) for p in os.environ.get(PEERS_ENV, "").split(os.pathsep) if p]
    found += [p for p in DEFAULT_PEERS if p.exists()]
    out: list[Path] = []
    for p in found:
        if p not in out:
            out.append(p)
    return out


def plan(runtimes: Sequence[Runtime], threads: Sequence[int]) -> list[Variant]:
    """Every (runtime, provider, thread count); this app's CPU provider first (the baseline)."""
    if not threads or any(t < 1 for t in threads):
        raise ConfigError("thread counts must be positive integers")
    variants = [
        Variant(rt, p, t)
        for rt in runtimes
        for p in rt.providers
        if p not in NOT_COMPARED
        for t in threads
    ]
    variants.sort(
        key=lambda v: (v.runtime.python is not None, v.provider != "CPUExecutionProvider")
    )
    return variants


def compare(
    model: bytes,
    feeds: dict[str, np.ndarray],
    variants: Sequence[Variant],
    *,
    rounds: int = 10,
    runs: int = 20,
    cancel: Callable[[], bool] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[VariantResult]:
    """Time every variant on ``model`` (ONNX bytes) with ``feeds``, ``rounds`` x ``runs``
    each, interleaved. A peer gets the model and feeds as files in a private temp folder."""
    if rounds < 1 or runs < 1:
        raise ConfigError("rounds and runs must be at least 1")
    results = [VariantResult(v) for v in variants]
    workers: list[_Local | _Peer | None] = []
    with tempfile.TemporaryDirectory(prefix="edgeconsole-compare-") as tmp:
        feeds_path = Path(tmp) / "feeds.npz"
        np.savez(feeds_path, **feeds)  # type: ignore[arg-type]
        model_path = Path(tmp) / "model.onnx"
        model_path.write_bytes(model)
        try:
            for res in results:
                workers.append(_open(res, model_path, feeds_path, progress))
            for r in range(rounds):
                order = list(range(len(results)))
                start = r % max(1, len(order))
                for k in order[start:] + order[:start]:
                    w = workers[k]
                    if w is None:
                        continue
                    if cancel is not None and cancel():
                        raise Cancelled("provider comparison cancelled", subject=str(model))
                    answer = w.request({"op": "run", "n": runs}, _RUN_TIMEOUT_S)
                    if not answer.get("ok"):
                        results[k].error = str(answer.get("error"))
                        workers[k] = None
                        continue
                    results[k].samples_ms.extend(float(x) for x in answer["ms"])
                if progress is not None:
                    progress(f"round {r + 1}/{rounds}")
        finally:
            for w in workers:
                if w is not None:
                    w.close()
    return results


def _open(
    res: VariantResult, model: Path, feeds: Path, progress: Callable[[str], None] | None
) -> _Local | _Peer | None:
    v = res.variant
    if progress is not None:
        progress(f"loading {v.name}")
    t0 = time.perf_counter()
    try:
        worker: _Local | _Peer = _Local() if v.runtime.python is None else _Peer(v.runtime.python)
        answer = worker.request(
            {
                "op": "load",
                "model": str(model),
                "feeds": str(feeds),
                "provider": v.provider,
                "threads": v.threads,
            },
            _LOAD_TIMEOUT_S,
        )
    except ModelError as exc:
        res.error = exc.what
        return None
    except Exception as exc:  # onnxruntime's own exception types, in this process
        res.error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        return None
    if not answer.get("ok"):
        res.error = str(answer.get("error"))
        worker.close()
        return None
    res.load_ms = float(answer.get("load_ms", (time.perf_counter() - t0) * 1e3))
    res.first_ms = float(answer.get("first_ms", 0.0))
    res.providers_used = [str(p) for p in answer.get("providers", [])]
    return worker


def summary(results: Sequence[VariantResult]) -> dict[str, Any]:
    """JSON: every variant, ratios against the first (this app's CPU provider), fastest."""
    rows = [r.to_json() for r in results]
    ok = [row for row in rows if row.get("p50_ms") is not None]
    base = ok[0] if ok else None
    for row in ok:
        assert base is not None
        row["p50_vs_baseline"] = round(row["p50_ms"] / base["p50_ms"], 3)
        row["p99_vs_baseline"] = round(row["p99_ms"] / base["p99_ms"], 3)
    return {
        "baseline": base["name"] if base else None,
        "variants": rows,
        "fastest_p50": min(ok, key=lambda r: r["p50_ms"])["name"] if ok else None,
        "fastest_p99": min(ok, key=lambda r: r["p99_ms"])["name"] if ok else None,
    }
