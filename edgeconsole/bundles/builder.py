"""Turn a model (already quantized or not) and its description into a signed bundle.

The caller (CLI or UI, which may also use edgeconsole.inference) decides what
model bytes to ship and which golden input to use; this module fills the
inputs/outputs from the model itself, runs it once with onnxruntime to get the
golden output, hashes every file, signs the manifest and writes the archive.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeconsole.bundles.errors import BundleSchemaError
from edgeconsole.bundles.manifest import (
    BUNDLE_SPEC,
    MODEL_FIELDS,
    Manifest,
    choose_chunk_size,
    encode_manifest,
    format_time,
    parse_manifest,
)
from edgeconsole.bundles.modelinfo import model_info
from edgeconsole.bundles.names import check_payload_name
from edgeconsole.bundles.onnx_check import check_external_data, parse_model_proto
from edgeconsole.bundles.signing import sign_manifest
from edgeconsole.bundles.writer import Source, hash_source, source_length, write_bundle
from edgeconsole.core.errors import EdgeConsoleError

GOLDEN_INPUT = "golden_input.npy"
GOLDEN_OUTPUT = "golden_output.npy"


@dataclass
class BundleRecipe:
    name: str
    version: int
    description: dict[str, Any]  # the model-description fields (model, preprocess, head, ...)
    files: dict[str, Source]  # the model, nested models, external data
    hardware_ids: list[str]
    created: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    expires: datetime | None = None
    min_agent_version: str | None = None
    quantization: dict[str, Any] = field(default_factory=lambda: {"mode": "none"})
    golden_input: np.ndarray | None = None
    golden_tolerance: float = 1e-4
    bundle_id: str | None = None


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def _read(src: Source) -> bytes:
    return src if isinstance(src, bytes) else src.read_bytes()


def _shape(shape: list[int]) -> str:
    return "[" + ", ".join("?" if d < 0 else str(d) for d in shape) + "]"


def run_golden(model: bytes, golden_input: np.ndarray) -> np.ndarray:
    """The first output of ``model`` for ``golden_input``, on CPU, one thread."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.asarray(sess.run(None, {name: golden_input})[0])


def io_from_model(
    model_bytes: bytes, described: dict[str, Any], subject: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Inputs and outputs as the graph declares them, with the description's layouts, and
    its fixed sizes where the graph leaves a dimension dynamic: a classifier exported with
    any height and width but trained on 48x192 keeps its 48x192 in the manifest, so every
    later check (build, flash, run, commissioning) holds tensors to it. A fixed size the
    two disagree on, or another rank, is refused."""
    info = model_info(parse_model_proto(model_bytes, subject, subject))
    declared = {
        t.get("name"): t
        for t in described.get("inputs", []) + described.get("outputs", [])
        if isinstance(t, dict)
    }

    def merged(name: str, graph: list[int], shape: Any) -> list[int]:
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in shape
        ):
            return graph
        if len(shape) != len(graph):
            raise BundleSchemaError(
                f"'{name}' is {_shape(shape)} in the description but {_shape(graph)} in the model",
                subject=subject,
                hint="fix the description's shape (or export the model again)",
            )
        out = []
        for g, d in zip(graph, shape, strict=True):
            if g >= 0 and d >= 0 and g != d:
                raise BundleSchemaError(
                    f"'{name}' is {_shape(shape)} in the description but {_shape(graph)} in "
                    "the model",
                    subject=subject,
                    hint="fix the description's shape (or export the model again)",
                )
            out.append(g if g >= 0 else d)
        return out

    def fill(ts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for t in ts:
            t = dict(t)
            mine = declared.get(t["name"], {})
            if "shape" in mine:
                t["shape"] = merged(t["name"], list(t["shape"]), mine["shape"])
            if mine.get("layout"):
                t["layout"] = mine["layout"]
            elif len(t["shape"]) == 2:
                t["layout"] = "NC"
            out.append(t)
        return out

    return fill(info.inputs), fill(info.outputs)


def build_bundle(
    recipe: BundleRecipe,
    keys: list[Ed25519PrivateKey],
    out: Path,
    *,
    describe: Callable[[dict[str, Any]], Any] | None = None,
) -> Manifest:
    """Build, sign and write ``out``; return the manifest that was signed."""
    subject = out.name
    desc = {k: v for k, v in recipe.description.items() if k in MODEL_FIELDS}
    model_name = desc.get("model")
    if not isinstance(model_name, str) or model_name not in recipe.files:
        raise BundleSchemaError(
            "description 'model' must name one of the files given", subject=subject
        )
    for name in recipe.files:
        check_payload_name(name, subject)
    files: dict[str, Source] = dict(recipe.files)
    model_bytes = _read(files[model_name])
    lengths = {n: source_length(s) for n, s in files.items()}
    for name in [n for n in files if n.endswith(".onnx")]:
        proto = parse_model_proto(_read(files[name]), name, subject)
        check_external_data(proto, name, lengths, subject)
    desc["inputs"], desc["outputs"] = io_from_model(model_bytes, desc, model_name)
    desc["name"] = recipe.name
    desc["version"] = recipe.version
    desc.pop("golden", None)
    if recipe.golden_input is not None:
        golden_out = run_golden(model_bytes, recipe.golden_input)
        files[GOLDEN_INPUT] = _npy_bytes(recipe.golden_input)
        files[GOLDEN_OUTPUT] = _npy_bytes(golden_out)
        desc["golden"] = {
            "input": GOLDEN_INPUT,
            "output": GOLDEN_OUTPUT,
            "tolerance": float(recipe.golden_tolerance),
        }
    chunk_size = choose_chunk_size(sum(source_length(s) for s in files.values()))
    entries = {name: hash_source(name, src, chunk_size) for name, src in files.items()}
    obj: dict[str, Any] = {
        **desc,
        "spec": BUNDLE_SPEC,
        "bundle_id": recipe.bundle_id or recipe.name,
        "created": format_time(recipe.created),
        "expires": None if recipe.expires is None else format_time(recipe.expires),
        "hardware_ids": list(recipe.hardware_ids),
        "min_agent_version": recipe.min_agent_version,
        "chunk_size": chunk_size,
        "files": {
            n: {"length": e.length, "sha256": e.sha256, "chunks": list(e.chunks)}
            for n, e in sorted(entries.items())
        },
        "quantization": recipe.quantization,
    }
    if obj["min_agent_version"] is None:
        del obj["min_agent_version"]
    manifest_bytes = encode_manifest(obj)
    manifest = parse_manifest(obj, subject)  # never write a bundle our reader would refuse
    if describe is not None:
        try:
            describe(manifest.model_part())
        except EdgeConsoleError as exc:
            raise BundleSchemaError(
                f"model description: {getattr(exc, 'what', exc)}", subject=subject, hint=exc.hint
            ) from exc
    if not keys:
        raise BundleSchemaError(
            "no signing key given",
            subject=subject,
            hint="pass --sign KEY (from 'edgeconsole bundle keygen')",
        )
    sig = sign_manifest(manifest_bytes, keys)
    write_bundle(out, manifest_bytes, sig, files, entries, int(recipe.created.timestamp()))
    return manifest


def description_files(description: Mapping[str, Any], base_dir: Path) -> dict[str, Path]:
    """The model files a folder description names (the model and a nested orientation
    model), as paths to add to a recipe."""
    out = {description["model"]: base_dir / description["model"]}
    head = description.get("head", {})
    orientation = head.get("orientation") if isinstance(head, dict) else None
    if isinstance(orientation, dict) and isinstance(orientation.get("model"), str):
        out[orientation["model"]] = base_dir / orientation["model"]
    return out
