"""onnxruntime session factory: execution providers, thread count, clear load errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnxruntime as ort

from edgeconsole.core.errors import ModelError, ModelLoadError

DEFAULT_PROVIDER = "CPUExecutionProvider"


def available_providers() -> list[str]:
    """Execution providers this onnxruntime build offers, in its order of preference."""
    return list(ort.get_available_providers())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    # onnxruntime prefixes messages with "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : ...";
    # keep it, it names the failure class, but cap the length of a single line.
    return line if len(line) <= 300 else line[:297] + "..."


def _check_providers(providers: list[str] | None) -> list[str]:
    available = available_providers()
    if not providers:
        return [DEFAULT_PROVIDER]
    unknown = [p for p in providers if p not in available]
    if unknown:
        raise ModelError(
            f"execution provider(s) not available: {', '.join(unknown)}",
            hint=f"available here: {', '.join(available)}",
        )
    return list(providers)


def make_session_options(threads: int | None) -> ort.SessionOptions:
    if threads is not None and (isinstance(threads, bool) or threads < 1):
        raise ModelError(f"thread count must be a positive integer, got {threads!r}")
    opts = ort.SessionOptions()
    # 0 lets onnxruntime pick one thread per physical core.
    opts.intra_op_num_threads = threads or 0
    # One graph runs at a time from one thread; parallelism inside operators is what pays.
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: warnings about unused initialisers are noise here
    return opts


def make_ort_session(
    model: Path | bytes,
    *,
    threads: int | None = None,
    providers: list[str] | None = None,
    name: str | None = None,
    fuse: bool = True,
) -> ort.InferenceSession:
    """Open an ONNX model (a path, or its bytes from a verified bundle) on CPU by default.

    ``name`` labels errors when ``model`` is bytes (the file name inside the bundle).
    ``fuse``: rewrite opset-11 hard-swish blocks for onnxruntime first
    (``graph_fusion.py``; False runs the graph exactly as written).
    """
    chosen = _check_providers(providers)
    opts = make_session_options(threads)
    subject = str(model) if isinstance(model, Path) else (name or "<model bytes>")
    if isinstance(model, Path):
        if not model.is_file():
            raise ModelLoadError(
                "model file not found",
                subject=subject,
                hint="check the path in the model description",
            )
        try:
            data = model.read_bytes()
        except OSError as exc:
            raise ModelLoadError(
                f"cannot read model file: {exc.strerror or exc}", subject=subject
            ) from exc
    else:
        data = model
    if not data:
        raise ModelLoadError(
            "model file is empty", subject=subject, hint="re-export or re-extract the ONNX model"
        )
    from edgeconsole.inference.loader import not_onnx

    what = not_onnx(bytes(data[:512]))
    if what is not None:
        raise ModelLoadError(
            f"not an ONNX model: the file holds {what}",
            subject=subject,
            hint='point the description\'s "model" at the ONNX file exported for this model',
        )
    if fuse:
        from edgeconsole.inference.graph_fusion import fuse_hard_swish

        data, _ = fuse_hard_swish(bytes(data))
    try:
        return ort.InferenceSession(data, sess_options=opts, providers=chosen)
    except Exception as exc:  # onnxruntime raises its own pybind exception types
        raise ModelLoadError(
            f"not a loadable ONNX model: {_first_line(exc)}",
            subject=subject,
            hint="the file must be an ONNX model exported for this onnxruntime",
        ) from exc


def runtime_info(session: ort.InferenceSession, threads: int | None) -> dict[str, Any]:
    """What runs a model, for every result, recording and report: the execution
    provider onnxruntime put first, all it uses, the intra-op thread count asked for
    ("auto": onnxruntime's one per physical core) and the onnxruntime version."""
    used = list(session.get_providers())
    return {
        "provider": used[0] if used else DEFAULT_PROVIDER,
        "providers": used,
        "threads": threads if threads else "auto",
        "onnxruntime": ort.__version__,
    }


def describe_runtime(info: dict[str, Any]) -> str:
    """``CPUExecutionProvider, 1 thread, onnxruntime 1.32.0`` (one line for people)."""
    t = info.get("threads")
    threads = "threads auto" if t == "auto" else f"{t} thread{'s' if t != 1 else ''}"
    return f"{info.get('provider', '?')}, {threads}, onnxruntime {info.get('onnxruntime', '?')}"
